"""``kubegate check -o policyreport``: the check as Policy Reports, ready for ``kubectl apply -f``.

Two APIs, the same results:

* ``wgpolicyk8s`` (default): ``wgpolicyk8s.io/v1alpha2`` ``PolicyReport`` and
  ``ClusterPolicyReport``, the Kubernetes Policy WG's API
  (https://github.com/kubernetes-sigs/wg-policy-prototypes/tree/master/policy-report,
  ``crd/v1alpha2``; Kyverno ships the same CRDs);
* ``openreports``: ``openreports.io/v1alpha1`` ``Report`` and ``ClusterReport``
  (https://github.com/openreports/reports-api, ``config/crd``), its successor,
  which adds a report-level ``source``.

The output is a YAML stream of reports (``---`` between them), as
``kyverno apply --policy-report`` prints it: the cluster report first
(``kubegate-cpolr``, always present: run-level errors go there), then one
report per namespace of the checked objects (``kubegate-polr-ns-<namespace>``),
in namespace order, each labelled ``app.kubernetes.io/managed-by: kubegate``.
An object whose manifest names no namespace is cluster-scoped for kubegate,
as for its match and inventory (Gatekeeper's convention), so its results go
to the cluster report.

Each result follows Kyverno's ``ToPolicyReportResult``
(https://github.com/kyverno/kyverno/blob/main/pkg/utils/report/results.go):
``source: kubegate``, ``policy`` (the policy id), ``rule``, ``result``,
``message``, ``scored``, ``timestamp {seconds, nanos}``, ``resources`` (one
ObjectReference: apiVersion, kind, name, namespace, uid when set),
``severity`` (the policy's, when it maps onto the CRD's enum: critical, high,
medium/moderate, low, info/informational; any other text is kept as the
``severity`` property), ``category`` (METADATA ``custom.category``) and
``properties`` (strings: ``file`` and ``line`` of the object, or ``index``
when the line is unknown (JSON), ``enforcement``, ``details`` as JSON, and
``impliedBy``, the ExpansionTemplate, for a violation of the Pod a workload
generates).

=====================  ======================================================
kubegate               result
=====================  ======================================================
``deny`` violation     ``fail``, scored
``warn``/``dryrun``    ``warn``, not scored (Kyverno's ``fail`` of an unscored
                       policy, and its ``--audit-warn``: reported, never
                       enforced); ``properties.enforcement`` tells them apart
no violation           ``pass``: one per (object, policy, entry rule) when the
                       check says which policies matched the object
                       (``ObjectResult.matched``); otherwise one per object
                       with no violation, error or skip (policy ``kubegate``,
                       rule ``no-violations``), since a policy whose match did
                       not select the object must not read as passed
policy error           ``error`` (rule: the error code) on the object: the
                       ``eval_error`` and ``namespace_not_in_inventory``
                       errors of :func:`kubegate.cli.check.run_check`, found
                       by the object's location (and ``details["index"]``, the
                       object's index in its file, when the error has it)
other error            ``error`` in the cluster report, policy ``kubegate``
                       (or the policy the error names), rule the error code,
                       ``properties`` file/line/column of the error: a policy
                       that did not load, an unreadable input, an object
                       whose location is shared with another one (the items
                       of a JSON ``List`` all start at line 0); the objects
                       an error may be about get no pass for its policy
undecided policy       ``skip`` (rule: the skip code), unless an error about
                       the same policy and object is already reported
=====================  ======================================================

The honest-summary rule of :mod:`kubegate.cli.report` holds: every error of
the run is exactly one ``error`` result, so the summaries' ``error`` counts add
up to the run's errors and a run that did not pass never shows only passes.
Warnings and notes (inputs skipped on purpose) are not policy results and are
left out.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import yaml

from kubegate.cli.report import CheckReport, ObjectResult
from kubegate.engine.decision import Violation
from kubegate.errors import KubegateError, Location, UsageError
from kubegate.policy.documents import Document
from kubegate.policy.units import Policy

__all__ = [
    "CLUSTER_REPORT_NAME",
    "REPORT_APIS",
    "SOURCE",
    "namespace_report_name",
    "policy_reports",
    "render_policyreport",
]

SOURCE = "kubegate"
CLUSTER_REPORT_NAME = "kubegate-cpolr"
OBJECT_PASS_RULE = "no-violations"
MANAGED_BY = {"app.kubernetes.io/managed-by": "kubegate"}
# The errors run_check reports about one (object, policy) pair, at the object's location.
OBJECT_ERROR_CODES = frozenset({"eval_error", "namespace_not_in_inventory"})

_RESULT_ORDER = {"fail": 0, "warn": 1, "error": 2, "skip": 3, "pass": 4}
_RESULT_OF = {"deny": "fail", "warn": "warn", "dryrun": "warn"}
_SEVERITY = {
    "critical": "critical",
    "high": "high",
    "medium": "medium",
    "moderate": "medium",
    "low": "low",
    "info": "info",
    "informational": "info",
}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class ReportApi:
    """One Policy Reports API: its ``apiVersion`` and the kinds of its two reports."""

    api_version: str
    namespaced_kind: str
    cluster_kind: str
    report_source: bool  # the report itself has a ``source`` field (openreports)


REPORT_APIS: Mapping[str, ReportApi] = {
    "wgpolicyk8s": ReportApi("wgpolicyk8s.io/v1alpha2", "PolicyReport", "ClusterPolicyReport", False),
    "openreports": ReportApi("openreports.io/v1alpha1", "Report", "ClusterReport", True),
}


def namespace_report_name(namespace: str) -> str:
    """``kubegate-polr-ns-<namespace>``: the name of a namespace's report."""
    return f"kubegate-polr-ns-{namespace}"


