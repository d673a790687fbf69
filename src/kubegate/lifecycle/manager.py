"""The serving policy set of one server: builds updates, swaps snapshots, keeps status.

Sources (watched directories, etcd) hand :meth:`PolicyManager.apply` the
complete set of policy files each time something changed; the manager builds
it incrementally (:class:`~kubegate.lifecycle.builder.PolicySetBuilder`),
works out rollouts, and swaps the snapshot in one assignment: reviews that
started on the previous snapshot finish on it. A source that fails (a
directory deleted, etcd unreachable) reports it with
:meth:`PolicyManager.source_failed`; the last good snapshot stays.

**Suspect changes** (directories only, ``apply(..., hold_suspect=True)``): a
file that still exists, whose new content contributes no policy where its
last good content contributed at least one, or no Rego rule where it
contributed at least one (:func:`~kubegate.lifecycle.builder.rules_by_file`),
is most likely a file read while it was being rewritten in place (truncated,
then written). It is held back: its last good content stays in force, it is
listed in the status (``suspect``) and counted (``on_suspect``), and it is
applied only once the source has shown the same content on at least two
checks spanning ``suspect_hold_s`` seconds (the source re-checks on its own
while something is held). Emptying a file on purpose therefore takes effect after the hold;
deleting it takes effect at once. etcd updates are never held: ``kubegate
push`` writes whole, validated sets.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from kubegate.engine.hooks import HookRunner
from kubegate.engine.prepared import PreparedPolicySet
from kubegate.errors import KubegateError
from kubegate.lifecycle.builder import BuildResult, FileRules, PolicySetBuilder, rules_by_file
from kubegate.lifecycle.snapshot import Snapshot
from kubegate.policy.rollout import Rollout, rollout_of

__all__ = ["ApplyOutcome", "PolicyManager", "SuspectFile"]

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
        snapshot: the snapshot served afterwards.
        held: suspect files kept at their last good content (see :class:`SuspectFile`).
    """

    result: str
    version: str
    errors: tuple[KubegateError, ...] = ()
    duration_ms: float = 0.0
    snapshot: Snapshot | None = None
    held: tuple[str, ...] = ()


