"""``kubegate check``: check manifests against policies, offline.

Reads YAML/JSON files, multi-document streams, ``List`` kinds, directories
(recursively) and stdin (``-``); loads the built-in library plus ``--policies``
directories; feeds every input object into ``data.inventory`` (so Namespace
labels, Services and Ingresses are visible to policies); reviews each object
as a ``CREATE``. Problems with inputs or policies are reported with their
location and the run goes on; the exit code is 2 when there were any,
otherwise 1 when a ``deny`` violation was found and 0 when none was.
"""

from __future__ import annotations

import difflib
import os
import re
import sys
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import click

from kubegate.audit.logger import DecisionLogger, LogSettings
from kubegate.audit.redact import redactor_for
from kubegate.cli.ci_formats import render_github, render_junit, render_tap
from kubegate.cli.options import backend_option
from kubegate.cli.report import CheckReport, ObjectResult, render_json, render_sarif, render_text
from kubegate.dsl.schema import DEFAULT_KUBERNETES_VERSION
from kubegate.engine.backends import DEFAULT_BACKEND
from kubegate.engine.decision import DecisionObserver, ReviewResult
from kubegate.engine.engine import Engine
from kubegate.errors import EvaluationError, InputError, KubegateError, Location, UsageError
from kubegate.policy.documents import Document, iter_input_files, load_file, read_text
from kubegate.policy.kinds import KindRegistry
from kubegate.policy.match import split_api_version
from kubegate.policy.review import OPERATIONS
from kubegate.yamlio import read_yaml_stream

__all__ = ["CONFIGURATION_GROUPS", "check", "not_a_kubernetes_object", "run_check"]

EXIT_OK, EXIT_VIOLATIONS, EXIT_ERROR = 0, 1, 2


def load_parameters(path: str | None) -> dict[str, Mapping[str, Any]]:
    """Reads ``--parameters``: a YAML mapping ``policy id -> {parameter: value}``.

    Raises:
        InputError: ``invalid_parameters_file``.
    """
    if path is None:
        return {}
    docs = [d for d in _yaml_mappings(path)]
    if len(docs) != 1:
        raise InputError(
            f"{path} must hold one YAML mapping of policy id to parameters",
            Location(path),
            code="invalid_parameters_file",
        )
    out: dict[str, Mapping[str, Any]] = {}
    for key, value in docs[0].items():
        if not isinstance(value, dict):
            raise InputError(
                f"{path}: parameters for {key!r} must be a mapping", Location(path), code="invalid_parameters_file"
            )
        out[str(key)] = value
    return out


def _yaml_mappings(path: str) -> list[dict[str, Any]]:
    """The non-empty documents of a YAML file, read within :mod:`kubegate.yamlio`'s bounds.

    Raises:
        InputError: ``yaml_parse_error`` (or a bound's code: ``yaml_alias_limit``,
            ``document_too_deep`` ...) with the line, ``invalid_parameters_file``.
    """
    text = read_text(path)
    docs = [d.value for d in read_yaml_stream(text, path, pure_python=True) if d.value is not None]
    if not all(isinstance(d, dict) for d in docs):
        raise InputError(f"{path} must hold YAML mappings", Location(path), code="invalid_parameters_file")
    return docs


def read_inputs(
    paths: Sequence[str], ignore: re.Pattern[str] | None = None, notes: list[KubegateError] | None = None
) -> tuple[list[Document], list[KubegateError]]:
    """Reads every object under ``paths``; errors are collected per file.

    Files whose path matches ``ignore`` (``re.search``, conftest's ``--ignore``)
    are not read; each is listed in ``notes`` (``ignored_input``).
    """
    documents: list[Document] = []
    errors: list[KubegateError] = []
    try:
        files = list(iter_input_files(paths))
    except InputError as exc:
        return [], [exc]
    for path in files:
        if ignore is not None and ignore.search(path):
            if notes is not None:
                notes.append(
                    InputError(f"matches --ignore {ignore.pattern!r}; not read", Location(path), code="ignored_input")
                )
            continue
        try:
            documents.extend(load_file(path))
        except KubegateError as exc:
            errors.append(exc)
    return documents, errors


