"""Click options shared by the commands that evaluate or validate policies."""

from __future__ import annotations

import click

from kubegate.engine.backends import BACKENDS, DEFAULT_BACKEND

__all__ = ["backend_option", "template_engine_option"]

backend_option = click.option(
    "--backend",
    type=click.Choice(BACKENDS),
    default=DEFAULT_BACKEND,
    show_default=True,
    help="Rego backend: compiled (kubegate's own evaluator) or regopy (rego-cpp).",
)
"""``--backend``: the name :func:`kubegate.engine.backends.make_backend` builds the backend from."""

template_engine_option = click.option(
    "--engine",
    "template_engine",
    type=click.Choice(["rego", "cel"]),
    default="rego",
    show_default=True,
    help="Code run for ConstraintTemplates with both Rego and K8sNativeValidation (CEL, Gatekeeper's default "
    "is Rego); templates with only CEL always run their CEL.",
)
