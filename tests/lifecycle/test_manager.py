"""Snapshots, rollouts (canary, shadow, promotion) and status."""

from __future__ import annotations

import pytest

from kubegate.errors import PolicyLoadError
from kubegate.lifecycle.builder import PolicySetBuilder
from kubegate.lifecycle.manager import PolicyManager
from kubegate.policy.rollout import Rollout, parse_rollout
from tests.lifecycle.conftest import constraint, review, rule, template


def test_parse_rollout() -> None:
    assert parse_rollout("canary 10%") == Rollout("canary", 10, "uid")
    assert parse_rollout("Canary 25% by namespace") == Rollout("canary", 25, "namespace")
    assert parse_rollout("shadow") == Rollout("shadow")
    for bad in ("canary", "canary 101%", "blue-green", 5):
        with pytest.raises(PolicyLoadError) as info:
            parse_rollout(bad)
        assert info.value.code == "invalid_rollout"


def test_canary_split_is_deterministic_and_proportional() -> None:
    canary = Rollout("canary", 20)
    picks = [canary.selects({"uid": f"uid-{i}"}) for i in range(2000)]
    assert 0.17 < sum(picks) / len(picks) < 0.23
    assert picks == [canary.selects({"uid": f"uid-{i}"}) for i in range(2000)], "a retried uid lands on the same side"
    by_ns = Rollout("canary", 50, "namespace")
    assert len({by_ns.selects({"uid": str(i), "namespace": "shop"}) for i in range(50)}) == 1


def deny_messages(manager: PolicyManager, uid: str) -> list[str]:
    snapshot = manager.snapshot
    assert snapshot is not None
    return sorted(v.message for v in snapshot.review(review(uid)).result.violations)


def test_canary_then_promotion(manager: PolicyManager) -> None:
    manager.apply({"a.kgr": rule("a", "v1")}, "test")
    outcome = manager.apply({"a.kgr": rule("a", "v2", "CANARY 30%")}, "test")
    assert outcome.result == "applied"
    snapshot = manager.snapshot
    assert snapshot is not None and snapshot.rollouts["a"] == Rollout("canary", 30)
    routed = [snapshot.review(review(f"u{i}")) for i in range(300)]
    canary = [r for r in routed if r.arms["a"] == "canary"]
    assert 0.2 < len(canary) / len(routed) < 0.4
    assert all([v.message for v in r.result.violations] == ["a v2"] for r in canary)
    assert all([v.message for v in r.result.violations] == ["a v1"] for r in routed if r.arms["a"] == "stable")
    status = {p["id"]: p for p in manager.status()["policies"]}
    assert status["a"]["rollout"] == "canary 30%" and status["a"]["stableVersion"]
    # Promotion: the declaration is removed; every request gets v2.
    manager.apply({"a.kgr": rule("a", "v2")}, "test")
    assert manager.snapshot is not None and not manager.snapshot.rollouts
    assert {m for i in range(50) for m in deny_messages(manager, f"u{i}")} == {"a v2"}


def test_shadow_is_evaluated_and_compared_not_enforced(manager: PolicyManager) -> None:
    manager.apply({"t.yaml": template("K8sS", "strict v1"), "c.yaml": constraint("K8sS", "c")}, "test")
    loose = template("K8sS", "strict v1").replace(
        'input.review.object.kind == "Pod"', 'input.review.object.kind == "Job"'
    )
    manager.apply({"t.yaml": loose, "c.yaml": constraint("K8sS", "c", "kubegate.io/rollout: shadow")}, "test")
    snapshot = manager.snapshot
    assert snapshot is not None and snapshot.rollouts["K8sS/c"] == Rollout("shadow")
    routed = snapshot.review(review())
    assert [v.message for v in routed.result.violations] == ["strict v1"], "the stable version is enforced"
    (comparison,) = routed.shadow
    assert comparison.policy == "K8sS/c" and not comparison.agree
    assert comparison.stable is not None and not comparison.stable.allowed and comparison.candidate.allowed


