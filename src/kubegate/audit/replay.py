"""Replaying recorded decisions against a candidate policy set (``kubegate audit replay``).

Each strict-mode record holds the ``input.review`` that was decided. Replay
reviews it again with a candidate :class:`~kubegate.engine.engine.Engine`
and compares, policy by policy, the recorded outcome with the candidate's:
a policy allows a request when it has no ``deny`` violation (``warn`` and
``dryrun`` never deny, as in enforcement). A policy the recorded decision
did not evaluate (not selected, or not in the set then) counted as allowing;
so does a policy the candidate does not evaluate. The report lists, per
policy, which past decisions would change (allow to deny, deny to allow) and
where the candidate fails to evaluate.

Not replayed, and counted in the report: standard-mode records (they keep no
input), and answers no policy decided (deny list, time-outs, a full queue:
``kubegate.reason``). Inputs were redacted before they were logged; the
report counts replayed records that had redacted values, since a policy that
reads a redacted field sees the replacement text.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from kubegate.engine.decision import ReviewResult
from kubegate.engine.engine import Engine
from kubegate.errors import KubegateError

__all__ = ["Change", "PolicyReplay", "ReplayReport", "replay"]

Outcome = Literal["allow", "deny", "error"]


@dataclass(frozen=True)
class Change:
    """One past decision of one policy that the candidate would decide differently."""

    decision_id: str
    timestamp: str
    policy: str
    before: Outcome
    after: Outcome
    kind: str
    namespace: str
    name: str
    uid: str
    messages: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "decisionId": self.decision_id,
            "timestamp": self.timestamp,
            "policy": self.policy,
            "before": self.before,
            "after": self.after,
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
            "uid": self.uid,
            "messages": list(self.messages),
        }


@dataclass
class PolicyReplay:
    """What replay found for one policy."""

    policy: str
    evaluated: int = 0
    allow_to_deny: list[Change] = field(default_factory=list)
    deny_to_allow: list[Change] = field(default_factory=list)
    errors: list[Change] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.allow_to_deny or self.deny_to_allow or self.errors)

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "evaluated": self.evaluated,
            "allowToDeny": [c.to_dict() for c in self.allow_to_deny],
            "denyToAllow": [c.to_dict() for c in self.deny_to_allow],
            "errors": [c.to_dict() for c in self.errors],
        }


@dataclass
class ReplayReport:
    """The outcome of a replay.

    Attributes:
        candidate_version: policy-set version of the candidate.
        records: records read (after the time filter).
        replayed: records reviewed again.
        no_input: standard-mode records (no input to replay).
        undecided: records answered without policies (deny list, time-outs...).
        redacted: replayed records that had redacted values.
        invalid: ``(decision_id, error)`` for inputs the candidate cannot review.
        decisions_allow_to_deny, decisions_deny_to_allow: whole-request decisions that flip.
        policies: per policy id.
    """

    candidate_version: str
    records: int = 0
    replayed: int = 0
    no_input: int = 0
    undecided: int = 0
    redacted: int = 0
    invalid: list[tuple[str, str]] = field(default_factory=list)
    decisions_allow_to_deny: int = 0
    decisions_deny_to_allow: int = 0
    policies: dict[str, PolicyReplay] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return any(p.changed for p in self.policies.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "candidatePolicySetVersion": self.candidate_version,
            "records": self.records,
            "replayed": self.replayed,
            "skipped": {"noInput": self.no_input, "undecided": self.undecided},
            "redactedInputs": self.redacted,
            "invalid": [{"decisionId": d, "error": e} for d, e in self.invalid],
            "decisions": {"allowToDeny": self.decisions_allow_to_deny, "denyToAllow": self.decisions_deny_to_allow},
            "policies": [p.to_dict() for _, p in sorted(self.policies.items())],
        }


def _recorded(record: Mapping[str, Any]) -> dict[str, Outcome]:
    policies = (record.get("kubegate") or {}).get("policies") or []
    out: dict[str, Outcome] = {}
    for p in policies:
        if p.get("error"):
            out[str(p["id"])] = "error"
        else:
            out[str(p["id"])] = "allow" if p.get("allowed", True) else "deny"
    return out


def _candidate(result: ReviewResult) -> tuple[dict[str, Outcome], dict[str, tuple[str, ...]]]:
    outcomes: dict[str, Outcome] = {}
    messages: dict[str, tuple[str, ...]] = {}
    for d in result.decisions:
        outcomes[d.policy] = "error" if d.error else ("allow" if d.allowed else "deny")
        messages[d.policy] = (
            (d.error,) if d.error else tuple(v.message for v in d.violations if v.enforcement == "deny")
        )
    return outcomes, messages


def replay(records: Iterable[Mapping[str, Any]], engine: Engine) -> ReplayReport:
    """Reviews each strict-mode record's input with ``engine`` and compares (see the module docstring).

    Args:
        records: decision records, e.g. from :class:`kubegate.audit.query.LogQuery`.
        engine: the candidate policy set (its own decision log, if any, records the replay too).
    """
    report = ReplayReport(candidate_version=engine.version)
    for record in records:
        report.records += 1
        kg: Mapping[str, Any] = record.get("kubegate") or {}
        review = (record.get("input") or {}).get("review")
        if not isinstance(review, Mapping):
            report.no_input += 1
            continue
        if kg.get("reason") and not kg.get("policies"):
            report.undecided += 1
            continue
        decision_id = str(record.get("decision_id", ""))
        try:
            result = engine.review(review)
        except KubegateError as exc:
            report.invalid.append((decision_id, f"{exc.code}: {exc.message}"))
            continue
        report.replayed += 1
        if (record.get("redaction") or {}).get("count"):
            report.redacted += 1
        before_allowed = bool((record.get("result") or {}).get("allowed", True))
        if before_allowed and not result.allowed:
            report.decisions_allow_to_deny += 1
        elif not before_allowed and result.allowed:
            report.decisions_deny_to_allow += 1
        before = _recorded(record)
        after, messages = _candidate(result)
        for policy in sorted(set(before) | set(after)):
            entry = report.policies.setdefault(policy, PolicyReplay(policy))
            entry.evaluated += policy in after
            was, now = before.get(policy, "allow"), after.get(policy, "allow")
            # A recorded evaluation error was enforced as a denial (fail closed).
            if was == now or (was == "error" and now == "deny"):
                continue
            change = Change(
                decision_id=decision_id,
                timestamp=str(record.get("timestamp", "")),
                policy=policy,
                before=was,
                after=now,
                kind=str(kg.get("kind", "")),
                namespace=str(kg.get("namespace", "")),
                name=str(kg.get("name", "")),
                uid=str(kg.get("uid", "")),
                messages=messages.get(policy, ()),
            )
            if now == "error":
                entry.errors.append(change)
            elif now == "deny":
                entry.allow_to_deny.append(change)
            else:
                entry.deny_to_allow.append(change)
    return report
