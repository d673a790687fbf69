"""Decision cache: keys, LRU + TTL in memory, and the shared tier on a real redis-server."""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from kubegate.cli.serve import serve
from kubegate.engine.inputs import build_review
from kubegate.errors import UsageError
from kubegate.webhook.cache import DecisionCache, SharedCache, cache_key
from kubegate.webhook.certs import CertificateFiles
from kubegate.webhook.server import ServeConfig
from kubegate.webhook.service import WebhookSettings
from kubegate.webhook.verdict import Verdict
from tests.conftest import RedisServer
from tests.webhook.conftest import (
    POLICIES,
    admission_review,
    free_port,
    metric_value,
    obj,
    start_webhook,
)

DENIED = Verdict(False, "[p] no", denied_by=("p",), warnings=("[w] careful",), dryrun=("d",))


def review_of(doc: dict) -> dict:  # type: ignore[type-arg]
    return build_review(doc["request"])


def test_key_ignores_the_uid_and_nothing_else() -> None:
    pod = obj("pod-good")
    a, b = review_of(admission_review(pod)), review_of(admission_review(pod))
    assert a["uid"] != b["uid"]
    assert cache_key("v1", a) == cache_key("v1", b)
    assert cache_key("v1", a) != cache_key("v2", a), "a new policy set version misses"
    for changed in (
        admission_review(pod, dry_run=True),
        admission_review(pod, user="bob"),
        admission_review(pod, operation="UPDATE", old=obj("pod-good")),
    ):
        assert cache_key("v1", review_of(changed)) != cache_key("v1", a)
    relabeled = obj("pod-good")
    relabeled["metadata"]["labels"]["x"] = "y"
    assert cache_key("v1", review_of(admission_review(relabeled))) != cache_key("v1", a)
    # Key order in the object does not matter.
    reordered = dict(reversed(list(obj("pod-good").items())))
    assert cache_key("v1", review_of(admission_review(reordered))) == cache_key("v1", a)


