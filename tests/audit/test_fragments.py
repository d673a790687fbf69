"""A cache hit's decision record reuses the redacted fragments of its evaluation's
record (kubegate.audit.fragments): the record is the one full redaction gives,
and nothing is reused when the parts differ or mask rules are configured."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from kubegate.audit.logger import DecisionLogger, LogSettings
from kubegate.audit.manifest import is_manifest
from kubegate.audit.record import DecisionFacts
from kubegate.audit.redact import Redactor, parse_mask_rules
from kubegate.audit.wal import LogReader

# A uid holding a card-number-like run, so the uid itself is redacted and counted.
SECRET_UID = "4111 1111 1111 1111"


def review(uid: str, password: str = "hunter2-hunter2") -> dict[str, Any]:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "shop", "annotations": {"owner": "ana@bank.example"}},
        "spec": {"containers": [{"name": "c", "image": "x", "env": [{"name": "DB_PASSWORD", "value": password}]}]},
    }
    return {
        "uid": uid,
        "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "operation": "CREATE",
        "namespace": "shop",
        "userInfo": {"username": "ana@bank.example", "groups": ["dev"]},
        "object": pod,
    }


FACTS = DecisionFacts(
    allowed=False,
    violations=({"policy": "p", "enforcement": "deny", "message": "owner ana@bank.example may not"},),
    policies=({"id": "p", "version": "v", "allowed": False, "durationMs": 1.0},),
    policy_set_version="set",
)


class CountingRedactor(Redactor):
    """The real redactor, counting whole-record redactions."""

    calls = 0

    def redact(self, record: dict[str, Any]) -> dict[str, int]:
        type(self).calls += 1
        return super().redact(record)


def records(directory: Path) -> list[dict[str, Any]]:
    """The decision records of the log (its policy-set manifests left out)."""
    reader = LogReader(str(directory))
    return [r for r in (json.loads(payload) for payload in reader.records()) if not is_manifest(r)]


def comparable(record: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(record)
    for key in ("decision_id", "timestamp"):
        out.pop(key)
    out["kubegate"].pop("cacheHit")
    out["kubegate"].pop("uid")
    return out


@pytest.mark.parametrize("mode", ["strict", "standard"])
def test_a_hit_record_is_what_full_redaction_gives(tmp_path: Path, mode: str) -> None:
    reusing = DecisionLogger(LogSettings(str(tmp_path / "reuse"), mode=mode), redactor=CountingRedactor())
    full = DecisionLogger(LogSettings(str(tmp_path / "full"), mode=mode))
    try:
        CountingRedactor.calls = 0
        reusing.record(review("u-1"), FACTS, path="kubegate/admission", reuse_key="k")
        for uid in ("u-2", SECRET_UID):
            reusing.record(review(uid), FACTS, path="kubegate/admission", cache_hit=True, reuse_key="k")
            full.record(review(uid), FACTS, path="kubegate/admission", cache_hit=True)
        assert CountingRedactor.calls == 1, "the hits were not redacted again"
    finally:
        reusing.close()
        full.close()
    first, *hits = records(tmp_path / "reuse")
    expected = records(tmp_path / "full")
    assert [comparable(h) for h in hits] == [comparable(e) for e in expected]
    assert "hunter2" not in json.dumps(hits) and "ana@bank.example" not in json.dumps(hits)
    if mode == "strict":
        assert hits[0]["input"]["review"]["uid"] == "u-2"
        assert hits[1]["input"]["review"]["uid"] != SECRET_UID  # the new uid is scanned itself
        assert hits[1]["redaction"] == expected[1]["redaction"]
        assert hits[1]["redaction"]["count"] == first["redaction"]["count"] + 1


def test_parts_that_differ_are_redacted_whole(tmp_path: Path) -> None:
    """Facts equal to the stored ones but not the same object (a shared-cache hit, a
    refreshed entry) make every part compared: a review or result that differs is
    redacted whole, even under the same key."""
    logger = DecisionLogger(LogSettings(str(tmp_path / "log"), mode="strict"), redactor=CountingRedactor())
    try:
        CountingRedactor.calls = 0
        logger.record(review("u-1"), FACTS, path="p", reuse_key="k")
        equal = dataclasses.replace(FACTS)
        assert equal == FACTS and equal is not FACTS
        logger.record(review("u-2", password="other-secret-value"), equal, path="p", cache_hit=True, reuse_key="k")
        other = DecisionFacts(allowed=True, policy_set_version="set")
        logger.record(review("u-3"), other, path="p", cache_hit=True, reuse_key="k")
        assert CountingRedactor.calls == 3
    finally:
        logger.close()
    _, changed_input, changed_result = records(tmp_path / "log")
    assert "other-secret-value" not in json.dumps(changed_input)
    assert changed_result["result"]["allowed"] is True


def test_a_hit_with_the_same_facts_object_reuses_without_comparing(tmp_path: Path) -> None:
    """The memory cache hands a hit the very facts its evaluation was logged with; under
    the same key (a digest of the review minus its uid) the parts are the same ones."""
    logger = DecisionLogger(LogSettings(str(tmp_path / "log"), mode="strict"), redactor=CountingRedactor())
    try:
        CountingRedactor.calls = 0
        logger.record(review("u-1"), FACTS, path="p", reuse_key="k")
        for n in range(2, 5):
            logger.record(review(f"u-{n}"), FACTS, path="p", cache_hit=True, reuse_key="k")
        equal = dataclasses.replace(FACTS)
        logger.record(review("u-5"), equal, path="p", cache_hit=True, reuse_key="k")  # compared, and equal
        assert CountingRedactor.calls == 1
    finally:
        logger.close()
    logged = records(tmp_path / "log")
    assert [r["kubegate"]["uid"] for r in logged] == [f"u-{n}" for n in range(1, 6)]
    assert [r["input"]["review"]["uid"] for r in logged] == [f"u-{n}" for n in range(1, 6)]
    for r in logged:
        del r["input"]["review"]["uid"]
    assert all(comparable(r) == comparable(logged[0]) for r in logged[1:])


def test_mask_rules_turn_reuse_off(tmp_path: Path) -> None:
    redactor = CountingRedactor(mask=tuple(parse_mask_rules(["/input/review/object/metadata/annotations"])))
    logger = DecisionLogger(LogSettings(str(tmp_path / "log"), mode="strict"), redactor=redactor)
    try:
        CountingRedactor.calls = 0
        logger.record(review("u-1"), FACTS, path="p", reuse_key="k")
        logger.record(review("u-2"), FACTS, path="p", cache_hit=True, reuse_key="k")
        assert CountingRedactor.calls == 2 and len(logger.fragments) == 0
    finally:
        logger.close()
    for record in records(tmp_path / "log"):
        assert "annotations" not in record["input"]["review"]["object"]["metadata"]


def test_request_text_that_looks_like_a_slot_is_kept_as_written(tmp_path: Path) -> None:
    from kubegate.audit.fragments import INPUT_SLOT, POLICIES_SLOT, RESULT_SLOT

    hostile = review("u-1")
    hostile["object"]["metadata"]["annotations"] = {"a": INPUT_SLOT, "b": RESULT_SLOT, "c": POLICIES_SLOT}
    hostile["name"] = RESULT_SLOT
    reusing = DecisionLogger(LogSettings(str(tmp_path / "reuse"), mode="strict"))
    full = DecisionLogger(LogSettings(str(tmp_path / "full"), mode="strict"))
    try:
        reusing.record(hostile, FACTS, path="p", reuse_key="k")
        hit = {**hostile, "uid": "\x00kubegate:uid\x00"}
        reusing.record(hit, FACTS, path="p", cache_hit=True, reuse_key="k")
        full.record(hit, FACTS, path="p", cache_hit=True)
    finally:
        reusing.close()
        full.close()
    [_, spliced] = records(tmp_path / "reuse")
    [expected] = records(tmp_path / "full")
    assert comparable(spliced) == comparable(expected)
    assert spliced["input"]["review"]["object"]["metadata"]["annotations"]["b"] == RESULT_SLOT
    assert spliced["input"]["review"]["uid"] == "\x00kubegate:uid\x00"
