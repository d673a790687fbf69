"""The bounded evaluation pool: limits, time-outs, stuck workers, evaluations that stop."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import Future
from typing import Any

import pytest

from kubegate import Engine, RegoFile
from kubegate.engine.backend import thread_deadline
from kubegate.webhook.pool import CANCEL_GRACE_S, EvaluationPool, EvaluationTimeout, PoolFull


def test_runs_work_and_bounds_capacity() -> None:
    pool = EvaluationPool(workers=1, queue_size=1)
    release = threading.Event()

    async def scenario() -> None:
        busy = asyncio.ensure_future(pool.run(lambda: release.wait(5) and "first", timeout_s=5))
        queued = asyncio.ensure_future(pool.run(lambda: "second", timeout_s=5))
        await asyncio.sleep(0.05)
        assert pool.unfinished == 2
        with pytest.raises(PoolFull):
            await pool.run(lambda: "third", timeout_s=5)
        release.set()
        assert await busy == "first" and await queued == "second"
        assert pool.unfinished == 0

    asyncio.run(scenario())
    pool.shutdown()


def test_timeout_answers_at_once_and_the_work_keeps_its_slot() -> None:
    pool = EvaluationPool(workers=1, queue_size=0)

    async def scenario() -> None:
        start = time.perf_counter()
        with pytest.raises(EvaluationTimeout):
            await pool.run(lambda: time.sleep(0.4), timeout_s=0.05)
        assert time.perf_counter() - start < 0.3
        assert pool.unfinished == 1 and pool.stuck(0.01) == 1
        assert pool.overdue() == 1  # past its time limit now, not only after stuck_after_s
        with pytest.raises(PoolFull):
            await pool.run(lambda: None, timeout_s=1)
        await asyncio.sleep(0.5)
        assert pool.unfinished == 0 and pool.stuck(0.01) == 0 and pool.overdue() == 0
        assert await pool.run(lambda: 42, timeout_s=1) == 42
        with pytest.raises(EvaluationTimeout):  # no time left: the work is not even started
            await pool.run(lambda: time.sleep(5), timeout_s=0)
        assert pool.unfinished == 0

    asyncio.run(scenario())
    pool.shutdown()


def test_errors_propagate() -> None:
    pool = EvaluationPool(workers=1, queue_size=0)

    def fail() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        asyncio.run(pool.run(fail, timeout_s=1))
    assert pool.unfinished == 0
    pool.shutdown()
    with pytest.raises(ValueError):
        EvaluationPool(workers=0, queue_size=0)


def test_the_threads_are_started_with_the_pool() -> None:
    pool = EvaluationPool(workers=3, queue_size=0)
    threads = pool._executor._threads  # not one by one in submit(), on the event loop
    assert len(threads) == 3 and all(t.is_alive() for t in threads)
    pool.shutdown()


def test_the_time_limit_runs_from_the_call_when_handing_the_work_over_is_slow(monkeypatch: pytest.MonkeyPatch) -> None:
    pool = EvaluationPool(workers=1, queue_size=0)
    submit = pool._executor.submit

    def slow_submit(fn: Any, /, *args: Any) -> Future[Any]:
        future = submit(fn, *args)
        time.sleep(0.3)  # as when the worker takes the GIL for a long C call at once
        return future

    monkeypatch.setattr(pool._executor, "submit", slow_submit)

    async def scenario() -> None:
        start = time.perf_counter()
        with pytest.raises(EvaluationTimeout):
            await pool.run(lambda: time.sleep(1), timeout_s=0.2)
        assert time.perf_counter() - start < 0.45  # at the limit, not 0.2 s after submit() returned

    asyncio.run(scenario())
    pool.shutdown()


def test_work_whose_time_passed_in_the_queue_is_not_started() -> None:
    pool = EvaluationPool(workers=1, queue_size=1)
    release = threading.Event()
    ran: list[int] = []

    async def scenario() -> None:
        busy = asyncio.ensure_future(pool.run(lambda: release.wait(5), timeout_s=5))
        queued = asyncio.ensure_future(pool.run(lambda: ran.append(1), timeout_s=0.05))
        await asyncio.sleep(0.01)
        assert pool.unfinished == 2
        threading.Timer(0.1, release.set).start()
        # The event loop kept from running past the queued work's deadline (as beside an
        # evaluation holding the GIL), so it cannot cancel it before the worker is free.
        time.sleep(0.3)
        with pytest.raises(EvaluationTimeout):
            await queued
        assert await busy is True
        assert ran == [] and pool.unfinished == 0

    asyncio.run(scenario())
    pool.shutdown()


def test_a_backend_that_can_stop_is_stopped_after_the_limit_and_frees_its_worker() -> None:
    pool = EvaluationPool(workers=1, queue_size=0)
    seen: list[float] = []

    def runaway() -> None:
        seen.append(thread_deadline())
        engine.review({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}})

    rule = "count([x | some i in numbers.range(1, 3000); some j in numbers.range(1, 3000); x := i * j]) < 0"
    engine = Engine(objects=[RegoFile("r.rego", f"package r\nimport rego.v1\ndeny contains 1 if {{ {rule} }}\n")])

    async def scenario() -> None:
        start = time.monotonic()
        with pytest.raises(EvaluationTimeout):
            await pool.run(runaway, timeout_s=0.2)
        assert seen and abs(seen[0] - (start + 0.2 + CANCEL_GRACE_S)) < 0.05
        while pool.unfinished:  # the compiled evaluator stops at its thread's deadline
            assert time.monotonic() - start < 1.0, "the evaluation was not stopped"
            await asyncio.sleep(0.01)
        assert pool.overdue() == 0 and pool.stuck(0) == 0
        assert thread_deadline() == 0.0  # the loop's own thread has none
        assert await pool.run(lambda: thread_deadline(), timeout_s=1) > time.monotonic()

    asyncio.run(scenario())
    pool.shutdown()


def test_default_workers_follow_the_backend() -> None:
    from kubegate.webhook.pool import default_workers

    assert default_workers("compiled") == 1  # holds the GIL: a second thread only adds switching
    assert default_workers("regopy") == 2  # rego-cpp releases the GIL
