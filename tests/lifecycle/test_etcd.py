"""The etcd store and source against a real etcd: push, watch, resume, resync, rollback."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from kubegate.errors import KubegateError
from kubegate.lifecycle.etcd import EtcdSource, EtcdStore, set_version
from kubegate.lifecycle.manager import PolicyManager
from tests.conftest import EtcdServer
from tests.lifecycle.conftest import review, rule


def messages(manager: PolicyManager) -> list[str]:
    snapshot = manager.snapshot
    assert snapshot is not None
    return sorted(v.message for v in snapshot.review(review()).result.violations)


def wait_for(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_push_is_one_transaction_with_history(etcd_server: EtcdServer) -> None:
    store = EtcdStore(etcd_server.url, "/t/", history=3)
    assert store.read() is None
    files = {"a.kgr": rule("a", "v1")}
    first = store.push(files, {"a": {"version": "x", "file": "a.kgr"}}, "one")
    assert (first.seq, first.version) == (1, set_version(files))
    for i in range(2, 6):
        store.push({"a.kgr": rule("a", f"v{i}")}, {}, f"push {i}")
    current = store.read()
    assert current is not None and current.seq == 5 and current.files["a.kgr"] == rule("a", "v5")
    assert [h.seq for h in store.history()] == [5, 4, 3], "only the last 3 pushes are kept"


def test_a_concurrent_push_loses_instead_of_overwriting(etcd_server: EtcdServer) -> None:
    store = EtcdStore(etcd_server.url, "/t/")
    store.push({"a.kgr": rule("a", "v1")}, {})
    original = store.read
    stale = original()

    def read_then_race(revision=None):  # type: ignore[no-untyped-def]
        found = original(revision)
        if revision is None:
            EtcdStore(etcd_server.url, "/t/").push({"a.kgr": rule("a", "other")}, {})
            return stale
        return found

    store.read = read_then_race  # type: ignore[method-assign]
    with pytest.raises(KubegateError) as info:
        store.push({"a.kgr": rule("a", "mine")}, {})
    assert info.value.code == "etcd_conflict"
    assert EtcdStore(etcd_server.url, "/t/").read().files["a.kgr"] == rule("a", "other")  # type: ignore[union-attr]


def test_source_follows_pushes_survives_an_outage_and_resumes(etcd_server: EtcdServer, manager: PolicyManager) -> None:
    store = EtcdStore(etcd_server.url, "/s/", timeout_s=1)
    store.push({"a.kgr": rule("a", "v1")}, {})
    events: list[str] = []
    source = EtcdSource(manager, store, health_s=0.2, on_event=events.append)
    assert source.load() and messages(manager) == ["a v1"]
    source.start()
    try:
        store.push({"a.kgr": rule("a", "v2")}, {})
        wait_for(lambda: messages(manager) == ["a v2"])
        etcd_server.kill()
        wait_for(lambda: manager.staleness_s() > 0)
        assert messages(manager) == ["a v2"], "the last good set stays in force"
        assert manager.status()["source"]["error"]["code"] == "etcd_unavailable"
        etcd_server.start()  # same data directory: the pushes are still there
        EtcdStore(etcd_server.url, "/s/").push({"a.kgr": rule("a", "v3")}, {})
        wait_for(lambda: messages(manager) == ["a v3"], timeout=20)
        wait_for(lambda: manager.staleness_s() == 0)
        assert "disconnected" in events and "reconnected" in events
    finally:
        source.stop()


def test_a_compacted_revision_means_a_full_resync(etcd_server: EtcdServer, manager: PolicyManager) -> None:
    store = EtcdStore(etcd_server.url, "/c/")
    store.push({"a.kgr": rule("a", "v1")}, {})
    events: list[str] = []
    source = EtcdSource(manager, store, on_event=events.append)
    assert source.load()
    seen = source.revision
    for i in range(2, 6):
        store.push({"a.kgr": rule("a", f"v{i}")}, {})
    etcd_server.compact()
    # A replica that was away since `seen` finds that revision compacted.
    source.revision = seen
    thread = threading.Thread(target=source._watch_once, daemon=True)
    thread.start()
    thread.join(10)
    assert "resynced" in events
    assert messages(manager) == ["a v5"] and source.revision > seen


def test_push_validates_before_writing_and_rollback_restores(etcd_server: EtcdServer, tmp_path: Path) -> None:
    def kubegate(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "kubegate", *args], capture_output=True, text=True, timeout=120)

    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "a.kgr").write_text(rule("a", "v1"))
    etcd = ["--etcd", etcd_server.url, "--no-builtin"]
    assert kubegate("push", str(policies), *etcd, "-m", "first").returncode == 0
    (policies / "a.kgr").write_text(rule("a", "v2"))
    assert kubegate("push", str(policies), *etcd, "-m", "second").returncode == 0
    # An invalid set is refused before anything is written.
    (policies / "bad.kgr").write_text('RULE bad ON Podd WHEN kind == "Pod" THEN DENY("x")\n')
    refused = kubegate("push", str(policies), *etcd)
    assert refused.returncode == 2 and "dsl_unknown_kind" in refused.stderr and "bad.kgr:1:13" in refused.stderr
    store = EtcdStore(etcd_server.url)
    current = store.read()
    assert current is not None and current.seq == 2 and "bad.kgr" not in current.files
    (policies / "bad.kgr").unlink()
    back = kubegate("rollback", "a", "--etcd", etcd_server.url, "--no-builtin")
    assert back.returncode == 0, back.stderr
    restored = store.read()
    assert restored is not None and restored.seq == 3 and restored.files["a.kgr"] == rule("a", "v1")
    assert restored.message.startswith("rollback a to ")
    missing = kubegate("rollback", "nope", "--etcd", etcd_server.url, "--no-builtin")
    assert missing.returncode == 2 and "unknown_policy" in missing.stderr
    shown = kubegate("status", "--etcd", etcd_server.url)
    assert shown.returncode == 0 and "#3" in shown.stdout and "rollback a" in shown.stdout


def test_a_pushed_validating_admission_policy_with_rbac_is_enforced(
    etcd_server: EtcdServer, manager: PolicyManager
) -> None:
    """A VAP whose validation asks the authorizer, with the RBAC objects that
    answer it, pushed to etcd as files; then a second push adds an
    AuthorizerConfig whose default allows."""
    policy = """apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: pods.example.org}
