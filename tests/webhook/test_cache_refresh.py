"""Refresh-ahead of the decision cache: the refresher alone, the decision path on a manual
clock (real policy manager, pool and compiled evaluator, real redis-server), and a real
`kubegate serve` kept answering from the cache across several TTLs."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest

from kubegate.engine.backends import DEFAULT_BACKEND, make_backend
from kubegate.engine.inputs import build_review
from kubegate.lifecycle.builder import PolicySetBuilder
from kubegate.lifecycle.manager import PolicyManager
from kubegate.webhook.admission import parse_admission_review
from kubegate.webhook.cache import DecisionCache, cache_key
from kubegate.webhook.certs import CertificateFiles
from kubegate.webhook.metrics import WebhookMetrics
from kubegate.webhook.refresh import Refresher, RefreshOutcome
from kubegate.webhook.service import AdmissionService, WebhookSettings
from kubegate.webhook.verdict import Verdict
from tests.conftest import RedisServer
from tests.webhook.conftest import POLICIES, admission_review, metric_value, obj, start_webhook
from tests.webhook.test_cache import ManualClock

POLICY = """# METADATA
# custom:
#   id: refresh-test
package refreshtest

import rego.v1

deny contains "team x is refused ({marker})" if {{
	input.review.object.metadata.labels.team == "x"
}}
"""


def policy_files(marker: str) -> dict[str, str]:
    return {"refresh.rego": POLICY.format(marker=marker)}


def pod(name: str = "web") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "shop", "labels": {"team": "x"}}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": {"containers": [{"name": "c", "image": "i"}]}}


async def until(ready: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
    """Yields to the event loop until ``ready()`` (fails after ``timeout_s`` seconds)."""
    deadline = time.monotonic() + timeout_s
    while not ready():
        assert time.monotonic() < deadline, f"{what} never happened"
        await asyncio.sleep(0.001)


class Decider:
    """An in-process AdmissionService on a manual clock, with helpers to drive it."""

    def __init__(self, clock: ManualClock, redis_url: str | None = None, **settings: Any) -> None:
        self.clock = clock
        self.manager = PolicyManager(PolicySetBuilder(make_backend(DEFAULT_BACKEND), builtin=False))
        outcome = self.manager.apply(policy_files("v1"), "test")
        assert outcome.result == "applied", outcome
        chosen = WebhookSettings(
            **{"workers": 1, "max_evaluation_time_ms": 10_000.0, "redis_url": redis_url, **settings}
        )
        cache = DecisionCache(
            chosen.cache_entries, chosen.cache_ttl_s, refresh_window=chosen.cache_refresh_window, jitter=0, clock=clock
        )
        self.metrics = WebhookMetrics()
        self.service = AdmissionService(chosen, self.metrics, self.manager, cache=cache)

    async def decide(self, obj: dict[str, Any]) -> Verdict:
        return await self.service.decide(parse_admission_review(json.dumps(admission_review(obj)).encode()))

    def key(self, obj: dict[str, Any]) -> str:
        """The cache key the service uses for ``obj`` (its public recipe)."""
        snapshot = self.manager.snapshot
        assert snapshot is not None
        review = build_review(admission_review(obj)["request"], shape="admission_request", max_depth=None)
        return cache_key(f"{snapshot.version}|{snapshot.routing_key(review)}", review)

    def misses(self) -> float:
        return self.metrics.registry.get_sample_value("kubegate_decision_cache_misses_total") or 0.0

    @contextlib.asynccontextmanager
    async def holding_the_worker(self) -> AsyncIterator[None]:
        """Keeps the pool's only worker busy (a job waiting on an event) inside the block."""
        gate = threading.Event()
        job = asyncio.create_task(self.service.pool.run(lambda: gate.wait(30), 60))
        await until(lambda: self.service.pool.unfinished > 0, "the holding job reaching the pool")
        try:
            yield
        finally:
            gate.set()
            assert await job

    def evaluations(self) -> float:
        """How many times the test policy was evaluated (the real per-policy histogram)."""
        value = self.metrics.registry.get_sample_value(
            "kubegate_policy_evaluation_duration_seconds_count", {"policy": "refresh-test"}
        )
        return value or 0.0

    def refreshes(self, outcome: RefreshOutcome) -> float:
        value = self.metrics.registry.get_sample_value("kubegate_decision_cache_refreshes_total", {"outcome": outcome})
        return value or 0.0

    async def settle(self) -> None:
        """Waits (up to 30 s) until no refresh is pending."""
        refresher = self.service.refresher
        assert refresher is not None
        await until(lambda: refresher.pending == 0, "the end of the pending refreshes", 30)


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(scenario())


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


