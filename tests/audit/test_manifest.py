"""Policy-set manifest records: versions written once per set and segment, resolved by
``audit query`` and OPA-format uploads, shipped as written to the other sinks."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubegate.audit.logger import DecisionLogger, LogSettings
from kubegate.audit.manifest import MANIFEST_PATH, ManifestIndex, is_manifest
from kubegate.audit.query import LogQuery
from kubegate.audit.record import DecisionFacts
from kubegate.audit.shipper import Shipper
from kubegate.audit.sinks import FileSink, HttpSink
from kubegate.audit.wal import LogReader, WriteAheadLog
from tests.audit.conftest import LogService


def _review(uid: str) -> dict[str, Any]:
    return {
        "uid": uid,
        "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "operation": "CREATE",
        "namespace": "shop",
        "userInfo": {"username": "alice"},
        "object": {"kind": "Pod", "metadata": {"name": f"pod-{uid}", "namespace": "shop"}},
    }


def _facts(set_version: str, versions: dict[str, str]) -> DecisionFacts:
    return DecisionFacts(
        allowed=True,
        policies=tuple({"id": p, "version": v, "allowed": True, "durationMs": 0.1} for p, v in versions.items()),
        policy_set_version=set_version,
        duration_ns=1000,
    )


def _raw(directory: Path) -> list[dict[str, Any]]:
    return [json.loads(p) for p in LogReader(directory).records()]


SET_A = {f"policy-{i}": f"{i:064x}" for i in range(5)}


@pytest.fixture
def logger(tmp_path: Path) -> Iterator[DecisionLogger]:
    log = DecisionLogger(LogSettings(str(tmp_path / "wal"), mode="standard", fsync="never"))
    yield log
    log.close()


def test_the_first_record_of_a_set_is_preceded_by_its_manifest_and_later_ones_are_not(
    tmp_path: Path, logger: DecisionLogger
) -> None:
    for i in range(3):
        logger.record(_review(f"u-{i}"), _facts("set-a", SET_A), path="kubegate/admission")
    manifest, *decisions = _raw(tmp_path / "wal")
    assert manifest["path"] == MANIFEST_PATH
    assert manifest["kubegate"] == {"policySetVersion": "set-a", "policyVersions": SET_A}
    assert len(decisions) == 3 and not any(is_manifest(r) for r in decisions)
    for record in decisions:
        assert [p["id"] for p in record["kubegate"]["policies"]] == list(SET_A)
        assert all("version" not in p for p in record["kubegate"]["policies"])
    assert logger.manifests.written == 1


def test_query_gives_each_policy_its_version_back(tmp_path: Path, logger: DecisionLogger) -> None:
    logger.record(_review("u-1"), _facts("set-a", SET_A), path="kubegate/admission")
    logger.record(_review("u-2"), _facts("set-b", {"policy-0": "f" * 64}), path="kubegate/admission")
    query = LogQuery(str(tmp_path / "wal"))
    records = list(query.records())
    assert [r["kubegate"]["uid"] for r in records] == ["u-1", "u-2"]  # manifests are not listed
    assert {p["id"]: p["version"] for p in records[0]["kubegate"]["policies"]} == SET_A
    assert records[1]["kubegate"]["policies"][0]["version"] == "f" * 64
    assert query.problems() == []


def test_a_policy_new_to_the_set_gets_a_further_manifest_and_readers_merge_them(
    tmp_path: Path, logger: DecisionLogger
) -> None:
    logger.record(_review("u-1"), _facts("set-a", dict(list(SET_A.items())[:2])), path="kubegate/admission")
    logger.record(_review("u-2"), _facts("set-a", SET_A), path="kubegate/admission")
    manifests = [r for r in _raw(tmp_path / "wal") if is_manifest(r)]
    assert [len(m["kubegate"]["policyVersions"]) for m in manifests] == [2, 5]
    [_, second] = list(LogQuery(str(tmp_path / "wal")).records())
    assert {p["id"]: p["version"] for p in second["kubegate"]["policies"]} == SET_A


def test_a_version_other_than_the_manifests_stays_in_the_record(tmp_path: Path, logger: DecisionLogger) -> None:
    """A canary's stable arm evaluates an older version of a policy under the latest set's version."""
    logger.record(_review("u-1"), _facts("set-a", SET_A), path="kubegate/admission")
    older = {**SET_A, "policy-3": "e" * 64}
    logger.record(_review("u-2"), _facts("set-a", older), path="kubegate/admission")
    stored = [r for r in _raw(tmp_path / "wal") if not is_manifest(r)][1]
    inline = {p["id"]: p["version"] for p in stored["kubegate"]["policies"] if "version" in p}
    assert inline == {"policy-3": "e" * 64}
    [_, resolved] = list(LogQuery(str(tmp_path / "wal")).records())
    assert {p["id"]: p["version"] for p in resolved["kubegate"]["policies"]} == older


def test_every_segment_holds_the_manifest_of_its_records(tmp_path: Path) -> None:
    """Segments are deleted whole, oldest first: each one that has a record has its manifest,
    so what remains after deleting any prefix of segments still resolves."""
    directory = tmp_path / "wal"
    log = DecisionLogger(LogSettings(str(directory), mode="standard", fsync="never", segment_bytes=4096))
    try:
        for i in range(40):
            log.record(_review(f"u-{i}"), _facts("set-a", SET_A), path="kubegate/admission")
    finally:
        log.close()
    segments = sorted(directory.glob("seg-*.wal"))
    assert len(segments) >= 4
    for path in segments[:-1]:
        path.unlink()  # as the log's bound or the shippers' progress would
        query = LogQuery(str(directory))
        records = list(query.records())
        assert records and all(len(p["version"]) == 64 for r in records for p in r["kubegate"]["policies"])
        assert query.manifests.unresolved == 0


def test_without_its_manifest_a_record_is_reported_not_silently_incomplete(tmp_path: Path) -> None:
    log = DecisionLogger(LogSettings(str(tmp_path / "wal"), mode="standard", fsync="never"))
    log.record(_review("u-1"), _facts("set-a", SET_A), path="kubegate/admission")
    log.close()
    manifest, decision = LogReader(tmp_path / "wal").records()
    assert is_manifest(json.loads(manifest))
    lost = WriteAheadLog(tmp_path / "lost", fsync="never")  # the decision alone: its manifest was lost
    lost.append(decision)
    lost.close()
    query = LogQuery(str(tmp_path / "lost"))
    [record] = list(query.records())
    assert all("version" not in p for p in record["kubegate"]["policies"])
    assert any("no policy-set manifest" in line for line in query.problems())


def test_concurrent_writers_never_put_a_record_before_its_manifest(tmp_path: Path) -> None:
    """Read in log order (as a shipper does), every policy of every record is declared by then."""
    directory = tmp_path / "wal"
    log = DecisionLogger(LogSettings(str(directory), mode="standard", fsync="never", segment_bytes=64 * 1024))

    def write(worker: int) -> None:
        for i in range(60):
            versions = {f"w{worker}-p{j}": f"{worker:032x}{j:032x}" for j in range(i % 7 + 1)}
            log.record(_review(f"{worker}-{i}"), _facts(f"set-{i % 5}", versions), path="kubegate/admission")

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log.close()
    index = ManifestIndex()
    decisions = 0
    for record in _raw(directory):
        if is_manifest(record):
            index.add(record)
            continue
        decisions += 1
        index.resolve(record)
        assert all("version" in p for p in record["kubegate"]["policies"]), record["kubegate"]["uid"]
    assert decisions == 240 and index.unresolved == 0


def test_an_opa_format_upload_gets_resolved_decisions_and_no_manifests(tmp_path: Path, service: LogService) -> None:
    directory = tmp_path / "wal"
    log = DecisionLogger(LogSettings(str(directory), mode="standard", fsync="never"))
    log.record(_review("u-1"), _facts("set-a", SET_A), path="kubegate/admission")
    log.record(_review("u-2"), _facts("set-a", SET_A), path="kubegate/admission")
    log.close()
    # A shipper started on the log afterwards (a restart): it learns the manifests from the log.
    wal = WriteAheadLog(directory, fsync="never")
    shipper = Shipper(wal, HttpSink(service.url, timeout_s=5))
    file_sink = FileSink(str(tmp_path / "file.jsonl"))
    raw_shipper = Shipper(wal, file_sink)
    try:
        assert shipper.ship_pending() == 3  # positions: the manifest is passed over, not lost
        assert raw_shipper.ship_pending() == 3
    finally:
        shipper.stop(drain=False)
        raw_shipper.stop(drain=False)
        wal.close()
    uploaded = [r for upload in service.uploads for r in upload.records]
    assert [r["kubegate"]["uid"] for r in uploaded] == ["u-1", "u-2"]
    for record in uploaded:
        assert {p["id"]: p["version"] for p in record["kubegate"]["policies"]} == SET_A
        assert record["bundles"] == {"kubegate": {"revision": "set-a"}}
    written = [json.loads(line) for line in (tmp_path / "file.jsonl").read_text().splitlines()]
    assert [r["path"] for r in written] == [MANIFEST_PATH, "kubegate/admission", "kubegate/admission"]


def test_the_stored_record_is_smaller_by_the_versions(tmp_path: Path, logger: DecisionLogger) -> None:
    logger.record(_review("u-1"), _facts("set-a", SET_A), path="kubegate/admission")
    payloads = list(LogReader(tmp_path / "wal").records())
    stored = payloads[1]
    [resolved] = list(LogQuery(str(tmp_path / "wal")).records())
    full = json.dumps(resolved, separators=(",", ":")).encode()
    per_policy = len(',"version":""') + 64
    assert len(full) - len(stored) == per_policy * len(SET_A)
