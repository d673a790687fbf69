"""What one admission review is decided with: an immutable snapshot of the serving policies.

A snapshot holds the latest built policy set and, for policies rolling out,
the set holding their stable version. :meth:`Snapshot.review` routes each
policy of a review to the version that decides it — the latest for most;
for a canary, the candidate on the requests its split selects and the stable
version on the others; for a shadow, the stable version, with the candidate
evaluated alongside and compared. A review uses one snapshot from start to
end, so it never mixes two versions of the policy set.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kubegate.engine.decision import Decision, ReviewResult
from kubegate.engine.prepared import PreparedPolicySet
from kubegate.policy.rollout import Rollout

__all__ = ["RoutedReview", "ShadowComparison", "Snapshot"]


@dataclass(frozen=True)
class ShadowComparison:
    """A shadow candidate's decision next to the enforced stable decision."""

    policy: str
    stable: Decision | None
    candidate: Decision
    agree: bool


@dataclass(frozen=True)
class RoutedReview:
    """A review's result, which version decided each rolled-out policy, and shadow comparisons.

    Attributes:
        result: the enforced result.
        arms: for policies under rollout: ``canary`` or ``stable``.
        shadow: one comparison per shadowed policy the review selected.
    """

    result: ReviewResult
    arms: Mapping[str, str] = field(default_factory=dict)
    shadow: tuple[ShadowComparison, ...] = ()


def _outcome(decision: Decision | None) -> tuple[bool, tuple[str, ...]]:
    if decision is None:
        return True, ()
    return decision.allowed, tuple(sorted(f"{v.enforcement}:{v.message}" for v in decision.violations))


@dataclass(frozen=True)
class Snapshot:
    """The policies in force.

    Attributes:
        latest: the newest built set: every policy's newest version.
        stable: for policies under rollout, the set holding the version they
            roll out from (absent for a new policy introduced by a rollout).
        rollouts: policy id -> how its newest version rolls out.
        sequence: increases with every snapshot of a server.
        created_at: when it started serving (Unix seconds).
        origin: where its files came from (``dir:/policies``, ``etcd:…@rev 42``).
    """

    latest: PreparedPolicySet
    stable: Mapping[str, PreparedPolicySet] = field(default_factory=dict)
    rollouts: Mapping[str, Rollout] = field(default_factory=dict)
    sequence: int = 0
    created_at: float = 0.0
    origin: str = ""

    @property
    def version(self) -> str:
        """The policy-set version: the latest set's, combined with stable versions and rollouts."""
        if not self.rollouts:
            return self.latest.version
        parts = [self.latest.version]
        for pid in sorted(self.rollouts):
            stable = self.stable.get(pid)
            policy = stable.policy(pid) if stable is not None else None
            parts.append(f"{pid}:{self.rollouts[pid].describe()}:{policy.version if policy else '-'}")
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()

    def routing_key(self, review: Mapping[str, Any]) -> str:
        """What a cached decision must also match: which canaries select this review."""
        chosen = [pid for pid, r in sorted(self.rollouts.items()) if r.selects(review)]
        return ",".join(chosen)

    def review(self, review: Mapping[str, Any]) -> RoutedReview:
        """Decides ``review`` (``input.review``) with the right version of each policy."""
        if not self.rollouts:
            return RoutedReview(self.latest.review(review))
        arms: dict[str, str] = {}
        from_stable: dict[int, tuple[PreparedPolicySet, set[str]]] = {}
        excluded: set[str] = set()
        shadowed: list[str] = []
        for pid, rollout in self.rollouts.items():
            stable = self.stable.get(pid)
            if rollout.strategy == "canary" and rollout.selects(review):
                arms[pid] = "canary"
                continue
            excluded.add(pid)
            if rollout.strategy == "shadow":
                shadowed.append(pid)
            else:
                arms[pid] = "stable"
            if stable is not None:
                from_stable.setdefault(id(stable), (stable, set()))[1].add(pid)
        latest_ids = [p.id for p in self.latest.policies if p.id not in excluded]
        results = [self.latest.review(review, policy_ids=latest_ids)]
        results += [s.review(review, policy_ids=ids) for s, ids in from_stable.values()]
        merged = _merge(results, self.version)
        comparisons: list[ShadowComparison] = []
        if shadowed:
            candidate = self.latest.review(review, policy_ids=shadowed)
            enforced = {d.policy: d for d in merged.decisions}
            for decision in candidate.decisions:
                stable_decision = enforced.get(decision.policy)
                agree = _outcome(stable_decision) == _outcome(decision)
                comparisons.append(ShadowComparison(decision.policy, stable_decision, decision, agree))
        return RoutedReview(merged, arms, tuple(comparisons))


def _merge(results: list[ReviewResult], version: str) -> ReviewResult:
    decisions = sorted((d for r in results for d in r.decisions), key=lambda d: d.policy)
    skipped = tuple(s for r in results for s in r.skipped)
    duration = sum(r.duration_ms for r in results)
    return ReviewResult(all(d.allowed for d in decisions), tuple(decisions), skipped, duration, version)