class ManualClock:
    """A monotonic clock that moves only when told (seconds)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_memory_cache_expires_and_evicts_least_recently_used() -> None:
    clock = ManualClock()
    cache = DecisionCache(max_entries=2, ttl_s=0.2, jitter=0, clock=clock)
    cache.put("a", DENIED)
    cache.put("b", DENIED)
    assert cache.get("a") == DENIED  # a is now the most recent
    cache.put("c", DENIED)
    assert cache.get("b") is None and cache.get("a") == DENIED and cache.get("c") == DENIED
    clock.now += 0.2
    assert cache.get("a") is None and len(cache) == 0


def test_an_entry_is_due_in_the_last_part_of_its_ttl_and_gone_after_it() -> None:
    clock = ManualClock()
    cache = DecisionCache(ttl_s=10, refresh_window=0.2, jitter=0, clock=clock)
    start = clock.now
    entry = cache.put("k", DENIED)
    assert entry is not None and entry.ttl_s == 10
    clock.now = start + 7.99
    found = cache.lookup("k")
    assert found is entry and not cache.due(entry)
    clock.now = start + 8.0
    assert cache.lookup("k") is entry and cache.due(entry), "due for refresh, still served"
    clock.now = start + 10.0
    assert cache.lookup("k") is None and cache.get("k") is None, "never served past its TTL"


def test_no_refresh_window_means_never_due() -> None:
    clock = ManualClock()
    cache = DecisionCache(ttl_s=10, refresh_window=0, jitter=0, clock=clock)
    entry = cache.put("k", DENIED)
    assert entry is not None
    clock.now += 9.999
    assert cache.lookup("k") is entry and not cache.due(entry)


def test_ttls_are_jittered_within_the_bound_and_spread_over_it() -> None:
    clock = ManualClock()
    cache = DecisionCache(ttl_s=10, refresh_window=0.2, jitter=0.1, clock=clock, rng=random.Random(14))
    entries = [cache.put(f"k{i}", DENIED) for i in range(2000)]
    ttls = sorted(e.ttl_s for e in entries if e is not None)
    assert len(ttls) == 2000
    assert ttls[0] >= 9.0 and ttls[-1] <= 11.0
    # Spread over the whole band, not bunched: each tenth of it holds some entries.
    assert ttls[0] < 9.1 and ttls[-1] > 10.9
    assert all(any(9.0 + 0.2 * i <= t < 9.2 + 0.2 * i for t in ttls) for i in range(10))
    # Each entry's window is the last 20 % of its own lifetime.
    for e in entries:
        assert e is not None and e.refresh_at - clock.now == pytest.approx(0.8 * e.ttl_s)
    exact = DecisionCache(ttl_s=10, jitter=0, clock=clock)
    assert {exact.draw_ttl() for _ in range(50)} == {10.0}


def test_an_entry_from_the_shared_tier_keeps_its_remaining_life() -> None:
    clock = ManualClock()
    cache = DecisionCache(ttl_s=10, refresh_window=0.2, jitter=0, clock=clock)
    start = clock.now
    short = cache.put("short", DENIED, remaining_s=1.5)  # in the window already (last 2 s)
    assert short is not None and short.expires_at == start + 1.5 and cache.due(short)
    long = cache.put("long", DENIED, remaining_s=5.0)
    assert long is not None and not cache.due(long) and long.refresh_at == start + 3.0
    assert cache.fresh_for(2.01) and not cache.fresh_for(2.0)
    clock.now = start + 1.5
    assert cache.lookup("short") is None and cache.lookup("long") is long


def test_postpone_moves_the_refresh_never_past_the_ttl_and_only_of_the_same_entry() -> None:
    clock = ManualClock()
    cache = DecisionCache(ttl_s=10, refresh_window=0.2, jitter=0, clock=clock)
    start = clock.now
    entry = cache.put("k", DENIED)
    assert entry is not None
    clock.now = start + 8.5
    cache.postpone("k", entry, 0.5)
    moved = cache.lookup("k")
    assert moved is not None and moved.verdict is DENIED and moved.expires_at == entry.expires_at
    assert not cache.due(moved) and moved.refresh_at == start + 9.0
    cache.postpone("k", moved, 60)
    latest = cache.lookup("k")
    assert latest is not None and latest.refresh_at == entry.expires_at
    replaced = cache.put("k", Verdict(True))
    cache.postpone("k", moved, 5)  # an older entry: nothing happens
    assert cache.lookup("k") is replaced


@pytest.mark.parametrize(("window", "jitter"), [(1.0, 0.1), (-0.1, 0.1), (0.2, 1.0), (0.2, -0.5)])
def test_refresh_window_and_jitter_are_fractions(window: float, jitter: float) -> None:
    with pytest.raises(ValueError):
        DecisionCache(refresh_window=window, jitter=jitter)
    config = ServeConfig(
        insecure_http=True, settings=WebhookSettings(cache_refresh_window=window, cache_ttl_jitter=jitter)
    )
    with pytest.raises(UsageError) as raised:
        config.check()
    assert raised.value.code == "usage_error"


def test_serve_refuses_cache_fractions_out_of_range() -> None:
    for option, value in (("--cache-refresh-window", "1"), ("--cache-ttl-jitter", "-0.1")):
        result = CliRunner().invoke(serve, ["--insecure-http", option, value])
        assert result.exit_code == 2 and option in result.output


def test_verdict_round_trips_through_json() -> None:
    assert Verdict.from_dict(json.loads(json.dumps(DENIED.to_dict()))) == DENIED


def test_shared_cache_on_real_redis(redis_server: RedisServer) -> None:
    async def scenario() -> None:
        cache = SharedCache(redis_server.url, ttl_s=0.3, prefix="test:shared:")
        try:
            assert await cache.ping()
            assert await cache.get("k") is None
            await cache.put("k", DENIED)
            assert await cache.get("k") == DENIED
            await cache.put("long", DENIED, ttl_s=30)
            found = await cache.get_with_ttl("long")
            assert found is not None and found[0] == DENIED
            assert found[1] is not None and 25 < found[1] <= 30, "the remaining life comes back (PTTL)"
            assert await cache.get_with_ttl("absent") is None
            await asyncio.sleep(0.4)
            assert await cache.get("k") is None, "entries expire with the TTL"
            assert (await cache.get_with_ttl("long")) is not None
            assert cache.errors == 0
        finally:
            await cache.close()

    asyncio.run(scenario())


def test_unreachable_redis_is_a_miss_not_a_failure() -> None:
    async def scenario() -> None:
        errors: list[int] = []
        cache = SharedCache(f"redis://127.0.0.1:{free_port()}/0", on_error=lambda: errors.append(1))
        try:
            assert await cache.get("k") is None
            await cache.put("k", DENIED)
            assert cache.errors == 2 and len(errors) == 2
        finally:
            await cache.close()

    asyncio.run(scenario())


def test_replicas_share_decisions_through_redis(
    tmp_path: Path, certs: CertificateFiles, redis_server: RedisServer
) -> None:
    args = ("--no-builtin", "-p", str(POLICIES / "main"), "--redis", redis_server.url)
    first = start_webhook(tmp_path / "a", certs, *args)
    second = start_webhook(tmp_path / "b", certs, *args)
    try:
        pod = obj("pod-no-owner")
        pod["metadata"]["name"] = "shared-decision"
        a_doc, b_doc = admission_review(pod), admission_review(pod)
        a = first.review(a_doc)
        deadline = time.monotonic() + 5
        while True:  # the first replica writes to Redis after answering
            b = second.review(admission_review(pod))
            entry = [json.loads(x) for x in second.logs() if '"uid"' in x][-1]
            if entry["cache"] == "redis" or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert entry["cache"] == "redis"
        assert a == {**b, "uid": a["uid"]} and a["allowed"] is False
        assert second.review(b_doc)["allowed"] is False
        assert [json.loads(x) for x in second.logs() if '"uid"' in x][-1]["cache"] == "memory"
    finally:
        first.stop()
        second.stop()


def test_webhook_keeps_answering_when_redis_goes_away(tmp_path: Path, certs: CertificateFiles) -> None:
    port = free_port()
    redis = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    hook = start_webhook(
        tmp_path, certs, "--no-builtin", "-p", str(POLICIES / "main"), "--redis", f"redis://127.0.0.1:{port}/0"
    )
    try:
        assert hook.review(admission_review(obj("pod-good")))["allowed"] is True
        redis.kill()
        redis.wait()
        changed = obj("pod-no-owner")
        response = hook.review(admission_review(changed))
        assert response["allowed"] is False
        assert metric_value(hook.metrics(), "kubegate_decision_cache_errors_total") >= 1
    finally:
        hook.stop()
        if redis.poll() is None:
            redis.kill()
            redis.wait()


def test_the_memory_cache_is_bounded_in_bytes_and_skips_huge_verdicts() -> None:
    """Fuzz finding: verdicts quoting a 1 MB object name filled the cache by count, not size."""
    from kubegate.webhook.cache import DecisionCache, verdict_size
    from kubegate.webhook.verdict import Verdict

    cache = DecisionCache(max_entries=1000, ttl_s=60, max_bytes=1_000_000)
    cache.put("huge", Verdict(False, "[p] " + "x" * 20_000))  # over 1 % of the bound: not cached
    assert cache.get("huge") is None
    medium = Verdict(False, "[p] " + "y" * 5000)
    for i in range(500):
        cache.put(f"k{i}", medium)
    assert cache.bytes <= 1_000_000 and len(cache) == 1_000_000 // verdict_size(medium)
    assert cache.get("k499") is medium and cache.get("k0") is None  # the oldest went first
    small = DecisionCache(max_entries=3, ttl_s=60)
    for i in range(5):
        small.put(f"k{i}", Verdict(True))
    assert len(small) == 3 and small.get("k4") is not None


def test_request_derived_metric_labels_are_bounded_in_number_and_length() -> None:
    """Soak finding: a 1 MB ``kind`` became a label value kept for the server's lifetime."""
    from kubegate.webhook.metrics import WebhookMetrics

    metrics = WebhookMetrics()
    metrics.admission("deny", "CREATE", "x" * 1_000_000)
    for i in range(600):
        metrics.admission("allow", "PATCH" if i % 2 else "CREATE", f"Kind{i}")
    text = metrics.render().decode() if isinstance(metrics.render(), bytes) else str(metrics.render())
    assert "x" * 100 not in text
    kinds = {
        line.split('kind="')[1].split('"')[0]
        for line in text.splitlines()
        if line.startswith("kubegate_admission_requests_total{")
    }
    assert len(kinds) <= 501 and "other" in kinds
    assert 'operation="PATCH"' not in text and 'operation="other"' in text
