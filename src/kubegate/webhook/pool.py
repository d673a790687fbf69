"""A bounded pool of evaluation threads, awaited from the event loop with a time limit.

Why threads: they share one prepared policy set, one decision cache and one
swap point for hot reload, at a tenth of the dispatch cost of processes
(docs/performance.md, "worker pool"). regopy calls rego-cpp through ctypes,
which releases the GIL, so its evaluations run in parallel; the compiled
backend (kubegate's own evaluator) holds the GIL while it works and gives it
away every few hundred steps (``Context.tick``).

Time-outs: the caller gets :class:`EvaluationTimeout` when the time limit
passes and answers per the failure mode. The compiled backend also stops
the evaluation itself, :data:`CANCEL_GRACE_S` later (the thread's deadline,
:func:`~kubegate.engine.backend.set_thread_deadline`), which frees the
worker; a rego-cpp evaluation cannot be interrupted and keeps its worker
until it ends. The pool counts capacity until the work really finishes
(backpressure stays honest), reports at once the workers still busy past
their time limit (:meth:`EvaluationPool.overdue`: ``/healthz`` and the
``kubegate_workers_overdue`` gauge) and those busy for too long
(:meth:`EvaluationPool.stuck`), which ``/healthz`` turns into a failing
liveness probe so the kubelet restarts a webhook wedged by a runaway policy.

Beside evaluations that hold the GIL, the event loop runs only when they let
it, and an evaluation can keep the GIL for a whole C call (building
``numbers.range(1, 3000000)``: 100-150 ms on the reference machine). So that
such stalls do not add up (measured with the hostile policy of
tests/webhook/test_hostile_policies.py and a 300 ms limit: answers up to
400 ms one at a time and 1.8 s twenty at once):

* the limit is one deadline on the event loop's clock, fixed when the
  request arrives (:meth:`EvaluationPool.run_until`): a time-out computed
  again later, then armed, lost every stall in between (handing work to a
  worker hands it the GIL, so a stall came right before the timer was
  armed, and the answer came that much late);
* the threads are started with the pool, not by ``submit`` on the event
  loop (which then waited for the new thread to get the GIL);
* a worker does not start work whose deadline passed while it was queued:
  a loop kept from the GIL may not have cancelled it yet, and each such
  start cost another long hold of the GIL, which delayed the next answers.

What no pool can do is interrupt a single C call: an answer due during one
leaves when it ends (the garbage collector's walks are such calls too, see
:func:`kubegate.webhook.server.settle_heap`).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from kubegate.engine.backend import set_thread_deadline
from kubegate.errors import EvaluationError, KubegateError

__all__ = ["CANCEL_GRACE_S", "EvaluationPool", "EvaluationTimeout", "PoolFull", "default_workers"]

T = TypeVar("T")

#: Seconds after the time limit at which a backend that can stop (the compiled
#: evaluator) ends the evaluation with ``eval_cancel_error``: the caller is
#: answered first, by the failure mode, then the worker is freed.
CANCEL_GRACE_S = 0.05


def default_workers(backend: str) -> int:
    """Evaluation threads when ``--workers`` is not given, chosen by measurement
    (docs/performance.md, "Threads or processes"): the compiled evaluator holds
    the GIL, and a second thread only adds switching (built-ins + 20
    constraints, uncached: 344 requests/s with one thread, 211 with two);
    rego-cpp releases the GIL, so regopy gets two."""
    return 1 if backend == "compiled" else 2


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
        # Every thread now: ThreadPoolExecutor starts them one per submit() that
        # finds none idle, on the event loop, which then waits for the new thread
        # to run. Each of these waits holds one thread until all are started.
        started = threading.Barrier(workers + 1)
        for _ in range(workers):
            self._executor.submit(started.wait, 10)
        started.wait(10)

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
        (its caller was already answered; the worker is lost until the evaluation
        ends: a compiled one stops :data:`CANCEL_GRACE_S` after the limit)."""
        now = time.monotonic()
        with self._lock:
            return sum(1 for _, deadline in self._started.values() if now > deadline)

    async def run(self, fn: Callable[[], T], timeout_s: float) -> T:
        """:meth:`run_until` ``timeout_s`` seconds from now."""
        return await self.run_until(fn, asyncio.get_running_loop().time() + timeout_s)

    async def run_until(self, fn: Callable[[], T], deadline: float) -> T:
        """Runs ``fn`` on a worker and returns its result.

        Args:
            fn: the blocking work.
            deadline: when to give up, queueing included, on the event loop's
                clock (``loop.time()``): absolute, so that the GIL taken from
                the loop on the way here cannot move it.

        Raises:
            PoolFull: no capacity left; ``fn`` was not started.
            EvaluationTimeout: ``deadline`` passed (or had passed: ``fn`` is
                then not started); ``fn`` is not started if it had not
                started yet, else it finishes in the background (a compiled
                evaluation stops :data:`CANCEL_GRACE_S` later).
            Exception: whatever ``fn`` raised.
        """
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            raise EvaluationTimeout("no time was left for the evaluation")
        # The workers' clock; losing the GIL here moves only this one, and only later.
        thread_deadline = time.monotonic() + left
        with self._lock:
            if self._unfinished >= self.capacity:
                raise PoolFull(
                    f"all {self.workers} workers are busy and the queue of {self.capacity - self.workers} is full"
                )
            self._unfinished += 1
        try:
            future: Future[T] = self._executor.submit(self._timed, fn, thread_deadline)
        except BaseException:
            self._release(None)
            raise
        future.add_done_callback(self._release)
        try:
            async with asyncio.timeout_at(deadline):
                return await asyncio.wrap_future(future)
        except TimeoutError:
            raise EvaluationTimeout(f"evaluation took longer than {left * 1000:.0f} ms") from None

    def _timed(self, fn: Callable[[], T], deadline: float) -> T:
        if time.monotonic() >= deadline:  # its caller is (being) answered already
            raise EvaluationTimeout("the time limit passed while the evaluation was queued")
        ident = threading.get_ident()
        with self._lock:
            self._started[ident] = (time.monotonic(), deadline)
        set_thread_deadline(deadline + CANCEL_GRACE_S)
        try:
            return fn()
        except EvaluationError as exc:
            if exc.code == "eval_cancel_error":
                raise EvaluationTimeout("the evaluation was stopped at its deadline") from None
            raise
        finally:
            set_thread_deadline(0.0)
            with self._lock:
                self._started.pop(ident, None)

    def _release(self, _: object) -> None:
        with self._lock:
            self._unfinished -= 1

    def shutdown(self) -> None:
        """Stops accepting work; running evaluations finish in the background."""
        self._executor.shutdown(wait=False, cancel_futures=True)
