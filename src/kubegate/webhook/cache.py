"""Decision cache: an in-process LRU with jittered TTLs and a refresh window, and an optional shared Redis tier.

A decision depends only on the policy set and on what policies can read of
the request: ``input.review`` minus its ``uid`` (object, oldObject,
operation, userInfo, namespace, name, kind, dryRun...). The key is the
sha256 of the policy-set version and the canonical JSON of that review
(sorted keys, no whitespace), so GitOps re-applies and dry runs of an
unchanged object skip evaluation, while any change of the object, the user,
the policies or the inventory (part of the policy-set version) misses.

Expiry never comes all at once: each entry lives the TTL times a random
factor in ``1 ± jitter`` (default ±10 %), and in the last ``refresh_window``
of its life (default 20 %) it is *due*: it is still served, and the caller
re-evaluates it in the background (:mod:`kubegate.webhook.refresh`), like
Caffeine's ``refreshAfterWrite`` (https://github.com/ben-manes/caffeine/wiki/Refresh)
or nginx's ``proxy_cache_background_update``
(https://nginx.org/en/docs/http/ngx_http_proxy_module.html#proxy_cache_background_update).
An entry is never served past its own TTL.

The Redis tier (``redis.asyncio``) lets several replicas share decisions;
its entries carry their remaining lifetime (``PTTL``) back into memory, so a
replica's copy expires, and becomes due, with the shared one. Redis trouble
never fails a request: a failed get is a miss, a failed set is dropped, and
both are counted (``errors``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from cachetools import TLRUCache
from redis.exceptions import RedisError

from kubegate.webhook.verdict import Verdict

__all__ = ["CacheEntry", "DecisionCache", "SharedCache", "cache_key", "verdict_size"]

_log = logging.getLogger("kubegate.webhook.cache")


def cache_key(policy_set_version: str, review: Mapping[str, Any]) -> str:
    """The cache key for ``review`` (``input.review``) under a policy set.

    Returns:
        64 hex characters.
    """
    visible = {k: v for k, v in review.items() if k != "uid"}
    canonical = json.dumps(visible, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(f"{policy_set_version}\n{canonical}".encode()).hexdigest()


def verdict_size(verdict: Verdict) -> int:
    """Approximate bytes a cached verdict holds: its texts, and 200 per policy and violation.

    Messages quote the request (an object's name, an image), so a hostile
    request can make a verdict megabytes large; the cache is bounded by this.
    """
    size = 512 + len(verdict.message) + sum(len(w) for w in verdict.warnings)
    facts = verdict.facts
    if facts is not None:
        size += len(facts.message) + sum(len(w) for w in facts.warnings) + 200 * len(facts.policies)
        size += sum(200 + len(str(v.get("message", ""))) for v in facts.violations)
    return size


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """One cached verdict and its times, in seconds on the cache's clock.

    Attributes:
        verdict: the cached answer.
        ttl_s: the lifetime it was stored with (jittered).
        refresh_at: from this instant the entry is due for a background refresh.
        expires_at: from this instant it is gone.
        size: bytes as :func:`verdict_size` counts them.
    """

    verdict: Verdict
    ttl_s: float
    refresh_at: float
    expires_at: float
    size: int


def _expiry(_key: str, entry: CacheEntry, _now: float) -> float:
    return entry.expires_at


class DecisionCache:
    """In-process LRU cache of verdicts (thread-safe), bounded in entries and bytes,
    with a jittered TTL per entry and a refresh window before it.

    Args:
        max_entries: capacity in entries; the least recently used entry goes first.
        ttl_s: seconds an entry lives (default 10), before jitter.
        max_bytes: capacity in bytes as :func:`verdict_size` counts them
            (default 64 MiB); a verdict over 1 % of it is not cached.
        refresh_window: fraction of its lifetime at the end of which an entry
            is due (:meth:`due`), in ``[0, 1)``; 0: never due.
        jitter: each entry lives ``ttl_s * (1 + u)``, ``u`` uniform in
            ``[-jitter, +jitter]``, ``jitter`` in ``[0, 1)``; 0 for exact TTLs.
        clock: seconds, monotonic (default :func:`time.monotonic`; tests pass a manual one).
        rng: the source of the jitter (default a fresh :class:`random.Random`).

    Raises:
        ValueError: ``ttl_s`` not positive, ``refresh_window`` or ``jitter`` out of ``[0, 1)``.
    """

    def __init__(
        self,
        max_entries: int = 10_000,
        ttl_s: float = 10.0,
        max_bytes: int = 64 * 1024 * 1024,
        *,
        refresh_window: float = 0.2,
        jitter: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        if ttl_s <= 0 or not 0 <= refresh_window < 1 or not 0 <= jitter < 1:
            raise ValueError("ttl_s must be > 0, refresh_window and jitter in [0, 1)")
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        self.refresh_window = refresh_window
        self.jitter = jitter
        self.clock = clock
        self._rng = rng or random.Random()
        self._largest = max_bytes // 100
        self._cache: TLRUCache[str, CacheEntry] = TLRUCache(
            maxsize=max_bytes, ttu=_expiry, timer=clock, getsizeof=lambda e: e.size
        )
        self._lock = threading.Lock()

    def draw_ttl(self) -> float:
        """A lifetime for a new entry: :attr:`ttl_s` with the jitter applied, in seconds."""
        if not self.jitter:
            return self.ttl_s
        with self._lock:
            return self.ttl_s * (1 + self._rng.uniform(-self.jitter, self.jitter))

    def lookup(self, key: str) -> CacheEntry | None:
        """The live entry under ``key`` (it counts as used), or ``None``."""
        with self._lock:
            return self._cache.get(key)

    def get(self, key: str) -> Verdict | None:
        """The live verdict under ``key``, or ``None``."""
        entry = self.lookup(key)
        return entry.verdict if entry is not None else None

    def due(self, entry: CacheEntry) -> bool:
        """Whether ``entry`` is in its refresh window now."""
        return self.clock() >= entry.refresh_at

    def fresh_for(self, remaining_s: float) -> bool:
        """Whether an entry with ``remaining_s`` seconds left would be out of its refresh window."""
        return remaining_s > self.refresh_window * self.ttl_s

    def put(self, key: str, verdict: Verdict, remaining_s: float | None = None) -> CacheEntry | None:
        """Stores ``verdict`` under ``key`` and returns its entry (``None``: too large to cache).

        Args:
            key: see :func:`cache_key`.
            verdict: the answer.
            remaining_s: the seconds it has left (an entry of the shared tier);
                ``None``: a new entry, living :meth:`draw_ttl`. Its refresh
                window is then the last ``refresh_window * ttl_s`` seconds.
        """
        size = verdict_size(verdict)
        if size > self._largest:
            return None
        now = self.clock()
        if remaining_s is None:
            ttl = self.draw_ttl()
            refresh_at = now + ttl * (1 - self.refresh_window)
        else:
            ttl = remaining_s
            refresh_at = now + remaining_s - self.refresh_window * self.ttl_s
        entry = CacheEntry(verdict, ttl, refresh_at, now + ttl, size)
        with self._lock:
            while len(self._cache) >= self.max_entries and key not in self._cache:
                self._cache.popitem()  # least recently used first
            self._cache[key] = entry
        return entry

    def postpone(self, key: str, entry: CacheEntry, delay_s: float) -> None:
        """Moves the refresh of ``entry`` (if it is still the one under ``key``)
        ``delay_s`` seconds from now, never past its expiry: after a failed refresh."""
        with self._lock:
            if self._cache.get(key) is entry:
                later = min(self.clock() + delay_s, entry.expires_at)
                self._cache[key] = dataclasses.replace(entry, refresh_at=later)

    @property
    def bytes(self) -> int:
        """Bytes held, as :func:`verdict_size` counts them."""
        with self._lock:
            return int(self._cache.currsize)

    def __len__(self) -> int:
        with self._lock:
            return len(self._cache)


class SharedCache:
    """Verdicts shared between replicas through Redis.

    Args:
        url: ``redis://host:port/db`` (``rediss://`` for TLS).
        ttl_s: expiry of an entry in seconds when :meth:`put` is not given one.
        prefix: key prefix, so several webhooks can share one Redis.
        timeout_s: socket timeout per operation; a slow Redis becomes a miss.
        on_error: called once per failed operation (for a metric).
    """

    def __init__(
        self,
        url: str,
        ttl_s: float = 10.0,
        prefix: str = "kubegate:decision:",
        timeout_s: float = 0.05,
        on_error: Callable[[], None] | None = None,
    ) -> None:
        self._client = aioredis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        self._ttl_s = ttl_s
        self._prefix = prefix
        self._on_error = on_error
        self.errors = 0

    async def get(self, key: str) -> Verdict | None:
        """The verdict under ``key``, or ``None`` (absent, or Redis failed)."""
        found = await self.get_with_ttl(key)
        return found[0] if found is not None else None

    async def get_with_ttl(self, key: str) -> tuple[Verdict, float | None] | None:
        """The verdict under ``key`` and the seconds it has left (``None``: no expiry),
        in one round trip (``GET`` and ``PTTL``, https://redis.io/docs/latest/commands/pttl/),
        or ``None`` (absent, or Redis failed)."""
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                pipe.get(self._prefix + key)
                pipe.pttl(self._prefix + key)
                raw, pttl = await pipe.execute()
        except (RedisError, OSError) as exc:
            self._failed("get", exc)
            return None
        if raw is None:
            return None
        try:
            verdict = Verdict.from_dict(json.loads(raw))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            self._failed("decode", exc)
            return None
        if not isinstance(pttl, int) or pttl == -1:  # no expiry set (not written by kubegate)
            return verdict, None
        if pttl <= 0:  # expired between the two commands
            return None
        return verdict, pttl / 1000

    async def put(self, key: str, verdict: Verdict, ttl_s: float | None = None) -> None:
        """Stores ``verdict`` for ``ttl_s`` seconds (default: the TTL given to the constructor)."""
        px = max(1, int((ttl_s if ttl_s is not None else self._ttl_s) * 1000))
        try:
            await self._client.set(self._prefix + key, json.dumps(verdict.to_dict()), px=px)
        except (RedisError, OSError) as exc:
            self._failed("set", exc)

    async def ping(self) -> bool:
        try:
            return bool(await self._client.ping())
        except (RedisError, OSError) as exc:
            self._failed("ping", exc)
            return False

    async def close(self) -> None:
        await self._client.aclose()

    def _failed(self, operation: str, exc: BaseException) -> None:
        self.errors += 1
        if self._on_error is not None:
            self._on_error()
        _log.warning("shared decision cache %s failed: %s", operation, exc)
