"""The admission decision path, free of HTTP: deny list, cache, pool, engine, verdict.

For one AdmissionRequest, in order:

1. build ``input.review`` (a malformed request is an :class:`AdmissionError`, HTTP 400);
2. the deny list: a matching rule denies at once (no cache, no policies);
3. no policy set loaded yet: the failure mode answers (``not_ready``);
4. the decision cache, in memory then Redis, keyed by the policy-set version
   and the review (see :mod:`kubegate.webhook.cache`); an identical request
   already being evaluated is waited for instead of evaluated again
   (``cache: coalesced`` in the log), so a burst of re-applies of one object
   costs one evaluation; a hit on an entry in its refresh window also
   re-evaluates it in the background, once (:mod:`kubegate.webhook.refresh`),
   and entries live jittered TTLs, so that expiry never comes all at once;
5. with an image trust policy (``--image-policy``) and a policy set calling
   ``kubegate.image.verify``: the object's images are verified first, on the
   verifier's own bounded pool under ``image_verification_timeout_ms``
   (:mod:`kubegate.images.prefetch`); transient failures (time limit passed,
   registry unreachable) get the failure mode, the answer is then not
   cached, and each verification is counted
   (``kubegate_image_verifications_total{result}``) and recorded
   (``kubegate.images``); evaluation keeps its own time limit after it;
6. evaluation on the bounded pool under the time limit; a full queue or a
   passed limit is answered by the failure mode;
7. the verdict is cached when it holds no error, counted in the metrics and
   written to the request log;
8. with a decision log, the decision is recorded (redacted, appended to the
   write-ahead log: the OS has it, so a killed process loses nothing) before
   it is answered; a record that cannot be built or a log that refuses it
   (full, policy ``fail_closed``) turns the answer into a denial
   (``decision_log_error``, ``decision_log_full``). Under ``fsync=always`` the
   fsync comes before the answer with ``fail_closed`` and once the answer is
   on its way with ``block`` and ``drop_oldest`` (a power loss may lose the
   records of the last fsync's duration, docs/audit.md); with tracing, spans
   are emitted.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, NamedTuple

from prometheus_client import Counter

from kubegate.audit.logger import DecisionLogger
from kubegate.audit.record import DecisionFacts, facts_from_result
from kubegate.audit.tracing import Tracing
from kubegate.audit.wal import LogFull
from kubegate.engine.decision import ReviewResult
from kubegate.engine.inputs import build_review
from kubegate.errors import InputError, KubegateError
from kubegate.evaluator.builtins.kubegate_image import ImageResults, use_image_results
from kubegate.images.prefetch import ImagePrefetcher, Prefetch
from kubegate.lifecycle.manager import PolicyManager
from kubegate.lifecycle.snapshot import RoutedReview, Snapshot
from kubegate.webhook.admission import AdmissionError, AdmissionRequest
from kubegate.webhook.cache import CacheEntry, DecisionCache, SharedCache, cache_key
from kubegate.webhook.denylist import DenyList
from kubegate.webhook.logs import log_request, log_shadow
from kubegate.webhook.metrics import WebhookMetrics
from kubegate.webhook.pool import EvaluationPool, EvaluationTimeout, PoolFull
from kubegate.webhook.refresh import Refresher, RefreshOutcome
from kubegate.webhook.verdict import FailureMode, Verdict, failure_verdict, verdict_from_result

__all__ = ["AdmissionService", "WebhookSettings"]

_log = logging.getLogger("kubegate.webhook")


@dataclass(frozen=True)
class WebhookSettings:
    """Tuning of the decision path.

    Attributes:
        failure_mode: answer when the engine cannot decide: ``deny`` or ``allow``.
        max_evaluation_time_ms: time limit per request, queueing included.
        workers: evaluation threads; ``None``: the backend's default
            (:func:`kubegate.webhook.pool.default_workers`).
        queue_size: requests that may wait for a worker before new ones are
            refused per the failure mode.
        cache_ttl_s: lifetime of cached decisions, in seconds; 0 turns the cache off.
        cache_entries: capacity of the in-memory cache.
        cache_refresh_window: the last fraction of an entry's lifetime, in
            ``[0, 1)``, in which a hit also re-evaluates it in the background
            (0: never; entries then expire and the next request evaluates).
        cache_ttl_jitter: each entry lives ``cache_ttl_s * (1 ± u)``, ``u``
            uniform up to this fraction, in ``[0, 1)`` (0: exact TTLs).
        redis_url: shared cache (``redis://host:port/0``), or ``None``.
        stuck_after_s: a worker busy this long makes ``/healthz`` fail.
        max_body_bytes: larger request bodies get HTTP 413.
        image_verification_timeout_ms: time limit of one request's image
            verifications (before its evaluation, which keeps
            ``max_evaluation_time_ms`` after them), in milliseconds.
        image_verification_workers: threads verifying images (a pool of
            their own: the event loop waits for them without holding a thread).
    """

    failure_mode: FailureMode = "deny"
    max_evaluation_time_ms: float = 300.0
    workers: int | None = None
    queue_size: int = 64
    cache_ttl_s: float = 10.0
    cache_entries: int = 10_000
    cache_refresh_window: float = 0.2
    cache_ttl_jitter: float = 0.1
    redis_url: str | None = None
    stuck_after_s: float = 30.0
    max_body_bytes: int = 3 * 1024 * 1024
    image_verification_timeout_ms: float = 2000.0
    image_verification_workers: int = 4


class _Answer(NamedTuple):
    verdict: Verdict
    cache: str  # "", "memory", "redis", "coalesced", "miss"
    version: str
    result: ReviewResult | None  # the evaluation this request ran, if it ran one
    key: str = ""  # the decision cache's key of the request, when it has one


# A record is written on the event loop when that cannot block: no fsync per
# record and this much room left in the log (else a thread writes it).
_INLINE_ROOM_BYTES = 16 * 1024 * 1024


class AdmissionService:
    """Decides AdmissionRequests with the current policy set.

    Args:
        settings: see :class:`WebhookSettings`.
        metrics: where to count.
        manager: holds the policy snapshot in force (:mod:`kubegate.lifecycle`).
        deny_list: fast-reject rules.
        decision_log: records every decision (closed with the service).
        tracing: OpenTelemetry spans per request (shut down with the service).
        cache: the in-memory decision cache to use instead of the one
            ``settings`` describe (tests pass one on a manual clock).
        images: verifies images before evaluation (``--image-policy``);
            closed with the service.
    """

    def __init__(
        self,
        settings: WebhookSettings,
        metrics: WebhookMetrics,
        manager: PolicyManager,
        deny_list: DenyList | None = None,
        decision_log: DecisionLogger | None = None,
        tracing: Tracing | None = None,
        cache: DecisionCache | None = None,
        images: ImagePrefetcher | None = None,
    ) -> None:
        self.settings = settings
        self.images = images
        self._image_threads = (
            ThreadPoolExecutor(settings.image_verification_workers, thread_name_prefix="kubegate-image")
            if images is not None
            else None
        )
        # On the webhook's registry; only with a trust policy (one counter per registry).
        self._image_verifications = Counter(
            "kubegate_image_verifications_total",
            "Image verifications before evaluation, by result (verified, or the reason it failed: "
            "no_signature, wrong_key, timeout, registry_unreachable...; cached ones included)",
            ["result"],
            registry=metrics.registry if images is not None else None,
        )
        self.manager = manager
        self.metrics = metrics
        self.deny_list = deny_list or DenyList()
        self.decision_log = decision_log if decision_log is not None and decision_log.enabled else None
        self._log_closer = decision_log
        self.tracing = tracing
        self._log_threads = ThreadPoolExecutor(4, thread_name_prefix="kubegate-log") if self.decision_log else None
        self.pool = EvaluationPool(settings.workers or 1, settings.queue_size)
        if cache is None and settings.cache_ttl_s > 0:
            cache = DecisionCache(
                settings.cache_entries,
                settings.cache_ttl_s,
                refresh_window=settings.cache_refresh_window,
                jitter=settings.cache_ttl_jitter,
            )
        self.cache = cache
        self.shared = (
            SharedCache(settings.redis_url, settings.cache_ttl_s, on_error=metrics.cache_errors.inc)
            if settings.redis_url and cache is not None
            else None
        )
        # Refreshes take at most half the workers (at least one), so misses still find one.
        refreshing = max(1, (settings.workers or 1) // 2)
        self.refresher = (
            Refresher(refreshing, on_outcome=lambda o: metrics.cache_refreshes.labels(o).inc())
            if cache is not None and cache.refresh_window > 0
            else None
        )
        metrics.cache_refreshes_pending.set_function(lambda: self.refresher.pending if self.refresher else 0)
        self._background: set[asyncio.Task[None]] = set()
        self._syncing = self._sync_again = False
        self._inflight: dict[str, asyncio.Future[Verdict]] = {}

    @property
    def ready(self) -> bool:
        return self.manager.snapshot is not None

    # ---- decisions
    async def decide(self, request: AdmissionRequest, headers: dict[str, str] | None = None) -> Verdict:
        """Answers one request (see the module docstring) and logs it.

        Args:
            request: the AdmissionRequest.
            headers: HTTP headers (a W3C ``traceparent`` parents the trace).

        Raises:
            AdmissionError: the request cannot be reviewed (HTTP 400).
        """
        start = time.perf_counter()
        start_ns = time.time_ns()
        # On the event loop's clock, fixed once: every wait below ends at this instant,
        # however long the GIL is kept from the loop in between (see kubegate.webhook.pool).
        deadline = asyncio.get_running_loop().time() + self.settings.max_evaluation_time_ms / 1000
        if request.input_error is not None:  # a well-formed AdmissionReview that cannot be reviewed
            review, answer = dict(request.request), self._invalid_input(request.input_error)
        else:
            try:
                review = build_review(request.request, shape="admission_request", max_depth=None)
            except InputError as exc:
                raise AdmissionError(exc.message, code=exc.code) from None
            answer = await self._answer(review, deadline)
        verdict, cache_tier, version = answer.verdict, answer.cache, answer.version
        if self.decision_log is not None:
            verdict = await self._record(review, answer, int((time.perf_counter() - start) * 1e9))
        elapsed = time.perf_counter() - start
        decision = "allow" if verdict.allowed else "deny"
        self.metrics.admission(decision, request.operation, request.kind)
        self.metrics.duration.observe(elapsed)
        if self.tracing is not None:
            self.tracing.admission_span(
                review,
                start_ns=start_ns,
                end_ns=start_ns + int(elapsed * 1e9),
                decision=decision,
                cache=cache_tier,
                reason=verdict.reason,
                result=answer.result,
                headers=headers,
            )
        log_request(
            uid=request.uid,
            kind=request.kind,
            namespace=request.namespace,
            objectName=request.name,
            operation=request.operation,
            dryRun=request.dry_run,
            decision=decision,
            reason=verdict.reason,
            deniedBy=list(verdict.denied_by),
            warnings=len(verdict.warnings),
            dryrunViolations=list(verdict.dryrun),
            cache=cache_tier,
            policySetVersion=version,
            durationMs=round(elapsed * 1000, 3),
        )
        return verdict

    async def _record(self, review: dict[str, Any], answer: _Answer, total_ns: int) -> Verdict:
        """Writes the decision record; the verdict to answer (a denial if the log refused it)."""
        assert self.decision_log is not None
        verdict = answer.verdict
        cache_hit = answer.cache in ("memory", "redis", "coalesced")
        facts = verdict.facts or DecisionFacts(
            allowed=verdict.allowed,
            policy_set_version=answer.version,
            reason=verdict.reason,
            message=verdict.message,
            warnings=verdict.warnings,
        )
        # A hit passes the cached facts themselves (the record says it evaluated nothing):
        # the decision log reuses their serialised parts without comparing them again.
        logger = self.decision_log
        # fail_closed: on disk before the answer. block, drop_oldest: written before the
        # answer (a killed process loses nothing), fsynced once the answer is on its way.
        settings = logger.settings
        deferred_sync = settings.fsync == "always" and settings.full_policy != "fail_closed"

        def write() -> str | None:
            return logger.record(
                review,
                facts,
                path="kubegate/admission",
                cache_hit=cache_hit,
                total_ns=total_ns,
                reuse_key=answer.key if verdict.cacheable else "",
                sync=not deferred_sync,
            )

        try:
            if (settings.fsync != "always" or deferred_sync) and logger.wal.room_bytes > _INLINE_ROOM_BYTES:
                write()
            else:  # an fsync, or a wait for room: not on the event loop
                await asyncio.get_running_loop().run_in_executor(self._log_threads, write)
            if deferred_sync:
                self._sync_soon(logger)
        except LogFull as exc:
            self.metrics.decision_log_refused.inc()
            return Verdict(False, f"kubegate: {exc.message}", reason="decision_log_full", code=500, cacheable=False)
        except Exception as exc:  # a record that cannot be built or written: never answered unlogged
            if isinstance(exc, KubegateError):
                problem = f"{exc.code}: {exc.message}"
            elif isinstance(exc, OSError):
                problem = f"disk: {exc}"
            else:  # a value the record cannot hold: a bug, but the answer must still not go out unlogged
                problem = f"record: {type(exc).__name__}"
                _log.exception("cannot build the decision record")
            _log.error("cannot write the decision record: %s", problem)
            self.metrics.decision_log_refused.inc()
            return Verdict(False, f"kubegate: {problem}", reason="decision_log_error", code=500)
        return verdict

    def _sync_soon(self, logger: DecisionLogger) -> None:
        """fsyncs the log in a thread, without the answer waiting for it; one fsync
        at a time, which covers every record written before it (group commit)."""
        if self._syncing:
            self._sync_again = True
            return
        self._syncing = True

        def done(future: asyncio.Future[None]) -> None:
            self._syncing = False
            error = future.exception() if not future.cancelled() else None
            if error is not None:
                _log.error("cannot fsync the decision log: %s", error)
                self.metrics.decision_log_refused.inc()
            if self._sync_again:
                self._sync_again = False
                self._sync_soon(logger)

        future = asyncio.get_running_loop().run_in_executor(self._log_threads, logger.wal.sync)
        future.add_done_callback(done)

    def _invalid_input(self, error: InputError) -> _Answer:
        """Input that cannot be reviewed is denied whatever the failure mode: the failure
        mode is for kubegate being unable to decide, not for requests built to be undecidable."""
        self.metrics.rejected.labels("invalid_input").inc()
        message = f"kubegate: the request cannot be reviewed: {error.code}: {error.message}"
        return _Answer(Verdict(False, message, reason="invalid_input", code=400, cacheable=False), "", "", None)

    async def _answer(self, review: dict[str, Any], deadline: float) -> _Answer:
        """:meth:`_decide`, with every unforeseen error turned into a recorded denial."""
        try:
            return await self._decide(review, deadline)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # never an unrecorded answer, never failure mode allow for a bug
            _log.exception("unexpected error while deciding a request")
            self.metrics.rejected.labels("error").inc()
            message = f"kubegate: internal error: {type(exc).__name__}"
            return _Answer(Verdict(False, message, reason="internal_error", code=500, cacheable=False), "", "", None)

    async def _decide(self, review: dict[str, Any], deadline: float) -> _Answer:
        mode = self.settings.failure_mode
        rule = self.deny_list.match(review)
        if rule is not None:
            self.metrics.fast_rejects.labels(rule.name).inc()
            message = f"[deny-list:{rule.name}] {rule.message}"
            return _Answer(Verdict(False, message, reason="fast_reject", cacheable=False), "", "", None)
        snapshot = self.manager.snapshot  # one snapshot for the key and the evaluation
        if snapshot is None:
            self.metrics.rejected.labels("not_ready").inc()
            return _Answer(failure_verdict("not_ready", "no policy set is loaded yet", mode), "", "", None)
        version = snapshot.version
        key = cache_key(f"{version}|{snapshot.routing_key(review)}", review) if self.cache is not None else ""
        cached, tier = await self._cached(key, snapshot, review)
        if cached is not None:
            return _Answer(cached, tier, version, None, key)
        if not key:
            verdict, result = await self._evaluated(snapshot, review, deadline)
            return _Answer(verdict, "", version, result)
        leader = self._inflight.get(key)
        if leader is not None:  # the same request is being evaluated: wait for its answer
            try:
                async with asyncio.timeout_at(deadline):
                    verdict = await asyncio.shield(leader)
            except TimeoutError:
                verdict = self._timed_out()
            except asyncio.CancelledError:
                if not leader.cancelled():
                    raise  # this request itself was cancelled
                verdict, result = await self._evaluated(snapshot, review, deadline)  # the leader went away
                return _Answer(verdict, "miss", version, result, key)
            return _Answer(verdict, "coalesced", version, None, key)
        future: asyncio.Future[Verdict] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            verdict, result = await self._evaluated(snapshot, review, deadline)
            future.set_result(verdict)
        finally:
            del self._inflight[key]
            if not future.done():
                future.cancel()
        if verdict.cacheable:
            self._cache_put(key, verdict)
        return _Answer(verdict, "miss", version, result, key)

    async def _evaluated(
        self, snapshot: Snapshot, review: dict[str, Any], deadline: float, *, background: bool = False
    ) -> tuple[Verdict, ReviewResult | None]:
        """Evaluates on the pool until ``deadline`` (the event loop's time);
        every way of not deciding becomes a failure-mode verdict, input the backend
        cannot take a denial. ``background``: a cache refresh, answering no request,
        so its failures are not counted as answers (its outcome is)."""
        mode = self.settings.failure_mode
        prefetch = await self._prefetch(snapshot, review, background)
        if prefetch.verifications:  # evaluation keeps its own time limit after the verifications
            deadline = max(deadline, asyncio.get_running_loop().time() + self.settings.max_evaluation_time_ms / 1000)
        results = prefetch.results if self.images is not None else None
        try:
            routed = await self.pool.run_until(lambda: self._evaluate(snapshot, review, results), deadline)
        except PoolFull as exc:
            if not background:
                self.metrics.rejected.labels("queue_full").inc()
            return failure_verdict("queue_full", f"too many requests: {exc.message}", mode), None
        except EvaluationTimeout:
            return (failure_verdict("timeout", "refresh timed out", mode) if background else self._timed_out()), None
        except InputError as exc:
            if background:
                return failure_verdict("invalid_input", exc.code, mode), None
            return self._invalid_input(exc).verdict, None
        except KubegateError as exc:
            if not background:
                self.metrics.rejected.labels("error").inc()
            return failure_verdict("evaluation_error", f"{exc.code}: {exc.message}", mode), None
        except Exception as exc:  # never a 500 with a traceback: log it, answer per the failure mode
            _log.exception("unexpected error while evaluating a request")
            if not background:
                self.metrics.rejected.labels("error").inc()
            return failure_verdict("internal_error", f"internal error: {type(exc).__name__}", mode), None
        verdict = verdict_from_result(routed.result, mode)
        if prefetch.transient:
            verdict = _with_transient_images(verdict, prefetch, mode)
        if self.decision_log is not None:
            facts = facts_from_result(
                routed.result,
                allowed=verdict.allowed,
                reason=verdict.reason,
                rollout=dict(routed.arms),
                shadow=tuple(
                    {
                        "policy": c.policy,
                        "agree": c.agree,
                        "stableAllowed": c.stable.allowed if c.stable is not None else True,
                        "candidateAllowed": c.candidate.allowed,
                        "candidateVersion": c.candidate.version,
                    }
                    for c in routed.shadow
                ),
                message=verdict.message,
                warnings=verdict.warnings,
                images=tuple(prefetch.to_record()),
            )
            verdict = dataclasses.replace(verdict, facts=facts)
        return verdict, routed.result

    async def _prefetch(self, snapshot: Snapshot, review: dict[str, Any], background: bool) -> Prefetch:
        """The object's image verifications (none without ``images`` or a policy calling the builtin)."""
        if self.images is None or self._image_threads is None:
            return _NO_IMAGES
        names = self.images.names_for(snapshot.latest)
        obj = review.get("object") or review.get("oldObject")
        if not names or obj is None:
            return _NO_IMAGES
        prefetch = await self.images.prefetch_async(obj, names, self._image_threads)
        if not background:
            for v in prefetch.verifications:
                self._image_verifications.labels(v.reason).inc()
        return prefetch

    def _timed_out(self) -> Verdict:
        self.metrics.timeouts.inc()
        message = f"policy evaluation exceeded the time limit of {self.settings.max_evaluation_time_ms:g} ms"
        return failure_verdict("timeout", message, self.settings.failure_mode)

    def _cache_put(self, key: str, verdict: Verdict) -> None:
        if self.cache is not None:
            entry = self.cache.put(key, verdict)
            if self.shared is not None:  # the same (jittered) lifetime in both tiers
                self._spawn(self.shared.put(key, verdict, entry.ttl_s if entry else self.cache.draw_ttl()))

    async def _cached(self, key: str, snapshot: Snapshot, review: dict[str, Any]) -> tuple[Verdict | None, str]:
        """The cached verdict for ``key`` and its tier; a hit on a due entry schedules its refresh."""
        if self.cache is None:
            return None, ""
        entry = self.cache.lookup(key)
        tier = "memory"
        if entry is None and self.shared is not None:
            found = await self.shared.get_with_ttl(key)
            if found is not None:  # kept in memory for as long as Redis keeps it
                entry, tier = self.cache.put(key, *found), "redis"
                if entry is None:  # too large for memory
                    self.metrics.cache_lookup("redis")
                    return found[0], "redis"
        if entry is None:
            self.metrics.cache_lookup(None)
            return None, ""
        self.metrics.cache_lookup(tier)
        if self.refresher is not None and self.cache.due(entry) and key not in self._inflight:
            self.refresher.schedule(key, lambda: self._refresh(key, entry, snapshot, review))
        return entry.verdict, tier

    async def _refresh(self, key: str, entry: CacheEntry, snapshot: Snapshot, review: dict[str, Any]) -> RefreshOutcome:
        """Evaluates a due entry again in the background (see :mod:`kubegate.webhook.refresh`):
        on the pool, with a deadline of its own from when its turn comes; identical
        requests that miss meanwhile wait for it. A fresher entry in Redis is taken
        instead of evaluating; a failed refresh leaves ``entry`` in place until its TTL."""
        assert self.cache is not None
        if self.manager.snapshot is not snapshot or self.cache.lookup(key) is not entry or key in self._inflight:
            return "superseded"
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Verdict] = loop.create_future()
        self._inflight[key] = future
        try:
            if self.shared is not None:
                found = await self.shared.get_with_ttl(key)
                if found is not None and found[1] is not None and self.cache.fresh_for(found[1]):
                    self.cache.put(key, *found)
                    future.set_result(found[0])
                    return "shared"
            deadline = loop.time() + self.settings.max_evaluation_time_ms / 1000
            verdict, _ = await self._evaluated(snapshot, review, deadline, background=True)
            if verdict.cacheable:
                future.set_result(verdict)
        finally:
            del self._inflight[key]
            if not future.done():  # failed: requests waiting for it evaluate themselves
                future.cancel()
        if not verdict.cacheable:
            self.cache.postpone(key, entry, self.cache.refresh_window * self.cache.ttl_s / 4)
            return "failed"
        self._cache_put(key, verdict)
        return "ok"

    def _evaluate(self, snapshot: Snapshot, review: dict[str, Any], images: ImageResults | None = None) -> RoutedReview:
        """Runs on a pool thread (``images``: what ``kubegate.image.verify`` answers)."""
        with use_image_results(images):
            routed = snapshot.review(review)
        result = routed.result
        self.manager.hooks.dispatch(result)
        for policy, arm in routed.arms.items():
            self.metrics.canary_decisions.labels(policy, arm).inc()
        for comparison in routed.shadow:
            self.metrics.shadow_evaluations.labels(comparison.policy).inc()
            if not comparison.agree:
                self.metrics.shadow_disagreements.labels(comparison.policy).inc()
                log_shadow(review, comparison)
        for decision in result.decisions:
            self.metrics.policy_duration.labels(decision.policy).observe(decision.duration_ms / 1000)
            if decision.error is not None:
                self.metrics.policy_errors.labels(decision.policy).inc()
            for violation in decision.violations:
                self.metrics.violations.labels(decision.policy, violation.enforcement).inc()
        return routed

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def close(self) -> None:
        """Waits for pending cache writes, closes Redis, stops the pool, then
        ships what the decision log holds (best effort) and closes it, and
        flushes the traces. Pending cache refreshes are cancelled."""
        if self.refresher is not None:
            await self.refresher.close()
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        if self.shared is not None:
            await self.shared.close()
        self.pool.shutdown()
        if self._image_threads is not None:
            self._image_threads.shutdown(wait=False, cancel_futures=True)
        if self.images is not None:
            self.images.verifier.close()
        if self._log_threads is not None:
            self._log_threads.shutdown(wait=True)
        if self._log_closer is not None:
            await asyncio.to_thread(self._log_closer.close)
        if self.tracing is not None:
            await asyncio.to_thread(self.tracing.shutdown)


_NO_IMAGES = Prefetch((), ImageResults())


def _with_transient_images(verdict: Verdict, prefetch: Prefetch, mode: FailureMode) -> Verdict:
    """A verdict for which some images could not be verified (time limit, registry down):
    never cached; under failure mode ``allow`` it warns for each of them (the library
    policy did not deny them), under ``deny`` the policies' denials already name them."""
    changes: dict[str, Any] = {"cacheable": False}
    if mode == "allow":
        changes["warnings"] = (
            *verdict.warnings,
            *(
                f"[image-verification] {v.image}: not verified: {v.reason} (admitted: failure mode allow)"
                for v in prefetch.transient
            ),
        )
    return dataclasses.replace(verdict, **changes)
