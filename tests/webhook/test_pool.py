"""The bounded evaluation pool: limits, time-outs, stuck workers."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from kubegate.webhook.pool import EvaluationPool, EvaluationTimeout, PoolFull


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
