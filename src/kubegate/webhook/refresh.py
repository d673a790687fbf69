"""Refresh-ahead of decision-cache entries: background re-evaluations, one per key at a time.

A cache entry in its refresh window (:meth:`kubegate.webhook.cache.DecisionCache.due`)
is still served; the hit that finds it due asks the :class:`Refresher` to
re-evaluate it in the background. The refresher is single-flight per key
(a second hit on a key being refreshed starts nothing, as nginx's
``proxy_cache_background_update`` with ``proxy_cache_lock`` updates one
cache element once:
https://nginx.org/en/docs/http/ngx_http_proxy_module.html#proxy_cache_background_update),
runs at most ``concurrency`` refreshes at once, so that refreshes never
take every evaluation worker from requests that missed, and keeps at most
``max_pending`` scheduled or running, so that a flood of distinct requests
cannot queue unbounded work (a due entry not scheduled is tried again by
its next hit). What a refresh does (evaluate on the pool with its own
deadline, store, or keep the old entry) is the caller's coroutine; it
returns one of :data:`OUTCOMES`, counted in
``kubegate_decision_cache_refreshes_total{outcome}``:

* ``ok``: evaluated again and stored with a new (jittered) TTL;
* ``shared``: the shared (Redis) tier already held a fresher entry, taken
  instead of evaluating (another replica refreshed it);
* ``failed``: the evaluation timed out, found the queue full or failed; the
  old entry is served until its own TTL ends and the next refresh is tried
  a quarter of the refresh window later;
* ``skipped``: not scheduled, ``max_pending`` refreshes were pending;
* ``superseded``: not run, the policy set changed (its keys are new ones)
  or the entry went (evicted, expired) before the refresh's turn came.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Literal

__all__ = ["OUTCOMES", "RefreshOutcome", "Refresher"]

_log = logging.getLogger("kubegate.webhook.cache")

RefreshOutcome = Literal["ok", "shared", "failed", "skipped", "superseded"]

#: Every outcome of a refresh, in the order the metric lists them.
OUTCOMES: tuple[RefreshOutcome, ...] = ("ok", "shared", "failed", "skipped", "superseded")


class Refresher:
    """Background refreshes of cache entries, single-flight per key, bounded in number.

    Used from one event loop (not thread-safe).

    Args:
        concurrency: refreshes running at once (>= 1); the others wait their turn.
        max_pending: refreshes scheduled or running (>= ``concurrency``);
            beyond it :meth:`schedule` refuses (outcome ``skipped``).
        on_outcome: called with the outcome of every refresh asked for (a metric).

    Raises:
        ValueError: ``concurrency`` < 1 or ``max_pending`` < ``concurrency``.
    """

    def __init__(
        self,
        concurrency: int = 1,
        max_pending: int = 256,
        on_outcome: Callable[[RefreshOutcome], None] | None = None,
    ) -> None:
        if concurrency < 1 or max_pending < concurrency:
            raise ValueError("concurrency must be >= 1 and max_pending >= concurrency")
        self.concurrency = concurrency
        self.max_pending = max_pending
        self._on_outcome = on_outcome
        self._turns = asyncio.Semaphore(concurrency)
        self._tasks: dict[str, asyncio.Task[None]] = {}

    @property
    def pending(self) -> int:
        """Refreshes scheduled or running."""
        return len(self._tasks)

    def refreshing(self, key: str) -> bool:
        """Whether a refresh of ``key`` is scheduled or running."""
        return key in self._tasks

    def schedule(self, key: str, refresh: Callable[[], Awaitable[RefreshOutcome]]) -> bool:
        """Runs ``refresh()`` in the background unless ``key`` is being refreshed already.

        Args:
            key: the cache key (single flight: one refresh per key at a time).
            refresh: the work, started when a turn is free; its outcome is counted.

        Returns:
            Whether a refresh was scheduled (``False``: one is pending for
            ``key``, or ``max_pending`` are, which counts as ``skipped``).
        """
        if key in self._tasks:
            return False
        if len(self._tasks) >= self.max_pending:
            self._count("skipped")
            return False
        task = asyncio.get_running_loop().create_task(self._run(refresh), name=f"kubegate-refresh-{key[:12]}")
        self._tasks[key] = task
        task.add_done_callback(lambda _: self._tasks.pop(key, None))
        return True

    async def _run(self, refresh: Callable[[], Awaitable[RefreshOutcome]]) -> None:
        async with self._turns:
            try:
                outcome = await refresh()
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug in the refresh: the old entry stays, the request path is untouched
                _log.exception("background refresh of a cached decision failed")
                outcome = "failed"
        self._count(outcome)

    def _count(self, outcome: RefreshOutcome) -> None:
        if self._on_outcome is not None:
            self._on_outcome(outcome)

    async def close(self) -> None:
        """Cancels every pending refresh and waits for them to end."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
