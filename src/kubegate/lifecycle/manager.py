"""The serving policy set of one server: builds updates, swaps snapshots, keeps status.

Sources (watched directories, etcd) hand :meth:`PolicyManager.apply` the
complete set of policy files each time something changed; the manager builds
it incrementally (:class:`~kubegate.lifecycle.builder.PolicySetBuilder`),
works out rollouts, and swaps the snapshot in one assignment: reviews that
started on the previous snapshot finish on it. A source that fails (a
directory deleted, etcd unreachable) reports it with
:meth:`PolicyManager.source_failed`; the last good snapshot stays.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubegate.engine.hooks import HookRunner
from kubegate.engine.prepared import PreparedPolicySet
from kubegate.errors import KubegateError
from kubegate.lifecycle.builder import BuildResult, PolicySetBuilder
from kubegate.lifecycle.snapshot import Snapshot
from kubegate.policy.rollout import Rollout, rollout_of

__all__ = ["ApplyOutcome", "PolicyManager"]

_log = logging.getLogger("kubegate.lifecycle")


@dataclass(frozen=True)
class ApplyOutcome:
    """What one update did.

    Attributes:
        result: ``applied`` (served in full), ``partial`` (served, some files
            kept at their last good content), ``rejected`` (nothing changed),
            ``unchanged`` (same files as before).
        version: the policy-set version served afterwards.
        errors: errors that kept files (or the update) out.
        duration_ms: build and swap time in milliseconds.
    """

    result: str
    version: str
    errors: tuple[KubegateError, ...] = ()
    duration_ms: float = 0.0
    snapshot: Snapshot | None = None


@dataclass
class _SourceState:
    name: str = ""
    error: KubegateError | None = None
    last_success: float = 0.0
    failing_since: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)


class PolicyManager:
    """Holds the current :class:`Snapshot` and everything ``/policies`` and ``/readyz`` report.

    Args:
        builder: builds policy sets.
        history: how many past snapshots to remember in the status.
        strict: serve no update with any load error (the first one included:
            the server then stays not ready).
        on_update: called with each :class:`ApplyOutcome` (metrics).
    """

    def __init__(
        self,
        builder: PolicySetBuilder,
        history: int = 10,
        strict: bool = False,
        on_update: Callable[[ApplyOutcome], None] | None = None,
    ) -> None:
        self.builder = builder
        self.strict = strict
        self.last_rejection: tuple[KubegateError, ...] = ()
        self.hooks = HookRunner()
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._last: BuildResult | None = None
        self._files: Mapping[str, str] | None = None
        self._first_seen: dict[tuple[str, str], float] = {}
        self._rejected: Mapping[str, tuple[KubegateError, ...]] = {}
        self._history: deque[dict[str, Any]] = deque(maxlen=history)
        self._on_update = on_update
        self._last_outcome: tuple[ApplyOutcome, float] | None = None
        self.source = _SourceState()

    @property
    def snapshot(self) -> Snapshot | None:
        """The snapshot reviews use now (``None`` until the first successful build)."""
        return self._snapshot

    # ---- updates
    def apply(self, files: Mapping[str, str], origin: str) -> ApplyOutcome:
        """Builds ``files`` (the whole policy set from the source) and serves it if it is good.

        Never raises for bad policies: they are reported in the outcome and the status.
        """
        start = time.perf_counter()
        with self._lock:
            self.source.last_success = time.time()
            self.source.failing_since = None
            self.source.error = None
            if self._files is not None and dict(files) == dict(self._files) and self._snapshot is not None:
                return ApplyOutcome("unchanged", self._snapshot.version)
            self._files = dict(files)
            result = self.builder.build(files, self._last)
            if self.strict and result.applied and result.errors:
                keep = self._last
                result = BuildResult(
                    keep.prepared if keep else result.prepared,
                    keep.files if keep else {},
                    result.rejected,
                    applied=False,
                    errors=result.errors,
                )
            rollouts, stable = self._rollouts(result.prepared)
            self._rejected = result.rejected
            elapsed = (time.perf_counter() - start) * 1000
            if not result.applied:
                self.last_rejection = tuple(result.errors)
                outcome = ApplyOutcome(
                    "rejected",
                    self._snapshot.version if self._snapshot else "",
                    tuple(result.errors),
                    elapsed,
                    self._snapshot,
                )
                _log.error("policy update rejected; the last good policy set stays", extra=_errors(result.errors))
            else:
                self._last = result
                previous = self._snapshot
                snapshot = Snapshot(
                    result.prepared,
                    stable,
                    rollouts,
                    sequence=(previous.sequence + 1) if previous else 1,
                    created_at=time.time(),
                    origin=origin,
                )
                self._snapshot = snapshot  # the swap: one reference assignment
                for policy in result.prepared.policies:
                    self._first_seen.setdefault((policy.id, policy.version), snapshot.created_at)
                self._history.appendleft(
                    {
                        "sequence": snapshot.sequence,
                        "version": snapshot.version,
                        "origin": origin,
                        "appliedAt": snapshot.created_at,
                        "policies": {p.id: p.version for p in result.prepared.policies},
                    }
                )
                kind = "partial" if result.rejected else "applied"
                errors = tuple(e for errs in result.rejected.values() for e in errs)
                self.last_rejection = ()
                outcome = ApplyOutcome(kind, snapshot.version, errors, (time.perf_counter() - start) * 1000, snapshot)
                level = logging.WARNING if errors else logging.INFO
                _log.log(
                    level,
                    "policy set %s",
                    kind,
                    extra={
                        "policySetVersion": snapshot.version,
                        "origin": origin,
                        "durationMs": round(outcome.duration_ms, 3),
                        **_errors(errors),
                    },
                )
        self._last_outcome = (outcome, time.time())
        if self._on_update is not None:
            self._on_update(outcome)
        return outcome

    def _rollouts(self, latest: PreparedPolicySet) -> tuple[dict[str, Rollout], dict[str, PreparedPolicySet]]:
        """Which policies of a new build roll out, and the sets holding their stable versions."""
        previous = self._snapshot
        rollouts: dict[str, Rollout] = {}
        stable: dict[str, PreparedPolicySet] = {}
        for policy in latest.policies:
            rollout = rollout_of(policy)
            if rollout is None:
                continue
            source: PreparedPolicySet | None = None
            if previous is not None:
                if policy.id in previous.rollouts:
                    source = previous.stable.get(policy.id)
                elif previous.latest.policy(policy.id) is not None:
                    source = previous.latest
            old = source.policy(policy.id) if source is not None else None
            if old is not None and old.version == policy.version:
                continue  # nothing to roll out: the stable version is this one
            rollouts[policy.id] = rollout
            if source is not None and old is not None:
                stable[policy.id] = source
        return rollouts, stable

    def source_failed(self, error: KubegateError, detail: Mapping[str, Any] | None = None) -> None:
        """Records that the source could not be read; the current snapshot stays."""
        with self._lock:
            first = self.source.failing_since is None or self.source.error is None
            repeated = self.source.error is not None and self.source.error.message == error.message
            if self.source.failing_since is None:
                self.source.failing_since = time.time()
            self.source.error = error
            if detail:
                self.source.detail.update(detail)
        if first or not repeated:  # log transitions, not every retry
            _log.error(
                "policy source failed, serving the last good policy set: %s", error.message, extra={"code": error.code}
            )

    def source_ok(self, detail: Mapping[str, Any] | None = None) -> None:
        """Records that the source answered (its content may not have changed)."""
        with self._lock:
            self.source.last_success = time.time()
            self.source.failing_since = None
            self.source.error = None
            if detail:
                self.source.detail.update(detail)

    def staleness_s(self) -> float:
        """Seconds the source has been failing (0 when it is fine)."""
        since = self.source.failing_since
        return 0.0 if since is None else time.time() - since

    def _last_update(self) -> dict[str, Any] | None:
        if self._last_outcome is None:
            return None
        outcome, at = self._last_outcome
        return {
            "result": outcome.result,
            "at": at,
            "durationMs": round(outcome.duration_ms, 3),
            "errors": [e.to_dict() for e in outcome.errors],
        }

    # ---- status
    def status(self) -> dict[str, Any]:
        """Each policy with version, source, load time, rollout state and last error (``GET /policies``)."""
        snapshot = self._snapshot
        rejected_by_file = {n: errs for n, errs in self._rejected.items()}
        policies = []
        if snapshot is not None:
            for policy in snapshot.latest.policies:
                loc = policy.location
                file = loc.file if loc else ""
                entry: dict[str, Any] = {
                    "id": policy.id,
                    "version": policy.version,
                    "source": str(loc) if loc else "",
                    "loadedAt": self._first_seen.get((policy.id, policy.version)),
                    "rollout": "stable",
                    "lastError": None,
                }
                rollout = snapshot.rollouts.get(policy.id)
                if rollout is not None:
                    stable = snapshot.stable.get(policy.id)
                    old = stable.policy(policy.id) if stable is not None else None
                    entry["rollout"] = rollout.describe()
                    entry["stableVersion"] = old.version if old else None
                errors = rejected_by_file.get(file.split("#", 1)[0])
                if errors:
                    entry["lastError"] = {"code": errors[0].code, "message": str(errors[0])}
                policies.append(entry)
        return {
            "policySetVersion": snapshot.version if snapshot else None,
            "sequence": snapshot.sequence if snapshot else 0,
            "origin": snapshot.origin if snapshot else "",
            "appliedAt": snapshot.created_at if snapshot else None,
            "policies": policies,
            "rejectedFiles": {n: [e.to_dict() for e in errs] for n, errs in self._rejected.items()},
            "lastUpdate": self._last_update(),
            "loadErrors": [e.to_dict() for e in (snapshot.latest.errors if snapshot else ())],
            "source": {
                "name": self.source.name,
                "error": self.source.error.to_dict() if self.source.error else None,
                "staleSeconds": round(self.staleness_s(), 3),
                **self.source.detail,
            },
            "history": list(self._history),
        }


def _errors(errors: tuple[KubegateError, ...]) -> dict[str, Any]:
    return {"errors": [str(e).splitlines()[0] for e in errors]} if errors else {}
