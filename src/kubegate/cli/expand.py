"""``kubegate expand``: print the objects workloads generate, like ``gator expand``.

Reads YAML/JSON files, directories and stdin (``-``); the ExpansionTemplates
among them (plus kubegate's built-in ones unless ``--no-builtin``) expand every
other object, and the generated objects are printed as a YAML stream (``-o
yaml``, keys sorted as Go prints them) or a JSON list. These are the objects
``kubegate check`` and ``kubegate serve`` review beside each workload
(https://open-policy-agent.github.io/gatekeeper/website/docs/gator#the-gator-expand-subcommand).

Gatekeeper mutators (``mutations.gatekeeper.sh``: Assign, AssignMetadata,
ModifySet, AssignImage) are not applied: kubegate validates and does not
mutate; each is reported with a ``mutation_not_applied`` warning so the output
is never mistaken for gator's with mutators. Exit status: 0, or 2 when an input
could not be read or a workload could not be expanded.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import click
import yaml

from kubegate.cli.inputs import read_inputs
from kubegate.errors import InputError, KubegateError
from kubegate.policy.documents import Document
from kubegate.policy.expansion import (
    EXPANSION_GROUP,
    ExpansionSystem,
    builtin_expansion_templates,
    expansion_template_from_object,
)
from kubegate.policy.match import split_api_version

__all__ = ["expand_command"]

EXIT_OK, EXIT_ERROR = 0, 2
MUTATION_GROUP = "mutations.gatekeeper.sh"


def _split(documents: list[Document], builtin: bool) -> tuple[ExpansionSystem, list[Document], list[KubegateError]]:
    """ExpansionTemplates, the objects to expand, and what is wrong or not applied."""
    templates = list(builtin_expansion_templates()) if builtin else []
    objects: list[Document] = []
    problems: list[KubegateError] = []
    for doc in documents:
        group, _ = split_api_version(doc.api_version)
        if group == EXPANSION_GROUP and doc.kind == "ExpansionTemplate":
            try:
                templates.append(expansion_template_from_object(doc.obj, doc.location))
            except KubegateError as exc:
                problems.append(exc)
        elif group == MUTATION_GROUP:
            problems.append(
                InputError(
                    f"{doc.kind} {doc.name!r} is a Gatekeeper mutator; kubegate does not mutate, so it is not applied",
                    doc.location,
                    code="mutation_not_applied",
                )
            )
        elif doc.kind and doc.api_version:
            objects.append(doc)
    system = ExpansionSystem(templates)
    return system, objects, [*problems, *system.errors]


@click.command("expand")
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--output", "-o", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True, help="Output format."
)
@click.option("--no-builtin", is_flag=True, help="Use only the ExpansionTemplates among the inputs.")
@click.pass_context
def expand_command(ctx: click.Context, paths: tuple[str, ...], output: str, no_builtin: bool) -> None:
    """Print the objects the workloads in PATHS generate (files, directories, - for stdin).

    ExpansionTemplates among the inputs are used, with kubegate's built-in
    templates for Deployments, StatefulSets, DaemonSets, ReplicaSets,
    ReplicationControllers, Jobs and CronJobs unless --no-builtin.
    Exit status: 0, or 2 when an input or a workload could not be read or expanded.
    """
    documents, errors = read_inputs(paths)
    system, objects, problems = _split(documents, not no_builtin)
    errors.extend(p for p in problems if p.code != "mutation_not_applied")
    generated: list[Mapping[str, Any]] = []
    for doc in objects:
        try:
            generated.extend(r.obj for r in system.expand(doc.obj))
        except KubegateError as exc:
            errors.append(type(exc)(exc.message, doc.location, code=exc.code))
    if output == "json":
        click.echo(json.dumps(generated, indent=2, sort_keys=True))
    elif generated:
        click.echo(yaml.safe_dump_all(generated, sort_keys=True, default_flow_style=False).rstrip("\n"))
    for warning in (p for p in problems if p.code == "mutation_not_applied"):
        click.echo(f"warning: {warning}", err=True)
    for error in errors:
        click.echo(f"error: {error}", err=True)
    ctx.exit(EXIT_ERROR if errors else EXIT_OK)
