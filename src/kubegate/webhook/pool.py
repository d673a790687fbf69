"""A bounded pool of evaluation threads, awaited from the event loop with a time limit.

Why threads: regopy calls rego-cpp through ctypes, which releases the GIL, so
evaluation threads run in parallel; measured on the 2-core reference machine
threads scale as well as processes (docs/performance.md, "worker pool") with
a tenth of the dispatch cost, and share one prepared policy set, one decision
cache and one swap point for hot reload.

The price: a thread cannot be interrupted. When the time limit passes the
caller gets :class:`EvaluationTimeout` at once and answers per the failure
mode, but the evaluation runs on and keeps its place in the pool until it
ends. The pool therefore counts capacity until the work really finishes
(backpressure stays honest), reports at once the workers still busy past
their time limit (:meth:`EvaluationPool.overdue`: ``/healthz`` and the
``kubegate_workers_overdue`` gauge) and those busy for too long
(:meth:`EvaluationPool.stuck`), which ``/healthz`` turns into a failing
liveness probe so the kubelet restarts a webhook wedged by a runaway policy.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from kubegate.errors import KubegateError

__all__ = ["EvaluationPool", "EvaluationTimeout", "PoolFull"]

T = TypeVar("T")


class PoolFull(KubegateError):
    """Every worker is busy and the queue is full."""

    code = "queue_full"


class EvaluationTimeout(KubegateError):
    """The time limit passed before the evaluation finished."""

    code = "evaluation_timeout"


class EvaluationPool:
    """Runs blocking evaluations off the event loop.

    Args:
        workers: evaluation threads (>= 1).
        queue_size: evaluations that may wait for a thread (>= 0); beyond
            ``workers + queue_size`` unfinished evaluations, :meth:`run`
            refuses at once with :class:`PoolFull`.
    """

    def __init__(self, workers: int, queue_size: int) -> None:
        if workers < 1 or queue_size < 0:
            raise ValueError("workers must be >= 1 and queue_size >= 0")
        self.workers = workers
        self.capacity = workers + queue_size
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="kubegate-review")
        self._lock = threading.Lock()
        self._unfinished = 0
        self._started: dict[int, tuple[float, float]] = {}  # thread -> (start, deadline), monotonic s

    @property
    def unfinished(self) -> int:
        """Evaluations queued or running (timed-out ones included until they end)."""
        with self._lock:
            return self._unfinished

    def stuck(self, older_than_s: float) -> int:
        """How many workers have been on one evaluation for more than ``older_than_s`` seconds."""
        now = time.monotonic()
        with self._lock:
            return sum(1 for started, _ in self._started.values() if now - started > older_than_s)

    def overdue(self) -> int:
        """How many workers are still on an evaluation whose time limit has passed
        (its caller was already answered; the worker is lost until it ends)."""
        now = time.monotonic()
        with self._lock:
            return sum(1 for _, deadline in self._started.values() if now > deadline)

    async def run(self, fn: Callable[[], T], timeout_s: float) -> T:
        """Runs ``fn`` on a worker and returns its result.

        Args:
            fn: the blocking work.
            timeout_s: seconds from now, queueing included.

        Raises:
            PoolFull: no capacity left; ``fn`` was not started.
            EvaluationTimeout: ``timeout_s`` passed (or is not positive: ``fn``
                is then not started); ``fn`` is cancelled if it had not
                started, else it finishes in the background.
            Exception: whatever ``fn`` raised.
        """
        if timeout_s <= 0:
            raise EvaluationTimeout("no time was left for the evaluation")
        deadline = time.monotonic() + timeout_s
        with self._lock:
            if self._unfinished >= self.capacity:
                raise PoolFull(
                    f"all {self.workers} workers are busy and the queue of {self.capacity - self.workers} is full"
                )
            self._unfinished += 1
        try:
            future: Future[T] = self._executor.submit(self._timed, fn, deadline)
        except BaseException:
            self._release(None)
            raise
        future.add_done_callback(self._release)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), timeout_s)
        except TimeoutError:
            raise EvaluationTimeout(f"evaluation took longer than {timeout_s * 1000:.0f} ms") from None

    def _timed(self, fn: Callable[[], T], deadline: float) -> T:
        ident = threading.get_ident()
        with self._lock:
            self._started[ident] = (time.monotonic(), deadline)
        try:
            return fn()
        finally:
            with self._lock:
                self._started.pop(ident, None)

    def _release(self, _: object) -> None:
        with self._lock:
            self._unfinished -= 1

    def shutdown(self) -> None:
        """Stops accepting work; running evaluations finish in the background."""
        self._executor.shutdown(wait=False, cancel_futures=True)