# ---- the refresher alone


def test_refresher_runs_one_refresh_per_key_and_counts_outcomes() -> None:
    async def scenario() -> None:
        outcomes: list[str] = []
        refresher = Refresher(concurrency=1, max_pending=3, on_outcome=outcomes.append)
        release = asyncio.Event()
        started: list[str] = []

        def work(name: str, outcome: RefreshOutcome) -> Callable[[], Awaitable[RefreshOutcome]]:
            async def refresh() -> RefreshOutcome:
                started.append(name)
                await release.wait()
                return outcome

            return refresh

        assert refresher.schedule("a", work("a", "ok"))
        assert not refresher.schedule("a", work("a-again", "ok")), "single flight per key"
        assert refresher.schedule("b", work("b", "failed"))
        assert refresher.schedule("c", work("c", "ok"))
        assert not refresher.schedule("d", work("d", "ok")), "max_pending reached"
        assert outcomes == ["skipped"] and refresher.pending == 3 and refresher.refreshing("a")
        await asyncio.sleep(0.01)
        assert started == ["a"], "one at a time (concurrency 1)"
        release.set()
        await until(lambda: refresher.pending == 0, "the end of the refreshes")
        assert started == ["a", "b", "c"]
        assert sorted(outcomes) == ["failed", "ok", "ok", "skipped"]
        assert refresher.schedule("a", work("a", "ok")), "a key can be refreshed again once its refresh ended"
        await refresher.close()

    run(scenario)


def test_a_refresh_that_raises_counts_as_failed_and_close_cancels_pending_ones() -> None:
    async def scenario() -> None:
        outcomes: list[str] = []
        refresher = Refresher(concurrency=1, on_outcome=outcomes.append)

        async def broken() -> RefreshOutcome:
            raise RuntimeError("bug")

        never = asyncio.Event()

        async def forever() -> RefreshOutcome:
            await never.wait()
            return "ok"

        refresher.schedule("broken", broken)
        await until(lambda: refresher.pending == 0, "the end of the refreshes")
        assert outcomes == ["failed"]
        refresher.schedule("x", forever)
        refresher.schedule("y", forever)
        await asyncio.sleep(0.01)
        await refresher.close()
        assert refresher.pending == 0 and outcomes == ["failed"], "cancelled refreshes have no outcome"

    with pytest.raises(ValueError):
        Refresher(concurrency=0)
    run(scenario)


# ---- the decision path on a manual clock


def test_a_due_hit_is_served_and_refreshed_once_so_the_entry_never_expires(clock: ManualClock) -> None:
    async def scenario() -> None:
        d = Decider(clock, cache_ttl_s=10.0, cache_refresh_window=0.2)
        try:
            first = await d.decide(pod())
            assert not first.allowed and "(v1)" in first.message and d.evaluations() == 1
            clock.now += 7.9
            await d.decide(pod())
            await d.settle()
            assert d.evaluations() == 1 and d.refreshes("ok") == 0, "not due yet: a plain hit"
            clock.now += 0.2  # 8.1 s: in the last 20 %
            answers = await asyncio.gather(*(d.decide(pod()) for _ in range(20)))
            assert all(a == first for a in answers), "the cached answer is served while it is refreshed"
            await d.settle()
            assert d.refreshes("ok") == 1 and d.evaluations() == 2, "twenty due hits, one refresh"
            clock.now += 2.5  # 10.6 s: past the first entry's TTL, inside the refreshed one's
            assert await d.decide(pod()) == first
            await d.settle()
            assert d.evaluations() == 2
            hits = d.metrics.registry.get_sample_value("kubegate_decision_cache_hits_total", {"tier": "memory"})
            assert hits == 22 and d.metrics.registry.get_sample_value("kubegate_decision_cache_misses_total") == 1
        finally:
            await d.service.close()

    run(scenario)