@dataclass(frozen=True)
class SuspectFile:
    """A changed file held back at its last good content because it lost every policy or every rule.

    Attributes:
        file: the file name.
        digest: sha256 of the held-back content.
        since: when this content was first seen (Unix time, s).
        first_seen: the same on the monotonic clock (s).
        before: what its last good content contributed.
        now: what the held-back content would contribute.
        checks: how many updates have shown this content.
    """

    file: str
    digest: str
    since: float
    first_seen: float
    before: FileRules
    now: FileRules
    checks: int = 1

    @property
    def reason(self) -> str:
        """Why the change is held back, e.g. ``every policy removed (was 2 policies, 2 rules; now 0, 1)``."""
        what = "every policy removed" if self.before.policies and not self.now.policies else "every rule removed"
        was, now = self.before, self.now
        return f"{what} (was {was.policies} policies, {was.rules} rules; now {now.policies}, {now.rules})"

    def to_dict(self, hold_s: float) -> dict[str, Any]:
        """The ``/policies`` entry; ``hold_s``: the manager's hold time (s)."""
        return {
            "file": self.file,
            "reason": self.reason,
            "since": self.since,
            "checks": self.checks,
            "heldSeconds": round(max(0.0, time.monotonic() - self.first_seen), 3),
            "holdSeconds": hold_s,
        }


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
        suspect_hold_s: how long (s) a suspect change must stay the same
            before it is applied; 0 applies it at once (no hold).
        on_suspect: called with the number of suspect changes an update saw
            for the first time (when there are any: metrics; :attr:`suspects`
            lists the files held back now).
    """

    def __init__(
        self,
        builder: PolicySetBuilder,
        history: int = 10,
        strict: bool = False,
        on_update: Callable[[ApplyOutcome], None] | None = None,
        suspect_hold_s: float = 2.0,
        on_suspect: Callable[[int], object] | None = None,
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
        self.suspect_hold_s = suspect_hold_s
        self._on_suspect = on_suspect
        self._suspects: dict[str, SuspectFile] = {}
        self.source = _SourceState()

    @property
    def snapshot(self) -> Snapshot | None:
        """The snapshot reviews use now (``None`` until the first successful build)."""
        return self._snapshot

    @property
    def files(self) -> Mapping[str, str] | None:
        """The files of the last update, as the source gave them (``None`` before the first)."""
        return self._files

    @property
    def suspects(self) -> Mapping[str, SuspectFile]:
        """The files held back now as suspect changes, by name."""
        return dict(self._suspects)

    # ---- updates
    def apply(self, files: Mapping[str, str], origin: str, *, hold_suspect: bool = False) -> ApplyOutcome:
        """Builds ``files`` (the whole policy set from the source) and serves it if it is good.

        Never raises for bad policies: they are reported in the outcome and the status.

        Args:
            files: ``{name: text}``, every policy file of the source.
            origin: the source, for the status and the logs.
            hold_suspect: hold back a file whose new content has no rule (see
                the module docstring); directories set it, etcd does not.
        """
        start = time.perf_counter()
        hold = hold_suspect and self.suspect_hold_s > 0
        new_suspects = 0
        with self._lock:
            self.source.last_success = time.time()
            self.source.failing_since = None
            self.source.error = None
            if not hold:
                self._suspects.clear()
            if (
                self._files is not None
                and dict(files) == dict(self._files)
                and self._snapshot is not None
                and not self._suspects
            ):
                return ApplyOutcome("unchanged", self._snapshot.version)
            self._files = dict(files)
            result = self.builder.build(files, self._last)
            held: tuple[str, ...] = ()
            if hold:
                result, held, new_suspects = self._hold_suspects(result)
            if result is self._last and self._snapshot is not None:
                # Only held-back files changed: nothing to swap.
                self._rejected = result.rejected
                unchanged = ApplyOutcome("unchanged", self._snapshot.version, held=held)
            else:
                unchanged = None
                outcome = self._serve(result, origin, held, start)
        if unchanged is not None:
            self._report_suspects(new_suspects)
            return unchanged
        self._last_outcome = (outcome, time.time())
        if self._on_update is not None:
            self._on_update(outcome)
        self._report_suspects(new_suspects)
        return outcome

    def _serve(self, result: BuildResult, origin: str, held: tuple[str, ...], start: float) -> ApplyOutcome:
        """Swaps in ``result`` if it was applied (call with the lock held); ``start``: ``perf_counter()`` (s)."""
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
            kind = "partial" if result.rejected or held else "applied"
            errors = tuple(e for errs in result.rejected.values() for e in errs)
            self.last_rejection = ()
            outcome = ApplyOutcome(kind, snapshot.version, errors, (time.perf_counter() - start) * 1000, snapshot, held)
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
        return outcome

    def _report_suspects(self, new: int) -> None:
        if new and self._on_suspect is not None:
            self._on_suspect(new)

    def _hold_suspects(self, result: BuildResult) -> tuple[BuildResult, tuple[str, ...], int]:
        """Holds back the files of ``result`` that lost every rule (call with the lock held).

        Returns:
            The build to serve (``self._last`` itself when nothing but held
            files changed), the files held back, and how many suspect changes
            were seen for the first time.
        """
        last = self._last
        if last is None or not result.applied:
            return result, tuple(sorted(self._suspects)), 0  # nothing to compare with, or nothing served
        before = rules_by_file(last.prepared)
        after = rules_by_file(result.prepared)
        now = time.monotonic()
        suspects: dict[str, SuspectFile] = {}
        new = 0
        none = FileRules()
        for name, text in sorted(result.files.items()):
            old_text = last.files.get(name)
            was, became = before.get(name, none), after.get(name, none)
            if old_text is None or old_text == text or not was.lost_everything(became):
                continue
            digest = hashlib.sha256(text.encode()).hexdigest()
            seen = self._suspects.get(name)
            if seen is None or seen.digest != digest:
                seen = SuspectFile(name, digest, time.time(), now, was, became)
                new += 1
                _log.warning(
                    "policy file %s: %s; its last good version stays for at least %s s",
                    name,
                    seen.reason,
                    self.suspect_hold_s,
                    extra={"file": name, "holdSeconds": self.suspect_hold_s},
                )
            else:
                seen = replace(seen, checks=seen.checks + 1)
            if seen.checks >= 2 and now - seen.first_seen >= self.suspect_hold_s:
                _log.warning(
                    "policy file %s: unchanged for %.1f s (%d checks); applying it",
                    name,
                    now - seen.first_seen,
                    seen.checks,
                    extra={"file": name},
                )
                continue
            suspects[name] = seen
        self._suspects = suspects
        if not suspects:
            return result, (), new
        held = tuple(sorted(suspects))
        fallback = {**result.files, **{name: last.files[name] for name in held}}
        if fallback == dict(last.files) and not result.rejected:
            return last, held, new
        second = self.builder.build(fallback, last)
        if not second.applied:
            return second, held, new
        rejected = {**result.rejected, **second.rejected}
        earlier = tuple(e for n, errs in result.rejected.items() if n not in second.rejected for e in errs)
        return replace(second, rejected=rejected, errors=(*second.errors, *earlier)), held, new

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
            "suspect": [s.to_dict(self.suspect_hold_s) for _, s in sorted(self._suspects.items())],
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
