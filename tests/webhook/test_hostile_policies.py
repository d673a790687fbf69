"""A hostile policy (seconds of work per Pod) against a real `kubegate serve` with a
300 ms time limit: every answer leaves within the limit + 20 ms, alone or 20 at once,
and the workers still held by the runaway evaluations are reported at once in
``/healthz`` and ``kubegate_workers_overdue`` (freeing them is the evaluator's job:
rego-cpp threads cannot be interrupted)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import pytest

from kubegate.webhook.certs import CertificateFiles
from tests.webhook.conftest import POLICIES, Webhook, admission_review, metric_value, obj, start_webhook

LIMIT_MS = 300
MARGIN_MS = 20


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory, certs: CertificateFiles) -> Iterator[Webhook]:
    workdir = tmp_path_factory.mktemp("hostile-policy")
    hook = start_webhook(
        workdir,
        certs,
        "--no-builtin",
        "--policies",
        str(POLICIES / "hostile"),
        "--max-evaluation-time",
        str(LIMIT_MS),
        "--cache-ttl",
        "0",
        "--workers",
        "2",
        "--decision-log",
        str(workdir / "wal"),
    )
    yield hook
    hook.stop()


def test_answers_leave_within_the_limit_and_overdue_workers_are_reported_at_once(hostile: Webhook) -> None:
    with hostile.client(timeout=30) as client:
        assert client.get("/healthz").json()["overdueWorkers"] == 0
        times = []
        for _ in range(15):
            start = time.perf_counter()
            reply = client.post("/validate", json=admission_review(obj("pod-good")))
            times.append((time.perf_counter() - start) * 1000)
            response = reply.json()["response"]
            assert response["allowed"] is False and "time limit" in response["status"]["message"]
            if len(times) == 1:  # right after the first time-out, not 30 s later
                health = client.get("/healthz").json()
                assert health["overdueWorkers"] >= 1, health
                assert metric_value(client.get("/metrics").text, "kubegate_workers_overdue") >= 1
        assert max(times) <= LIMIT_MS + MARGIN_MS, sorted(times)


def test_twenty_at_once_leave_within_the_limit(hostile: Webhook) -> None:
    uids: list[str] = []
    errors: list[str] = []

    def send() -> None:
        doc = admission_review(obj("pod-good"))
        uids.append(doc["request"]["uid"])
        try:
            with hostile.client(timeout=30) as client:
                assert client.post("/validate", json=doc).json()["response"]["allowed"] is False
        except Exception as exc:
            errors.append(repr(exc))

    threads = [threading.Thread(target=send) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    time.sleep(0.2)
    durations = [
        line["durationMs"]
        for line in (json.loads(text) for text in hostile.logs() if text.startswith("{"))
        if line.get("message") == "admission" and line.get("uid") in uids
    ]
    assert len(durations) == 20
    assert max(durations) <= LIMIT_MS + MARGIN_MS, sorted(durations)
