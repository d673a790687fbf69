"""Decision records: OPA's decision-log event, plus what kubegate knows about the decision.

OPA's fields (https://www.openpolicyagent.org/docs/latest/management-decision-logs/):
``decision_id``, ``timestamp`` (RFC 3339, UTC), ``path``, ``input``,
``result``, ``labels``, ``metrics`` (``timer_*_ns``), ``erased``/``masked``
(redaction). kubegate's, under ``kubegate``: the policy-set version and each
evaluated policy's id, version, outcome and time, the enforcement of each
violation, the review duration, the request's uid, user, namespace, kind,
name and operation, whether the decision came from the cache, the rollout
arm of each policy under canary, shadow disagreements, and the redaction
counts (``redaction``), and the image verifications done before the
evaluation (``images``: image, digest, policy, verified, reason, cached).

Modes: ``strict`` keeps the full input (after redaction); ``standard`` keeps
identity and decision only (no object); ``off`` records nothing.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from kubegate.engine.decision import ReviewResult

__all__ = ["DecisionFacts", "LogMode", "build_record", "facts_from_result"]

LogMode = Literal["strict", "standard", "off"]


@dataclass(frozen=True)
class DecisionFacts:
    """What was decided, whether it was evaluated now or answered from the cache.

    Attributes:
        allowed: the decision.
        violations: ``{"policy", "enforcement", "message"}`` each.
        policies: per evaluated policy ``{"id", "version", "allowed", "durationMs", "error"?}``
            (empty for a cached answer).
        policy_set_version: version of the set that decided.
        duration_ns: evaluation time (0 for a cached answer).
        reason: why the engine did not decide, when it did not (``timeout``...).
        rollout: policy id -> ``canary`` or ``stable`` for policies under canary rollout.
        shadow: per shadowed policy ``{"policy", "agree", "stableAllowed", "candidateAllowed"}``.
        message: the answer's ``status.message`` (webhook), when denied.
        warnings: the answer's ``warnings`` (webhook).
        audit_annotations: ValidatingAdmissionPolicies' audit annotations
            (``<policy>/<key>`` -> value, as Kubernetes' audit event has them).
        images: the image verifications done before the evaluation
            (:meth:`kubegate.images.prefetch.Prefetch.to_record`).
    """

    allowed: bool
    violations: tuple[Mapping[str, Any], ...] = ()
    policies: tuple[Mapping[str, Any], ...] = ()
    policy_set_version: str = ""
    duration_ns: int = 0
    reason: str = ""
    rollout: Mapping[str, str] = field(default_factory=dict)
    shadow: tuple[Mapping[str, Any], ...] = ()
    message: str = ""
    warnings: tuple[str, ...] = ()
    audit_annotations: Mapping[str, str] = field(default_factory=dict)
    images: tuple[Mapping[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON form (the shared decision cache keeps it with the answer)."""
        doc: dict[str, Any] = {
            "allowed": self.allowed,
            "violations": [dict(v) for v in self.violations],
            "policies": [dict(p) for p in self.policies],
            "policySetVersion": self.policy_set_version,
            "durationNs": self.duration_ns,
            "reason": self.reason,
            "rollout": dict(self.rollout),
            "shadow": [dict(s) for s in self.shadow],
            "message": self.message,
            "warnings": list(self.warnings),
            "auditAnnotations": dict(self.audit_annotations),
        }
        if self.images:
            doc["images"] = [dict(i) for i in self.images]
        return doc

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> DecisionFacts:
        """Inverse of :meth:`to_dict`.

        Raises:
            KeyError, TypeError, ValueError: ``doc`` is not facts.
        """
        return cls(
            allowed=bool(doc["allowed"]),
            violations=tuple(dict(v) for v in doc["violations"]),
            policies=tuple(dict(p) for p in doc["policies"]),
            policy_set_version=str(doc["policySetVersion"]),
            duration_ns=int(doc["durationNs"]),
            reason=str(doc["reason"]),
            rollout={str(k): str(v) for k, v in doc["rollout"].items()},
            shadow=tuple(dict(s) for s in doc["shadow"]),
            message=str(doc["message"]),
            warnings=tuple(str(w) for w in doc["warnings"]),
            audit_annotations={str(k): str(v) for k, v in (doc.get("auditAnnotations") or {}).items()},
            images=tuple(dict(i) for i in doc.get("images") or ()),
        )


def facts_from_result(result: ReviewResult, **extra: Any) -> DecisionFacts:
    """The facts of a fresh evaluation; ``extra`` sets or overrides fields
    (the webhook sets ``allowed`` to its answer, which the failure mode may decide)."""
    fields: dict[str, Any] = {
        "allowed": result.allowed,
        "violations": tuple(
            {"policy": v.policy, "enforcement": v.enforcement, "message": v.message} for v in result.violations
        ),
        "policies": tuple(
            {
                "id": d.policy,
                "version": d.version,
                "allowed": d.allowed,
                "durationMs": round(d.duration_ms, 3),
                **({"error": d.error} if d.error else {}),
            }
            for d in result.decisions
        ),
        "policy_set_version": result.policy_set_version,
        "duration_ns": int(result.duration_ms * 1e6),
        "audit_annotations": result.audit_annotations,
    }
    fields.update(extra)
    return DecisionFacts(**fields)


_second: tuple[int, str] = (-1, "")  # the last whole second formatted, and its text (swapped whole)


def _timestamp() -> str:
    """Now as RFC 3339 in UTC with nanosecond digits (OPA's decision log ``timestamp``);
    the date and time up to the second are formatted once per second."""
    global _second
    second, fraction = divmod(time.time_ns(), 1_000_000_000)
    cached = _second
    if cached[0] != second:
        cached = (second, time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(second)))
        _second = cached
    return f"{cached[1]}{fraction // 1000:06d}000Z"


