"""Shippers: a real thread moving records from a real write-ahead log to real sinks."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kubegate.audit.shipper import Shipper
from kubegate.audit.sinks import FileSink, HttpSink, SinkError
from kubegate.audit.wal import Position, WriteAheadLog
from tests.audit.conftest import LogService


def record(i: int) -> bytes:
    return json.dumps({"decision_id": f"id-{i:04d}", "n": i}, separators=(",", ":")).encode()


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines() if path.exists() else []


def eventually(condition: Callable[[], bool], what: str, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


def shipper_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("kubegate-ship-")]


@pytest.fixture
def wal(tmp_path: Path) -> Iterator[WriteAheadLog]:
    log = WriteAheadLog(tmp_path / "wal", fsync="never", segment_bytes=400)
    yield log
    log.close()


def test_a_new_shipper_registers_its_checkpoint(tmp_path: Path, wal: WriteAheadLog) -> None:
    sink = FileSink(str(tmp_path / "out.jsonl"))
    shipper = Shipper(wal, sink)
    try:
        assert wal.shippers() == [sink.name]
        assert wal.checkpoint(sink.name) == Position(1, 0) == shipper.position
        assert wal.checkpoint_extra(sink.name) == {"generation": 0, "size": 0}
    finally:
        shipper.stop()


def test_delivers_every_record_once_to_a_file_sink(tmp_path: Path, wal: WriteAheadLog) -> None:
    path = tmp_path / "out.jsonl"
    counts: list[int] = []
    before = len(shipper_threads())
    shipper = Shipper(wal, FileSink(str(path)), batch=7, on_shipped=counts.append)
    shipper.start()
    try:
        assert len(shipper_threads()) == before + 1
        for i in range(50):
            wal.append(record(i))
            shipper.notify()
        eventually(lambda: len(lines(path)) >= 50, "50 lines")
    finally:
        shipper.stop(drain=True)
    assert len(shipper_threads()) == before
    assert lines(path) == [record(i) for i in range(50)]
    assert sum(counts) == shipper.shipped == 50
    assert all(0 < n <= 7 for n in counts)
    assert shipper.errors == 0
    assert wal.checkpoint(shipper.sink.name) == wal.read(None)[-1][0]
    assert wal.pending_bytes(shipper.sink.name) == 0


def test_resumes_from_its_checkpoint_after_stop_and_start(tmp_path: Path, wal: WriteAheadLog) -> None:
    path = tmp_path / "out.jsonl"
    first = Shipper(wal, FileSink(str(path)))
    first.start()
    try:
        for i in range(10):
            wal.append(record(i))
            first.notify()
        eventually(lambda: len(lines(path)) >= 10, "the first 10 lines")
    finally:
        first.stop()
    checkpoint = wal.checkpoint(first.sink.name)

    for i in range(10, 25):  # appended while no shipper runs
        wal.append(record(i))
    assert wal.pending_bytes(first.sink.name) > 0

    second = Shipper(wal, FileSink(str(path)))
    assert second.position == checkpoint
    second.start()
    try:
        eventually(lambda: len(lines(path)) >= 25, "25 lines")
    finally:
        second.stop()
    assert lines(path) == [record(i) for i in range(25)]
    assert (first.shipped, second.shipped) == (10, 15)
    assert wal.pending_bytes(second.sink.name) == 0


def test_stop_drains_what_is_left_unless_told_not_to(tmp_path: Path, wal: WriteAheadLog) -> None:
    for i in range(5):
        wal.append(record(i))
    kept = Shipper(wal, FileSink(str(tmp_path / "kept.jsonl")))
    kept.stop(drain=False)
    assert lines(tmp_path / "kept.jsonl") == []
    assert wal.checkpoint(kept.sink.name) == Position(1, 0)

    drained = Shipper(wal, FileSink(str(tmp_path / "drained.jsonl")))
    drained.stop(drain=True)  # never started: stop still ships what is in the log
    assert lines(tmp_path / "drained.jsonl") == [record(i) for i in range(5)]
    assert drained.shipped == 5


def test_ship_pending_delivers_in_batches(wal: WriteAheadLog, service: LogService) -> None:
    for i in range(10):
        wal.append(record(i))
    counts: list[int] = []
    shipper = Shipper(wal, HttpSink(service.url, timeout_s=5), batch=3, on_shipped=counts.append)
    try:
        assert shipper.ship_pending() == 10
        assert shipper.ship_pending() == 0  # caught up: nothing is sent
    finally:
        shipper.stop()
    assert service.batch_sizes() == [3, 3, 3, 1]
    assert counts == [3, 3, 3, 1]
    assert service.accepted_ids() == [f"id-{i:04d}" for i in range(10)]


def test_a_failed_delivery_leaves_the_checkpoint_alone(wal: WriteAheadLog) -> None:
    svc = LogService(statuses=[500], default=200)
    for i in range(4):
        wal.append(record(i))
    counts: list[int] = []
    shipper = Shipper(wal, HttpSink(svc.url, timeout_s=5), on_shipped=counts.append)
    try:
        with pytest.raises(SinkError, match="answered 500"):
            shipper.ship_pending()
        assert shipper.position == Position(1, 0)
        assert wal.checkpoint(shipper.sink.name) == Position(1, 0)
        assert counts == []
        assert shipper.ship_pending() == 4  # the same records, again
    finally:
        shipper.stop()
        svc.close()
    assert counts == [4]
    assert svc.accepted_ids() == [f"id-{i:04d}" for i in range(4)]


def test_survives_a_sink_that_fails_several_times(wal: WriteAheadLog) -> None:
    svc = LogService(statuses=[500] * 3, default=200)
    shipped: list[int] = []
    errors: list[SinkError] = []
    shipper = Shipper(
        wal,
        HttpSink(svc.url, timeout_s=5),
        batch=4,
        max_backoff_s=0.05,
        on_shipped=shipped.append,
        on_error=errors.append,
    )
    shipper.start()
    try:
        for i in range(10):
            wal.append(record(i))
            shipper.notify()
        eventually(lambda: len(set(svc.accepted_ids())) >= 10, "every record")
    finally:
        shipper.stop()
        svc.close()
    # At least once: every record arrived, some maybe twice.
    assert set(svc.accepted_ids()) == {f"id-{i:04d}" for i in range(10)}
    assert len(errors) == shipper.errors == 3
    assert all(e.code == "decision_sink_failed" and "answered 500" in e.message for e in errors)
    assert sum(shipped) == shipper.shipped == 10
    assert wal.pending_bytes(shipper.sink.name) == 0


def test_an_unexpected_error_is_retried_not_fatal(tmp_path: Path, wal: WriteAheadLog) -> None:
    """Not only SinkError: here the sink file is deleted under the sink, so its rotation
    fails with FileNotFoundError; the thread reports it and keeps shipping."""
    path = tmp_path / "out.jsonl"
    errors: list[SinkError] = []
    shipper = Shipper(wal, FileSink(str(path), max_bytes=10**9), max_backoff_s=0.05, on_error=errors.append)
    shipper.start()
    try:
        wal.append(record(0))
        shipper.notify()
        eventually(lambda: len(lines(path)) == 1, "the first record")
        assert isinstance(shipper.sink, FileSink)
        shipper.sink.max_bytes = 1  # rotate after the next delivery...
        path.unlink()  # ...of a file that is gone
        wal.append(record(1))
        shipper.notify()
        eventually(lambda: bool(errors), "the error")
        assert shipper._thread is not None and shipper._thread.is_alive()
        assert "FileNotFoundError" in errors[0].message and errors[0].code == "decision_sink_failed"
    finally:
        shipper.stop(drain=False)


def test_notify_wakes_an_idle_shipper(tmp_path: Path, wal: WriteAheadLog) -> None:
    path = tmp_path / "out.jsonl"
    shipper = Shipper(wal, FileSink(str(path)), idle_s=60)  # without a wake-up: a minute
    shipper.start()
    try:
        wal.append(record(1))
        shipper.notify()
        eventually(lambda: len(lines(path)) == 1, "the record")
    finally:
        shipper.stop(drain=False)  # also wakes it to stop
    assert lines(path) == [record(1)]


def test_a_lagging_shipper_resumes_after_records_were_dropped(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path / "wal", fsync="never", segment_bytes=200, max_bytes=400, full_policy="drop_oldest")
    path = tmp_path / "out.jsonl"
    shipper = Shipper(wal, FileSink(str(path)))
    try:
        for i in range(40):
            wal.append(record(i))
        assert wal.dropped > 0
        assert shipper.ship_pending() == 40 - wal.dropped
    finally:
        shipper.stop()
        wal.close()
    assert lines(path) == [record(i) for i in range(wal.dropped, 40)]
