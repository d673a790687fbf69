"""Decision records: OPA's decision-log event plus the kubegate section; decision facts."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubegate import Engine
from kubegate.audit.record import DecisionFacts, build_record, facts_from_result, violations_of

# RFC 3339 in UTC with nanoseconds, as OPA writes its timestamps.
RFC3339_NANO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z$")

TEAM_LABEL = """package team.labels

import rego.v1

deny contains msg if {
  input.kind == "Pod"
  not input.metadata.labels.team
  msg := sprintf("pod %v needs a team label", [input.metadata.name])
}
"""

LATEST_TAG = """package images.latest

import rego.v1

warn contains msg if {
  some c in input.spec.containers
  endswith(c.image, ":latest")
  msg := sprintf("container %v uses :latest", [c.name])
}
"""

# Two definitions give a complete rule two values: evaluating this policy
# fails at run time (eval_conflict_error) on every backend.
BROKEN = """package broken.format

import rego.v1

level := 1 if input.kind == "Pod"

level := 2 if input.kind == "Pod"

deny contains "conflict" if level > 0
"""


def _review(**extra: Any) -> dict[str, Any]:
    review: dict[str, Any] = {
        "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
        "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
        "resource": {"group": "apps", "version": "v1", "resource": "deployments"},
        "operation": "CREATE",
        "namespace": "shop",
        "name": "web",
        "userInfo": {"username": "alice", "uid": "42", "groups": ["dev", "system:authenticated"]},
        "object": {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"replicas": 5},
        },
    }
    review.update(extra)
    return review


FACTS = DecisionFacts(
    allowed=False,
    violations=(
        {"policy": "replica-limit", "enforcement": "deny", "message": "5 replicas is more than 3"},
        {"policy": "team-label", "enforcement": "warn", "message": "web has no team label"},
    ),
    policies=(
        {"id": "replica-limit", "version": "a" * 64, "allowed": False, "durationMs": 0.412},
        {"id": "team-label", "version": "b" * 64, "allowed": True, "durationMs": 0.108},
    ),
    policy_set_version="c" * 64,
    duration_ns=1_234_567,
    rollout={"replica-limit": "canary"},
    shadow=({"policy": "team-label", "agree": False, "stableAllowed": True, "candidateAllowed": False},),
    message="denied by replica-limit: 5 replicas is more than 3",
    warnings=("web has no team label",),
)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    (tmp_path / "team.rego").write_text(TEAM_LABEL)
    (tmp_path / "latest.rego").write_text(LATEST_TAG)
    (tmp_path / "broken.rego").write_text(BROKEN)
    gate = Engine([str(tmp_path)], builtin=False)
    assert not gate.errors, [str(e) for e in gate.errors]
    yield gate
    gate.close()


def _pod(labels: dict[str, str] | None = None, image: str = "shop/app:1.0") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web-1", "namespace": "shop", "labels": labels or {}},
        "spec": {"containers": [{"name": "app", "image": image}]},
    }


# ---------------------------------------------------------------- build_record


def test_strict_record_has_opas_fields_and_the_kubegate_section() -> None:
    before = dt.datetime.now(dt.UTC)
    review = _review()
    record = build_record(
        review,
        FACTS,
        mode="strict",
        path="kubegate/admission",
        labels={"id": "gate-1", "version": "1.4.0", "cluster": "eu-1"},
        cache_hit=False,
        total_ns=2_500_000,
    )
    after = dt.datetime.now(dt.UTC)

    assert set(record) == {
        "decision_id",
        "timestamp",
        "path",
        "labels",
        "bundles",
        "input",
        "result",
        "metrics",
        "kubegate",
    }
    assert record["bundles"] == {"kubegate": {"revision": FACTS.policy_set_version}}  # OPA's field
    assert uuid.UUID(record["decision_id"]).version == 4
    assert RFC3339_NANO.match(record["timestamp"]), record["timestamp"]
    written = dt.datetime.fromisoformat(record["timestamp"][:26] + "+00:00")
    assert before - dt.timedelta(microseconds=1) <= written <= after
    assert record["path"] == "kubegate/admission"
    assert record["labels"] == {"id": "gate-1", "version": "1.4.0", "cluster": "eu-1"}
    assert record["input"] == {"review": review}
    assert record["result"] == {
        "allowed": False,
        "violations": [
            {"policy": "replica-limit", "enforcement": "deny", "message": "5 replicas is more than 3"},
            {"policy": "team-label", "enforcement": "warn", "message": "web has no team label"},
        ],
        "message": "denied by replica-limit: 5 replicas is more than 3",
        "warnings": ["web has no team label"],
    }
    assert record["metrics"] == {"timer_rego_query_eval_ns": 1_234_567, "timer_server_handler_ns": 2_500_000}
    assert record["kubegate"] == {
        "mode": "strict",
        "policySetVersion": "c" * 64,
        "policies": [
            {"id": "replica-limit", "version": "a" * 64, "allowed": False, "durationMs": 0.412},
            {"id": "team-label", "version": "b" * 64, "allowed": True, "durationMs": 0.108},
        ],
        "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
        "userInfo": {"username": "alice", "uid": "42", "groups": ["dev", "system:authenticated"]},
        "namespace": "shop",
        "kind": "Deployment",
        "name": "web",
        "operation": "CREATE",
        "cacheHit": False,
        "durationMs": 1.235,
        "rollout": {"replica-limit": "canary"},
        "shadow": [{"policy": "team-label", "agree": False, "stableAllowed": True, "candidateAllowed": False}],
    }
    assert json.loads(json.dumps(record)) == record


def test_standard_mode_keeps_identity_and_decision_but_not_the_object() -> None:
    record = build_record(_review(), FACTS, mode="standard", path="kubegate/review", labels={}, cache_hit=True)
    assert "input" not in record
    kubegate = record["kubegate"]
    assert kubegate["mode"] == "standard"
    assert kubegate["userInfo"] == {"username": "alice"}
    assert (kubegate["uid"], kubegate["namespace"], kubegate["kind"], kubegate["name"], kubegate["operation"]) == (
        "705ab4f5-6393-11e8-b7cc-42010a800002",
        "shop",
        "Deployment",
        "web",
        "CREATE",
    )
    assert kubegate["cacheHit"] is True
    assert [v["enforcement"] for v in record["result"]["violations"]] == ["deny", "warn"]
    assert [p["version"] for p in kubegate["policies"]] == ["a" * 64, "b" * 64]
    assert "replicas" not in json.dumps(record["kubegate"])
    assert '"spec"' not in json.dumps(record)


def test_decision_ids_are_unique_unless_given() -> None:
    ids = {build_record(_review(), FACTS, mode="standard", path="p", labels={})["decision_id"] for _ in range(50)}
    assert len(ids) == 50
    given = build_record(_review(), FACTS, mode="standard", path="p", labels={}, decision_id="fixed-id")
    assert given["decision_id"] == "fixed-id"


def test_a_minimal_decision_has_no_optional_fields() -> None:
    review = {"uid": "u-1", "kind": {"kind": "ConfigMap"}, "operation": "CREATE", "object": {"kind": "ConfigMap"}}
    record = build_record(review, DecisionFacts(allowed=True), mode="strict", path="kubegate/check", labels={})
    assert record["result"] == {"allowed": True, "violations": []}
    assert record["metrics"] == {}
    assert record["kubegate"] == {
        "mode": "strict",
        "policySetVersion": "",
        "policies": [],
        "uid": "u-1",
        "userInfo": {},
        "namespace": "",
        "kind": "ConfigMap",
        "name": "",
        "operation": "CREATE",
        "cacheHit": False,
        "durationMs": 0.0,
    }


def test_reason_is_recorded_when_the_engine_did_not_decide() -> None:
    facts = DecisionFacts(allowed=True, reason="timeout")
    record = build_record(_review(), facts, mode="standard", path="kubegate/admission", labels={})
    assert record["kubegate"]["reason"] == "timeout"
    assert record["result"]["allowed"] is True


def test_namespace_and_name_come_from_the_object_when_the_request_lacks_them() -> None:
    review = _review()
    del review["namespace"], review["name"]
    record = build_record(review, FACTS, mode="standard", path="p", labels={})
    assert (record["kubegate"]["namespace"], record["kubegate"]["name"]) == ("shop", "web")

    deletion = {
        "uid": "u-2",
        "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "operation": "DELETE",
        "object": None,
        "oldObject": {"kind": "Pod", "metadata": {"name": "old-pod", "namespace": "jobs"}},
    }
    record = build_record(deletion, DecisionFacts(allowed=True), mode="standard", path="p", labels={})
    assert (record["kubegate"]["namespace"], record["kubegate"]["name"]) == ("jobs", "old-pod")
    assert record["kubegate"]["operation"] == "DELETE"


def test_the_record_does_not_share_the_callers_labels_or_facts() -> None:
    labels = {"id": "gate-1"}
    record = build_record(_review(), FACTS, mode="strict", path="p", labels=labels)
    record["labels"]["id"] = "changed"
    record["result"]["violations"][0]["message"] = "changed"
    record["kubegate"]["policies"][0]["version"] = "changed"
    assert labels == {"id": "gate-1"}
    assert FACTS.violations[0]["message"] == "5 replicas is more than 3"
    assert FACTS.policies[0]["version"] == "a" * 64


def test_violations_of_a_stored_record() -> None:
    record = build_record(_review(), FACTS, mode="standard", path="p", labels={})
    assert [v["policy"] for v in violations_of(record)] == ["replica-limit", "team-label"]
    assert violations_of({}) == []
    assert violations_of({"result": True}) == []
    assert violations_of({"result": {"allowed": True}}) == []


# ---------------------------------------------------------------- DecisionFacts


def test_facts_round_trip_through_their_json_form() -> None:
    doc = FACTS.to_dict()
    assert doc == {
        "allowed": False,
        "violations": [dict(v) for v in FACTS.violations],
        "policies": [dict(p) for p in FACTS.policies],
        "policySetVersion": "c" * 64,
        "durationNs": 1_234_567,
        "reason": "",
        "rollout": {"replica-limit": "canary"},
        "shadow": [dict(s) for s in FACTS.shadow],
        "message": "denied by replica-limit: 5 replicas is more than 3",
        "warnings": ["web has no team label"],
        "auditAnnotations": {},
    }
    assert DecisionFacts.from_dict(doc) == FACTS
    assert DecisionFacts.from_dict(json.loads(json.dumps(doc))) == FACTS
    assert DecisionFacts.from_dict(DecisionFacts(allowed=True).to_dict()) == DecisionFacts(allowed=True)


def test_facts_from_a_document_that_is_not_facts() -> None:
    doc = FACTS.to_dict()
    del doc["policySetVersion"]
    with pytest.raises(KeyError, match="policySetVersion"):
        DecisionFacts.from_dict(doc)
    with pytest.raises(ValueError, match="invalid literal for int"):
        DecisionFacts.from_dict({**FACTS.to_dict(), "durationNs": "soon"})
    with pytest.raises(AttributeError, match="items"):
        DecisionFacts.from_dict({**FACTS.to_dict(), "rollout": ["canary"]})


# ---------------------------------------------------------------- facts from a real review


def test_facts_from_a_real_denying_review(engine: Engine) -> None:
    result = engine.review(_pod(image="shop/app:latest"), user_info={"username": "alice"})
    assert not result.allowed

    facts = facts_from_result(result)

    assert facts.allowed is False
    assert sorted(facts.violations, key=lambda v: str(v["policy"])) == [
        {"policy": "images.latest", "enforcement": "warn", "message": "container app uses :latest"},
        {"policy": "team.labels", "enforcement": "deny", "message": "pod web-1 needs a team label"},
    ]
    by_id = {str(p["id"]): p for p in facts.policies}
    assert set(by_id) == {"team.labels", "images.latest", "broken.format"}
    for decision in result.decisions:
        entry = by_id[decision.policy]
        assert entry["version"] == decision.version and re.fullmatch(r"[0-9a-f]{64}", str(entry["version"]))
        assert entry["allowed"] is decision.allowed
        assert entry["durationMs"] == round(decision.duration_ms, 3)
    assert by_id["team.labels"]["allowed"] is False and "error" not in by_id["team.labels"]
    assert by_id["images.latest"]["allowed"] is True
    assert by_id["broken.format"]["allowed"] is False and by_id["broken.format"]["error"]
    assert facts.policy_set_version == engine.version == result.policy_set_version
    assert facts.duration_ns == int(result.duration_ms * 1e6) and facts.duration_ns > 0
    assert (facts.reason, facts.rollout, facts.shadow, facts.message, facts.warnings) == ("", {}, (), "", ())

    review = {
        "uid": "u-9",
        "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "operation": "CREATE",
        "namespace": "shop",
        "userInfo": {"username": "alice"},
        "object": _pod(),
    }
    record = build_record(review, facts, mode="standard", path="kubegate/review", labels={})
    assert record["kubegate"]["policySetVersion"] == engine.version
    assert record["metrics"] == {"timer_rego_query_eval_ns": facts.duration_ns}
    assert {v["enforcement"] for v in record["result"]["violations"]} == {"deny", "warn"}
    assert DecisionFacts.from_dict(json.loads(json.dumps(facts.to_dict()))) == facts


def test_facts_from_a_real_allowing_review_with_overrides(tmp_path: Path) -> None:
    (tmp_path / "team.rego").write_text(TEAM_LABEL)
    engine = Engine([str(tmp_path)], builtin=False)
    try:
        result = engine.review(_pod(labels={"team": "web"}))
    finally:
        engine.close()
    assert result.allowed

    facts = facts_from_result(result)
    assert facts.allowed is True and facts.violations == ()
    (policy,) = facts.policies
    assert policy["id"] == "team.labels" and policy["allowed"] is True

    overridden = facts_from_result(result, allowed=False, reason="timeout", message="the engine did not answer")
    assert (overridden.allowed, overridden.reason, overridden.message) == (
        False,
        "timeout",
        "the engine did not answer",
    )
    assert overridden.policies == facts.policies
