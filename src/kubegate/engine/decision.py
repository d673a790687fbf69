"""What evaluation returns: violations, per-policy decisions, review results.

All frozen dataclasses with ``to_dict()`` giving the JSON shapes the CLI and
the webhook print (camelCase keys where they face Kubernetes users).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from kubegate.policy.conftest import ExceptedRule

__all__ = ["ENFORCEMENT_ORDER", "Decision", "DecisionObserver", "ReviewResult", "SkippedPolicy", "Violation"]

ENFORCEMENT_ORDER = {"deny": 3, "warn": 2, "dryrun": 1}


@dataclass(frozen=True)
class Violation:
    """One violation reported by a policy.

    Attributes:
        policy: policy id.
        message: the violation's ``msg`` (or the string a conftest rule produced).
        details: the violation's ``details`` (``{}`` when none).
        enforcement: ``deny``, ``warn`` or ``dryrun``.
        rule: the entry rule that produced it (``violation``, ``deny_latest``...).
        implied_by: the ExpansionTemplate whose generated object (a workload's
            Pod) has the violation; its message then starts ``[Implied by <name>]``.
    """

    policy: str
    message: str
    details: Any
    enforcement: str
    rule: str = "violation"
    implied_by: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "policy": self.policy,
            "enforcement": self.enforcement,
            "message": self.message,
            "details": self.details,
        }
        if self.implied_by is not None:
            out["impliedBy"] = self.implied_by
        return out


@dataclass(frozen=True)
class Decision:
    """The outcome of evaluating one policy on one input.

    Attributes:
        policy: policy id.
        version: sha256 of the policy's normalised source.
        allowed: ``False`` when a violation has enforcement ``deny``.
        violations: every violation, in a stable order.
        duration_ms: evaluation time in milliseconds (backend query and decoding).
        policy_set_version: version of the policy set that decided.
        error: why evaluation failed (``allowed`` is then ``False``: kubegate
            fails closed), else ``None``.
        started_ns: when evaluation started (``time.time_ns()``), for tracing.
        exceptions: entry rules the package's conftest ``exception`` rule
            excepted on this input (their results are not in ``violations``).
        annotations: audit annotations ``(key, value)`` of a
            ValidatingAdmissionPolicy (keys ``<policy>/<key>``, as Kubernetes
            writes them into the audit event).
    """

    policy: str
    version: str
    allowed: bool
    violations: tuple[Violation, ...]
    duration_ms: float
    policy_set_version: str
    error: str | None = None
    started_ns: int = 0
    exceptions: tuple[ExceptedRule, ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "policy": self.policy,
            "version": self.version,
            "allowed": self.allowed,
            "violations": [v.to_dict() for v in self.violations],
            "durationMs": round(self.duration_ms, 3),
            "policySetVersion": self.policy_set_version,
        }
        if self.error is not None:
            out["error"] = self.error
        if self.exceptions:
            out["exceptions"] = [e.to_dict() for e in self.exceptions]
        if self.annotations:
            out["auditAnnotations"] = dict(self.annotations)
        return out


@dataclass(frozen=True)
class SkippedPolicy:
    """A policy that could not be applied to a review, and why."""

    policy: str
    reason: str
    code: str = "match_undetermined"

    def to_dict(self) -> dict[str, Any]:
        return {"policy": self.policy, "code": self.code, "reason": self.reason}


@dataclass(frozen=True)
class ReviewResult:
    """The outcome of reviewing one object against every matching policy.

    Attributes:
        allowed: ``False`` when any violation has enforcement ``deny`` or a
            policy failed to evaluate.
        decisions: one per policy whose match selected the object.
        skipped: policies whose match could not be decided (e.g. a
            ``namespaceSelector`` with the Namespace unknown).
        duration_ms: whole review in milliseconds, matching included.
        policy_set_version: version of the policy set that decided.
    """

    allowed: bool
    decisions: tuple[Decision, ...]
    skipped: tuple[SkippedPolicy, ...]
    duration_ms: float
    policy_set_version: str

    @property
    def violations(self) -> tuple[Violation, ...]:
        return tuple(v for d in self.decisions for v in d.violations)

    @property
    def exceptions(self) -> tuple[ExceptedRule, ...]:
        """What conftest ``exception`` rules excepted, over every decision."""
        return tuple(e for d in self.decisions for e in d.exceptions)

    @property
    def audit_annotations(self) -> dict[str, str]:
        """Every decision's audit annotations (ValidatingAdmissionPolicies)."""
        return {k: v for d in self.decisions for k, v in d.annotations}

    @property
    def errors(self) -> tuple[Decision, ...]:
        """Decisions of policies that failed to evaluate."""
        return tuple(d for d in self.decisions if d.error is not None)

    def by_enforcement(self, action: str) -> tuple[Violation, ...]:
        return tuple(v for v in self.violations if v.enforcement == action)

    @property
    def denials(self) -> tuple[Violation, ...]:
        return self.by_enforcement("deny")

    @property
    def warnings(self) -> tuple[Violation, ...]:
        return self.by_enforcement("warn")

    @property
    def dryruns(self) -> tuple[Violation, ...]:
        return self.by_enforcement("dryrun")

    def to_dict(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed,
            "violations": [v.to_dict() for v in self.violations],
            "decisions": [d.to_dict() for d in self.decisions],
            "skipped": [s.to_dict() for s in self.skipped],
            "durationMs": round(self.duration_ms, 3),
            "policySetVersion": self.policy_set_version,
            **({"auditAnnotations": annotations} if (annotations := self.audit_annotations) else {}),
        }


class DecisionObserver(Protocol):
    """Told about every review an :class:`~kubegate.engine.engine.Engine` decides
    (the decision log, :class:`kubegate.audit.logger.DecisionLogger`, is one)."""

    def review_decided(self, review: Mapping[str, Any], result: ReviewResult) -> None:
        """After :meth:`Engine.review <kubegate.engine.engine.Engine.review>`: ``review`` is ``input.review``."""

    def evaluated(self, policy_id: str, input: Any, decision: Decision) -> None:  # noqa: A002 - the OPA term
        """After :meth:`Engine.evaluate <kubegate.engine.engine.Engine.evaluate>`: ``input`` as given."""
