"""From a review result (or a failure to get one) to the webhook's answer.

The rules, in the spirit of Gatekeeper's validating webhook
(``pkg/webhook/policy.go``): violations with enforcement ``deny`` deny the
request and are listed in ``status.message`` as ``[policy] message``;
``warn`` violations become AdmissionReview ``warnings``; ``dryrun``
violations are recorded (logs, metrics) and never enforced. When the engine
cannot decide (a policy failed to evaluate, the time limit passed, the queue
is full, no policy set is loaded yet) the configured failure mode decides,
and the answer says why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from kubegate.audit.record import DecisionFacts
from kubegate.engine.decision import ReviewResult

__all__ = ["FailureMode", "Verdict", "failure_verdict", "verdict_from_result"]

FailureMode = Literal["deny", "allow"]


@dataclass(frozen=True)
class Verdict:
    """What the webhook answers, independent of the request it answers.

    Attributes:
        allowed: the admission decision.
        message: the denial reason (``status.message``); empty when allowed.
        warnings: ``[policy] message`` lines for warn-enforcement violations
            (and, under failure mode ``allow``, for what could not be decided).
        denied_by: ids of the policies that denied.
        reason: why the engine did not decide, when it did not
            (``timeout``, ``queue_full``, ``not_ready``, ``fast_reject``,
            ``evaluation_error``, ``internal_error``), else ``""``.
        code: ``status.code`` when denied (403 for policy denials, 500 when
            the engine could not decide).
        dryrun: ids of the policies with dry-run violations (recorded only).
        cacheable: whether the answer may be reused for an identical request.
        facts: what the decision log records of it (kept with the cached
            answer, so a cache hit is logged with the policies that decided).
        audit_annotations: the AdmissionResponse's ``auditAnnotations``
            (ValidatingAdmissionPolicies' ``<policy>/<key>`` -> value).
    """

    allowed: bool
    message: str = ""
    warnings: tuple[str, ...] = ()
    denied_by: tuple[str, ...] = ()
    reason: str = ""
    code: int = 403
    dryrun: tuple[str, ...] = ()
    cacheable: bool = field(default=True, compare=False)
    facts: DecisionFacts | None = field(default=None, compare=False)
    audit_annotations: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON form, for the shared decision cache."""
        doc: dict[str, Any] = {
            "allowed": self.allowed,
            "message": self.message,
            "warnings": list(self.warnings),
            "deniedBy": list(self.denied_by),
            "reason": self.reason,
            "code": self.code,
            "dryrun": list(self.dryrun),
            "auditAnnotations": dict(self.audit_annotations),
        }
        if self.facts is not None:
            doc["facts"] = self.facts.to_dict()
        return doc

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Verdict:
        """Inverse of :meth:`to_dict`.

        Raises:
            KeyError, TypeError, ValueError: ``doc`` is not a verdict.
        """
        return cls(
            allowed=bool(doc["allowed"]),
            message=str(doc["message"]),
            warnings=tuple(str(w) for w in doc["warnings"]),
            denied_by=tuple(str(p) for p in doc["deniedBy"]),
            reason=str(doc["reason"]),
            code=int(doc["code"]),
            dryrun=tuple(str(p) for p in doc["dryrun"]),
            audit_annotations={str(k): str(v) for k, v in (doc.get("auditAnnotations") or {}).items()},
            facts=DecisionFacts.from_dict(doc["facts"]) if doc.get("facts") is not None else None,
        )


def _unique(items: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def verdict_from_result(result: ReviewResult, failure_mode: FailureMode) -> Verdict:
    """The answer for a finished review.

    A policy that failed to evaluate is treated like a time-out: under
    ``deny`` it denies (``[policy] could not be evaluated: ...``), under
    ``allow`` it becomes a warning. A policy whose match could not be decided
    (``result.skipped``) is reported as a warning, never dropped silently.
    Answers involving errors are not cacheable.
    """
    denials = [f"[{v.policy}] {v.message}" for v in result.denials]
    denied_by = [v.policy for v in result.denials]
    warnings = [f"[{v.policy}] {v.message}" for v in result.warnings]
    for decision in result.errors:
        line = f"[{decision.policy}] could not be evaluated: {decision.error}"
        if failure_mode == "deny":
            denials.append(line)
            denied_by.append(decision.policy)
        else:
            warnings.append(line)
    warnings.extend(f"[{s.policy}] not applied: {s.reason}" for s in result.skipped)
    errors_only = not result.denials and bool(result.errors)
    return Verdict(
        allowed=not denials,
        message="\n".join(denials),
        warnings=tuple(warnings),
        denied_by=_unique(denied_by),
        reason="evaluation_error" if result.errors else "",
        code=500 if errors_only and denials else 403,
        dryrun=_unique([v.policy for v in result.dryruns]),
        cacheable=not result.errors,
        audit_annotations=result.audit_annotations,
    )


def failure_verdict(reason: str, message: str, failure_mode: FailureMode) -> Verdict:
    """The answer when the engine did not decide (``reason`` as in :class:`Verdict`).

    Under ``deny`` the request is refused with ``status.code`` 500 and
    ``message``; under ``allow`` it is admitted with ``message`` as a warning.
    Never cacheable.
    """
    text = f"kubegate: {message}"
    if failure_mode == "deny":
        return Verdict(False, text, reason=reason, code=500, cacheable=False)
    return Verdict(True, "", warnings=(f"{text} (admitted: failure mode allow)",), reason=reason, cacheable=False)