def run_check(
    paths: Sequence[str],
    *,
    policy_dirs: Sequence[str] = (),
    builtin: bool = True,
    parameters: Mapping[str, Mapping[str, Any]] | None = None,
    operation: str = "CREATE",
    allow_unknown_kinds: bool = False,
    strict_input: bool = False,
    jobs: int | None = None,
    kubernetes_version: str = DEFAULT_KUBERNETES_VERSION,
    decision_log: DecisionObserver | None = None,
    backend: str = DEFAULT_BACKEND,
    parameters_file: str | None = None,
    ignore: re.Pattern[str] | None = None,
    fail_on_warn: bool = False,
) -> CheckReport:
    """Runs the check and returns the report (the CLI renders it).

    Objects are reviewed on ``jobs`` threads (default: one per CPU); the report
    keeps the input order. ``decision_log`` records each review; ``backend``
    names the Rego backend (see :func:`kubegate.engine.backends.make_backend`).
    Documents that are not Kubernetes objects (:func:`not_a_kubernetes_object`)
    are notes, or errors with ``strict_input``; kinds kubegate does not know
    are reviewed like any other (a near miss of a known kind is a warning).

    Raises:
        UsageError: ``unknown_backend``.
    """
    notes: list[KubegateError] = []
    documents, errors = read_inputs(paths, ignore, notes)
    if not documents and not errors:
        errors.append(
            InputError(f"no Kubernetes objects found in {', '.join(paths)}", Location(paths[0]), code="no_input")
        )
    inventory = [d.obj for d in documents if d.name and not_a_kubernetes_object(d) is None]
    crds = [d.obj for d in documents if d.kind == "CustomResourceDefinition"]  # they type-check DSL rules too
    engine = Engine(
        policy_dirs,
        crds,
        builtin=builtin,
        parameters=parameters,
        inventory=inventory,
        kubernetes_version=kubernetes_version,
        decision_log=decision_log,
        backend=backend,
    )
    errors.extend(engine.errors)
    errors.extend(unknown_parameter_targets(parameters or {}, engine, parameters_file))
    kinds = KindRegistry()
    kinds.add_crds(d.obj for d in documents)
    results: list[ObjectResult] = []
    warnings: list[KubegateError] = []
    reviewable = []
    for doc in documents:
        why = not_a_kubernetes_object(doc)
        if why is not None:
            if strict_input:
                errors.append(InputError(why, doc.location, code="not_a_kubernetes_object"))
            else:
                notes.append(InputError(f"{why}; skipped", doc.location, code="not_a_kubernetes_object"))
            continue
        # A kind kubegate does not know (a CRD instance, say) is checked by the
        # policies that match it; a near miss of a known kind is worth a warning.
        problem = None if allow_unknown_kinds else kinds.near_miss(doc.api_version, doc.kind)
        if problem is not None:
            warnings.append(InputError(f"{doc.api_version}/{doc.kind}: {problem}", doc.location, code="unknown_kind"))
        reviewable.append(doc)

    def review_one(doc: Document) -> ReviewResult | KubegateError:
        try:
            return engine.review(doc.obj, operation=operation)
        except KubegateError as exc:
            return exc if exc.location else type(exc)(exc.message, doc.location, code=exc.code)

    with ThreadPoolExecutor(max(1, jobs or os.cpu_count() or 1), thread_name_prefix="kubegate-check") as pool:
        outcomes = list(pool.map(review_one, reviewable))
    for doc, review in zip(reviewable, outcomes, strict=True):
        if isinstance(review, KubegateError):
            errors.append(review)
            continue
        for failed in review.errors:
            errors.append(
                EvaluationError(f"policy {failed.policy} failed on this object: {failed.error}", doc.location)
            )
        for undecided in review.skipped:
            # Gatekeeper (gator) errors when a namespaceSelector needs a Namespace
            # it does not have; an "ok" here could hide a violation.
            errors.append(
                InputError(
                    f"policy {undecided.policy} could not decide on this object: {undecided.reason} "
                    "(add the Namespace manifest to the inputs)",
                    doc.location,
                    code="namespace_not_in_inventory",
                )
            )
        results.append(ObjectResult(doc, review.violations, review.skipped))
    return CheckReport(
        tuple(results),
        engine.policies,
        tuple(errors),
        (*engine.warnings, *warnings),
        notes=tuple(notes),
        fail_on_warn=fail_on_warn,
    )


