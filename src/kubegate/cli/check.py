"""``kubegate check``: check manifests against policies, offline.

Reads YAML/JSON files, multi-document streams, ``List`` kinds, directories
(recursively) and stdin (``-``); loads the built-in library plus ``--policies``
directories; feeds every input object into ``data.inventory`` (so Namespace
labels, Services and Ingresses are visible to policies); reviews each object
as a ``CREATE``. Problems with inputs or policies are reported with their
location and the run goes on; the exit code is 2 when there were any,
otherwise 1 when a ``deny`` violation was found and 0 when none was.

Plain Rego packages get conftest's semantics (``conftest test``,
https://www.conftest.dev/; :class:`ConftestRun`, :mod:`kubegate.policy.conftest`):
``--data`` files merged under ``data``, ``--namespace`` / ``--all-namespaces``
(kubegate's default is every package, conftest's is ``main``), ``exception``
rules, ``--combine``, and documents that are not Kubernetes objects (Helm
values, docker-compose files) given to the conftest-style packages, the ones
reading the document as ``input``.

With ``--image-policy FILE`` (an image trust policy, docs/images.md) the
images of each object are verified before its review when the policy set
calls ``kubegate.image.verify`` (the built-in ``pci-image-signature``);
``--offline`` skips verification with a note, and the builtin answers
``offline`` (nothing is reported for it).
"""

from __future__ import annotations

import difflib
import os
import re
import sys
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import click

from kubegate.audit.logger import DecisionLogger, LogSettings
from kubegate.audit.redact import redactor_for
from kubegate.cli.ci_formats import render_github, render_junit, render_tap
from kubegate.cli.conftest_run import ConftestRun
from kubegate.cli.inputs import CONFIGURATION_GROUPS, load_parameters, not_a_kubernetes_object, read_inputs
from kubegate.cli.options import backend_option, template_engine_option
from kubegate.cli.policy_report import REPORT_APIS, render_policyreport
from kubegate.cli.progress import progress_wanted, tracked
from kubegate.cli.report import CheckReport, ObjectResult, render_json, render_sarif, render_text
from kubegate.dsl.schema import DEFAULT_KUBERNETES_VERSION
from kubegate.engine.backends import DEFAULT_BACKEND
from kubegate.engine.decision import DecisionObserver, ReviewResult
from kubegate.engine.engine import Engine
from kubegate.errors import EvaluationError, InputError, KubegateError, Location, UsageError
from kubegate.evaluator.builtins.kubegate_image import ImageResults
from kubegate.images import Verifier, load_trust_policy
from kubegate.images.prefetch import policy_names
from kubegate.policy.conftest import (
    load_data,
)
from kubegate.policy.documents import Document
from kubegate.policy.inventory import Inventory
from kubegate.policy.kinds import KindRegistry
from kubegate.policy.review import OPERATIONS

__all__ = [
    "CONFIGURATION_GROUPS",
    "ConftestRun",
    "check",
    "load_parameters",
    "not_a_kubernetes_object",
    "read_inputs",
    "run_check",
]