spec:
  matchConstraints:
    resourceRules: [{apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [pods]}]
  validations:
    - expression: authorizer.group('').resource('pods').namespace('shop').check('create').allowed()
      messageExpression: >-
        'no create grant: ' +
        authorizer.group('').resource('pods').namespace('shop').check('create').reason()
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: pods}
spec: {policyName: pods.example.org, validationActions: [Deny]}
"""
    rbac = """apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: creator}
rules: [{apiGroups: [""], resources: [pods], verbs: [create]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: creators}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: creator}
subjects: [{kind: Group, name: %s, apiGroup: rbac.authorization.k8s.io}]
"""
    store = EtcdStore(etcd_server.url, "/vap/", timeout_s=1)
    store.push({"vap.yaml": policy, "rbac.yaml": rbac % "nobody"}, {})
    source = EtcdSource(manager, store, health_s=0.2)
    assert source.load()
    [message] = messages(manager)  # review()'s request has no user in group "nobody"
    assert message.startswith("no create grant: kubegate offline authorizer: no rule allows")
    source.start()
    try:
        allow = "apiVersion: kubegate.io/v1alpha1\nkind: AuthorizerConfig\ndefault: allow\n"
        store.push({"vap.yaml": policy, "rbac.yaml": rbac % "nobody", "authz.yaml": allow}, {})
        wait_for(lambda: messages(manager) == [])
    finally:
        source.stop()
