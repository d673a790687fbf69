"""``kubegate compile`` and ``kubegate lint``: the DSL at the command line.

``compile FILE|DIR...`` checks ``.kgr`` files against the Kubernetes schemas
and prints the generated Rego (or writes one ``<rule>.rego`` per rule with
``-o DIR``); with ``--format gatekeeper`` it prints a YAML stream of one
ConstraintTemplate and one Constraint per rule (or writes
``<rule>-template.yaml`` and ``<rule>-constraint.yaml``; see
:mod:`kubegate.dsl.gatekeeper`). ``lint`` only checks. Exit status: 0 clean, 1 diagnostics (the
rules without findings are still compiled), 2 usage errors.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from kubegate.dsl.compiler import DSL_SUFFIX, CompileResult, compile_files
from kubegate.dsl.gatekeeper import dump_objects, export_rules
from kubegate.dsl.schema import DEFAULT_KUBERNETES_VERSION, SchemaSet
from kubegate.errors import UsageError
from kubegate.policy.documents import iter_input_files, load_file

__all__ = ["compile_command", "lint"]

EXIT_OK, EXIT_DIAGNOSTICS = 0, 1

_version = click.option(
    "--kubernetes-version",
    default=DEFAULT_KUBERNETES_VERSION,
    show_default=True,
    help="Kubernetes API version (major.minor) to check field names and types against.",
)
_crd = click.option(
    "--crd",
    "crds",
    multiple=True,
    type=click.Path(),
    help="CustomResourceDefinition file or directory, so rules on custom resources are checked (repeatable).",
)


def _dsl_files(paths: tuple[str, ...]) -> list[str]:
    files: list[str] = []
    for path in paths:
        if Path(path).is_dir():
            found = list(iter_input_files([path], (DSL_SUFFIX,)))
            files.extend(found)
        elif not Path(path).exists():
            raise UsageError(f"no such file or directory: {path}", code="file_not_found")
        else:
            files.append(path)
    return files


def _schemas(version: str, crd_paths: tuple[str, ...]) -> SchemaSet:
    crds = []
    for f in iter_input_files(list(crd_paths)):
        for doc in load_file(f):
            if doc.obj.get("kind") == "CustomResourceDefinition":
                crds.append(doc.obj)
            else:
                raise UsageError(
                    f"{doc.location}: {doc.obj.get('kind')} is not a CustomResourceDefinition", code="not_a_crd"
                )
    return SchemaSet(version, crds)


def _report(result: CompileResult, output: str) -> None:
    if output == "json":
        click.echo(
            json.dumps(
                {"diagnostics": [e.to_dict() for e in result.errors], "rules": [r.id for r in result.rules]}, indent=2
            )
        )
        return
    for error in result.errors:
        click.echo(f"{error}", err=True)
    if result.errors:
        click.echo(f"{len(result.errors)} problem(s); {len(result.rules)} rule(s) compiled", err=True)


@click.command("compile")
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--out",
    "-o",
    "out_dir",
    type=click.Path(file_okay=False),
    help="Write one file per rule (two with gatekeeper) here.",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["rego", "gatekeeper"]),
    default="rego",
    show_default=True,
    help="rego: one Rego v1 module per rule; gatekeeper: a ConstraintTemplate and a Constraint per rule.",
)
@_version
@_crd
def compile_command(
    paths: tuple[str, ...], out_dir: str | None, output_format: str, kubernetes_version: str, crds: tuple[str, ...]
) -> int:
    """Compile DSL files (.kgr) to Rego v1 or to Gatekeeper templates and constraints."""
    result = compile_files(_dsl_files(paths), _schemas(kubernetes_version, crds))
    _report(result, "text")
    if output_format == "gatekeeper":
        return _gatekeeper(result, out_dir)
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        for rule in result.rules:
            target = out / f"{rule.id}.rego"
            target.write_text(rule.text, "utf-8")
            click.echo(f"wrote {target}")
    else:
        click.echo("\n".join(rule.text for rule in result.rules), nl=False)
    return EXIT_DIAGNOSTICS if result.errors else EXIT_OK


def _gatekeeper(result: CompileResult, out_dir: str | None) -> int:
    exported = export_rules(result.rules)
    for error in exported.errors:
        click.echo(f"{error}", err=True)
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        for rule in exported.rules:
            for suffix, obj in (("template", rule.template), ("constraint", rule.constraint)):
                target = out / f"{rule.file_stem}-{suffix}.yaml"
                target.write_text(dump_objects([obj]), "utf-8")
                click.echo(f"wrote {target}")
    elif exported.rules:
        click.echo(dump_objects(exported.objects()), nl=False)
    return EXIT_DIAGNOSTICS if result.errors or exported.errors else EXIT_OK


@click.command("lint")
@click.argument("paths", nargs=-1, required=True)
@click.option("--output", "-o", type=click.Choice(["text", "json"]), default="text", show_default=True)
@_version
@_crd
def lint(paths: tuple[str, ...], output: str, kubernetes_version: str, crds: tuple[str, ...]) -> int:
    """Check DSL files (.kgr) against the Kubernetes schemas; report every problem."""
    result = compile_files(_dsl_files(paths), _schemas(kubernetes_version, crds))
    _report(result, output)
    if output == "text" and not result.errors:
        click.echo(f"{len(result.rules)} rule(s) OK")
    return EXIT_DIAGNOSTICS if result.errors else EXIT_OK
