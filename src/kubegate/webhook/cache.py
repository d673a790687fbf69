"""Decision cache: an in-process LRU with a TTL, and an optional shared Redis tier.

A decision depends only on the policy set and on what policies can read of
the request: ``input.review`` minus its ``uid`` (object, oldObject,
operation, userInfo, namespace, name, kind, dryRun...). The key is the
sha256 of the policy-set version and the canonical JSON of that review
(sorted keys, no whitespace), so GitOps re-applies and dry runs of an
unchanged object skip evaluation, while any change of the object, the user,
the policies or the inventory (part of the policy-set version) misses.

The Redis tier (``redis.asyncio``) lets several replicas share decisions.
Redis trouble never fails a request: a failed get is a miss, a failed set is
dropped, and both are counted (``errors``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

import redis.asyncio as aioredis
from cachetools import TTLCache
from redis.exceptions import RedisError

from kubegate.webhook.verdict import Verdict

__all__ = ["DecisionCache", "SharedCache", "cache_key", "verdict_size"]

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


class DecisionCache:
    """In-process LRU + TTL cache of verdicts (thread-safe), bounded in entries and bytes.

    Args:
        max_entries: capacity in entries; the least recently used entry goes first.
        ttl_s: seconds an entry lives (default 10).
        max_bytes: capacity in bytes as :func:`verdict_size` counts them
            (default 64 MiB); a verdict over 1 % of it is not cached.
    """

    def __init__(self, max_entries: int = 10_000, ttl_s: float = 10.0, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_entries = max_entries
        self._largest = max_bytes // 100
        self._cache: TTLCache[str, Verdict] = TTLCache(maxsize=max_bytes, ttl=ttl_s, getsizeof=verdict_size)
        self._lock = threading.Lock()

    def get(self, key: str) -> Verdict | None:
        with self._lock:
            return self._cache.get(key)

    def put(self, key: str, verdict: Verdict) -> None:
        if verdict_size(verdict) > self._largest:
            return
        with self._lock:
            while len(self._cache) >= self.max_entries and key not in self._cache:
                self._cache.popitem()  # least recently used first
            self._cache[key] = verdict

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
        ttl_s: expiry of each entry in seconds.
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
        self._ttl_ms = max(1, int(ttl_s * 1000))
        self._prefix = prefix
        self._on_error = on_error
        self.errors = 0

    async def get(self, key: str) -> Verdict | None:
        try:
            raw = await self._client.get(self._prefix + key)
        except (RedisError, OSError) as exc:
            self._failed("get", exc)
            return None
        if raw is None:
            return None
        try:
            return Verdict.from_dict(json.loads(raw))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            self._failed("decode", exc)
            return None

    async def put(self, key: str, verdict: Verdict) -> None:
        try:
            await self._client.set(self._prefix + key, json.dumps(verdict.to_dict()), px=self._ttl_ms)
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
