"""Reading the decision log back: filters, times, and what cannot be read."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kubegate import Engine
from kubegate.audit.logger import DecisionLogger, LogSettings
from kubegate.audit.query import LogQuery, RecordFilter, parse_time, record_time
from kubegate.audit.record import DecisionFacts, build_record
from kubegate.audit.redact import Redactor, parse_mask_rules
from kubegate.audit.wal import Position, Unreadable, WriteAheadLog
from kubegate.errors import UsageError

UTC = dt.UTC
SEGMENT_1 = "seg-00000000000000000001.wal"


def _at(hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, 21, hour, minute, tzinfo=UTC)


def _stamp(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond:06d}123Z"


@dataclass(frozen=True)
class Decided:
    """One decision to write into a test log."""

    uid: str
    namespace: str
    when: dt.datetime
    allowed: bool
    violations: tuple[tuple[str, str], ...] = ()  # (policy, enforcement)
    evaluated: tuple[str, ...] = ("team.labels", "images.latest")


DECISIONS = (
    Decided("u-1", "shop", _at(8), True),
    Decided("u-2", "shop", _at(9), False, (("team.labels", "deny"),)),
    Decided("u-3", "jobs", _at(10), True, (("images.latest", "warn"),)),
    Decided("u-4", "jobs", _at(11), False, (("replica-limit", "deny"),), ("replica-limit",)),
    Decided("u-5", "shop", _at(12), True, (), ()),
)


def _record(d: Decided) -> dict[str, Any]:
    review = {
        "uid": d.uid,
        "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "operation": "CREATE",
        "namespace": d.namespace,
        "name": f"pod-{d.uid}",
        "userInfo": {"username": "alice"},
        "object": {"kind": "Pod", "metadata": {"name": f"pod-{d.uid}", "namespace": d.namespace}},
    }
    facts = DecisionFacts(
        allowed=d.allowed,
        violations=tuple({"policy": p, "enforcement": e, "message": f"{p} says no"} for p, e in d.violations),
        policies=tuple({"id": p, "version": "0" * 64, "allowed": True, "durationMs": 0.1} for p in d.evaluated),
        policy_set_version="f" * 64,
        duration_ns=100_000,
    )
    record = build_record(review, facts, mode="standard", path="kubegate/admission", labels={"id": "test"})
    record["timestamp"] = _stamp(d.when)
    return record


def _append(wal: WriteAheadLog, record: dict[str, Any]) -> Position:
    return wal.append(json.dumps(record, separators=(",", ":")).encode())


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    """A closed log of DECISIONS in three small segments: u-1 u-2 | u-3 u-4 | u-5."""
    directory = tmp_path / "decisions"
    wal = WriteAheadLog(directory, fsync="never", segment_bytes=1900)
    positions = [_append(wal, _record(decided)) for decided in DECISIONS]
    wal.close()
    assert [p.segment for p in positions] == [1, 1, 2, 2, 3]
    return directory


def _uids(query: LogQuery, where: RecordFilter | None = None) -> list[str]:
    return [str(r["kubegate"]["uid"]) for r in query.records(where)]


# ---------------------------------------------------------------- filters


def test_every_record_oldest_first_across_segments(log_dir: Path) -> None:
    query = LogQuery(str(log_dir))
    records = list(query.records())
    assert [r["kubegate"]["uid"] for r in records] == ["u-1", "u-2", "u-3", "u-4", "u-5"]
    assert records[1]["result"]["violations"] == [
        {"policy": "team.labels", "enforcement": "deny", "message": "team.labels says no"}
    ]
    assert query.invalid == 0 and query.unreadable == [] and query.problems() == []
    assert _uids(query, RecordFilter()) == ["u-1", "u-2", "u-3", "u-4", "u-5"]


@pytest.mark.parametrize(
    ("where", "uids"),
    [
        (RecordFilter(decision="allow"), ["u-1", "u-3", "u-5"]),
        (RecordFilter(decision="deny"), ["u-2", "u-4"]),
        (RecordFilter(namespace="jobs"), ["u-3", "u-4"]),
        (RecordFilter(namespace="nowhere"), []),
        (RecordFilter(uid="u-3"), ["u-3"]),
        # A policy takes part by a violation or by having been evaluated.
        (RecordFilter(policy="team.labels"), ["u-1", "u-2", "u-3"]),
        (RecordFilter(policy="replica-limit"), ["u-4"]),
        (RecordFilter(policy="images.latest", decision="allow"), ["u-1", "u-3"]),
        (RecordFilter(namespace="shop", decision="deny"), ["u-2"]),
        (RecordFilter(namespace="shop", uid="u-4"), []),
    ],
)
def test_filters(log_dir: Path, where: RecordFilter, uids: list[str]) -> None:
    assert _uids(LogQuery(str(log_dir)), where) == uids


@pytest.mark.parametrize(
    ("since", "until", "uids"),
    [
        ("2026-11-21T09:00:00Z", None, ["u-2", "u-3", "u-4", "u-5"]),
        ("2026-11-21T09:00:01Z", None, ["u-3", "u-4", "u-5"]),
        (None, "2026-11-21T10:00:00.5Z", ["u-1", "u-2", "u-3"]),
        ("2026-11-21T09:30:00Z", "2026-11-21T11:30:00Z", ["u-3", "u-4"]),
        # Another offset is the same instant: 10:30+01:00 is 09:30Z.
        ("2026-11-21T10:30:00+01:00", "2026-11-21T12:30:00+01:00", ["u-3", "u-4"]),
        # No offset: UTC.
        ("2026-11-21T11:00:00", None, ["u-4", "u-5"]),
        ("2026-11-21T12:00:01Z", None, []),
    ],
)
def test_since_and_until(log_dir: Path, since: str | None, until: str | None, uids: list[str]) -> None:
    where = RecordFilter(
        since=parse_time(since) if since else None,
        until=parse_time(until) if until else None,
    )
    assert _uids(LogQuery(str(log_dir)), where) == uids


def test_relative_times_are_measured_back_from_now(log_dir: Path) -> None:
    now = _at(12, 30)
    query = LogQuery(str(log_dir))
    assert _uids(query, RecordFilter(since=parse_time("3h", now=now))) == ["u-3", "u-4", "u-5"]
    assert _uids(query, RecordFilter(since=parse_time("3.5h", now=now))) == ["u-2", "u-3", "u-4", "u-5"]
    assert _uids(query, RecordFilter(since=parse_time("150m", now=now), until=parse_time("1.5h", now=now))) == [
        "u-3",
        "u-4",
    ]


def test_relative_times_select_fresh_records(tmp_path: Path) -> None:
    # The default "now" is the clock: a record written a moment ago is within 1h, not older than 1m.
    wal = WriteAheadLog(tmp_path / "log", fsync="never")
    fresh = build_record(
        {"uid": "fresh", "kind": {"kind": "Pod"}}, DecisionFacts(allowed=True), mode="standard", path="p", labels={}
    )
    _append(wal, fresh)
    old = _record(DECISIONS[0])
    old["timestamp"] = "2020-01-01T00:00:00.000000000Z"
    _append(wal, old)
    wal.close()
    query = LogQuery(str(tmp_path / "log"))
    now = dt.datetime.now(UTC)
    assert _uids(query, RecordFilter(since=parse_time("1h"), until=now + dt.timedelta(seconds=5))) == ["fresh"]
    assert _uids(query, RecordFilter(until=parse_time("1m"), since=now - dt.timedelta(days=1))) == []
    assert _uids(query, RecordFilter(until=parse_time("1m"))) == ["u-1"]


# ---------------------------------------------------------------- parse_time and record_time


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", _at(12) - dt.timedelta(seconds=30)),
        ("90m", _at(10, 30)),
        ("2h", _at(10)),
        ("1.5h", _at(10, 30)),
        ("7d", _at(12) - dt.timedelta(days=7)),
        (" 0h ", _at(12)),
        ("2026-11-21T10:00:00Z", _at(10)),
        ("2026-11-21t10:00:00z", _at(10)),  # RFC 3339 section 5.6 allows lower case
        ("2026-11-21T10:00:00.250Z", _at(10) + dt.timedelta(milliseconds=250)),
        ("2026-11-21T10:00:00.123456789Z", _at(10) + dt.timedelta(microseconds=123456)),
        ("2026-11-21T12:00:00+02:00", _at(10)),
        ("2026-11-21T10:00:00", _at(10)),
    ],
)
def test_parse_time(text: str, expected: dt.datetime) -> None:
    value = parse_time(text, now=_at(12))
    assert value == expected
    assert value.tzinfo is not None


@pytest.mark.parametrize("text", ["yesterday", "1w", "-2h", "h", "2 hours", "", "2026-13-01T00:00:00Z"])
def test_parse_time_refuses_what_is_neither_a_time_nor_a_duration(text: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_time(text)
    assert info.value.code == "invalid_time"
    assert info.value.message == f"{text!r} is neither an RFC 3339 time nor a duration like 90m"


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ({"timestamp": "2026-11-21T10:00:00.123456789Z"}, _at(10) + dt.timedelta(microseconds=123456)),
        ({"timestamp": "2026-11-21T10:00:00Z"}, _at(10)),
        ({"timestamp": "2026-11-21T11:00:00+01:00"}, _at(10)),
        ({"timestamp": "not a time"}, dt.datetime.fromtimestamp(0, UTC)),
        ({"timestamp": 12}, dt.datetime.fromtimestamp(0, UTC)),
        ({}, dt.datetime.fromtimestamp(0, UTC)),
    ],
)
def test_record_time(record: dict[str, Any], expected: dt.datetime) -> None:
    assert record_time(record) == expected


def test_a_record_without_a_time_is_older_than_any_since() -> None:
    record = _record(DECISIONS[0])
    del record["timestamp"]
    assert RecordFilter().matches(record)
    assert not RecordFilter(since=_at(0)).matches(record)
    assert RecordFilter(until=_at(0)).matches(record)


# ---------------------------------------------------------------- records written by the logger


def test_query_records_written_by_the_decision_logger_of_a_real_engine(tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "team.rego").write_text(
        "package team.labels\n\nimport rego.v1\n\n"
        'deny contains msg if {\n  input.kind == "Pod"\n  not input.metadata.labels.team\n'
        '  msg := sprintf("pod %v needs a team label", [input.metadata.name])\n}\n'
    )
    directory = tmp_path / "log"
    logger = DecisionLogger(LogSettings(directory=str(directory), mode="strict", fsync="always"))
    engine = Engine([str(policies)], builtin=False, decision_log=logger)
    try:
        for name, namespace, labels in [("a", "shop", {"team": "web"}), ("b", "shop", {}), ("c", "jobs", {})]:
            metadata = {"name": name, "namespace": namespace, "labels": labels}
            pod: dict[str, Any] = {"apiVersion": "v1", "kind": "Pod", "metadata": metadata}
            request = {
                "uid": f"uid-{name}",
                "kind": {"group": "", "version": "v1", "kind": "Pod"},
                "operation": "CREATE",
                "namespace": namespace,
                "name": name,
                "userInfo": {"username": f"{name}@example.com"},
                "object": pod,
            }
            engine.review(request)

        # The server is still running: the log is read next to it.
        query = LogQuery(str(directory))
        records = list(query.records())
        assert [r["kubegate"]["name"] for r in records] == ["a", "b", "c"]
        assert [r["result"]["allowed"] for r in records] == [True, False, False]
        assert all(r["path"] == "kubegate/review" and r["kubegate"]["mode"] == "strict" for r in records)
        assert all(r["kubegate"]["policySetVersion"] == engine.version for r in records)
        # Redacted before it was written.
        assert {r["kubegate"]["userInfo"]["username"] for r in records} == {"<redacted:email>"}
        assert {r["input"]["review"]["userInfo"]["username"] for r in records} == {"<redacted:email>"}
        assert records[0]["redaction"] == {"count": 2, "rules": {"email": 2}}

        denied = list(query.records(RecordFilter(decision="deny", policy="team.labels", namespace="shop")))
        assert [r["kubegate"]["name"] for r in denied] == ["b"]
        assert denied[0]["result"]["violations"] == [
            {"policy": "team.labels", "enforcement": "deny", "message": "pod b needs a team label"}
        ]
        assert [r["kubegate"]["name"] for r in query.records(RecordFilter(uid="uid-c"))] == ["c"]
        assert query.problems() == []
    finally:
        engine.close()
        logger.close()


# ---------------------------------------------------------------- what cannot be read


def test_payloads_that_are_not_decision_records_are_counted(tmp_path: Path) -> None:
    directory = tmp_path / "log"
    wal = WriteAheadLog(directory, fsync="never")
    _append(wal, _record(DECISIONS[0]))
    for payload in [
        b"not json at all",
        b"\xff\xfe\x00",
        b"[1, 2, 3]",
        b'"a string"',
        b"null",
        b'{"decision_id": "x", "result": true, "kubegate": {}}',
        b'{"result": {"allowed": false}, "kubegate": "shop"}',
        b'{"result": {"allowed": false, "violations": ["team.labels"]}, "kubegate": {}}',
        b'{"result": {"allowed": false}, "kubegate": {"policies": {"id": "team.labels"}}}',
        b'{"result": {"allowed": false, "violations": 3}, "kubegate": {}}',
    ]:
        wal.append(payload)
    _append(wal, _record(DECISIONS[1]))
    wal.close()

    query = LogQuery(str(directory))
    assert _uids(query) == ["u-1", "u-2"]
    assert query.invalid == 10
    assert query.unreadable == []
    assert query.problems() == [
        "10 record(s) are not decision records (not JSON objects, or wrongly typed)",
    ]
    # Filters read fields of every record: a malformed one is counted, never a traceback.
    for where, uids in [
        (RecordFilter(decision="deny"), ["u-2"]),
        (RecordFilter(policy="team.labels"), ["u-1", "u-2"]),
        (RecordFilter(namespace="shop", uid="u-2"), ["u-2"]),
    ]:
        assert _uids(query, where) == uids
        assert query.invalid == 10
    # Each reading counts afresh.
    assert _uids(query, RecordFilter(decision="allow")) == ["u-1"]
    assert query.invalid == 10


def test_a_record_whose_result_a_mask_erased_is_still_a_record(tmp_path: Path) -> None:
    directory = tmp_path / "log"
    logger = DecisionLogger(
        LogSettings(directory=str(directory), mode="standard", fsync="never"),
        redactor=Redactor(mask=parse_mask_rules(["/result"])),
    )
    try:
        decided = DECISIONS[1]
        review = {"uid": decided.uid, "namespace": decided.namespace, "kind": {"kind": "Pod"}, "operation": "CREATE"}
        logger.record(review, DecisionFacts(allowed=False), path="kubegate/admission")
    finally:
        logger.close()
    query = LogQuery(str(directory))
    (record,) = query.records(RecordFilter(uid="u-2"))
    assert "result" not in record and record["erased"] == ["/result"]
    assert record["redaction"] == {"count": 1, "rules": {"mask:/result": 1}}
    # Without a result it is not known to be allowed.
    assert _uids(query, RecordFilter(decision="deny")) == ["u-2"]
    assert query.invalid == 0 and query.problems() == []


@pytest.mark.parametrize(
    ("where", "name"),
    [(0, "length"), (5, "checksum"), (8 + 20, "payload")],
    ids=["length", "checksum", "payload"],
)
def test_a_damaged_record_is_reported_with_its_segment_file(tmp_path: Path, where: int, name: str) -> None:
    directory = tmp_path / "log"
    wal = WriteAheadLog(directory, fsync="never")
    positions = [_append(wal, _record(d)) for d in DECISIONS[:3]]
    wal.close()
    segment = directory / SEGMENT_1
    size = segment.stat().st_size
    assert {p.segment for p in positions} == {1}
    damaged = positions[1].offset + where  # inside the second record's frame
    data = bytearray(segment.read_bytes())
    data[damaged] ^= 0xFF
    segment.write_bytes(bytes(data))

    query = LogQuery(str(directory))
    assert _uids(query) == ["u-1"]
    # The damaged record and everything after it in the segment: listed, never skipped silently.
    assert query.unreadable == [Unreadable(segment=1, offset=positions[1].offset, size=size - positions[1].offset)]
    assert query.invalid == 0
    (line,) = query.problems()
    assert line == (
        f"segment 1 ({directory / SEGMENT_1}): {size - positions[1].offset} bytes at offset "
        f"{positions[1].offset} are not an intact record (being written now, or damaged)"
    ), name


def test_damage_in_one_segment_does_not_hide_the_others(log_dir: Path) -> None:
    segments = sorted(log_dir.glob("seg-*.wal"))
    first = segments[0]
    data = bytearray(first.read_bytes())
    data[20] ^= 0x01  # inside the payload of the segment's first record
    first.write_bytes(bytes(data))

    query = LogQuery(str(log_dir))
    assert _uids(query) == ["u-3", "u-4", "u-5"]
    (unreadable,) = query.unreadable
    assert (unreadable.segment, unreadable.offset, unreadable.size) == (1, 0, first.stat().st_size)
    assert query.problems()[0].startswith(f"segment 1 ({first}): ")


def test_a_torn_record_at_the_end_is_reported(log_dir: Path) -> None:
    last = sorted(log_dir.glob("seg-*.wal"))[-1]
    intact = last.stat().st_size
    with last.open("ab") as f:  # a writer killed half-way through a frame
        f.write(b'\x40\x00\x00\x00\x12\x34\x56\x78{"decision_id":')
    query = LogQuery(str(log_dir))
    assert _uids(query) == ["u-1", "u-2", "u-3", "u-4", "u-5"]
    number = int(last.name[len("seg-") : -len(".wal")])
    assert query.unreadable == [Unreadable(number, intact, 23)]
    assert query.problems() == [
        f"segment {number} ({last}): 23 bytes at offset {intact} are not an intact record "
        "(being written now, or damaged)"
    ]


# ---------------------------------------------------------------- no log


def test_a_directory_that_does_not_exist_is_not_a_log(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as info:
        LogQuery(str(tmp_path / "absent"))
    assert info.value.code == "no_decision_log"
    assert info.value.message == f"{tmp_path / 'absent'} is not a decision log directory"


def test_a_file_or_a_directory_without_segments_is_not_a_log(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    for path in [tmp_path / "notes.txt", tmp_path]:
        with pytest.raises(UsageError) as info:
            LogQuery(str(path))
        assert info.value.code == "no_decision_log"
        assert info.value.message == f"{path} is not a decision log directory"


def test_a_new_empty_log_has_no_records(tmp_path: Path) -> None:
    WriteAheadLog(tmp_path / "log", fsync="never").close()
    query = LogQuery(str(tmp_path / "log"))
    assert list(query.records()) == []
    assert query.problems() == []


@pytest.fixture
def open_log(tmp_path: Path) -> Iterator[WriteAheadLog]:
    wal = WriteAheadLog(tmp_path / "live", fsync="always")
    yield wal
    wal.close()


def test_records_appended_while_reading_later_are_seen_by_the_next_read(open_log: WriteAheadLog) -> None:
    _append(open_log, _record(DECISIONS[0]))
    query = LogQuery(str(open_log.directory))
    assert _uids(query) == ["u-1"]
    _append(open_log, _record(DECISIONS[1]))
    assert _uids(query) == ["u-1", "u-2"]
    assert query.problems() == []
