"""Hot reload against a real server: file writes, broken files, a deleted directory, rollouts, etcd replicas."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from kubegate.webhook.certs import CertificateFiles
from tests.conftest import EtcdServer
from tests.webhook.conftest import Webhook, admission_review, metric_value, obj, start_webhook

RULE = 'RULE marker ON Pod WHEN kind == "Pod" THEN DENY("marker {version}")\n'


RELOAD_WAIT_S = 30.0
"""How long a test waits for a reload to be served: a wait for an event, not a
speed bound (under the whole suite on 2 cores a reload took over 10 s once)."""


def denial(hook: Webhook, uid: str | None = None) -> str:
    response = hook.review(admission_review(obj("pod-good"), uid=uid))
    return str(response.get("status", {}).get("message", ""))


def wait_for_denial(hook: Webhook, expected: str, timeout: float = RELOAD_WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while expected not in denial(hook):
        assert time.monotonic() < deadline, f"{expected!r} never served:\n{hook.log.read_text()[-3000:]}"
        time.sleep(0.02)


def write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name("." + path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def policies_status(hook: Webhook) -> dict:  # type: ignore[type-arg]
    with hook.client() as c:
        return c.get("/policies").json()  # type: ignore[no-any-return]


def test_file_changes_are_served_without_restart(tmp_path: Path, certs: CertificateFiles) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    rule = policies / "marker.kgr"
    rule.write_text(RULE.format(version="v1"))
    hook = start_webhook(tmp_path, certs, "--no-builtin", "-p", str(policies), "--cache-ttl", "0")
    try:
        pid = hook.process.pid
        assert "marker v1" in denial(hook)
        write_atomically(rule, RULE.format(version="v2"))  # editors, kubectl cp, ConfigMap volumes
        wait_for_denial(hook, "marker v2")
        rule.write_text(RULE.format(version="v3"))  # a plain in-place write
        wait_for_denial(hook, "marker v3")
        assert hook.process.pid == pid
        status = policies_status(hook)
        (entry,) = status["policies"]
        assert entry["id"] == "marker" and entry["source"].endswith("marker.kgr:1:6") and entry["loadedAt"]
        assert status["sequence"] >= 3 and status["origin"].startswith("dir:")
        assert metric_value(hook.metrics(), "kubegate_policy_reloads_total", 'result="applied"') >= 2
    finally:
        hook.stop()


def test_a_half_written_file_never_replaces_the_last_good_version(tmp_path: Path, certs: CertificateFiles) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    rule = policies / "marker.kgr"
    rule.write_text(RULE.format(version="v1"))
    other = policies / "other.kgr"
    other.write_text('RULE other ON Pod WHEN kind == "Pod" THEN WARN("other v1")\n')
    hook = start_webhook(tmp_path, certs, "--no-builtin", "-p", str(policies), "--cache-ttl", "0")
    try:
        full = RULE.format(version="v2")
        rule.write_text(full[: len(full) // 2])  # the writer was interrupted halfway
        other.write_text('RULE other ON Pod WHEN kind == "Pod" THEN WARN("other v2")\n')
        deadline = time.monotonic() + RELOAD_WAIT_S
        while str(rule) not in policies_status(hook)["rejectedFiles"]:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        response = hook.review(admission_review(obj("pod-good")))
        assert response["status"]["message"] == "[marker] marker v1", "the last good version stays in force"
        status = policies_status(hook)
        marker = next(p for p in status["policies"] if p["id"] == "marker")
        assert marker["lastError"]["code"] == "dsl_parse_error"
        assert status["rejectedFiles"][str(rule)][0]["location"]["file"] == str(rule)
        wait_for_denial(hook, "marker v1")
        assert any("other v2" in w for w in hook.review(admission_review(obj("pod-good")))["warnings"])
        rule.write_text(full)  # the write completes
        wait_for_denial(hook, "marker v2")
        assert policies_status(hook)["rejectedFiles"] == {}
        assert metric_value(hook.metrics(), "kubegate_policy_reloads_total", 'result="partial"') >= 1
    finally:
        hook.stop()


def test_a_deleted_policy_directory_keeps_the_last_good_set(tmp_path: Path, certs: CertificateFiles) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "marker.kgr").write_text(RULE.format(version="v1"))
    hook = start_webhook(
        tmp_path, certs, "--no-builtin", "-p", str(policies), "--cache-ttl", "0", "--max-staleness", "0.5"
    )
    try:
        shutil.rmtree(policies)
        deadline = time.monotonic() + RELOAD_WAIT_S
        with hook.client() as c:
            while not c.get("/readyz").json().get("stale"):
                assert time.monotonic() < deadline, hook.log.read_text()[-2000:]
                time.sleep(0.05)
            ready = c.get("/readyz")
            assert ready.status_code == 200, "still serving: reported, not taken out of rotation"
            assert ready.json()["sourceError"]["code"] == "file_not_found"
        assert "marker v1" in denial(hook)
        policies.mkdir()
        (policies / "marker.kgr").write_text(RULE.format(version="v2"))
        wait_for_denial(hook, "marker v2")
        with hook.client() as c:
            assert c.get("/readyz").json()["stale"] is False
    finally:
        hook.stop()


def test_duplicate_ids_are_refused_and_reported(tmp_path: Path, certs: CertificateFiles) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "marker.kgr").write_text(RULE.format(version="v1"))
    hook = start_webhook(tmp_path, certs, "--no-builtin", "-p", str(policies), "--cache-ttl", "0")
    try:
        (policies / "copy.kgr").write_text(RULE.format(version="copy"))
        deadline = time.monotonic() + RELOAD_WAIT_S
        while (policies_status(hook).get("lastUpdate") or {}).get("result") not in ("rejected", "partial"):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        update = policies_status(hook)["lastUpdate"]
        assert update["errors"][0]["code"] in ("dsl_duplicate_rule", "duplicate_policy_id")
        assert "marker" in update["errors"][0]["message"]
        assert "marker v1" in denial(hook), "the last good set stays in force"
        assert metric_value(hook.metrics(), "kubegate_policy_reloads_total", 'result="rejected"') >= 1
    finally:
        hook.stop()


def test_canary_and_shadow_from_files(tmp_path: Path, certs: CertificateFiles) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    rule = policies / "marker.kgr"
    rule.write_text(RULE.format(version="v1"))
    hook = start_webhook(tmp_path, certs, "--no-builtin", "-p", str(policies), "--cache-ttl", "0")
    try:
        write_atomically(rule, RULE.format(version="v2").replace("ON Pod", "ON Pod ROLLOUT CANARY 50%"))
        deadline = time.monotonic() + RELOAD_WAIT_S
        while policies_status(hook)["policies"][0]["rollout"] != "canary 50%":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        arms = {uid: denial(hook, uid) for uid in (f"req-{i}" for i in range(40))}
        assert set(arms.values()) == {"[marker] marker v1", "[marker] marker v2"}
        assert all(denial(hook, uid) == message for uid, message in list(arms.items())[:10]), "same uid, same version"
        text = hook.metrics()
        assert metric_value(text, "kubegate_canary_decisions_total", 'arm="canary",policy="marker"') > 0
        assert metric_value(text, "kubegate_canary_decisions_total", 'arm="stable",policy="marker"') > 0
        # Shadow: v3 would allow; v1 keeps being enforced and the disagreement is logged.
        write_atomically(
            rule,
            'RULE marker ON Pod ROLLOUT SHADOW WHEN labels["never"] == "x" THEN DENY("marker v3")\n',
        )
        while policies_status(hook)["policies"][0]["rollout"] != "shadow":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        doc = admission_review(obj("pod-good"))
        assert hook.review(doc)["status"]["message"] == "[marker] marker v1"
        assert metric_value(hook.metrics(), "kubegate_shadow_disagreements_total", 'policy="marker"') >= 1
        lines = [json.loads(x) for x in hook.logs() if '"shadow disagreement"' in x]
        assert any(e["uid"] == doc["request"]["uid"] and e["candidate"]["allowed"] is True for e in lines)
        # Promotion: the declaration goes away.
        write_atomically(rule, 'RULE marker ON Pod WHEN labels["never"] == "x" THEN DENY("marker v3")\n')
        deadline = time.monotonic() + RELOAD_WAIT_S
        while "status" in hook.review(admission_review(obj("pod-good"))):
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        hook.stop()


def test_three_replicas_converge_on_etcd_and_ride_out_an_outage(
    tmp_path: Path, certs: CertificateFiles, etcd_server: EtcdServer
) -> None:
    import subprocess
    import sys

    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "marker.kgr").write_text(RULE.format(version="v1"))

    def push() -> None:
        proc = subprocess.run(
            [sys.executable, "-m", "kubegate", "push", str(policies), "--etcd", etcd_server.url, "--no-builtin"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr

    push()
    args = ("--no-builtin", "--etcd", etcd_server.url, "--cache-ttl", "0", "--max-staleness", "0.5")
    replicas = [start_webhook(tmp_path / f"r{i}", certs, *args) for i in range(3)]
    try:
        assert all("marker v1" in denial(r) for r in replicas)
        (policies / "marker.kgr").write_text(RULE.format(version="v2"))
        push()
        for replica in replicas:
            wait_for_denial(replica, "marker v2")
        etcd_server.kill()
        for replica in replicas:
            deadline = time.monotonic() + RELOAD_WAIT_S
            with replica.client() as c:
                while not c.get("/readyz").json().get("stale"):
                    assert time.monotonic() < deadline
                    time.sleep(0.05)
            assert "marker v2" in denial(replica), "the last good set keeps being enforced"
        etcd_server.start()
        (policies / "marker.kgr").write_text(RULE.format(version="v3"))
        push()
        for replica in replicas:
            wait_for_denial(replica, "marker v3", timeout=30)
            with replica.client() as c:
                assert c.get("/readyz").json()["stale"] is False
    finally:
        for replica in replicas:
            replica.stop()


def test_a_file_emptied_of_its_rules_is_held_reported_then_applied(tmp_path: Path, certs: CertificateFiles) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    rule = policies / "marker.kgr"
    rule.write_text(RULE.format(version="v1"))
    hook = start_webhook(tmp_path, certs, "--no-builtin", "-p", str(policies), "--cache-ttl", "0")
    try:
        written = time.monotonic()
        rule.write_text("")  # what a reader sees between the truncation and the write, or an emptying on purpose
        deadline = time.monotonic() + RELOAD_WAIT_S
        while not policies_status(hook)["suspect"]:
            assert time.monotonic() < deadline, hook.log.read_text()[-3000:]
            time.sleep(0.05)
        (suspect,) = policies_status(hook)["suspect"]
        assert suspect["file"] == str(rule) and suspect["reason"].startswith("every policy removed")
        assert "marker v1" in denial(hook), "the last good version stays in force while held"
        text = hook.metrics()
        assert metric_value(text, "kubegate_policy_suspect_changes_total") == 1
        assert metric_value(text, "kubegate_policy_suspect_files") == 1
        deadline = time.monotonic() + RELOAD_WAIT_S
        while "status" in hook.review(admission_review(obj("pod-good"))):
            assert time.monotonic() < deadline, hook.log.read_text()[-3000:]
            time.sleep(0.05)
        assert time.monotonic() - written >= 2.0, "applied after the 2 s hold, with no other change"
        assert policies_status(hook)["suspect"] == []
        assert metric_value(hook.metrics(), "kubegate_policy_suspect_files") == 0
        assert any("lost every" in line or "every policy removed" in line for line in hook.logs())
    finally:
        hook.stop()
