"""``serve --workers N``: several real processes on one socket sharing the vault,
metrics summed across them, one decision log per worker slot, a worker killed
with SIGKILL replaced while the others answer."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import requests

from kubegate.audit.query import LogQuery
from kubegate.goproxy.workers import claim_slot, default_workers
from tests.goproxy.serving import serve


def test_decision_log_slots_are_claimed_and_released(tmp_path: Path) -> None:
    first, a = claim_slot(str(tmp_path / "log"))
    second, b = claim_slot(str(tmp_path / "log"))
    assert (Path(first).name, Path(second).name) == ("worker-0", "worker-1")
    a.close()  # the worker holding slot 0 is gone: its replacement gets the slot
    again, c = claim_slot(str(tmp_path / "log"))
    assert again == first and Path(again).is_dir()
    b.close()
    c.close()


def _get(url: str) -> requests.Response:
    """One request on a new connection (the kernel picks the accepting worker); a
    connection reset by the worker killed meanwhile is retried."""
    for _ in range(20):
        try:
            return requests.get(url, timeout=30, headers={"Connection": "close"})
        except requests.ConnectionError:
            time.sleep(0.2)
    raise AssertionError(f"{url}: no answer")


def _metric(url: str, line_start: str) -> float:
    for line in requests.get(f"{url}/metrics", timeout=30).text.splitlines():
        if line.startswith(line_start + " "):
            return float(line.split()[-1])
    return 0.0


def test_workers_share_the_vault_metrics_and_survive_a_killed_worker(tmp_path: Path, upstream_url: str) -> None:
    log = tmp_path / "log"
    args = ["--storage", str(tmp_path / "vault"), "--upstream", upstream_url, "--decision-log", str(log)]
    with serve(tmp_path, *args, "--workers", "2") as server:
        deadline = time.monotonic() + 60
        while len(server.workers()) < 2 or len(list(log.glob("worker-*.lock"))) < 2:
            assert time.monotonic() < deadline, server.log.read_text()
            time.sleep(0.2)
        zip_url = f"{server.url}/example.test/mitlib/@v/v1.0.0.zip"
        for _ in range(6):
            assert _get(zip_url).status_code == 200
        assert _get(f"{server.url}/example.test/gpllib/@v/v1.0.0.zip").status_code == 403
        victim = server.workers()[0]
        os.kill(victim, signal.SIGKILL)
        for _ in range(6):  # the other worker answers meanwhile
            assert _get(f"{server.url}/example.test/mitlib/@v/v1.0.0.info").status_code == 200
        while victim in server.workers() or len(server.workers()) < 2:  # uvicorn's supervisor replaces it
            assert time.monotonic() < deadline + 60, server.log.read_text()
            time.sleep(0.2)
        assert _get(zip_url).status_code == 200
        # counters of every worker, the killed one's included, summed by any worker's /metrics
        assert _metric(server.url, 'kubegate_goproxy_requests_total{endpoint="zip",result="ok"}') == 7
        assert _metric(server.url, 'kubegate_goproxy_requests_total{endpoint="info",result="ok"}') == 6
        assert _metric(server.url, "kubegate_goproxy_blocked_total") == 1
        assert _metric(server.url, 'kubegate_goproxy_cache_total{result="miss"}') >= 1
    slots = sorted(p.name for p in log.iterdir() if p.is_dir())
    assert slots == ["worker-0", "worker-1"]  # the replacement took the free slot
    records = [r for slot in slots for r in LogQuery(str(log / slot)).records()]
    names = sorted(r["kubegate"]["name"] for r in records if r["path"] == "kubegate/goproxy/license")
    assert names == ["example.test/gpllib@v1.0.0"] + ["example.test/mitlib@v1.0.0"] * 7


def test_default_workers_follow_the_cgroup_quota(tmp_path: Path) -> None:
    cpus = len(os.sched_getaffinity(0))
    limit = tmp_path / "cpu.max"
    limit.write_text("150000 100000\n")  # a pod limit of 1.5 CPUs: 2 workers
    assert default_workers(limit) == min(cpus, 2)
    limit.write_text("max 100000\n")
    assert default_workers(limit) == cpus
    assert default_workers(tmp_path / "missing") == cpus