def unknown_parameter_targets(
    parameters: Mapping[str, Mapping[str, Any]], engine: Engine, path: str | None
) -> list[KubegateError]:
    """``unknown_policy_parameters`` errors for ``--parameters`` entries naming no
    loaded policy (a typo would otherwise leave the policy on its defaults)."""
    ids = sorted(p.id for p in engine.policies)
    out: list[KubegateError] = []
    for pid in parameters:
        if pid in ids:
            continue
        close = difflib.get_close_matches(pid, ids, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]}?)" if close else ""
        out.append(
            InputError(
                f"parameters given for {pid!r}, which is not a loaded policy{hint}",
                Location(path) if path else None,
                code="unknown_policy_parameters",
            )
        )
    return out


# API groups of configuration files that look like objects but never reach an
# API server (kustomize's Kustomization and Component, skaffold's Config).
CONFIGURATION_GROUPS = frozenset({"kustomize.config.k8s.io", "skaffold"})


def not_a_kubernetes_object(doc: Document) -> str | None:
    """Why ``doc`` is not a Kubernetes object to review, or ``None`` when it is.

    No ``apiVersion`` or no ``kind`` (Helm ``values.yaml``, ``Chart.yaml``, plain
    configuration), a kustomize or skaffold file, or a kubeconfig (``v1``
    ``Config``): kubeconform and conftest users expect these to be passed over.
    """
    if not doc.kind or not doc.api_version:
        missing = " and ".join(k for k, v in (("apiVersion", doc.api_version), ("kind", doc.kind)) if not v)
        return f"document has no {missing}"
    group, _ = split_api_version(doc.api_version)
    if group in CONFIGURATION_GROUPS:
        return f"{doc.api_version} {doc.kind} is a configuration file, not a Kubernetes object"
    if doc.api_version == "v1" and doc.kind == "Config":
        return "a kubeconfig file, not a Kubernetes object"
    return None


def _decision_logger(directory: str | None, mode: str, redaction_config: str | None) -> DecisionLogger | None:
    if directory is None:
        if redaction_config:
            raise UsageError("--redaction-config needs --decision-log DIR")
        return None
    settings = LogSettings(directory, mode="strict" if mode == "strict" else "standard", path="kubegate/check")
    return DecisionLogger(settings, redactor=redactor_for(redaction_config))


