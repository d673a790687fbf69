"""The result cache (memory LRU with separate TTLs, a real redis-server tier) and single-flight."""

from __future__ import annotations

import threading
import time

import pytest

from kubegate.images import Verification, VerificationCache, cache_key
from kubegate.images.cache import SingleFlight
from tests.conftest import RedisServer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _result(reason: str = "verified") -> Verification:
    return Verification("r/a:1", "sha256:" + "a" * 64, reason == "verified", reason, "m", "p", "k", duration_ms=5.0)


def test_keys_follow_digest_version_and_policy() -> None:
    keys = {
        cache_key(d, r, v, p)
        for d in ("sha256:1", "sha256:2")
        for r in ("r.io/a", "r.io/b")
        for v in ("v1", "v2")
        for p in ("a", "b")
    }
    assert len(keys) == 16 and all(len(k) == 64 for k in keys)


def test_ttls_lru_and_transient_results() -> None:
    clock = Clock()
    cache = VerificationCache(max_entries=2, clock=clock)
    cache.put("ok", _result(), 300)
    cache.put("bad", _result("no_signature"), 30)
    cache.put("down", _result("registry_unreachable"), 300)  # transient: never stored
    hit = cache.get("ok")
    assert hit is not None and (hit.verified, hit.duration_ms) == (True, 0.0)
    assert cache.get("down") is None
    clock.now += 31
    assert cache.get("bad") is None and cache.get("ok") is not None
    cache.put("c", _result(), 300)
    cache.put("d", _result(), 300)  # LRU evicts the least recently used
    assert cache.get("ok") is None and cache.get("d") is not None
    clock.now += 301
    assert cache.get("d") is None
    assert cache.misses == 4  # down, bad, ok (evicted), d


def test_redis_tier_is_shared(redis_server: RedisServer) -> None:
    first = VerificationCache(redis_url=redis_server.url)
    second = VerificationCache(redis_url=redis_server.url)
    key = cache_key("sha256:" + "b" * 64, "r.io/a", "v-redis", "p")
    first.put(key, _result(), 2.0)
    shared = second.get(key)
    assert shared == _result().replace(duration_ms=0.0)
    assert second.hits["redis"] == 1
    assert second.get(key) is not None and second.hits["memory"] == 1  # now in memory too


def test_redis_down_is_a_miss() -> None:
    from tests.conftest import free_port

    cache = VerificationCache(redis_url=f"redis://127.0.0.1:{free_port()}/0", redis_timeout_s=0.2)
    cache.put("k", _result(), 10)  # stored in memory, the Redis write fails quietly
    assert cache.errors == 1
    cache.clear()
    assert cache.get("k") is None and cache.errors == 2


def test_single_flight_shares_one_call() -> None:
    flight = SingleFlight()
    calls: list[int] = []
    gate = threading.Event()

    def work() -> str:
        calls.append(1)
        gate.wait(10)
        return "done"

    out: list[tuple[str, bool]] = []
    threads = [threading.Thread(target=lambda: out.append(flight.run("k", work))) for _ in range(5)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    gate.set()
    for t in threads:
        t.join(10)
    assert calls == [1]
    assert sorted(shared for _, shared in out) == [False, True, True, True, True]
    assert flight.run("k", lambda: "again") == ("again", False)


def test_single_flight_errors_and_waiting_limit() -> None:
    flight = SingleFlight()
    with pytest.raises(ZeroDivisionError):
        flight.run("k", lambda: 1 // 0)
    gate = threading.Event()
    leader = threading.Thread(target=lambda: flight.run("slow", lambda: gate.wait(10)))
    leader.start()
    time.sleep(0.1)
    with pytest.raises(TimeoutError):
        flight.run("slow", lambda: True, timeout_s=0.1)
    gate.set()
    leader.join(10)
