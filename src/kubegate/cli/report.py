"""Render ``kubegate check`` results: text table, JSON, SARIF (JUnit, TAP and
GitHub annotations: :mod:`kubegate.cli.ci_formats`).

The JSON shape is a contract CI pipelines parse::

    {"results": [{"source", "index", "line", "apiVersion", "kind", "namespace",
                  "name", "violations": [{"policy", "enforcement", "message",
                  "details"}], "skipped": [...],
                  "exceptions": [{"policy", "rule", "enforcement", "msg",
                                  "suppressed"}],
                  "files": [...], "auditAnnotations": {...}}],
     "summary": {"objects", "policies", "violations", "deny", "warn", "dryrun",
                 "exceptions", "errors", "warnings", "notes", "passed"},
     "errors": [{"code", "message", "location"}], "warnings": [...], "notes": [...]}

``exceptions`` are conftest exceptions (https://www.conftest.dev/exceptions/,
:mod:`kubegate.policy.conftest`): an entry rule whose results a package's
``exception`` rule suppressed for the object, with conftest's message (the
exception query) and the suppressed messages; they never fail a run. The
result of ``--combine`` (every document as one input) has ``source``
``<combined>`` and ``files``, the files its documents came from (``files``
appears on that result only). ``auditAnnotations`` (only when there are
some) are the audit annotations ValidatingAdmissionPolicies wrote for the
object (``<policy>/<key>`` -> value, as in Kubernetes' audit event).

``passed`` is true only with no ``deny`` violation **and no error**: a run
that could not read an input or load a policy never says it passed (the
text summary ends in ``ERRORS``). Notes are inputs skipped on purpose
(``not_a_kubernetes_object``: a ``kustomization.yaml``, Helm values, plain
configuration); they do not change the outcome.

SARIF follows the OASIS SARIF 2.1.0 standard
(https://docs.oasis-open.org/sarif/sarif/v2.1.0/sarif-v2.1.0.html) so code
scanning UIs can show each violation on the manifest line it concerns.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from kubegate.engine.decision import ENFORCEMENT_ORDER, SkippedPolicy, Violation
from kubegate.errors import KubegateError
from kubegate.policy.conftest import COMBINED_SOURCE, ExceptedRule
from kubegate.policy.documents import Document
from kubegate.policy.units import Policy

__all__ = ["CheckReport", "ObjectResult", "render_json", "render_sarif", "render_text"]

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_SARIF_LEVEL = {"deny": "error", "warn": "warning", "dryrun": "note"}


@dataclass(frozen=True)
class ObjectResult:
    """The findings for one input object (or, with ``files``, the combined input).

    Attributes:
        exceptions: conftest exceptions applied to it (suppressed results).
        files: for the combined input of ``--combine``: the files it holds.
        matched: ids of the policies that decided on it (their match selected
            it), when the check recorded them; ``None``: not recorded.
        audit_annotations: ValidatingAdmissionPolicies' audit annotations.
    """

    document: Document
    violations: tuple[Violation, ...]
    skipped: tuple[SkippedPolicy, ...] = ()
    exceptions: tuple[ExceptedRule, ...] = field(default=(), kw_only=True)
    files: tuple[str, ...] = field(default=(), kw_only=True)
    matched: tuple[str, ...] | None = field(default=None, kw_only=True)
    audit_annotations: tuple[tuple[str, str], ...] = field(default=(), kw_only=True)

    @property
    def combined(self) -> bool:
        return self.document.source == COMBINED_SOURCE

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "source": self.document.source,
            "index": self.document.index,
            "line": self.document.line,
            "apiVersion": self.document.api_version,
            "kind": self.document.kind,
            "namespace": self.document.namespace,
            "name": self.document.name,
            "violations": [v.to_dict() for v in self.violations],
            "skipped": [s.to_dict() for s in self.skipped],
            "exceptions": [e.to_dict() for e in self.exceptions],
        }
        if self.combined:
            out["files"] = list(self.files)
        if self.audit_annotations:
            out["auditAnnotations"] = dict(self.audit_annotations)
        return out


@dataclass(frozen=True)
class CheckReport:
    """Everything ``kubegate check`` found."""

    results: tuple[ObjectResult, ...]
    policies: tuple[Policy, ...]
    errors: tuple[KubegateError, ...] = ()
    warnings: tuple[KubegateError, ...] = ()
    tool_version: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    notes: tuple[KubegateError, ...] = ()
    fail_on_warn: bool = False

    def count(self, action: str) -> int:
        return sum(1 for r in self.results for v in r.violations if v.enforcement == action)

    @property
    def exception_count(self) -> int:
        """conftest exceptions applied (one per excepted rule and object; they never fail)."""
        return sum(len(r.exceptions) for r in self.results)

    @property
    def passed(self) -> bool:
        """No ``deny`` violation (nor ``warn`` with :attr:`fail_on_warn`) and no error."""
        warned = self.fail_on_warn and self.count("warn") > 0
        return self.count("deny") == 0 and not warned and not self.errors

    @property
    def verdict(self) -> str:
        """``ERRORS`` (something could not be checked), ``FAILED`` (deny violations) or ``PASSED``."""
        if self.errors:
            return "ERRORS"
        return "PASSED" if self.passed else "FAILED"

    def summary(self) -> dict[str, Any]:
        return {
            "objects": len(self.results),
            "policies": len(self.policies),
            "violations": sum(len(r.violations) for r in self.results),
            "deny": self.count("deny"),
            "warn": self.count("warn"),
            "dryrun": self.count("dryrun"),
            "exceptions": self.exception_count,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "notes": len(self.notes),
            "passed": self.passed,
        }


def render_json(report: CheckReport) -> str:
    return json.dumps(
        {
            "results": [r.to_dict() for r in report.results],
            "summary": report.summary(),
            "errors": [e.to_dict() for e in report.errors],
            "warnings": [w.to_dict() for w in report.warnings],
            "notes": [n.to_dict() for n in report.notes],
        },
        indent=2,
        sort_keys=False,
    )


def _label(doc: Document) -> str:
    if doc.source == COMBINED_SOURCE:
        return "all documents as one input (--combine)"
    where = f" (line {doc.line})" if doc.line else f" (object {doc.index})"
    if not doc.kind:  # a document that is not a Kubernetes object (given to conftest-style policies)
        return f"document{where}"
    name = doc.name or "<unnamed>"
    ns = f"{doc.namespace}/" if doc.namespace else ""
    return f"{doc.kind} {ns}{name}{where}"


def render_text(report: CheckReport, color: bool = False) -> str:
    """A readable table grouped by file and object."""

    def paint(text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if color else text

    styles = {"deny": "31;1", "warn": "33", "dryrun": "36"}
    lines: list[str] = []
    named = [v.policy for r in report.results for v in r.violations]
    width = max((len(p) for p in (*named, *(e.policy for r in report.results for e in r.exceptions))), default=10)
    current = None
    for result in report.results:
        doc = result.document
        if doc.source != current:
            current = doc.source
            lines.append("")
            header = f"combined input: {', '.join(result.files)}" if result.combined else doc.source
            lines.append(paint(header, "1"))
        lines.append(f"  {_label(doc)}")
        if not result.violations and not result.skipped and not result.exceptions:
            lines.append(f"    {paint('ok', '32')}")
        ordered = sorted(result.violations, key=lambda v: (-ENFORCEMENT_ORDER[v.enforcement], v.policy, v.message))
        for v in ordered:
            action = paint(v.enforcement.upper().ljust(6), styles[v.enforcement])
            lines.append(f"    {action} {v.policy.ljust(width)}  {v.message}")
        for skipped in result.skipped:
            lines.append(f"    {paint('SKIP'.ljust(6), '2')} {skipped.policy.ljust(width)}  {skipped.reason}")
        for excepted in result.exceptions:
            # conftest's EXCP line; the results it suppressed follow, indented.
            lines.append(f"    {paint('EXCP'.ljust(6), '35')} {excepted.policy.ljust(width)}  {excepted.message}")
            lines.extend(f"{' ' * (12 + width)}suppressed {excepted.rule}: {m}" for m in excepted.suppressed)
    s = report.summary()
    verdict = paint(report.verdict, "32;1" if report.passed else "31;1")
    lines.append("")
    lines.append(
        f"{s['objects']} objects checked against {s['policies']} policies: "
        f"{s['deny']} deny, {s['warn']} warn, {s['dryrun']} dryrun"
        + (f", {s['exceptions']} exceptions" if s["exceptions"] else "")
        + (f", {s['errors']} errors" if s["errors"] else "")
        + (f", {s['notes']} notes" if s["notes"] else "")
        + f" -- {verdict}"
    )
    return "\n".join(lines).lstrip("\n")


def _rule(policy: Policy) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "id": policy.id,
        "name": policy.id,
        "shortDescription": {"text": policy.title or policy.id},
        "defaultConfiguration": {"level": _SARIF_LEVEL.get(policy.enforcement, "error")},
        "properties": {"kind": policy.kind, "version": policy.version},
    }
    if policy.description:
        rule["fullDescription"] = {"text": policy.description}
    if policy.severity:
        rule["properties"]["severity"] = policy.severity
    return rule


def _sarif_locations(result: ObjectResult) -> list[dict[str, Any]]:
    doc = result.document
    if result.combined:  # the combined input: every file it was made of
        return [
            {"physicalLocation": {"artifactLocation": {"uri": f}, "region": {"startLine": 1}}} for f in result.files
        ]
    return [
        {
            "physicalLocation": {"artifactLocation": {"uri": doc.source}, "region": {"startLine": max(doc.line, 1)}},
            "logicalLocations": [{"name": doc.name, "kind": doc.kind}],
        }
    ]


def _sarif_text(result: ObjectResult, message: str) -> str:
    doc = result.document
    if result.combined:
        return f"combined input: {message}"
    if not doc.kind:
        return f"document {doc.index}: {message}"
    return f"{doc.kind} {doc.namespace + '/' if doc.namespace else ''}{doc.name}: {message}"


def render_sarif(report: CheckReport, tool_version: str) -> str:
    """The report as SARIF 2.1.0. A result a conftest exception suppressed is a
    result with a ``suppressions`` entry (``kind: inSource``, the exception
    query as justification), which code scanning shows as suppressed."""
    policies = sorted(report.policies, key=lambda p: p.id)
    index = {p.id: i for i, p in enumerate(policies)}
    results: list[dict[str, Any]] = []

    def add(result: ObjectResult, policy: str, level: str, text: str, properties: dict[str, Any]) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "ruleId": policy,
            "level": level,
            "message": {"text": _sarif_text(result, text)},
            "locations": _sarif_locations(result),
            "properties": properties,
        }
        if policy in index:
            entry["ruleIndex"] = index[policy]
        results.append(entry)
        return entry

    for result in report.results:
        for v in result.violations:
            add(
                result,
                v.policy,
                _SARIF_LEVEL[v.enforcement],
                v.message,
                {"enforcement": v.enforcement, "details": v.details},
            )
        for excepted in result.exceptions:
            suppression = {"kind": "inSource", "status": "accepted", "justification": excepted.message}
            for text in excepted.suppressed or (excepted.message,):
                level = _SARIF_LEVEL.get(excepted.enforcement, "note") if excepted.suppressed else "note"
                entry = add(
                    result,
                    excepted.policy,
                    level,
                    text,
                    {"enforcement": excepted.enforcement, "exception": excepted.rule},
                )
                entry["suppressions"] = [suppression]
    notifications = []
    for e in (*report.errors, *report.warnings):
        note: dict[str, Any] = {
            "level": "error" if e in report.errors else "warning",
            "message": {"text": e.message},
            "descriptor": {"id": e.code},
        }
        if e.location is not None:
            loc_region: dict[str, Any] = {}
            if e.location.line:
                loc_region["startLine"] = e.location.line
            if e.location.column:
                loc_region["startColumn"] = e.location.column
            phys: dict[str, Any] = {"artifactLocation": {"uri": e.location.file}}
            if loc_region:
                phys["region"] = loc_region
            note["locations"] = [{"physicalLocation": phys}]
        notifications.append(note)
    sarif: dict[str, Any] = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "kubegate",
                        "version": tool_version,
                        "informationUri": "https://github.com/kubegate/kubegate",
                        "rules": [_rule(p) for p in policies],
                    }
                },
                "invocations": [
                    {"executionSuccessful": not report.errors, "toolExecutionNotifications": notifications}
                ],
                "results": results,
            }
        ],
    }
    return json.dumps(sarif, indent=2)


def render_errors(errors: Sequence[KubegateError]) -> str:
    return "\n".join(f"error: {e}" for e in errors)