def test_a_new_policy_can_enter_as_a_canary(manager: PolicyManager) -> None:
    manager.apply({"b.kgr": rule("b", "v1")}, "test")
    manager.apply({"b.kgr": rule("b", "v1"), "a.kgr": rule("a", "v1", "CANARY 50%")}, "test")
    snapshot = manager.snapshot
    assert snapshot is not None and "a" not in snapshot.stable
    seen = {tuple(deny_messages(manager, f"u{i}")) for i in range(60)}
    assert seen == {("a v1", "b v1"), ("b v1",)}


def test_invalid_rollout_is_a_load_error(manager: PolicyManager) -> None:
    manager.apply({"t.yaml": template("K8sR", "r"), "c.yaml": constraint("K8sR", "c")}, "test")
    outcome = manager.apply(
        {"t.yaml": template("K8sR", "r"), "c.yaml": constraint("K8sR", "c", "kubegate.io/rollout: half")}, "test"
    )
    assert outcome.result in ("partial", "rejected")
    assert any(e.code == "invalid_rollout" for e in outcome.errors)
    assert deny_messages(manager, "u") == ["r"]


def test_strict_serves_nothing_with_errors(builder: PolicySetBuilder) -> None:
    manager = PolicyManager(builder, strict=True)
    outcome = manager.apply({"a.kgr": rule("a", "v1"), "bad.rego": "package x\ndeny[msg] {\n"}, "test")
    assert outcome.result == "rejected" and manager.snapshot is None and manager.last_rejection


def test_status_and_history(manager: PolicyManager) -> None:
    manager.apply({"a.kgr": rule("a", "v1")}, "first")
    manager.apply({"a.kgr": rule("a", "v1"), "x.kgr": 'RULE x ON Pod WHEN nope THEN DENY("x")\n'}, "second")
    status = manager.status()
    assert status["sequence"] == 2 and status["origin"] == "second"
    (policy,) = status["policies"]
    assert policy["id"] == "a" and policy["source"] == "a.kgr:1:6" and policy["loadedAt"]
    assert status["rejectedFiles"]["x.kgr"][0]["code"] == "dsl_unbound_name"
    assert [h["origin"] for h in status["history"]] == ["second", "first"]
    assert (
        manager.apply({"a.kgr": rule("a", "v1"), "x.kgr": 'RULE x ON Pod WHEN nope THEN DENY("x")\n'}, "third").result
        == "unchanged"
    )


def vap_files(message: str, rollout: str = "") -> dict[str, str]:
    """A ValidatingAdmissionPolicy denying every Pod with ``message``, and its binding."""
    annotation = f"\n  annotations: {{kubegate.io/rollout: {rollout!r}}}" if rollout else ""
    policy = f"""apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {{name: pods.example.org}}
spec:
  matchConstraints:
    resourceRules: [{{apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [pods]}}]
  validations: [{{expression: "false", message: {message!r}}}]
"""
    binding = f"""apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: pods{annotation}
spec: {{policyName: pods.example.org, validationActions: [Deny]}}
"""
    return {"vap.yaml": policy, "binding.yaml": binding}


def test_a_validating_admission_policy_binding_rolls_out_as_canary_and_shadow(manager: PolicyManager) -> None:
    policy_id = "ValidatingAdmissionPolicyBinding/pods"
    manager.apply(vap_files("v1"), "test")
    assert deny_messages(manager, "u") == ["v1"]
    manager.apply(vap_files("v2", "canary 50%"), "test")
    snapshot = manager.snapshot
    assert snapshot is not None and snapshot.rollouts[policy_id] == Rollout("canary", 50)
    seen = {tuple(deny_messages(manager, f"u{i}")) for i in range(60)}
    assert seen == {("v1",), ("v2",)}
    manager.apply(vap_files("v3", "shadow"), "test")
    routed = manager.snapshot.review(review()) if manager.snapshot else None
    assert routed is not None and [v.message for v in routed.result.violations] == ["v1"]
    (comparison,) = routed.shadow
    assert comparison.policy == policy_id and not comparison.agree  # both deny, with other messages
    assert comparison.stable is not None and not comparison.stable.allowed and not comparison.candidate.allowed
    assert [v.message for v in comparison.candidate.violations] == ["v3"]
    outcome = manager.apply(vap_files("v4", "half"), "test")
    assert any(e.code == "invalid_rollout" for e in outcome.errors)
