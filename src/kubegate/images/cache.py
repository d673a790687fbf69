"""Cache of verification results, in memory (LRU) and optionally in Redis, and single-flight.

Keys are the sha256 of the image digest, its repository, the trust
policy's version and the policy name (:func:`cache_key`): a new key, trust
root or policy edit misses at once. The repository is part of the key
because signatures are stored per repository and signed for one: the same
digest pushed to another repository is another question. Verified and failed results have separate lifetimes (the
trust policy's ``verifiedTtlSeconds``, ``failedTtlSeconds``): a failure is
cached too, so an unsigned image retried by a controller does not reach the
registry on every admission, but for a shorter time so that signing it
takes effect soon. Transient failures (registry unreachable, unauthorized,
timeout) are never cached (:data:`~kubegate.images.result.TRANSIENT`).

The Redis tier (``redis`` package, sync client; short socket timeouts) is
shared by replicas: a store writes both tiers; a memory miss reads Redis
(``GET`` and ``PTTL`` in one pipeline) and keeps the entry in memory for what
Redis has left of it. Redis errors are misses and dropped stores, counted
in :attr:`VerificationCache.errors`, never failures of a verification.

:class:`SingleFlight` coalesces concurrent verifications of one key: the
first caller runs, the others wait for its result (one registry fetch).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from typing import TypeVar

import redis
from redis.exceptions import RedisError

from kubegate.images.result import Verification

__all__ = ["SingleFlight", "VerificationCache", "cache_key"]

_T = TypeVar("_T")
_PREFIX = "kubegate:image:"


def cache_key(digest: str, repository: str, trust_policy_version: str, policy: str) -> str:
    """The key of a result: sha256 hex of digest, ``registry/repository``, trust policy version and policy name."""
    return hashlib.sha256(f"{digest}\n{repository}\n{trust_policy_version}\n{policy}".encode()).hexdigest()


class VerificationCache:
    """Results by :func:`cache_key`, with per-entry lifetimes.

    Args:
        max_entries: memory LRU size (entries).
        redis_url: ``redis://host:port/db`` for the shared tier, or ``None``.
        redis_timeout_s: socket and connect timeout of Redis calls (seconds).
        clock: monotonic seconds (tests pass a manual clock).
    """

    def __init__(
        self,
        max_entries: int = 10_000,
        redis_url: str | None = None,
        redis_timeout_s: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, Verification]] = OrderedDict()
        self._lock = threading.Lock()
        self._redis = (
            redis.Redis.from_url(redis_url, socket_timeout=redis_timeout_s, socket_connect_timeout=redis_timeout_s)
            if redis_url
            else None
        )
        self.hits = {"memory": 0, "redis": 0}
        self.misses = 0
        self.errors = 0

    def get(self, key: str) -> Verification | None:
        """The live entry of ``key`` (memory, then Redis), or ``None``."""
        now = self._clock()
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                if found[0] > now:
                    self._entries.move_to_end(key)
                    self.hits["memory"] += 1
                    return found[1]
                del self._entries[key]
        shared = self._redis_get(key)
        with self._lock:
            if shared is None:
                self.misses += 1
                return None
            self.hits["redis"] += 1
        verification, ttl_s = shared
        self._store(key, verification, ttl_s)
        return verification

    def put(self, key: str, verification: Verification, ttl_s: float) -> None:
        """Stores ``verification`` for ``ttl_s`` seconds in both tiers (not transient ones, not ``ttl_s <= 0``)."""
        if verification.transient or ttl_s <= 0:
            return
        stored = verification.replace(cached=False, duration_ms=0.0)
        self._store(key, stored, ttl_s)
        if self._redis is not None:
            try:
                self._redis.set(_PREFIX + key, json.dumps(stored.to_dict()), px=max(1, int(ttl_s * 1000)))
            except RedisError:
                with self._lock:
                    self.errors += 1

    def clear(self) -> None:
        """Drops the memory tier (Redis entries age out)."""
        with self._lock:
            self._entries.clear()

    def _store(self, key: str, verification: Verification, ttl_s: float) -> None:
        with self._lock:
            self._entries[key] = (self._clock() + ttl_s, verification)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def _redis_get(self, key: str) -> tuple[Verification, float] | None:
        if self._redis is None:
            return None
        try:
            pipe = self._redis.pipeline(transaction=False)
            pipe.get(_PREFIX + key)
            pipe.pttl(_PREFIX + key)
            raw, pttl = pipe.execute()
        except RedisError:
            with self._lock:
                self.errors += 1
            return None
        if raw is None or not isinstance(pttl, int) or pttl <= 0:
            return None
        try:
            return Verification.from_dict(json.loads(raw)), pttl / 1000.0
        except (ValueError, KeyError, TypeError):
            with self._lock:
                self.errors += 1
            return None


class SingleFlight:
    """Runs one call per key at a time; concurrent callers of a key share its result."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flights: dict[str, Future[object]] = {}

    def run(self, key: str, call: Callable[[], _T], timeout_s: float | None = None) -> tuple[_T, bool]:
        """``call()``'s result and whether it was shared (another caller ran it).

        Args:
            key: what identifies the work.
            call: the work; its exceptions reach every caller.
            timeout_s: how long a waiting caller waits (seconds; ``None``: as long as it takes).

        Raises:
            TimeoutError: a waiting caller's ``timeout_s`` passed.
        """
        with self._lock:
            flight = self._flights.get(key)
            leader = flight is None
            if flight is None:
                flight = Future()
                self._flights[key] = flight
        if not leader:
            return flight.result(timeout_s), True  # type: ignore[return-value]
        try:
            value = call()
        except BaseException as exc:
            flight.set_exception(exc)
            raise
        else:
            flight.set_result(value)
            return value, False
        finally:
            with self._lock:
                self._flights.pop(key, None)
