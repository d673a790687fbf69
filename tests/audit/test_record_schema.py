"""The decision record's JSON Schema (package data) against real records: the SDK's, a real
`kubegate check --decision-log` process's, mask rules, every optional field; and records that
break the contract, each refused at the field it breaks."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from kubegate import Engine
from kubegate.audit.logger import DecisionLogger, LogSettings
from kubegate.audit.query import LogQuery
from kubegate.audit.record import DecisionFacts, LogMode, build_record
from kubegate.audit.redact import Redactor, parse_mask_rules
from kubegate.audit.sinks import FileSink

KUBEGATE = str(Path(sys.executable).parent / "kubegate")

TEAM_LABEL = """package team.labels

import rego.v1

deny contains msg if {
  input.review.object.kind == "Pod"
  not input.review.object.metadata.labels.team
  msg := sprintf("pod %v needs a team label", [input.review.object.metadata.name])
}
"""


def load_schema() -> dict[str, Any]:
    """The schema as an installed kubegate ships it (package data, read through importlib.resources)."""
    text = resources.files("kubegate.audit").joinpath("record.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


SCHEMA = load_schema()
DECISION = SCHEMA["$defs"]["decision"]
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def problems(record: Any) -> list[tuple[str, str]]:
    """(JSON path, failing keyword) of every violation, sorted."""
    return sorted((e.json_path, str(e.validator)) for e in VALIDATOR.iter_errors(record))


def assert_valid(record: Any) -> None:
    errors = [f"{e.json_path}: {e.message}" for e in VALIDATOR.iter_errors(record)]
    assert errors == [], errors


def _pod(name: str, labels: dict[str, str], email: str = "ops@bank.example") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "shop", "labels": labels, "annotations": {"contact": email}},
        "spec": {
            "containers": [{"name": "app", "image": "shop/app:1.0", "env": [{"name": "DB_PASSWORD", "value": "x"}]}]
        },
    }


def _review(**extra: Any) -> dict[str, Any]:
    review: dict[str, Any] = {
        "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
        "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"},
        "operation": "CREATE",
        "namespace": "shop",
        "name": "web",
        "userInfo": {"username": "jane@bank.example", "uid": "42", "groups": ["system:authenticated"]},
        "object": _pod("web", {}),
    }
    review.update(extra)
    return review


#: Every optional field build_record writes.
FULL_FACTS = DecisionFacts(
    allowed=False,
    violations=(
        {"policy": "team-label", "enforcement": "deny", "message": "pod web needs a team label"},
        {"policy": "latest-tag", "enforcement": "warn", "message": "web uses :latest"},
        {"policy": "cost-center", "enforcement": "dryrun", "message": "web has no cost center"},
    ),
    policies=(
        {"id": "team-label", "version": "a" * 64, "allowed": False, "durationMs": 0.412},
        {"id": "broken", "version": "b" * 64, "allowed": False, "durationMs": 0.1, "error": "eval_conflict_error"},
    ),
    policy_set_version="c" * 64,
    duration_ns=1_234_567,
    reason="evaluation_error",
    rollout={"team-label": "canary", "latest-tag": "stable"},
    shadow=(
        {
            "policy": "latest-tag",
            "agree": False,
            "stableAllowed": True,
            "candidateAllowed": False,
            "candidateVersion": "d" * 64,
        },
    ),
    message="denied by team-label: pod web needs a team label",
    warnings=("web uses :latest",),
    audit_annotations={"require-team/team": "missing"},
    images=(
        {
            "image": "registry.bank.internal/payments/api:1.4",
            "digest": "sha256:" + "e" * 64,
            "policy": "payments",
            "verified": True,
            "reason": "verified",
            "cached": True,
            "required": True,
            "durationMs": 0.2,
        },
    ),
)


def logged(record: dict[str, Any], redactor: Redactor | None = None) -> dict[str, Any]:
    """``record`` as the logger writes it: redacted, with its redaction counts."""
    counts = (redactor or Redactor()).redact(record)
    record["redaction"] = {"count": sum(counts.values()), "rules": counts}
    return record


def full_record(mode: LogMode = "strict", **kwargs: Any) -> dict[str, Any]:
    record = build_record(
        _review(),
        FULL_FACTS,
        mode=mode,
        path="kubegate/admission",
        labels={"id": "gate-1", "version": "0.1.0", "cluster": "eu-1"},
        total_ns=2_500_000,
        **kwargs,
    )
    return logged(record)


# ---- the schema itself


def test_the_schema_is_valid_json_schema_2020_12_shipped_in_the_package() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    # Every $ref resolves inside the file.
    text = json.dumps(SCHEMA)
    refs = {part.split('"')[0].split("/")[0] for part in text.split('"$ref": "#/$defs/')[1:]}
    assert refs and refs <= set(SCHEMA["$defs"])


def test_the_schema_names_exactly_the_fields_build_record_writes() -> None:
    """Both ways: a record with every optional field has every property the schema declares, no more."""
    record = full_record(cache_hit=False)  # a hit evaluated nothing: no timer_rego_query_eval_ns
    record["erased"], record["masked"] = ["/input/x"], ["/input/y"]  # what the Redactor adds with mask rules
    record["shortened"] = {"bytes": 2_000_000, "limit": 1_000_000}  # what the Kafka sink adds to a long record
    assert set(record) == set(DECISION["properties"])
    assert set(record["kubegate"]) == set(SCHEMA["$defs"]["kubegate"]["properties"])
    assert set(record["result"]) == set(SCHEMA["$defs"]["result"]["properties"])
    assert set(record["metrics"]) == set(DECISION["properties"]["metrics"]["properties"])
    assert set(record["result"]["violations"][0]) == set(SCHEMA["$defs"]["violation"]["properties"])
    assert set(record["kubegate"]["policies"][1]) == set(SCHEMA["$defs"]["policy"]["properties"])
    assert set(record["kubegate"]["shadow"][0]) == set(SCHEMA["$defs"]["shadow"]["properties"])
    assert set(record["kubegate"]["images"][0]) == set(SCHEMA["$defs"]["image"]["properties"])
    assert set(SCHEMA["$defs"]["violation"]["properties"]["enforcement"]["enum"]) == {
        v["enforcement"] for v in record["result"]["violations"]
    }


# ---- real records validate


@pytest.mark.parametrize("mode", ["strict", "standard"])
def test_records_with_every_optional_field_validate(mode: LogMode) -> None:
    record = full_record(mode)
    assert ("input" in record) is (mode == "strict")
    assert record["redaction"]["count"] > 0  # the email and the password were redacted
    assert_valid(record)
    assert_valid(json.loads(json.dumps(record)))


def test_a_minimal_record_validates() -> None:
    review = {"uid": "u-1", "kind": {"kind": "ConfigMap"}, "operation": "", "object": {"kind": "ConfigMap"}}
    record = logged(
        build_record(
            review,
            DecisionFacts(allowed=True),
            mode="strict",
            path="kubegate/check",
            labels={"id": "a", "version": "b"},
        )
    )
    assert record["metrics"] == {} and record["kubegate"]["policies"] == []
    assert_valid(record)


def test_identifiers_are_recorded_as_sent_and_still_validate() -> None:
    """The SDK reviews requests an API server would never send (a number as namespace): the record
    keeps them as sent, and the schema says so."""
    review = _review(namespace=5, name=["x"], userInfo={"username": 9})
    record = logged(
        build_record(
            review,
            DecisionFacts(allowed=True),
            mode="standard",
            path="kubegate/review",
            labels={"id": "a", "version": "b"},
        )
    )
    assert (record["kubegate"]["namespace"], record["kubegate"]["name"]) == (5, ["x"])
    assert_valid(record)


@pytest.fixture
def engine_log(tmp_path: Path) -> Iterator[tuple[Engine, DecisionLogger, Path]]:
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "team.rego").write_text(TEAM_LABEL)
    sink = tmp_path / "decisions.jsonl"
    log = DecisionLogger(LogSettings(str(tmp_path / "wal"), mode="strict", fsync="never"), sinks=[FileSink(str(sink))])
    engine = Engine([str(policies)], builtin=False, decision_log=log)
    assert not engine.errors, [str(e) for e in engine.errors]
    yield engine, log, sink
    engine.close()
    log.close()


def test_sdk_records_shipped_to_a_file_sink_validate(engine_log: tuple[Engine, DecisionLogger, Path]) -> None:
    engine, log, sink = engine_log
    assert engine.review(_pod("web", {})).allowed is False
    assert engine.review(_pod("api", {"team": "a"})).allowed is True
    engine.evaluate("team.labels", {"review": {"object": _pod("x", {})}})
    engine.evaluate("team.labels", ["evaluate", "records", "its", "input", "as", "given"])
    log.close()  # ships what is left
    records = [json.loads(line) for line in sink.read_text().splitlines()]
    # The file sink gets the log as written: the policy set's manifest before its first decision.
    assert [r["path"] for r in records] == (
        ["kubegate/policy-set"] + ["kubegate/review"] * 2 + ["kubegate/evaluate/team.labels"] * 2
    )
    manifest, decisions = records[0], records[1:]
    assert decisions[3]["input"] == ["evaluate", "records", "its", "input", "as", "given"]
    assert decisions[0]["redaction"]["rules"] == {"email": 1, "sensitive_env": 1}
    [version] = [p.version for p in engine.policies if p.id == "team.labels"]
    assert manifest["kubegate"]["policyVersions"] == {"team.labels": version}
    for record in decisions:
        assert record["bundles"] == {"kubegate": {"revision": manifest["kubegate"]["policySetVersion"]}}
        assert [p["id"] for p in record["kubegate"]["policies"]] == ["team.labels"]
        assert "version" not in record["kubegate"]["policies"][0]  # the manifest has it
    for record in records:
        assert_valid(record)


@pytest.mark.parametrize("mode", ["strict", "standard"])
def test_records_of_a_real_kubegate_check_process_validate(tmp_path: Path, mode: str) -> None:
    (tmp_path / "team.rego").write_text(TEAM_LABEL)
    manifests = tmp_path / "pods.yaml"
    manifests.write_text(yaml.safe_dump_all([_pod("web", {}), _pod("api", {"team": "a"})]))
    log = tmp_path / "log"
    proc = subprocess.run(
        [
            KUBEGATE,
            "check",
            "--no-builtin",
            "-p",
            str(tmp_path / "team.rego"),
            "--decision-log",
            str(log),
            "--decision-log-mode",
            mode,
            str(manifests),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr  # web is denied
    query = LogQuery(str(log))
    records = list(query.records())
    assert query.problems() == []
    assert sorted(r["kubegate"]["name"] for r in records) == ["api", "web"]
    assert {r["kubegate"]["mode"] for r in records} == {mode}
    for record in records:
        assert_valid(record)


# ---- mask rules


def test_mask_rules_listed_in_erased_and_masked_validate() -> None:
    redactor = Redactor(
        mask=parse_mask_rules(
            [
                "/input/review/userInfo/extra",
                "/kubegate/name",  # docs/audit.md: mask the name if it may hold personal data
                {"op": "upsert", "path": "/result/message", "value": {"hidden": True}},
            ]
        )
    )
    review = _review(userInfo={"username": "jane", "extra": {"scopes": ["a"]}})
    record = logged(
        build_record(review, FULL_FACTS, mode="strict", path="kubegate/admission", labels={"id": "a", "version": "b"}),
        redactor,
    )
    assert record["erased"] == ["/input/review/userInfo/extra", "/kubegate/name"]
    assert record["masked"] == ["/result/message"]
    assert "name" not in record["kubegate"] and record["result"]["message"] == {"hidden": True}
    assert_valid(record)
    # Without the mask rules listed, the same record breaks the contract where they edited it.
    del record["erased"], record["masked"]
    assert problems(record) == [("$.kubegate", "required"), ("$.result.message", "type")]


def test_a_mask_rule_on_input_leaves_result_and_kubegate_checked() -> None:
    redactor = Redactor(mask=parse_mask_rules(["/input"]))
    record = logged(
        build_record(
            _review(), FULL_FACTS, mode="strict", path="kubegate/admission", labels={"id": "a", "version": "b"}
        ),
        redactor,
    )
    assert "input" not in record and record["erased"] == ["/input"]
    assert_valid(record)
    record["kubegate"]["cacheHit"] = "no"
    assert problems(record) == [("$.kubegate.cacheHit", "type")]


# ---- broken records are refused at the field they break


def _set(path: str, value: Any) -> Any:
    def edit(record: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = record
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if value is KeyError:
            del node[last]
        else:
            node[last] = value

    return edit


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (_set("input", KeyError), [("$", "required")]),  # strict without input
        (_set("timestamp", "2026-11-21T10:33:56Z"), [("$.timestamp", "pattern")]),
        (_set("path", "data/system/main"), [("$.path", "pattern")]),
        (_set("labels.version", KeyError), [("$.labels", "required")]),
        (_set("labels.cluster", 3), [("$.labels.cluster", "type")]),
        (_set("extra", 1), [("$", "additionalProperties")]),
        (_set("input.other", {}), [("$.input", "additionalProperties")]),
        (_set("result.allowed", "false"), [("$.result.allowed", "type")]),
        (_set("result.violations.0.enforcement", "block"), [("$.result.violations[0].enforcement", "enum")]),
        (_set("result.warnings", []), [("$.result.warnings", "minItems")]),
        (_set("result.auditAnnotations.k", 1), [("$.result.auditAnnotations.k", "type")]),
        (_set("metrics.timer_rego_query_eval_ns", 1.5), [("$.metrics.timer_rego_query_eval_ns", "type")]),
        (_set("metrics.timer_other_ns", 1), [("$.metrics", "additionalProperties")]),
        (_set("kubegate.mode", "off"), [("$", "not"), ("$.kubegate.mode", "enum")]),  # and: not strict, yet input
        (_set("kubegate.uid", None), [("$.kubegate.uid", "not")]),
        (_set("kubegate.policies.0.durationMs", -1), [("$.kubegate.policies[0].durationMs", "minimum")]),
        (_set("kubegate.rollout.team-label", "blue"), [("$.kubegate.rollout['team-label']", "enum")]),
        (_set("kubegate.shadow.0.agree", KeyError), [("$.kubegate.shadow[0]", "required")]),
        (_set("kubegate.reason", ""), [("$.kubegate.reason", "minLength")]),
        (_set("redaction.count", KeyError), [("$.redaction", "required")]),
        (_set("redaction.rules.unknown", 1), [("$.redaction.rules", "pattern")]),  # its propertyNames
        (_set("erased", ["/labels/id"]), [("$.erased[0]", "pattern")]),
    ],
)
def test_a_record_breaking_the_contract_is_refused_where_it_breaks(edit: Any, expected: list[tuple[str, str]]) -> None:
    record = copy.deepcopy(full_record())
    assert_valid(record)
    edit(record)
    assert problems(record) == expected


def test_standard_records_have_no_input_and_only_the_username() -> None:
    record = full_record("standard")
    assert_valid(record)
    with_input = {**record, "input": {"review": {}}}
    assert problems(with_input) == [("$", "not")]
    record["kubegate"]["userInfo"]["groups"] = ["dev"]
    assert problems(record) == [("$.kubegate.userInfo", "additionalProperties")]
