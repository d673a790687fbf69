"""WatchPolicyStream against real ``kubegate grpc`` processes: policy files changing under a
running server, decision-log entries resumed across kill -9 without loss or duplicates, and a
slow consumer ended with RESOURCE_EXHAUSTED."""

from __future__ import annotations

import json
import time
from pathlib import Path

import grpc
import pytest

from kubegate.grpc.client import Watch, position_of
from kubegate.webhook.certs import CertificateFiles
from tests.grpc.conftest import RULE, Gate, deployment, next_event, pod, running_gate


def test_watch_follows_policy_files(tmp_path: Path, certs: CertificateFiles) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "a.rego").write_text(RULE.format(n=1))
    with running_gate(tmp_path, certs, "--no-builtin", "--policies", str(policies)) as gate, gate.client() as client:
        watch = client.watch("operator", timeout=60)
        snapshot = next_event(watch, "snapshot")
        assert snapshot.ready and [p.id for p in snapshot.policies] == ["grpctests.watch1"]
        assert all(p.version and p.rollout == "stable" for p in snapshot.policies)

        (policies / "b.rego").write_text(RULE.format(n=2))
        added = next_event(watch, "activation")
        assert added.changed == ["grpctests.watch2"] and not added.removed
        assert added.sequence == snapshot.sequence + 1
        assert added.policy_set_version != snapshot.policy_set_version

        (policies / "a.rego").write_text(RULE.format(n=1).replace("team label", "the team label"))
        changed = next_event(watch, "activation")
        assert changed.changed == ["grpctests.watch1"]
        old = {p.id: p.version for p in added.policies}
        new = {p.id: p.version for p in changed.policies}
        assert old["grpctests.watch1"] != new["grpctests.watch1"] and old["grpctests.watch2"] == new["grpctests.watch2"]

        (policies / "b.rego").unlink()
        removed = next_event(watch, "activation")
        assert removed.removed == ["grpctests.watch2"] and [p.id for p in removed.policies] == ["grpctests.watch1"]
        # The reviews use what was activated.
        answer = client.review(pod())
        assert [v.message for v in answer.violations] == ["the team label missing (1)"]
        watch.close()


def _decision_ids(watch: Watch, want: int, timeout_s: float = 30.0) -> list[str]:
    """Reads ``want`` review records (the log also holds policy-set records), acknowledging
    every entry once processed."""
    ids: list[str] = []
    deadline = time.monotonic() + timeout_s
    for event in watch:
        position = position_of(event)
        if position is None:
            continue
        record = json.loads(event.decision.record_json)
        if record["path"] == "kubegate/grpc/review":
            ids.append(record["decision_id"])
        watch.ack(position)
        if len(ids) == want or time.monotonic() > deadline:
            break
    return ids


def test_decision_log_resumes_across_kill_9_without_loss_or_duplicates(tmp_path: Path, certs: CertificateFiles) -> None:
    log = tmp_path / "decisions"
    args: tuple[str, ...] = ("--no-builtin", "--policies", str(Path(__file__).parents[2] / "examples" / "policies"))
    args += ("--decision-log", str(log), "--cache-ttl", "0")
    first = Gate(tmp_path, certs, args)
    try:
        first.start()
        with first.client() as client:
            made = [
                client.review(deployment(name=f"a{i}", owner=None if i % 2 else "x-team")).decision_id
                for i in range(12)
            ]
            watch = client.watch("auditor", policy_updates=False, decision_log=True, timeout=60)
            seen = _decision_ids(watch, 5)
            resume = watch.last_acked
            watch.close()
    finally:
        first.kill()  # kill -9: nothing is flushed or closed
    assert seen == made[:5] and resume is not None

    second = Gate(tmp_path, certs, args)
    try:
        second.start()
        with second.client() as client:
            made += [client.review(deployment(name=f"b{i}")).decision_id for i in range(8)]
            watch = client.watch("auditor", policy_updates=False, decision_log=True, after=resume, timeout=60)
            seen += _decision_ids(watch, len(made) - len(seen))
            watch.close()
            # Without a position, the server resumes after the last acknowledgement it saved
            # (a closed watch has every acknowledgement saved).
            made.append(client.review(deployment(name="c0")).decision_id)
            watch = client.watch("auditor", policy_updates=False, decision_log=True, timeout=30)
            seen += _decision_ids(watch, 1)
            watch.close()
    finally:
        second.stop()
    assert len(seen) == len(set(seen)), "duplicates"
    assert seen == made, "lost or reordered"


def test_slow_consumer_is_ended_with_resource_exhausted(tmp_path: Path, certs: CertificateFiles) -> None:
    args: tuple[str, ...] = ("--no-builtin", "--policies", str(Path(__file__).parents[2] / "examples" / "policies"))
    args += ("--decision-log", str(tmp_path / "log"), "--decision-log-mode", "strict", "--cache-ttl", "0")
    args += ("--watch-buffer", "4", "--watch-slow-after", "1")
    with running_gate(tmp_path, certs, *args) as gate:
        big = "x" * 20_000
        with gate.client() as client:
            objects = [deployment(name=f"big{i}") for i in range(60)]
            for obj in objects:
                obj["metadata"]["annotations"] = {"note": big}
            answers = list(client.review_stream(objects, timeout=60))
            assert len(answers) == 60
        # A client that reads nothing: HTTP/2 flow control stops the server's writes.
        with gate.client(options=[("grpc.http2.bdp_probe", 0)]) as client:
            watch = client.watch("sleepy", policy_updates=False, decision_log=True, timeout=60)
            time.sleep(4)
            with pytest.raises(grpc.RpcError) as ended:
                for _ in watch:
                    pass
            assert ended.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "slow_consumer" in ended.value.details()
            # The server is fine and serves the next client.
            assert client.review(pod()).policy_set_version