def render_policyreport(report: CheckReport, *, api: str = "wgpolicyk8s", now: datetime | None = None) -> str:
    """The reports of :func:`policy_reports` as a YAML stream (``---`` separated, no final newline).

    Raises:
        UsageError: ``unknown_report_api``.
    """
    docs = policy_reports(report, api=api, now=now)
    return "---\n".join(yaml.safe_dump(d, sort_keys=False, allow_unicode=True, width=1000) for d in docs).rstrip("\n")


def policy_reports(
    report: CheckReport, *, api: str = "wgpolicyk8s", now: datetime | None = None
) -> list[dict[str, Any]]:
    """``report`` as Policy Report objects (see the module docstring for the mapping).

    Args:
        report: what ``kubegate check`` found.
        api: ``wgpolicyk8s`` or ``openreports`` (:data:`REPORT_APIS`).
        now: the results' timestamp (default: the current time); a naive
            datetime is read as UTC.

    Returns:
        The cluster report, then one report per namespace in name order:
        ``{"apiVersion", "kind", "metadata": {"name", "namespace"?, "labels"},
        "source"? (openreports), "summary": {"pass", "fail", "warn", "error",
        "skip"}, "results": [...]}``.

    Raises:
        UsageError: ``unknown_report_api``.
    """
    spec = REPORT_APIS.get(api)
    if spec is None:
        raise UsageError(
            f"unknown Policy Reports API {api!r}: use one of {', '.join(REPORT_APIS)}", code="unknown_report_api"
        )
    results = _Results(report, _timestamp(now))
    buckets: dict[str, list[dict[str, Any]]] = {"": []}
    for i, result in enumerate(report.results):
        buckets.setdefault(result.document.namespace, []).extend(results.for_object(i, result))
    buckets[""].extend(results.for_error(e) for e in results.loose)
    return [_report_object(spec, ns, buckets[ns]) for ns in sorted(buckets)]


def _report_object(spec: ReportApi, namespace: str, results: list[dict[str, Any]]) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": namespace_report_name(namespace) if namespace else CLUSTER_REPORT_NAME}
    if namespace:
        metadata["namespace"] = namespace
    metadata["labels"] = dict(MANAGED_BY)
    doc: dict[str, Any] = {
        "apiVersion": spec.api_version,
        "kind": spec.namespaced_kind if namespace else spec.cluster_kind,
        "metadata": metadata,
    }
    if spec.report_source:
        doc["source"] = SOURCE
    summary = dict.fromkeys(("pass", "fail", "warn", "error", "skip"), 0)
    for r in results:
        summary[r["result"]] += 1
    doc["summary"] = summary
    doc["results"] = results
    return doc