def build_record(
    review: Mapping[str, Any],
    facts: DecisionFacts,
    *,
    mode: LogMode,
    path: str,
    labels: Mapping[str, str],
    cache_hit: bool = False,
    total_ns: int = 0,
    decision_id: str | None = None,
    policies: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """One record (not yet redacted).

    Args:
        review: ``input.review`` (the AdmissionRequest shape).
        facts: the decision.
        mode: ``strict`` includes ``input``; ``standard`` does not.
        path: what decided (``kubegate/admission``, ``kubegate/check``, ``kubegate/review``).
        labels: instance labels (``id``, ``version`` and configured ones).
        cache_hit: answered from the decision cache.
        total_ns: request handling time (the webhook's), in nanoseconds.
        policies: ``kubegate.policies`` as stored (versions a policy-set manifest
            declares left out: :mod:`kubegate.audit.manifest`), fresh dicts the record
            takes as they are; copies of ``facts.policies`` by default.
    """
    kind: Mapping[str, Any] = review["kind"] if isinstance(review.get("kind"), Mapping) else {}
    user: Mapping[str, Any] = review["userInfo"] if isinstance(review.get("userInfo"), Mapping) else {}
    obj = review.get("object") or review.get("oldObject") or {}
    meta: Mapping[str, Any] = (
        obj["metadata"] if isinstance(obj, Mapping) and isinstance(obj.get("metadata"), Mapping) else {}
    )
    record: dict[str, Any] = {
        "decision_id": decision_id or str(uuid.uuid4()),
        "timestamp": _timestamp(),
        "path": path,
        "labels": dict(labels),
    }
    if facts.policy_set_version:  # OPA's field: the bundle revisions that decided
        record["bundles"] = {"kubegate": {"revision": facts.policy_set_version}}
    if mode == "strict":
        record["input"] = {"review": dict(review)}
    result: dict[str, Any] = {"allowed": facts.allowed, "violations": [dict(v) for v in facts.violations]}
    if facts.message:
        result["message"] = facts.message
    if facts.warnings:
        result["warnings"] = list(facts.warnings)
    if facts.audit_annotations:
        result["auditAnnotations"] = dict(facts.audit_annotations)
    record["result"] = result
    duration_ns = 0 if cache_hit else facts.duration_ns  # a cached answer evaluated nothing
    metrics: dict[str, int] = {}
    if duration_ns:
        metrics["timer_rego_query_eval_ns"] = duration_ns
    if total_ns:
        metrics["timer_server_handler_ns"] = total_ns
    record["metrics"] = metrics
    kubegate: dict[str, Any] = {
        "mode": mode,
        "policySetVersion": facts.policy_set_version,
        "policies": [dict(p) for p in facts.policies] if policies is None else list(policies),
        "uid": review.get("uid") or "",
        "userInfo": dict(user) if mode == "strict" else {"username": user.get("username", "")},
        "namespace": review.get("namespace") or meta.get("namespace") or "",
        "kind": kind.get("kind", ""),
        "name": review.get("name") or meta.get("name") or "",
        "operation": review.get("operation") or "",
        "cacheHit": cache_hit,
        "durationMs": round(duration_ns / 1e6, 3),
    }
    if facts.reason:
        kubegate["reason"] = facts.reason
    if facts.rollout:
        kubegate["rollout"] = dict(facts.rollout)
    if facts.shadow:
        kubegate["shadow"] = [dict(s) for s in facts.shadow]
    if facts.images:
        kubegate["images"] = [dict(i) for i in facts.images]
    record["kubegate"] = kubegate
    return record


def violations_of(record: Mapping[str, Any]) -> Sequence[Mapping[str, Any]]:
    """The violations of a stored record."""
    result = record.get("result") or {}
    return list(result.get("violations") or []) if isinstance(result, Mapping) else []