@click.command("check")
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--policies", "-p", "policy_dirs", multiple=True, type=click.Path(), help="Policy file or directory (repeatable)."
)
@click.option("--no-builtin", is_flag=True, help="Do not load kubegate's built-in compliance library.")
@click.option(
    "--parameters", "parameters_file", type=click.Path(), help="YAML: policy id -> parameters for plain Rego policies."
)
@click.option(
    "--output",
    "-o",
    type=click.Choice(["text", "json", "sarif", "junit", "tap", "github"]),
    default="text",
    show_default=True,
    help="Report format.",
)
@click.option(
    "--operation",
    type=click.Choice(OPERATIONS),
    default="CREATE",
    show_default=True,
    help="Operation the objects are reviewed as.",
)
@click.option(
    "--allow-unknown-kinds",
    is_flag=True,
    help="Do not warn about near misses of known kinds (a kind or version missing from a known API group).",
)
@click.option(
    "--strict-input",
    is_flag=True,
    help="Documents that are not Kubernetes objects (no apiVersion/kind, kustomization.yaml) are errors, not notes.",
)
@click.option(
    "--ignore", "ignore_pattern", metavar="REGEX", help="Do not read input files whose path matches (like conftest)."
)
@click.option("--fail-on-warn", is_flag=True, help="Exit 1 on warn violations too (like conftest's --fail-on-warn).")
@click.option("--jobs", "-j", type=click.IntRange(min=1), help="Objects reviewed in parallel (default: one per CPU).")
@click.option(
    "--kubernetes-version",
    default=DEFAULT_KUBERNETES_VERSION,
    show_default=True,
    help="Kubernetes API version (major.minor) DSL rules are checked against.",
)
@click.option("--decision-log", type=click.Path(file_okay=False), help="Record each review in this decision log.")
@click.option(
    "--decision-log-mode",
    type=click.Choice(["strict", "standard"]),
    default="standard",
    show_default=True,
    help="strict: full input (redacted); standard: identity and decision only.",
)
@click.option("--redaction-config", type=click.Path(dir_okay=False), help="Mask rules and detectors (YAML).")
@backend_option
@click.pass_context
def check(
    ctx: click.Context,
    paths: tuple[str, ...],
    policy_dirs: tuple[str, ...],
    no_builtin: bool,
    parameters_file: str | None,
    output: str,
    operation: str,
    allow_unknown_kinds: bool,
    strict_input: bool,
    ignore_pattern: str | None,
    fail_on_warn: bool,
    jobs: int | None,
    kubernetes_version: str,
    decision_log: str | None,
    decision_log_mode: str,
    redaction_config: str | None,
    backend: str,
) -> None:
    """Check Kubernetes manifests (files, directories, or - for stdin) against policies.

    Exit status: 0 no deny violation, 1 deny violations found (or, with
    --fail-on-warn, warn violations), 2 bad input or
    a policy that could not be loaded (every format then reports ERRORS /
    passed: false). Documents that are not Kubernetes objects (Helm values,
    kustomization.yaml) are skipped with a note.
    """
    if no_builtin and not policy_dirs:
        raise UsageError("--no-builtin needs at least one --policies directory: there would be nothing to check")
    parameters = load_parameters(parameters_file)
    try:
        ignore = re.compile(ignore_pattern) if ignore_pattern is not None else None
    except re.error as exc:
        raise UsageError(f"--ignore {ignore_pattern!r}: {exc}", code="invalid_ignore_pattern") from None
    logger = _decision_logger(decision_log, decision_log_mode, redaction_config)
    try:
        report = run_check(
            paths,
            policy_dirs=policy_dirs,
            builtin=not no_builtin,
            parameters=parameters,
            operation=operation,
            allow_unknown_kinds=allow_unknown_kinds,
            strict_input=strict_input,
            jobs=jobs,
            kubernetes_version=kubernetes_version,
            decision_log=logger,
            backend=backend,
            parameters_file=parameters_file,
            ignore=ignore,
            fail_on_warn=fail_on_warn,
        )
    finally:
        if logger is not None:
            logger.close()
    version = ctx.obj.get("version", "") if isinstance(ctx.obj, dict) else ""
    renderers = {
        "json": lambda: render_json(report),
        "sarif": lambda: render_sarif(report, version),
        "junit": lambda: render_junit(report).rstrip("\n"),
        "tap": lambda: render_tap(report),
        "github": lambda: render_github(report),
    }
    click.echo(renderers[output]() if output in renderers else render_text(report, color=sys.stdout.isatty()))
    if output == "text":
        for note in report.notes:
            click.echo(f"note: {note}", err=True)
    if output == "text" or report.errors:
        for warning in report.warnings:
            click.echo(f"warning: {warning}", err=True)
    for error in report.errors:
        click.echo(f"error: {error}", err=True)
    if report.errors:
        ctx.exit(EXIT_ERROR)
    ctx.exit(EXIT_OK if report.passed else EXIT_VIOLATIONS)