def _timestamp(now: datetime | None) -> dict[str, int]:
    """``metav1.Timestamp``: whole seconds since the epoch and the nanoseconds past them."""
    moment = now if now is not None else datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - _EPOCH
    return {"seconds": delta.days * 86400 + delta.seconds, "nanos": delta.microseconds * 1000}


def _matched(result: ObjectResult) -> tuple[str, ...] | None:
    """The ids of the policies whose match selected the object, when the check recorded them."""
    matched = result.matched
    if matched is None:
        return None
    return tuple(sorted({str(p) for p in matched}))


class _Results:
    """Builds result entries for one run (policies by id, one timestamp) and
    sorts the run's errors between the objects, each error landing once.

    Attributes:
        per_object: errors about one object, by its index in ``report.results``.
        loose: the other errors (for the cluster report).
        doubtful: by index in ``report.results``, the policies of loose errors
            that may be about that object (its location is shared): no pass
            for them there.
    """

    def __init__(self, report: CheckReport, timestamp: dict[str, int]) -> None:
        self.policies: dict[str, Policy] = {p.id: p for p in report.policies}
        self.timestamp = timestamp
        self.per_object: dict[int, list[KubegateError]] = {}
        self.loose: list[KubegateError] = []
        self.doubtful: dict[int, set[str]] = {}
        at: dict[Location, list[int]] = {}
        for i, result in enumerate(report.results):
            at.setdefault(result.document.location, []).append(i)
        for error in report.errors:
            owners = self.owners(error, report.results, at)
            if len(owners) == 1:
                self.per_object.setdefault(owners[0], []).append(error)
                continue
            self.loose.append(error)
            for i in owners:
                self.doubtful.setdefault(i, set()).add(self.error_policy(error))

    @staticmethod
    def owners(error: KubegateError, results: Sequence[ObjectResult], at: Mapping[Location, list[int]]) -> list[int]:
        """The objects (indexes in ``results``) an error may be about: those at its
        location, narrowed to one by ``details["index"]`` (the object's index in its file)."""
        if error.location is None or error.code not in OBJECT_ERROR_CODES:
            return []
        owners = at.get(error.location, [])
        index = error.details.get("index")
        if isinstance(index, int) and not isinstance(index, bool):
            owners = [i for i in owners if results[i].document.index == index]
        return owners

    def entry(
        self,
        policy_id: str,
        rule: str,
        result: str,
        message: str,
        *,
        scored: bool = True,
        resource: dict[str, str] | None = None,
        properties: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        out: dict[str, Any] = {"source": SOURCE, "policy": policy_id}
        if rule:
            out["rule"] = rule
        out["result"] = result
        out["message"] = message
        props = dict(properties or {})
        policy = self.policies.get(policy_id)
        if policy is not None and policy.severity:
            severity = _SEVERITY.get(policy.severity.strip().lower())
            if severity is not None:
                out["severity"] = severity
            else:
                props["severity"] = policy.severity
        category = policy.metadata.get("category") if policy is not None else None
        if isinstance(category, str) and category:
            out["category"] = category
        out["scored"] = scored
        out["timestamp"] = dict(self.timestamp)
        if resource is not None:
            out["resources"] = [resource]
        if props:
            out["properties"] = dict(sorted(props.items()))
        return out

    def for_object(self, i: int, result: ObjectResult) -> list[dict[str, Any]]:
        """Every result about ``report.results[i]``: violations, errors, skips, passes."""
        doc = result.document
        ref: dict[str, str] | None = _reference(doc)
        where = (
            {"file": doc.source, "line": str(doc.line)} if doc.line else {"file": doc.source, "index": str(doc.index)}
        )
        if result.combined:  # --combine: no one object; the files it was made of
            ref, where = None, {"file": ", ".join(result.files), "combined": "true"}
        out = [self._violation(v, ref, where) for v in result.violations]
        failed: set[str] = set()
        for error in self.per_object.get(i, ()):
            policy_id = self.error_policy(error)
            failed.add(policy_id)
            out.append(self.entry(policy_id, error.code, "error", error.message, resource=ref, properties=where))
        for skipped in result.skipped:
            if skipped.policy not in failed:
                failed.add(skipped.policy)
                out.append(
                    self.entry(skipped.policy, skipped.code, "skip", skipped.reason, resource=ref, properties=where)
                )
        for excepted in result.exceptions:
            # conftest reports excepted rules apart from failures and passes.
            props = {**where, "enforcement": excepted.enforcement, "exception": excepted.message}
            if excepted.suppressed:
                props["suppressed"] = "; ".join(excepted.suppressed)
            out.append(
                self.entry(
                    excepted.policy,
                    excepted.rule,
                    "skip",
                    f"excepted by the package's exception rule ({excepted.message})",
                    scored=False,
                    resource=ref,
                    properties=props,
                )
            )
        doubtful = self.doubtful.get(i, set())
        matched = _matched(result)
        if matched is None:
            if not out and not doubtful:
                message = "no loaded policy reported a violation or an error for this object"
                out.append(self.entry(SOURCE, OBJECT_PASS_RULE, "pass", message, resource=ref, properties=where))
        else:
            violated = {(v.policy, v.rule) for v in result.violations}
            violated |= {(e.policy, e.rule) for e in result.exceptions}
            for policy_id in matched:
                policy = self.policies.get(policy_id)
                if policy_id in failed or policy_id in doubtful or policy is None:
                    continue
                for rule, action in sorted(policy.rules.items()):
                    if (policy_id, rule) not in violated:
                        props = {**where, "enforcement": action}
                        scored = action == "deny"
                        out.append(
                            self.entry(
                                policy_id, rule, "pass", "no violation", scored=scored, resource=ref, properties=props
                            )
                        )
        out.sort(key=lambda r: (r["policy"], r.get("rule", ""), _RESULT_ORDER[r["result"]], r["message"]))
        return out

    def _violation(self, v: Violation, ref: dict[str, str] | None, where: Mapping[str, str]) -> dict[str, Any]:
        props = {**where, "enforcement": v.enforcement}
        if v.implied_by:  # the ExpansionTemplate, for a workload's generated Pod
            props["impliedBy"] = v.implied_by
        if v.details not in (None, "", {}, []):
            props["details"] = json.dumps(v.details, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        result = _RESULT_OF.get(v.enforcement, "fail")
        return self.entry(v.policy, v.rule, result, v.message, scored=result == "fail", resource=ref, properties=props)

    def for_error(self, error: KubegateError) -> dict[str, Any]:
        """An error about no one object: in the cluster report, located by properties."""
        props: dict[str, str] = {}
        if error.location is not None:
            props["file"] = error.location.file
            if error.location.line:
                props["line"] = str(error.location.line)
            if error.location.column:
                props["column"] = str(error.location.column)
        return self.entry(self.error_policy(error), error.code, "error", error.message, properties=props)

    def error_policy(self, error: KubegateError) -> str:
        """The id of the policy an error is about (``details["policy"]``, else the
        ``policy <id> ...`` run_check starts its messages with), else ``kubegate``."""
        named = error.details.get("policy")
        if isinstance(named, str) and named:
            return named
        prefixed = [p for p in self.policies if error.message.startswith(f"policy {p} ")]
        return max(prefixed, key=len) if prefixed else SOURCE


def _reference(doc: Document) -> dict[str, str]:
    """A ``corev1.ObjectReference`` to the object (fields left out when empty)."""
    meta = doc.obj.get("metadata")
    uid = meta.get("uid") if isinstance(meta, dict) else None
    fields = (("apiVersion", doc.api_version), ("kind", doc.kind), ("name", doc.name), ("namespace", doc.namespace))
    ref = {k: v for k, v in fields if v}
    if isinstance(uid, str) and uid:
        ref["uid"] = uid
    return ref
