"""Sinks against real files and a real HTTP service on loopback; Kafka only when a broker is given."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubegate.audit.shipper import Shipper
from kubegate.audit.sinks import FileSink, HttpSink, KafkaSink, SinkError, parse_sink
from kubegate.audit.wal import Position, WriteAheadLog
from kubegate.errors import KubegateError
from tests.audit.conftest import LogService


def record(i: int) -> bytes:
    return json.dumps({"decision_id": f"id-{i:04d}", "n": i}, separators=(",", ":")).encode()


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines()


def all_lines(path: Path) -> list[bytes]:
    """Lines of the rotated files (oldest first), then of the current one."""
    rotated = sorted(path.parent.glob(path.name + ".*"), key=lambda p: int(p.suffix[1:]))
    return [line for file in [*rotated, path] if file.exists() for line in lines(file)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def wal(tmp_path: Path) -> Iterator[WriteAheadLog]:
    log = WriteAheadLog(tmp_path / "wal", fsync="never", segment_bytes=200)
    yield log
    log.close()


# ---- FileSink


def test_file_sink_writes_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "out" / "decisions.jsonl"
    sink = FileSink(str(path))
    try:
        assert path.parent.is_dir()
        assert sink.name.startswith("file-")
        assert len(sink.name) <= 85 and all(ch.isalnum() or ch in "-_" for ch in sink.name)
        sink.recover({})
        batch = [(Position(1, 30 * (i + 1)), record(i)) for i in range(3)]
        sink.ship(batch)
        assert lines(path) == [record(i) for i in range(3)]
        assert [json.loads(line)["n"] for line in lines(path)] == [0, 1, 2]
        assert sink.checkpoint_extra() == {"generation": 0, "size": path.stat().st_size}
        assert sink.after_checkpoint() is None  # far below max_bytes
    finally:
        sink.close()


def test_file_sink_rotates_at_its_bound(tmp_path: Path, wal: WriteAheadLog) -> None:
    for i in range(20):
        wal.append(record(i))
    path = tmp_path / "decisions.jsonl"
    sink = FileSink(str(path), max_bytes=100)
    shipper = Shipper(wal, sink, batch=3)
    try:
        assert shipper.ship_pending() == 20
        # Rotation happens after a checkpoint, once the file has reached 100 bytes:
        # every two batches of three ~32-byte lines here.
        assert sorted(p.name for p in tmp_path.glob("decisions.jsonl*")) == [
            "decisions.jsonl",
            "decisions.jsonl.0",
            "decisions.jsonl.1",
            "decisions.jsonl.2",
        ]
        for n in range(3):
            rotated = tmp_path / f"decisions.jsonl.{n}"
            assert rotated.stat().st_size >= 100
            assert lines(rotated) == [record(i) for i in range(6 * n, 6 * n + 6)]
        assert lines(path) == [record(18), record(19)]
        assert all_lines(path) == [record(i) for i in range(20)]
        assert wal.checkpoint_extra(sink.name) == {"generation": 3, "size": path.stat().st_size}
    finally:
        shipper.stop(drain=False)


def test_file_sink_keeps_only_its_last_rotated_files(tmp_path: Path, wal: WriteAheadLog) -> None:
    for i in range(20):
        wal.append(record(i))
    path = tmp_path / "decisions.jsonl"
    shipper = Shipper(wal, FileSink(str(path), max_bytes=100, keep=2), batch=3)
    try:
        shipper.ship_pending()
    finally:
        shipper.stop(drain=False)
    assert sorted(p.name for p in tmp_path.glob("decisions.jsonl*")) == [
        "decisions.jsonl",
        "decisions.jsonl.1",
        "decisions.jsonl.2",
    ]
    assert all_lines(path) == [record(i) for i in range(6, 20)]


def test_file_sink_is_exactly_once_after_a_crash_before_the_checkpoint(tmp_path: Path, wal: WriteAheadLog) -> None:
    path = tmp_path / "decisions.jsonl"
    for i in range(4):
        wal.append(record(i))
    sink = FileSink(str(path))
    shipper = Shipper(wal, sink, batch=100)
    assert shipper.ship_pending() == 4
    checkpoint = wal.checkpoint(sink.name)

    # More records reach the sink file, then the process dies before saving the checkpoint,
    # in the middle of writing a line.
    for i in range(4, 10):
        wal.append(record(i))
    sink.ship(wal.read(checkpoint))
    with path.open("ab") as f:
        f.write(b'{"decision_id":"id-00')
    sink.close()
    assert wal.checkpoint(sink.name) == checkpoint
    assert len(lines(path)) == 11

    # A new sink and shipper on the same log and file.
    again = FileSink(str(path))
    assert again.name == sink.name
    restarted = Shipper(wal, again, batch=100)
    try:
        assert lines(path) == [record(i) for i in range(4)]  # cut back to the checkpoint
        assert restarted.ship_pending() == 6
    finally:
        restarted.stop(drain=False)
    assert lines(path) == [record(i) for i in range(10)]


def test_a_new_file_sink_keeps_what_its_file_already_holds(tmp_path: Path, wal: WriteAheadLog) -> None:
    """A new log (or a new sink) pointed at an existing file appends to it; rotation
    numbers continue after the rotated files already there."""
    path = tmp_path / "decisions.jsonl"
    path.write_text('{"decision_id":"from-before"}\n')
    (tmp_path / "decisions.jsonl.0").write_text('{"decision_id":"rotated-before"}\n')
    for i in range(3):
        wal.append(record(i))
    sink = FileSink(str(path), max_bytes=10)
    shipper = Shipper(wal, sink, batch=100)
    try:
        assert shipper.ship_pending() == 3
    finally:
        shipper.stop(drain=False)
    assert (tmp_path / "decisions.jsonl.0").read_text() == '{"decision_id":"rotated-before"}\n'
    assert lines(tmp_path / "decisions.jsonl.1") == [b'{"decision_id":"from-before"}', *(record(i) for i in range(3))]


def test_file_sink_is_exactly_once_after_a_crash_between_rotation_and_checkpoint(
    tmp_path: Path, wal: WriteAheadLog
) -> None:
    path = tmp_path / "decisions.jsonl"
    for i in range(6):
        wal.append(record(i))
    sink = FileSink(str(path), max_bytes=100)
    Shipper(wal, sink, batch=100)  # registers the sink, recovers it (opens the file)

    # What Shipper.ship_pending does, up to a crash right after the sink rotated its file.
    batch = wal.read(wal.checkpoint(sink.name))
    sink.ship(batch)
    wal.save_checkpoint(sink.name, batch[-1][0], sink.checkpoint_extra())
    assert sink.after_checkpoint() == {"generation": 1, "size": 0}  # not saved: the crash
    for i in range(6, 9):
        wal.append(record(i))
    sink.ship(wal.read(batch[-1][0]))  # written after the rotation, never checkpointed
    sink.close()
    assert lines(tmp_path / "decisions.jsonl.0") == [record(i) for i in range(6)]
    assert lines(path) == [record(i) for i in range(6, 9)]

    again = FileSink(str(path), max_bytes=100)
    restarted = Shipper(wal, again, batch=100)
    try:
        assert again.generation == 1
        assert path.stat().st_size == 0
        assert restarted.ship_pending() == 3
    finally:
        restarted.stop(drain=False)
    assert lines(tmp_path / "decisions.jsonl.0") == [record(i) for i in range(6)]
    assert all_lines(path) == [record(i) for i in range(9)]


# ---- HttpSink


def test_http_sink_posts_a_gzip_json_array(service: LogService) -> None:
    sink = HttpSink(service.url, timeout_s=5, headers={"Authorization": "Bearer t0ken"})
    try:
        assert sink.name.startswith("http-")
        sink.recover({})
        sink.ship([(Position(1, 30 * (i + 1)), record(i)) for i in range(3)])
        assert sink.checkpoint_extra() == {}
    finally:
        sink.close()
    [upload] = service.uploads
    assert upload.status == 204
    assert upload.headers["Content-Encoding"] == "gzip"
    assert upload.headers["Content-Type"] == "application/json"
    assert upload.headers["Authorization"] == "Bearer t0ken"
    assert upload.records == [{"decision_id": f"id-{i:04d}", "n": i} for i in range(3)]


@pytest.mark.parametrize("status", [500, 503, 400, 404])
def test_http_sink_raises_sink_error_on_an_error_status(status: int) -> None:
    svc = LogService(default=status)
    sink = HttpSink(svc.url, timeout_s=5)
    try:
        with pytest.raises(SinkError) as info:
            sink.ship([(Position(1, 30), record(1))])
    finally:
        sink.close()
        svc.close()
    assert info.value.code == "decision_sink_failed"
    assert info.value.message == f"POST {svc.url} answered {status}"
    assert svc.statuses_seen() == [status]  # the sink itself does not retry: the shipper does


def test_http_sink_raises_sink_error_when_nothing_listens() -> None:
    url = f"http://127.0.0.1:{free_port()}/logs"
    sink = HttpSink(url, timeout_s=5)
    try:
        with pytest.raises(SinkError) as info:
            sink.ship([(Position(1, 30), record(1))])
    finally:
        sink.close()
    assert info.value.code == "decision_sink_failed"
    assert info.value.message.startswith(f"POST {url} failed:")


def test_http_sink_is_retried_with_backoff_until_the_service_accepts(wal: WriteAheadLog) -> None:
    svc = LogService(statuses=[500, 500, 500])
    for i in range(5):
        wal.append(record(i))
    errors: list[SinkError] = []
    shipper = Shipper(wal, HttpSink(svc.url, timeout_s=5), max_backoff_s=0.1, on_error=errors.append)
    try:
        shipper.start()
        svc.wait_for(5)
    finally:
        shipper.stop(drain=True)
        svc.close()
    assert svc.statuses_seen() == [500, 500, 500, 204]
    # Each retry resends the same batch: the records the service failed on.
    assert all(u.records == [json.loads(record(i)) for i in range(5)] for u in svc.uploads)
    assert [e.message for e in errors] == [f"POST {svc.url} answered 500"] * 3
    assert shipper.errors == 3
    assert wal.pending_bytes(shipper.sink.name) == 0


def test_a_persistently_failing_http_sink_leaves_the_records_in_the_log(
    wal: WriteAheadLog, caplog: pytest.LogCaptureFixture
) -> None:
    svc = LogService(default=500)
    for i in range(5):
        wal.append(record(i))
    shipper = Shipper(wal, HttpSink(svc.url, timeout_s=5), max_backoff_s=0.1)
    try:
        shipper.start()
        deadline = time.monotonic() + 10
        while len(svc.statuses_seen()) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.01)
    finally:
        with caplog.at_level(logging.WARNING, logger="kubegate.audit"):
            shipper.stop(drain=True)  # best effort: logs, does not raise
        svc.close()
    assert shipper.shipped == 0
    assert shipper.errors >= 2
    assert wal.checkpoint(shipper.sink.name) == Position(1, 0)
    assert wal.pending_bytes(shipper.sink.name) == wal.size_bytes() > 0
    assert any("left in the log" in r.getMessage() for r in caplog.records)


# ---- parse_sink


def test_parse_sink_file(tmp_path: Path) -> None:
    sink = parse_sink(f"file:{tmp_path / 'a' / 'log.jsonl'}")
    try:
        assert isinstance(sink, FileSink)
        assert sink.path == tmp_path / "a" / "log.jsonl"
    finally:
        sink.close()


@pytest.mark.parametrize("spec", ["http://127.0.0.1:8181/logs", "https://logs.example.com/v1/logs"])
def test_parse_sink_http(spec: str) -> None:
    sink = parse_sink(spec)
    try:
        assert isinstance(sink, HttpSink)
        assert sink.url == spec
    finally:
        sink.close()


@pytest.mark.parametrize(
    ("spec", "bootstrap", "topic"),
    [
        ("kafka:broker:9092/decisions", "broker:9092", "decisions"),
        ("kafka:b1:9092,b2:9092/audit.log", "b1:9092,b2:9092", "audit.log"),
    ],
)
def test_parse_sink_kafka(spec: str, bootstrap: str, topic: str) -> None:
    sink = parse_sink(spec)
    try:
        assert isinstance(sink, KafkaSink)
        assert (sink.bootstrap, sink.topic) == (bootstrap, topic)
    finally:
        sink.close()
    assert not sink._thread.is_alive()
    assert sink._loop.is_closed()


@pytest.mark.parametrize(
    "spec",
    ["", "file:", "file", "http:/x", "http:", "ftp://host/logs", "kafka:broker:9092", "kafka:/topic", "kafka:b:9092/"],
)
def test_parse_sink_rejects_bad_specs(spec: str) -> None:
    with pytest.raises(KubegateError) as info:
        parse_sink(spec)
    assert info.value.code == "invalid_sink"
    assert info.value.message == f"sink {spec!r}: use file:PATH, http(s)://HOST/PATH or kafka:HOST:PORT/TOPIC"


# ---- KafkaSink


def test_kafka_sink_raises_sink_error_when_no_broker_answers() -> None:
    bootstrap = f"127.0.0.1:{free_port()}"
    sink = KafkaSink(bootstrap, "decisions", timeout_s=10)
    try:
        with pytest.raises(SinkError) as info:
            sink.ship([(Position(1, 30), record(1))])
        with pytest.raises(SinkError):  # a retry fails the same way (and leaks nothing)
            sink.ship([(Position(1, 30), record(1))])
    finally:
        sink.close()
    assert info.value.code == "decision_sink_failed"
    assert info.value.message.startswith(f"Kafka {bootstrap}/decisions: ")


async def _create_topic(bootstrap: str, topic: str) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic  # type: ignore[import-untyped]

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()


async def _consume(bootstrap: str, topic: str, n: int) -> list[tuple[bytes, bytes]]:
    from aiokafka import AIOKafkaConsumer  # type: ignore[import-untyped]

    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    out: list[tuple[bytes, bytes]] = []
    try:
        async with asyncio.timeout(30):
            while len(out) < n:
                message = await consumer.getone()
                out.append((message.key, message.value))
    finally:
        await consumer.stop()
    return out


@pytest.mark.skipif(
    not os.environ.get("KUBEGATE_KAFKA_BOOTSTRAP"), reason="needs a Kafka broker: set KUBEGATE_KAFKA_BOOTSTRAP"
)
def test_kafka_sink_sends_one_message_per_record_keyed_by_decision_id() -> None:
    bootstrap = os.environ["KUBEGATE_KAFKA_BOOTSTRAP"]
    topic = f"kubegate-test-{uuid.uuid4().hex[:12]}"
    asyncio.run(_create_topic(bootstrap, topic))
    docs = [{"decision_id": str(uuid.uuid4()), "n": i} for i in range(5)]
    sink = KafkaSink(bootstrap, topic, timeout_s=30)
    try:
        sink.ship([(Position(1, 30 * (i + 1)), json.dumps(doc).encode()) for i, doc in enumerate(docs)])
    finally:
        sink.close()
    received = asyncio.run(_consume(bootstrap, topic, len(docs)))
    assert [(key.decode(), json.loads(value)) for key, value in received] == [(doc["decision_id"], doc) for doc in docs]
