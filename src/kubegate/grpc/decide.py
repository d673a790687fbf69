"""The gRPC gate's decision path, built on the webhook's parts.

A review over gRPC goes through the same parts as an AdmissionReview over
HTTPS (:mod:`kubegate.webhook.service`): the deny list, the policy snapshot
of the :class:`~kubegate.lifecycle.manager.PolicyManager`, the decision
cache (memory, then Redis), the bounded evaluation pool with one deadline,
the failure mode and the decision log, and it counts the same policy
metrics. What differs:

* the answer carries each violation (policy, message, details, enforcement
  action) and each policy's version, so the cached verdict keeps them in its
  :class:`~kubegate.audit.record.DecisionFacts`; gRPC entries are keyed
  apart from the webhook's (``grpc|`` prefix) in the same cache, since a
  webhook entry may lack them;
* ``policy_ids`` restricts the review to those policies of the latest set
  (rollout routing then does not apply; the ids are part of the cache key);
* a full queue and a passed deadline are not answered by the failure mode:
  they raise :class:`~kubegate.webhook.pool.PoolFull` and
  :class:`~kubegate.webhook.pool.EvaluationTimeout`, which the servicer
  turns into ``RESOURCE_EXHAUSTED`` and ``DEADLINE_EXCEEDED``, so the caller
  (an Envoy filter, a control plane) applies its own failure policy, as
  Envoy's ``failure_mode_allow`` does; the failure mode still answers when
  no policy set is loaded yet and when a policy fails to evaluate;
* records are written with path ``kubegate/grpc/review`` and every answer
  has a decision id (a fresh UUID when no decision log is kept).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from dataclasses import dataclass
from typing import Any

from kubegate.audit.record import DecisionFacts, facts_from_result
from kubegate.audit.wal import LogFull
from kubegate.engine.decision import Decision, ReviewResult
from kubegate.engine.inputs import MAX_INPUT_DEPTH, build_review
from kubegate.errors import InputError, KubegateError, UsageError
from kubegate.lifecycle.snapshot import RoutedReview, Snapshot
from kubegate.webhook.cache import cache_key
from kubegate.webhook.pool import EvaluationTimeout, PoolFull
from kubegate.webhook.service import AdmissionService
from kubegate.webhook.verdict import Verdict, failure_verdict, verdict_from_result

__all__ = ["OPERATIONS", "REVIEW_PATH", "Answer", "Decider", "UnknownPolicy"]

#: What ``ReviewRequest.operation`` may be (Kubernetes' admission operations).
OPERATIONS = ("CREATE", "UPDATE", "DELETE", "CONNECT")

#: The decision-log ``path`` of reviews answered over gRPC.
REVIEW_PATH = "kubegate/grpc/review"


class UnknownPolicy(UsageError):
    """A policy id the policy set in force does not have (``NOT_FOUND``)."""

    code = "unknown_policy"


@dataclass(frozen=True)
class Answer:
    """One decided review.

    Attributes:
        verdict: the webhook's verdict (message, warnings, reason).
        facts: violations (with ``details``) and per-policy versions.
        version: the policy-set version that decided (``""`` when none is loaded).
        cache: ``memory``, ``redis`` or ``""``.
        decision_id: the decision record's id.
        duration_s: time spent deciding, in seconds.
    """

    verdict: Verdict
    facts: DecisionFacts
    version: str
    cache: str
    decision_id: str
    duration_s: float


def _facts(result: ReviewResult, verdict: Verdict) -> DecisionFacts:
    facts = facts_from_result(
        result, allowed=verdict.allowed, reason=verdict.reason, message=verdict.message, warnings=verdict.warnings
    )
    violations = tuple(
        {"policy": v.policy, "enforcement": v.enforcement, "message": v.message, "details": v.details or {}}
        for v in result.violations
    )
    return dataclasses.replace(facts, violations=violations)


class Decider:
    """Decides reviews with ``service``'s parts (see the module docstring).

    Args:
        service: the webhook's decision path; its settings, cache, pool,
            metrics, manager, deny list and decision log are used as they are.
    """

    def __init__(self, service: AdmissionService) -> None:
        self.service = service
        self._background: set[asyncio.Task[None]] = set()

    @property
    def snapshot(self) -> Snapshot | None:
        return self.service.manager.snapshot

    def check_policies(self, snapshot: Snapshot, policy_ids: tuple[str, ...]) -> None:
        """Raises :class:`UnknownPolicy` for the first id ``snapshot`` does not have."""
        for pid in policy_ids:
            if snapshot.latest.policy(pid) is None:
                raise UnknownPolicy(f"no policy with id {pid!r} in policy set {snapshot.version[:12]}")

    async def review(
        self,
        obj: Any,
        *,
        policy_ids: tuple[str, ...] = (),
        operation: str = "",
        deadline: float,
        checked: bool = False,
    ) -> Answer:
        """Decides one object, AdmissionRequest or AdmissionReview.

        Args:
            obj: JSON data (the shape rules of :func:`kubegate.engine.inputs.build_review`).
            policy_ids: only these policies (empty: all).
            operation: for objects: ``CREATE`` (default), ``UPDATE``, ``DELETE``, ``CONNECT``.
            deadline: the event loop's time (``loop.time()``, s) by which to answer.
            checked: ``obj`` was read by :func:`kubegate.grpc.values.read_input`, which
                already held it to the depth bound (not measured again).

        Raises:
            InputError: ``obj`` cannot be reviewed, or ``invalid_operation``.
            UnknownPolicy: a policy id is not in the policy set.
            PoolFull: no evaluation capacity left.
            EvaluationTimeout: ``deadline`` passed.
        """
        start = time.perf_counter()
        if operation and operation not in OPERATIONS:
            raise InputError(
                f"operation {operation[:40]!r} is not one of {', '.join(OPERATIONS)}", code="invalid_operation"
            )
        review = build_review(obj, operation=operation or None, max_depth=None if checked else MAX_INPUT_DEPTH)
        verdict, cache, version, key = await self._decide(review, policy_ids, deadline)
        return await self._answer(review, verdict, cache, version, key, start)

    async def _decide(
        self, review: dict[str, Any], policy_ids: tuple[str, ...], deadline: float
    ) -> tuple[Verdict, str, str, str]:
        service = self.service
        rule = service.deny_list.match(review)
        if rule is not None:
            service.metrics.fast_rejects.labels(rule.name).inc()
            message = f"[deny-list:{rule.name}] {rule.message}"
            return Verdict(False, message, reason="fast_reject", cacheable=False), "", "", ""
        snapshot = self.snapshot
        if snapshot is None:
            service.metrics.rejected.labels("not_ready").inc()
            mode = service.settings.failure_mode
            return failure_verdict("not_ready", "no policy set is loaded yet", mode), "", "", ""
        self.check_policies(snapshot, policy_ids)
        version = snapshot.version
        key = ""
        if service.cache is not None:
            routing = "" if policy_ids else snapshot.routing_key(review)
            key = cache_key(f"grpc|{version}|{routing}|{','.join(policy_ids)}", review)
            cached, tier = await self._cached(key)
            if cached is not None:
                return cached, tier, version, key
        verdict = await self._evaluated(snapshot, review, policy_ids, deadline)
        if key and verdict.cacheable:
            self._cache_put(key, verdict)
        return verdict, "", version, key

    async def _cached(self, key: str) -> tuple[Verdict | None, str]:
        service = self.service
        assert service.cache is not None
        entry = service.cache.lookup(key)
        if entry is not None:
            service.metrics.cache_lookup("memory")
            return entry.verdict, "memory"
        if service.shared is not None:
            found = await service.shared.get_with_ttl(key)
            if found is not None:
                service.cache.put(key, *found)
                service.metrics.cache_lookup("redis")
                return found[0], "redis"
        service.metrics.cache_lookup(None)
        return None, ""

    def _cache_put(self, key: str, verdict: Verdict) -> None:
        service = self.service
        assert service.cache is not None
        entry = service.cache.put(key, verdict)
        if service.shared is not None:
            ttl = entry.ttl_s if entry else service.cache.draw_ttl()
            task = asyncio.get_running_loop().create_task(service.shared.put(key, verdict, ttl))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _evaluated(
        self, snapshot: Snapshot, review: dict[str, Any], policy_ids: tuple[str, ...], deadline: float
    ) -> Verdict:
        service = self.service
        mode = service.settings.failure_mode
        try:
            routed = await service.pool.run_until(lambda: self._evaluate(snapshot, review, policy_ids), deadline)
        except PoolFull:
            service.metrics.rejected.labels("queue_full").inc()
            raise
        except EvaluationTimeout:
            service.metrics.timeouts.inc()
            raise
        except InputError:
            raise  # input the backend cannot take: INVALID_ARGUMENT, whatever the failure mode
        except KubegateError as exc:
            service.metrics.rejected.labels("error").inc()
            return failure_verdict("evaluation_error", f"{exc.code}: {exc.message}", mode)
        verdict = verdict_from_result(routed.result, mode)
        return dataclasses.replace(verdict, facts=_facts(routed.result, verdict))

    def _evaluate(self, snapshot: Snapshot, review: dict[str, Any], policy_ids: tuple[str, ...]) -> RoutedReview:
        """Runs on a pool thread; counts what the webhook counts."""
        if policy_ids:
            routed = RoutedReview(snapshot.latest.review(review, policy_ids=list(policy_ids)))
        else:
            routed = snapshot.review(review)
        service = self.service
        service.manager.hooks.dispatch(routed.result)
        metrics = service.metrics
        for policy, arm in routed.arms.items():
            metrics.canary_decisions.labels(policy, arm).inc()
        for decision in routed.result.decisions:
            metrics.policy_duration.labels(decision.policy).observe(decision.duration_ms / 1000)
            if decision.error is not None:
                metrics.policy_errors.labels(decision.policy).inc()
            for violation in decision.violations:
                metrics.violations.labels(decision.policy, violation.enforcement).inc()
        return routed

    async def _answer(
        self, review: dict[str, Any], verdict: Verdict, cache: str, version: str, key: str, start: float
    ) -> Answer:
        facts = verdict.facts or DecisionFacts(
            allowed=verdict.allowed,
            policy_set_version=version,
            reason=verdict.reason,
            message=verdict.message,
            warnings=verdict.warnings,
        )
        decision_id, verdict = await self._record(review, verdict, facts, cache, key, start)
        # The cached facts themselves are answered (their serialised parts are kept per facts).
        return Answer(verdict, facts, version, cache, decision_id, time.perf_counter() - start)

    async def _record(
        self, review: dict[str, Any], verdict: Verdict, facts: DecisionFacts, cache: str, key: str, start: float
    ) -> tuple[str, Verdict]:
        """Writes the decision record (before answering, as the webhook does)."""
        logger = self.service.decision_log
        if logger is None:
            return str(uuid.uuid4()), verdict

        def write() -> str | None:
            return logger.record(
                review,
                facts,
                path=REVIEW_PATH,
                cache_hit=bool(cache),
                total_ns=int((time.perf_counter() - start) * 1e9),
                reuse_key=key if verdict.cacheable else "",
            )

        try:
            decision_id = await asyncio.get_running_loop().run_in_executor(None, write)
        except LogFull as exc:
            self.service.metrics.decision_log_refused.inc()
            denial = Verdict(False, f"kubegate: {exc.message}", reason="decision_log_full", code=500, cacheable=False)
            return str(uuid.uuid4()), denial
        except (KubegateError, OSError) as exc:
            self.service.metrics.decision_log_refused.inc()
            problem = f"{exc.code}: {exc.message}" if isinstance(exc, KubegateError) else f"disk: {exc}"
            denial = Verdict(False, f"kubegate: {problem}", reason="decision_log_error", code=500, cacheable=False)
            return str(uuid.uuid4()), denial
        return decision_id or str(uuid.uuid4()), verdict

    async def evaluate(self, policy_id: str, input_value: Any, *, deadline: float) -> Decision:
        """One policy on ``input_value`` as given (:meth:`PreparedPolicySet.evaluate`), on the pool.

        Raises:
            UnknownPolicy: no such policy, or no policy set loaded yet.
            PoolFull, EvaluationTimeout: as :meth:`review`.
            EvaluationError: the backend failed.
        """
        snapshot = self.snapshot
        if snapshot is None:
            raise UnknownPolicy("no policy set is loaded yet", code="not_ready")
        self.check_policies(snapshot, (policy_id,))
        logger = self.service.decision_log

        def run() -> Decision:
            decision = snapshot.latest.evaluate(policy_id, input_value)
            if logger is not None:
                logger.evaluated(policy_id, input_value, decision)
            return decision

        try:
            return await self.service.pool.run_until(run, deadline)
        except PoolFull:
            self.service.metrics.rejected.labels("queue_full").inc()
            raise
        except EvaluationTimeout:
            self.service.metrics.timeouts.inc()
            raise
