"""Time limit, failure modes, bounded queue and readiness, against real servers with a slow policy."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from kubegate import Engine
from kubegate.webhook.certs import CertificateFiles
from tests.webhook.conftest import POLICIES, admission_review, metric_value, obj, start_webhook


def test_time_limit_with_failure_mode_deny(tmp_path: Path, certs: CertificateFiles) -> None:
    hook = start_webhook(
        tmp_path,
        certs,
        "--no-builtin",
        "-p",
        str(POLICIES / "slow"),
        "--max-evaluation-time",
        "100",
        "--cache-ttl",
        "0",
    )
    try:
        start = time.perf_counter()
        response = hook.review(admission_review(obj("pod-slow")))
        elapsed = time.perf_counter() - start
        assert response["allowed"] is False
        assert response["status"]["code"] == 500
        assert response["status"]["message"] == "kubegate: policy evaluation exceeded the time limit of 100 ms"
        # Answered at the limit, not when the 0.5 s policy would have finished.
        assert elapsed < 0.35, elapsed
        assert metric_value(hook.metrics(), "kubegate_admission_timeouts_total") == 1
        # Fast requests are still decided normally.
        assert hook.review(admission_review(obj("pod-good")))["allowed"] is True
    finally:
        hook.stop()


def test_time_limit_with_failure_mode_allow(tmp_path: Path, certs: CertificateFiles) -> None:
    hook = start_webhook(
        tmp_path,
        certs,
        "--no-builtin",
        "-p",
        str(POLICIES / "slow"),
        "--max-evaluation-time",
        "100",
        "--failure-mode",
        "allow",
    )
    try:
        doc = admission_review(obj("pod-slow"))
        response = hook.review(doc)
        assert response["allowed"] is True
        assert response["warnings"] == [
            "kubegate: policy evaluation exceeded the time limit of 100 ms (admitted: failure mode allow)"
        ]
        time.sleep(0.6)  # past the stopped evaluation; a timed-out answer is never cached
        again = hook.review(admission_review(obj("pod-slow")))
        assert again["allowed"] is True and again["warnings"]
        lines = [json.loads(x) for x in hook.logs() if '"uid"' in x]
        assert any(e["uid"] == doc["request"]["uid"] and e["reason"] == "timeout" for e in lines)
    finally:
        hook.stop()


def test_full_queue_is_answered_at_once(tmp_path: Path, certs: CertificateFiles) -> None:
    hook = start_webhook(
        tmp_path,
        certs,
        "--no-builtin",
        "-p",
        str(POLICIES / "slow"),
        "--workers",
        "1",
        "--max-queue",
        "0",
        "--max-evaluation-time",
        "5000",
        "--cache-ttl",
        "0",
    )
    try:
        with ThreadPoolExecutor(2) as pool:
            slow = pool.submit(hook.review, admission_review(obj("pod-slow")))
            time.sleep(0.15)  # the slow one now holds the only worker
            start = time.perf_counter()
            refused = hook.review(admission_review(obj("pod-good")))
            elapsed = time.perf_counter() - start
            assert slow.result(timeout=30)["allowed"] is True
        assert refused["allowed"] is False
        assert refused["status"]["message"].startswith("kubegate: too many requests: all 1 workers are busy")
        assert elapsed < 0.2, elapsed
        assert metric_value(hook.metrics(), "kubegate_admission_rejected_total", 'reason="queue_full"') == 1
        assert hook.review(admission_review(obj("pod-good")))["allowed"] is True
    finally:
        hook.stop()


def test_identical_concurrent_requests_are_evaluated_once(tmp_path: Path, certs: CertificateFiles) -> None:
    hook = start_webhook(
        tmp_path,
        certs,
        "--no-builtin",
        "-p",
        str(POLICIES / "slow"),
        "--workers",
        "1",
        "--max-queue",
        "0",
        "--max-evaluation-time",
        "5000",
    )
    try:
        docs = [admission_review(obj("pod-slow")) for _ in range(4)]
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(hook.review, docs))
        assert all(a["allowed"] is True for a in answers), answers
        entries = {e["uid"]: e for e in (json.loads(x) for x in hook.logs() if '"uid"' in x)}
        caches = sorted(entries[d["request"]["uid"]]["cache"] for d in docs)
        # One evaluation; the others waited for it (or, arriving after it ended, hit the cache).
        assert caches.count("miss") == 1 and set(caches) <= {"miss", "coalesced", "memory"}, caches
        assert metric_value(hook.metrics(), "kubegate_admission_rejected_total", 'reason="queue_full"') == 0
    finally:
        hook.stop()


def test_strict_server_stays_not_ready_when_a_policy_fails_to_load(tmp_path: Path, certs: CertificateFiles) -> None:
    hook = start_webhook(tmp_path, certs, "--strict", "-p", str(tmp_path / "does-not-exist"), wait_ready=False)
    try:
        deadline = time.monotonic() + 30
        with hook.client() as c:
            while not c.get("/readyz").json().get("errors"):
                assert time.monotonic() < deadline, hook.log.read_text()
                time.sleep(0.1)
            ready = c.get("/readyz")
            assert ready.status_code == 503 and ready.json()["ready"] is False
            (error,) = ready.json()["errors"]
            assert error["code"] == "file_not_found" and "does-not-exist" in error["message"]
            assert c.get("/healthz").status_code == 200
        response = hook.review(admission_review(obj("pod-good")))
        assert response["allowed"] is False
        assert response["status"]["message"] == "kubegate: no policy set is loaded yet"
        assert metric_value(hook.metrics(), "kubegate_admission_rejected_total", 'reason="not_ready"') == 1
        assert "does-not-exist" in hook.log.read_text()
    finally:
        hook.stop()


def test_without_strict_the_policies_that_load_are_served_and_the_error_reported(
    tmp_path: Path, certs: CertificateFiles
) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "broken.rego").write_text("package broken\n\ndeny[msg] {\n")
    builtin = Engine([])  # the built-in library alone: what is served beside the broken file
    try:
        served = len(builtin.policies)
    finally:
        builtin.close()
    hook = start_webhook(tmp_path, certs, "-p", str(policies))
    try:
        with hook.client() as c:
            ready = c.get("/readyz").json()
        assert ready["ready"] is True and ready["loadErrors"] == 1 and ready["policies"] == served > 0
        assert metric_value(hook.metrics(), "kubegate_policy_load_errors") == 1
    finally:
        hook.stop()


def test_a_missing_policy_directory_keeps_the_server_not_ready_until_it_appears(
    tmp_path: Path, certs: CertificateFiles
) -> None:
    policies = tmp_path / "later"
    hook = start_webhook(tmp_path, certs, "-p", str(policies), wait_ready=False)
    try:
        with hook.client() as c:
            deadline = time.monotonic() + 30
            while c.get("/readyz").json().get("reason") != "policy source failed":
                assert time.monotonic() < deadline, hook.log.read_text()
                time.sleep(0.1)
            body = c.get("/readyz").json()
            assert body["errors"][0]["code"] == "file_not_found" and "later" in body["errors"][0]["message"]
            policies.mkdir()
            (policies / "p.rego").write_text('package p\nimport rego.v1\ndeny contains "x" if false\n')
            while c.get("/readyz").status_code != 200:
                assert time.monotonic() < deadline, hook.log.read_text()
                time.sleep(0.1)
        assert hook.log.read_text().count("policy source failed") == 1, "the failure is logged once, not per retry"
    finally:
        hook.stop()
