"""Options shared by the two serving gates, ``kubegate serve`` and ``kubegate grpc``.

Both load the same policy sources and answer through the same decision path
(:class:`kubegate.webhook.server.ServeConfig`); :func:`gate_options` declares
the options they have in common once and :func:`gate_config` turns their
values into ``ServeConfig`` fields, so the two commands cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import click

from kubegate.cli.audit import decision_log_options, log_settings
from kubegate.cli.inputs import load_parameters
from kubegate.cli.options import backend_option, template_engine_option
from kubegate.dsl.schema import DEFAULT_KUBERNETES_VERSION

__all__ = ["GATE_OPTION_NAMES", "gate_config", "gate_options"]

F = TypeVar("F", bound=Callable[..., Any])

_OPTIONS: list[Callable[[Any], Any]] = [
    click.option(
        "--policies",
        "-p",
        "policy_dirs",
        multiple=True,
        type=click.Path(),
        help="Policy file or directory (repeatable).",
    ),
    click.option("--no-builtin", is_flag=True, help="Do not load kubegate's built-in compliance library."),
    template_engine_option,
    click.option(
        "--no-expansion",
        is_flag=True,
        help="Do not review the Pods and Jobs of admitted workloads with kubegate's built-in ExpansionTemplates.",
    ),
    click.option(
        "--parameters",
        "parameters_file",
        type=click.Path(),
        help="YAML: policy id -> parameters for plain Rego policies.",
    ),
    click.option(
        "--inventory",
        multiple=True,
        type=click.Path(),
        help="Objects for data.inventory: file or directory (repeatable).",
    ),
    click.option("--host", default="0.0.0.0", show_default=True, help="Address to listen on."),
    click.option(
        "--tls-cert", type=click.Path(), help="Serving certificate (PEM, chain first); reloaded when it changes."
    ),
    click.option("--tls-key", type=click.Path(), help="Private key of the serving certificate (PEM)."),
    click.option(
        "--client-ca", type=click.Path(), help="CA bundle: require client certificates it signed (mutual TLS)."
    ),
    click.option(
        "--health-addr",
        metavar="HOST:PORT",
        help="Also serve /healthz, /readyz and /metrics (only those) over plain HTTP here, e.g. :9090. Default: off.",
    ),
    click.option(
        "--max-queue",
        default=64,
        show_default=True,
        type=click.IntRange(min=0),
        help="Requests that may wait for a worker.",
    ),
    click.option(
        "--cache-size", default=10_000, show_default=True, type=click.IntRange(min=1), help="Decisions kept in memory."
    ),
    click.option("--redis", "redis_url", help="Shared decision cache, e.g. redis://redis:6379/0."),
    click.option("--deny-list", type=click.Path(), help="DenyList file: fast-reject rules checked before any policy."),
    click.option("--strict", is_flag=True, help="Do not serve a policy set with any load error (stay not ready)."),
    click.option("--no-watch", is_flag=True, help="Load the policies once; do not reload when they change."),
    click.option(
        "--etcd", "etcd_url", help="Take the policy set from etcd (http://host:2379), as written by kubegate push."
    ),
    click.option("--etcd-prefix", default="/kubegate/policies/", show_default=True, help="etcd key prefix."),
    click.option(
        "--kubernetes-version",
        default=DEFAULT_KUBERNETES_VERSION,
        show_default=True,
        help="Kubernetes version (major.minor) for DSL rules and the CEL environment.",
    ),
    click.option(
        "--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info", show_default=True
    ),
    decision_log_options,
    backend_option,
]

#: The parameters :func:`gate_options` adds to a command (``**gate`` in its signature).
GATE_OPTION_NAMES = frozenset(
    {
        "policy_dirs",
        "no_builtin",
        "template_engine",
        "no_expansion",
        "parameters_file",
        "inventory",
        "host",
        "tls_cert",
        "tls_key",
        "client_ca",
        "health_addr",
        "max_queue",
        "cache_size",
        "redis_url",
        "deny_list",
        "strict",
        "no_watch",
        "etcd_url",
        "etcd_prefix",
        "kubernetes_version",
        "log_level",
        "decision_log",
        "decision_log_mode",
        "decision_log_fsync",
        "decision_log_fsync_interval",
        "decision_log_max_bytes",
        "decision_log_full_policy",
        "decision_log_sinks",
        "redaction_config",
        "backend",
    }
)


def gate_options(f: F) -> F:
    """Adds the options both gates have (see :data:`GATE_OPTION_NAMES`), in ``--help`` order."""
    for option in reversed(_OPTIONS):
        f = option(f)
    return f


def gate_config(gate: Mapping[str, Any], record_path: str) -> dict[str, Any]:
    """``ServeConfig`` fields from the values of :func:`gate_options`.

    Args:
        gate: the command's ``**gate`` keyword arguments.
        record_path: the decision records' ``path`` (``kubegate/admission``, ``kubegate/grpc/review``).

    Raises:
        click.UsageError: an invalid decision-log combination, or unreadable ``--parameters``.
    """
    mode = gate["decision_log_mode"]
    return {
        "policies": gate["policy_dirs"],
        "builtin": not gate["no_builtin"],
        "expansion": not gate["no_expansion"],
        "template_engine": gate["template_engine"],
        "parameters": load_parameters(gate["parameters_file"]),
        "inventory": gate["inventory"],
        "host": gate["host"],
        "cert_file": gate["tls_cert"],
        "key_file": gate["tls_key"],
        "client_ca_file": gate["client_ca"],
        "health_addr": gate["health_addr"],
        "deny_list": gate["deny_list"],
        "strict": gate["strict"],
        "watch": not gate["no_watch"],
        "etcd_url": gate["etcd_url"],
        "etcd_prefix": gate["etcd_prefix"],
        "kubernetes_version": gate["kubernetes_version"],
        "backend": gate["backend"],
        "log_level": gate["log_level"],
        "decision_log": log_settings(
            gate["decision_log"],
            mode,
            gate["decision_log_fsync"],
            gate["decision_log_fsync_interval"],
            gate["decision_log_max_bytes"],
            gate["decision_log_full_policy"],
            path=record_path,
        ),
        "decision_sinks": gate["decision_log_sinks"] if mode != "off" else (),
        "redaction_config": gate["redaction_config"],
    }