def test_without_a_refresh_window_the_entry_expires_and_the_next_request_evaluates(clock: ManualClock) -> None:
    async def scenario() -> None:
        d = Decider(clock, cache_ttl_s=10.0, cache_refresh_window=0.0)
        try:
            await d.decide(pod())
            clock.now += 9.9
            await d.decide(pod())
            assert d.evaluations() == 1 and d.service.refresher is None
            clock.now += 0.2
            await d.decide(pod())
            assert d.evaluations() == 2, "expired: evaluated on the request path"
        finally:
            await d.service.close()

    run(scenario)


def test_a_failed_refresh_keeps_the_old_entry_until_its_ttl_and_retries_later(clock: ManualClock) -> None:
    """The refresh meets a full pool: its one worker held, no queue."""

    async def scenario() -> None:
        d = Decider(clock, cache_ttl_s=10.0, cache_refresh_window=0.2, queue_size=0)
        try:
            first = await d.decide(pod())
            clock.now += 8.5
            async with d.holding_the_worker():
                assert await d.decide(pod()) == first
                await d.settle()
            assert d.refreshes("failed") == 1 and d.refreshes("ok") == 0
            rejected = d.metrics.registry.get_sample_value(
                "kubegate_admission_rejected_total", {"reason": "queue_full"}
            )
            assert not rejected, "a background refresh is no rejected request"
            clock.now += 0.25  # 8.75 s: the retry is postponed by a quarter of the window (0.5 s)
            assert await d.decide(pod()) == first
            assert d.service.refresher is not None and d.service.refresher.pending == 0
            clock.now += 0.3  # 9.05 s: due again, and the worker is free
            assert await d.decide(pod()) == first
            await d.settle()
            assert d.refreshes("ok") == 1 and d.evaluations() == 2
        finally:
            await d.service.close()

    run(scenario)


def test_a_timed_out_refresh_never_serves_past_the_ttl_nor_counts_as_a_timeout(clock: ManualClock) -> None:
    """The refresh waits in the queue behind a held worker until its own deadline (1 s) passes."""

    async def scenario() -> None:
        d = Decider(clock, cache_ttl_s=10.0, cache_refresh_window=0.2, queue_size=1, max_evaluation_time_ms=1000.0)
        try:
            await d.decide(pod())
            clock.now += 9.9
            async with d.holding_the_worker():
                await d.decide(pod())
                await d.settle()
            assert d.refreshes("failed") == 1
            assert not d.metrics.registry.get_sample_value("kubegate_admission_timeouts_total")
            clock.now += 0.1  # 10 s: the entry's own TTL
            await d.decide(pod())
            assert d.evaluations() == 2 and d.misses() == 2, "expired: a miss, evaluated on the request path"
        finally:
            await d.service.close()

    run(scenario)


def test_a_new_policy_set_supersedes_pending_refreshes_and_misses(clock: ManualClock) -> None:
    async def scenario() -> None:
        d = Decider(clock, cache_ttl_s=10.0, cache_refresh_window=0.2)
        try:
            assert "(v1)" in (await d.decide(pod())).message
            clock.now += 8.5
            await d.decide(pod())  # schedules a refresh, which has not run yet
            assert d.manager.apply(policy_files("v2"), "test").result == "applied"
            await d.settle()
            assert d.refreshes("superseded") == 1 and d.refreshes("ok") == 0
            after = await d.decide(pod())
            assert "(v2)" in after.message, "the new policy set's keys are new: evaluated"
            assert d.evaluations() == 2
        finally:
            await d.service.close()

    run(scenario)