EXIT_OK, EXIT_VIOLATIONS, EXIT_ERROR = 0, 1, 2


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
    expansion: bool = True,
    data_paths: Sequence[str] = (),
    namespaces: Sequence[str] | None = None,
    combine: bool = False,
    kustomize: bool = False,
    progress: bool = False,
    template_engine: str = "rego",
    image_policy: str | None = None,
    offline: bool = False,
    image_timeout_ms: float = 10_000.0,
) -> CheckReport:
    """Runs the check and returns the report (the CLI renders it).

    Objects are reviewed on ``jobs`` threads (default: one per CPU); the report
    keeps the input order. ``decision_log`` records each review; ``backend``
    names the Rego backend (see :func:`kubegate.engine.backends.make_backend`).
    Documents that are not Kubernetes objects (:func:`not_a_kubernetes_object`)
    are notes, or errors with ``strict_input``; kinds kubegate does not know
    are reviewed like any other (a near miss of a known kind is a warning).
    With ``expansion`` (the default) the Pods and Jobs that workloads generate
    are reviewed with them (kubegate's built-in ExpansionTemplates; those
    among the policies are used either way), as Gatekeeper does.

    conftest's semantics for plain Rego packages (:class:`ConftestRun`):
    ``data_paths`` are merged under ``data`` (``--data``); ``namespaces``
    (``None``: every package, conftest's ``--all-namespaces``) selects the plain
    packages evaluated; ``exception`` rules suppress results; documents that
    are not Kubernetes objects go to the conftest-style (``input: object``)
    policies, if any; with ``combine`` those policies see every document as
    one input instead, while the other policies still review each object.
    With ``kustomize`` a directory among ``paths`` holding a kustomization file
    is rendered with ``kubectl kustomize``; with ``progress`` a bar is shown
    on stderr when it is a terminal and there are many objects.

    ``image_policy`` (a trust policy file) has the images of every object
    verified before its review, within ``image_timeout_ms`` per object, when
    a policy calls ``kubegate.image.verify``; a trust policy that cannot be
    read is an error of the report. ``offline`` skips verification (a note;
    the builtin answers ``offline``).

    Raises:
        UsageError: ``unknown_backend``, ``unknown_namespace``.
    """
    notes: list[KubegateError] = []
    documents, errors = read_inputs(paths, ignore, notes, kustomize)
    if not documents and not errors:
        errors.append(
            InputError(f"no Kubernetes objects found in {', '.join(paths)}", Location(paths[0]), code="no_input")
        )
    data, data_errors = load_data(data_paths)
    errors.extend(data_errors)
    inventory = [d.obj for d in documents if d.name and not_a_kubernetes_object(d) is None]
    crds = [d.obj for d in documents if d.kind == "CustomResourceDefinition"]  # they type-check DSL rules too
    verifier = None
    if image_policy is not None and not offline:
        try:
            verifier = Verifier(load_trust_policy(image_policy, Inventory.from_objects(inventory).data))
        except KubegateError as exc:
            errors.append(exc)
    engine = Engine(
        policy_dirs,
        crds,
        builtin=builtin,
        parameters=parameters,
        inventory=inventory,
        kubernetes_version=kubernetes_version,
        decision_log=decision_log,
        backend=backend,
        expansion=expansion,
        data=data,
        template_engine=template_engine,
        image_verifier=verifier,
        image_verification_timeout_ms=image_timeout_ms,
    )
    errors.extend(engine.errors)
    image_results = None
    if offline and policy_names(m.source or m.module for m in engine.catalog.modules):
        image_results = ImageResults(offline=True)
        notes.append(
            UsageError(
                "--offline: image signatures were not verified (kubegate.image.verify answered offline; "
                "pci-image-signature reported nothing)",
                code="images_offline",
            )
        )
    conftest = ConftestRun(engine, namespaces, combine)
    errors.extend(conftest.errors)
    errors.extend(unknown_parameter_targets(parameters or {}, engine, parameters_file))
    kinds = KindRegistry()
    kinds.add_crds(d.obj for d in documents)
    results: list[ObjectResult] = []
    warnings: list[KubegateError] = []
    if combine and not conftest.policies:
        warnings.append(
            UsageError("--combine: no conftest-style (input: object) Rego policy is loaded", code="nothing_to_combine")
        )
    reviewable = []
    documents_only: list[Document] = []  # not Kubernetes objects, for conftest-style policies
    for doc in documents:
        why = not_a_kubernetes_object(doc)
        if why is not None:
            if strict_input:
                errors.append(InputError(why, doc.location, code="not_a_kubernetes_object"))
            elif conftest.policies:
                names = ", ".join(p.id for p in conftest.policies)
                given = "in the combined input" if combine else "given only"
                notes.append(
                    InputError(
                        f"{why}; {given} to conftest-style policies ({names})",
                        doc.location,
                        code="not_a_kubernetes_object",
                    )
                )
                documents_only.append(doc)
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
            return engine.review(doc.obj, operation=operation, image_results=image_results)
        except KubegateError as exc:
            return exc if exc.location else type(exc)(exc.message, doc.location, code=exc.code)

    with ThreadPoolExecutor(max(1, jobs or os.cpu_count() or 1), thread_name_prefix="kubegate-check") as pool:
        reviewing = pool.map(review_one, reviewable)
        if progress and progress_wanted(len(reviewable)):
            reviewing = tracked(reviewing, len(reviewable), f"reviewing {len(reviewable)} objects")
        outcomes = list(reviewing)
    for doc, review in zip(reviewable, outcomes, strict=True):
        if isinstance(review, KubegateError):
            errors.append(review)
            continue
        for failed in review.errors:
            if not conftest.keeps(failed.policy):
                continue
            errors.append(
                EvaluationError(f"policy {failed.policy} failed on this object: {failed.error}", doc.location)
            )
        for undecided in (s for s in review.skipped if conftest.keeps(s.policy)):
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
        result, failures = conftest.object_result(doc, review)
        if review.audit_annotations:
            result = replace(result, audit_annotations=tuple(sorted(review.audit_annotations.items())))
        results.append(result)
        errors.extend(failures)
    if not combine:
        for doc in documents_only:
            result, failures = conftest.document_result(doc)
            results.append(result)
            errors.extend(failures)
    position = {id(doc): i for i, doc in enumerate(documents)}
    results.sort(key=lambda r: position.get(id(r.document), len(documents)))
    if combine and conftest.policies:
        read = {id(d) for d in (*reviewable, *documents_only)}
        combined = [d for d in documents if id(d) in read]
        result, failures = conftest.combined_result(combined)
        results.append(result)
        errors.extend(failures)
    if verifier is not None:
        verifier.close()
    return CheckReport(
        tuple(results),
        tuple(p for p in engine.policies if p.id not in conftest.dropped),
        tuple(errors),
        (*engine.warnings, *warnings, *conftest.warnings),
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
    type=click.Choice(["text", "json", "sarif", "junit", "tap", "github", "policyreport"]),
    default="text",
    show_default=True,
    help="Report format (policyreport: PolicyReport/ClusterPolicyReport YAML, see --report-api).",
)
@click.option(
    "--report-api",
    type=click.Choice(sorted(REPORT_APIS)),
    default="wgpolicyk8s",
    show_default=True,
    help="API of -o policyreport: wgpolicyk8s.io/v1alpha2 PolicyReport or openreports.io/v1alpha1 Report.",
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
@click.option(
    "--data",
    "-d",
    "data_paths",
    multiple=True,
    metavar="PATH",
    help="JSON/YAML data file or directory (recursive) merged under data for plain Rego policies, "
    "as conftest's --data (repeatable; prefix:path roots it at data.prefix).",
)
@click.option(
    "--namespace",
    "-n",
    "namespaces",
    multiple=True,
    metavar="NS",
    help="Evaluate only the plain Rego packages NS (a glob such as 'main.*' too; repeatable). "
    "Gatekeeper templates, DSL rules and the built-in library always run. "
    "Default: every package (conftest's default is main).",
)
@click.option(
    "--all-namespaces",
    is_flag=True,
    help="Evaluate every plain Rego package (the default; overrides --namespace, as in conftest).",
)
@click.option(
    "--kustomize",
    is_flag=True,
    help="Render a directory argument holding a kustomization.yaml with kubectl kustomize and check the result.",
)
@click.option(
    "--combine",
    is_flag=True,
    help="Give conftest-style policies (input: the document) all documents as one input, "
    '[{"path": FILE, "contents": DOC}, ...], as conftest --combine; other policies still see each object.',
)
@template_engine_option
@click.option(
    "--no-expansion",
    is_flag=True,
    help="Do not review the Pods and Jobs workloads generate with kubegate's built-in ExpansionTemplates.",
)
@click.option("--jobs", "-j", type=click.IntRange(min=1), help="Objects reviewed in parallel (default: one per CPU).")
@click.option(
    "--kubernetes-version",
    default=DEFAULT_KUBERNETES_VERSION,
    show_default=True,
    help="Kubernetes version (major.minor) for DSL rules and the CEL environment.",
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
@click.option(
    "--image-policy",
    type=click.Path(dir_okay=False),
    help="Image trust policy file (docs/images.md): verify the images of the manifests for kubegate.image.verify.",
)
@click.option("--offline", is_flag=True, help="Do not verify image signatures (reported as a note).")
@backend_option
@click.pass_context
def check(
    ctx: click.Context,
    paths: tuple[str, ...],
    policy_dirs: tuple[str, ...],
    no_builtin: bool,
    parameters_file: str | None,
    output: str,
    report_api: str,
    operation: str,
    allow_unknown_kinds: bool,
    strict_input: bool,
    ignore_pattern: str | None,
    fail_on_warn: bool,
    data_paths: tuple[str, ...],
    namespaces: tuple[str, ...],
    all_namespaces: bool,
    combine: bool,
    kustomize: bool,
    no_expansion: bool,
    template_engine: str,
    jobs: int | None,
    kubernetes_version: str,
    decision_log: str | None,
    decision_log_mode: str,
    redaction_config: str | None,
    image_policy: str | None,
    offline: bool,
    backend: str,
) -> None:
    """Check Kubernetes manifests (files, directories, or - for stdin) against policies.

    Exit status: 0 no deny violation, 1 deny violations found (or, with
    --fail-on-warn, warn violations), 2 bad input or
    a policy that could not be loaded (every format then reports ERRORS /
    passed: false). Documents that are not Kubernetes objects (Helm values,
    kustomization.yaml, docker-compose files) are given to the conftest-style
    Rego policies (those reading the document as input) and skipped by the
    others, with a note. Results a conftest exception rule suppressed are
    reported as exceptions (EXCP) and do not fail the run. With
    --image-policy the images are verified for pci-image-signature (and any
    policy calling kubegate.image.verify); --offline skips that, with a note.
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
            expansion=not no_expansion,
            template_engine=template_engine,
            data_paths=data_paths,
            namespaces=None if all_namespaces or not namespaces else namespaces,
            combine=combine,
            kustomize=kustomize,
            progress=True,
            image_policy=image_policy,
            offline=offline,
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
        "policyreport": lambda: render_policyreport(report, api=report_api).rstrip("\n"),
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