def test_a_request_missing_while_its_refresh_runs_waits_for_the_refresh(clock: ManualClock) -> None:
    """The refresh is queued behind a held worker when its entry expires: the next
    identical request waits for the refresh instead of evaluating again."""

    async def scenario() -> None:
        d = Decider(clock, cache_ttl_s=10.0, cache_refresh_window=0.2)
        try:
            first = await d.decide(pod())
            clock.now += 8.5
            async with d.holding_the_worker():
                assert await d.decide(pod()) == first  # schedules the refresh
                await until(lambda: d.service.pool.unfinished == 2, "the refresh queued in the pool")
                clock.now += 2  # 10.5 s: the entry is gone
                waiting = asyncio.create_task(d.decide(pod()))
                await until(lambda: d.misses() == 2, "the second request missing")
                assert not waiting.done()
            assert await waiting == first
            await d.settle()
            assert d.evaluations() == 2 and d.refreshes("ok") == 1
        finally:
            await d.service.close()

    run(scenario)


def test_replicas_share_refreshes_through_redis(redis_server: RedisServer) -> None:
    """Two services on one real redis-server (real Redis TTLs, 3 s; manual memory clocks):
    a due entry is replaced by the fresher shared one instead of evaluated, and evaluated
    when the shared one is due too."""

    async def scenario() -> None:
        a_clock, b_clock = ManualClock(), ManualClock()
        a = Decider(a_clock, redis_server.url, cache_ttl_s=3.0, cache_refresh_window=0.5)
        b = Decider(b_clock, redis_server.url, cache_ttl_s=3.0, cache_refresh_window=0.5)
        name = f"shared-{time.time_ns()}"
        try:
            first = await a.decide(pod(name))
            shared = b.service.shared
            assert shared is not None
            deadline = time.monotonic() + 10
            while await shared.get(b.key(pod(name))) is None:  # A writes to Redis after answering
                assert time.monotonic() < deadline, "A's decision never reached Redis"
                await asyncio.sleep(0.01)
            assert await b.decide(pod(name)) == first
            assert b.evaluations() == 0, "B took A's decision from Redis"
            b_clock.now += 1.6  # due in B's memory; the shared entry has ~3 s left
            await b.decide(pod(name))
            await b.settle()
            assert b.refreshes("shared") == 1 and b.evaluations() == 0
            await asyncio.sleep(1.6)  # the shared entry is in its window too now (< 1.5 s left)
            b_clock.now += 1.5
            await b.decide(pod(name))
            await b.settle()
            assert b.refreshes("ok") == 1 and b.evaluations() == 1
        finally:
            await a.service.close()
            await b.service.close()

    run(scenario)


# ---- a real server


@pytest.fixture
def refreshing_webhook(tmp_path: Path, certs: CertificateFiles) -> Iterator[Any]:
    args = ("--no-builtin", "-p", str(POLICIES / "main"), "--cache-ttl", "3", "--cache-refresh-window", "0.8")
    hook = start_webhook(tmp_path, certs, *args, "--cache-ttl-jitter", "0", "--max-evaluation-time", "5000")
    yield hook
    hook.stop()


def test_served_from_the_cache_across_several_ttls(refreshing_webhook: Any) -> None:
    """3 s TTL, due after 0.6 s: one request every 0.2 s for 6.5 s (two TTLs and more) is one
    miss, then hits only (without refresh-ahead: a miss every 3 s)."""
    hook = refreshing_webhook
    text = hook.metrics()
    for outcome in ("ok", "shared", "failed", "skipped", "superseded"):
        assert f'kubegate_decision_cache_refreshes_total{{outcome="{outcome}"}} 0.0' in text
    pod_obj = obj("pod-no-owner")
    pod_obj["metadata"]["name"] = "refreshed-all-along"
    uids = []
    with hook.client() as client:
        end = time.monotonic() + 6.5
        while time.monotonic() < end:
            doc = admission_review(pod_obj)
            assert hook.review(doc, client)["allowed"] is False
            uids.append(doc["request"]["uid"])
            time.sleep(0.2)
    entries = {e["uid"]: e for e in (json.loads(x) for x in hook.logs() if '"uid"' in x)}
    tiers = [entries[u]["cache"] for u in uids]
    assert tiers[0] == "miss" and set(tiers[1:]) == {"memory"}, tiers
    text = hook.metrics()
    assert metric_value(text, "kubegate_decision_cache_refreshes_total", 'outcome="ok"') >= 2
    assert metric_value(text, "kubegate_decision_cache_refreshes_total", 'outcome="failed"') == 0
    assert "kubegate_decision_cache_refreshes_pending " in text
