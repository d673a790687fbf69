"""The decision write-ahead log on real files: framing, segments, recovery, checkpoints, fsync, bound."""

from __future__ import annotations

import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kubegate.audit.wal import FsyncPolicy, FullPolicy, LogFull, LogReader, Position, Unreadable, WriteAheadLog
from kubegate.errors import KubegateError

HEADER = struct.Struct("<II")
FRAME = 30  # HEADER.size + len(payload(i))


def payload(i: int) -> bytes:
    """22 bytes, so that every frame is 30 bytes."""
    out = f'{{"n":{i:016d}}}'.encode()
    assert len(out) + HEADER.size == FRAME
    return out


def segment_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("seg-*.wal"))


@pytest.fixture
def open_wal(tmp_path: Path) -> Iterator[Callable[..., WriteAheadLog]]:
    """Opens logs in ``tmp_path/wal`` (fsync ``never`` unless told) and closes every one at the end."""
    opened: list[WriteAheadLog] = []

    def make(**kwargs: Any) -> WriteAheadLog:
        kwargs.setdefault("fsync", "never")
        wal = WriteAheadLog(tmp_path / "wal", **kwargs)
        opened.append(wal)
        return wal

    yield make
    for wal in opened:
        wal.close()


# ---- framing, segments, reading


def test_round_trip_across_several_segments(tmp_path: Path, open_wal: Callable[..., WriteAheadLog]) -> None:
    wal = open_wal(segment_bytes=100)
    payloads = [(b'{"i":%d,"pad":"' % i) + b"x" * (i % 7 * 5) + b'"}' for i in range(25)]
    starts = [wal.append(p) for p in payloads]

    files = segment_files(tmp_path / "wal")
    assert len(files) >= 3
    assert all(f.stat().st_size <= 100 for f in files)
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    assert starts[0] == Position(1, 0)
    assert list(wal.records()) == payloads
    assert wal.appended == len(payloads)

    # read() pages through the log; each record comes with the position just past it.
    got: list[bytes] = []
    after: Position | None = None
    while batch := wal.read(after, max_records=4):
        assert len(batch) <= 4
        got += [p for _, p in batch]
        after = batch[-1][0]
    assert got == payloads
    ends = [pos for pos, _ in wal.read(None)]
    # A record ends where the next starts, unless the next one opened a new segment.
    for end, start, nxt in zip(ends, starts, starts[1:], strict=False):
        assert end.segment == start.segment and end.offset > start.offset
        assert end == nxt or (nxt.segment == end.segment + 1 and nxt.offset == 0)
    assert [p for _, p in wal.read(ends[9])] == payloads[10:]
    assert wal.read(ends[-1]) == []

    # Each frame on disk is length | crc32 | payload.
    first = files[0].read_bytes()
    length, crc = HEADER.unpack(first[: HEADER.size])
    assert first[HEADER.size : HEADER.size + length] == payloads[0]
    assert crc == zlib.crc32(payloads[0])

    reader = LogReader(tmp_path / "wal")
    assert list(reader.records()) == payloads
    assert reader.unreadable == []


def test_reopen_continues_at_the_end_of_the_last_segment(
    tmp_path: Path, open_wal: Callable[..., WriteAheadLog]
) -> None:
    wal = open_wal(segment_bytes=100)
    for i in range(5):  # 3 frames in segment 1, 2 in segment 2
        wal.append(payload(i))
    wal.close()

    again = open_wal(segment_bytes=100)
    assert again.truncated_bytes == 0
    assert again.size_bytes() == 5 * FRAME
    assert again.append(payload(5)) == Position(2, 2 * FRAME)
    assert again.append(payload(6)) == Position(3, 0)  # segment 2 is full: a new one
    assert list(again.records()) == [payload(i) for i in range(7)]
    assert [f.name for f in segment_files(tmp_path / "wal")] == [
        "seg-00000000000000000001.wal",
        "seg-00000000000000000002.wal",
        "seg-00000000000000000003.wal",
    ]


def test_close_twice_is_harmless(open_wal: Callable[..., WriteAheadLog]) -> None:
    wal = open_wal()
    wal.append(payload(1))
    wal.close()
    wal.close()
    assert list(wal.records()) == [payload(1)]


# ---- recovery


def _cut_in_header(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: -FRAME + 3])  # 3 bytes of the last header left


def _cut_in_payload(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:-5])


def _half_frame_of_garbage(path: Path) -> None:
    with path.open("ab") as f:
        f.write(HEADER.pack(100, 12345) + b"garbage...")


def _full_length_of_zeros(path: Path) -> None:
    # The length reached the disk but not the payload: the crc does not match.
    with path.open("ab") as f:
        f.write(HEADER.pack(22, zlib.crc32(payload(99))) + bytes(22))


@pytest.mark.parametrize(
    ("tear", "intact"),
    [(_cut_in_header, 3), (_cut_in_payload, 3), (_half_frame_of_garbage, 4), (_full_length_of_zeros, 4)],
    ids=["cut-in-header", "cut-in-payload", "half-frame-appended", "zeroed-payload"],
)
def test_torn_tail_is_cut_off_on_reopen(
    tmp_path: Path, open_wal: Callable[..., WriteAheadLog], tear: Callable[[Path], None], intact: int
) -> None:
    wal = open_wal(segment_bytes=1000)
    for i in range(4):
        wal.append(payload(i))
    wal.close()
    segment = segment_files(tmp_path / "wal")[-1]
    tear(segment)
    torn_size = segment.stat().st_size
    assert torn_size != intact * FRAME

    # A read-only reader reports the torn tail and leaves it alone.
    reader = LogReader(tmp_path / "wal")
    assert list(reader.records()) == [payload(i) for i in range(intact)]
    assert reader.unreadable == [Unreadable(1, intact * FRAME, torn_size - intact * FRAME)]
    assert segment.stat().st_size == torn_size

    again = open_wal(segment_bytes=1000)
    assert again.truncated_bytes == torn_size - intact * FRAME
    assert segment.stat().st_size == intact * FRAME
    assert list(again.records()) == [payload(i) for i in range(intact)]
    assert again.append(payload(50)) == Position(1, intact * FRAME)
    again.close()

    third = open_wal(segment_bytes=1000)
    assert third.truncated_bytes == 0
    assert list(third.records()) == [*(payload(i) for i in range(intact)), payload(50)]
    reader = LogReader(tmp_path / "wal")
    assert list(reader.records()) == [*(payload(i) for i in range(intact)), payload(50)]
    assert reader.unreadable == []


def test_damaged_record_in_an_older_segment_is_reported_not_skipped(
    tmp_path: Path, open_wal: Callable[..., WriteAheadLog]
) -> None:
    wal = open_wal(segment_bytes=100)
    for i in range(9):  # three segments of three records
        wal.append(payload(i))
    wal.close()
    first = segment_files(tmp_path / "wal")[0]
    data = bytearray(first.read_bytes())
    data[FRAME + HEADER.size + 3] ^= 0xFF  # a payload byte of the second record
    first.write_bytes(bytes(data))

    reader = LogReader(tmp_path / "wal")
    # The damaged record and what follows it in its segment cannot be read; later segments can.
    assert list(reader.records()) == [payload(0), *(payload(i) for i in range(3, 9))]
    assert reader.unreadable == [Unreadable(segment=1, offset=FRAME, size=2 * FRAME)]
    assert first.read_bytes() == bytes(data)  # the reader changed nothing

    # Iterating again starts a fresh report.
    assert len(list(reader.records())) == 7
    assert len(reader.unreadable) == 1

    # Opening the log only recovers the last segment: the damaged one is left for inspection.
    again = open_wal(segment_bytes=100)
    assert again.truncated_bytes == 0
    assert first.read_bytes() == bytes(data)


def test_damage_in_the_middle_of_the_last_segment_is_kept_not_truncated(
    tmp_path: Path, open_wal: Callable[..., WriteAheadLog]
) -> None:
    """Only a bad *last* frame is a torn append; a bad frame with records after it is
    damage: opening keeps the segment as it is and writes to a new one."""
    wal = open_wal(segment_bytes=1000)
    for i in range(4):
        wal.append(payload(i))
    wal.close()
    [segment] = segment_files(tmp_path / "wal")
    data = bytearray(segment.read_bytes())
    data[FRAME + HEADER.size + 3] ^= 0xFF  # the second of four records
    segment.write_bytes(bytes(data))

    again = open_wal(segment_bytes=1000)
    assert again.truncated_bytes == 0
    assert again.damaged == [Unreadable(1, FRAME, 3 * FRAME)]
    assert segment.read_bytes() == bytes(data)  # records 2 and 3 are still on disk for inspection
    assert again.append(payload(9)) == Position(2, 0)
    reader = LogReader(tmp_path / "wal")
    assert list(reader.records()) == [payload(0), payload(9)]
    assert reader.unreadable == [Unreadable(1, FRAME, 3 * FRAME)]


def test_reading_past_a_damaged_sealed_segment_reports_the_damage(
    tmp_path: Path, open_wal: Callable[..., WriteAheadLog], caplog: pytest.LogCaptureFixture
) -> None:
    wal = open_wal(segment_bytes=100)
    for i in range(6):  # two segments of three records
        wal.append(payload(i))
    first = segment_files(tmp_path / "wal")[0]
    data = bytearray(first.read_bytes())
    data[2 * FRAME + HEADER.size] ^= 0xFF  # the third record of the sealed first segment
    first.write_bytes(bytes(data))

    shipped = [p for _, p in wal.read(None)]
    assert shipped == [payload(0), payload(1), payload(3), payload(4), payload(5)]
    assert wal.damaged == [Unreadable(1, 2 * FRAME, FRAME)]
    assert "is damaged at byte 60" in caplog.text
    wal.read(None)
    assert len(wal.damaged) == 1  # reported once


# ---- checkpoints


def test_checkpoints_persist_across_reopen(tmp_path: Path, open_wal: Callable[..., WriteAheadLog]) -> None:
    wal = open_wal()
    assert wal.checkpoint("file-sink") is None
    assert wal.checkpoint_extra("file-sink") == {}
    assert wal.shippers() == []
    wal.save_checkpoint("file-sink", Position(3, 120), {"generation": 2, "size": 4096})
    wal.save_checkpoint("http-sink", Position(1, 30))
    wal.save_checkpoint("http-sink", Position(2, 60))  # replaced atomically
    wal.close()

    again = open_wal()
    assert again.shippers() == ["file-sink", "http-sink"]
    assert again.checkpoint("file-sink") == Position(3, 120)
    assert again.checkpoint_extra("file-sink") == {"generation": 2, "size": 4096}
    assert again.checkpoint("http-sink") == Position(2, 60)
    assert again.checkpoint_extra("http-sink") == {}
    assert sorted(p.name for p in (tmp_path / "wal" / "checkpoints").iterdir()) == ["file-sink.json", "http-sink.json"]


# ---- fsync policies


def _syncer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "kubegate-wal-fsync"]


@pytest.mark.parametrize("fsync", ["always", "interval", "never"])
def test_each_fsync_policy_keeps_every_record(
    tmp_path: Path, open_wal: Callable[..., WriteAheadLog], fsync: FsyncPolicy
) -> None:
    before = len(_syncer_threads())
    wal = open_wal(fsync=fsync, fsync_interval_ms=5, segment_bytes=200)
    for i in range(10):
        wal.append(payload(i))
        if fsync == "always":  # synced before append returns
            assert wal._synced == wal._written
    if fsync == "interval":
        assert len(_syncer_threads()) == before + 1
        deadline = time.monotonic() + 5
        while wal._synced < wal._written and time.monotonic() < deadline:
            time.sleep(0.005)
        assert wal._synced == wal._written  # the background thread synced it
    else:
        assert len(_syncer_threads()) == before
    if fsync == "never":
        assert wal._synced == 0
    wal.close()
    assert len(_syncer_threads()) == before

    again = open_wal(fsync=fsync, segment_bytes=200)
    assert list(again.records()) == [payload(i) for i in range(10)]


def test_concurrent_appends_under_fsync_always_share_syncs(open_wal: Callable[..., WriteAheadLog]) -> None:
    wal = open_wal(fsync="always", segment_bytes=300)
    errors: list[BaseException] = []

    def writer(base: int) -> None:
        try:
            for i in range(25):
                wal.append(payload(base + i))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k * 100,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert wal._synced == wal._written == 100 * FRAME
    assert sorted(wal.records()) == sorted(payload(k * 100 + i) for k in range(4) for i in range(25))


# ---- the bound


def fill(wal: WriteAheadLog, start: int = 0) -> int:
    """Appends records until the log refuses one; returns how many it took."""
    n = 0
    with pytest.raises(LogFull) as info:
        while True:
            wal.append(payload(start + n))
            n += 1
    assert info.value.code == "decision_log_full"
    return n


def test_fail_closed_refuses_at_once_while_a_sink_lags(tmp_path: Path, open_wal: Callable[..., WriteAheadLog]) -> None:
    wal = open_wal(segment_bytes=100, max_bytes=200, full_policy="fail_closed", block_timeout_s=60)
    wal.save_checkpoint("lagging", Position(1, 0))
    assert fill(wal) == 6  # two segments of three 30-byte frames; a seventh would pass 200 bytes
    with pytest.raises(LogFull) as info:
        wal.append(payload(6))
    error = info.value
    assert isinstance(error, KubegateError)
    assert error.code == "decision_log_full"
    assert "200 bytes" in error.message and "fail_closed" in error.message
    assert wal.dropped == 0
    assert list(wal.records()) == [payload(i) for i in range(6)]
    assert wal.room_bytes == 200 - 6 * FRAME

    # Once the sink has passed segment 1, it is deleted and records fit again.
    wal.save_checkpoint("lagging", Position(2, 0))
    wal.append(payload(6))
    assert not (tmp_path / "wal" / "seg-00000000000000000001.wal").exists()
    assert list(wal.records()) == [payload(i) for i in range(3, 7)]


def test_block_raises_log_full_after_its_timeout(open_wal: Callable[..., WriteAheadLog]) -> None:
    wal = open_wal(segment_bytes=100, max_bytes=200, full_policy="block", block_timeout_s=0.05)
    wal.save_checkpoint("lagging", Position(1, 0))
    assert fill(wal) == 6
    with pytest.raises(LogFull, match="policy block"):
        wal.append(payload(6))
    assert list(wal.records()) == [payload(i) for i in range(6)]


def test_block_proceeds_once_the_sink_catches_up(tmp_path: Path, open_wal: Callable[..., WriteAheadLog]) -> None:
    wal = open_wal(segment_bytes=100, max_bytes=200, full_policy="block", block_timeout_s=30)
    wal.save_checkpoint("lagging", Position(1, 0))
    for i in range(6):
        wal.append(payload(i))
    result: list[Position] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def append() -> None:
        try:
            result.append(wal.append(payload(6)))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            done.set()

    writer = threading.Thread(target=append)
    writer.start()
    try:
        assert not done.wait(0.3), "the append should wait for the sink"
        # The sink catches up from another thread: the waiting append goes ahead.
        advancer = threading.Thread(target=wal.save_checkpoint, args=("lagging", Position(2, 0)))
        advancer.start()
        advancer.join()
        assert done.wait(10)
    finally:
        writer.join(10)
    assert errors == []
    assert result == [Position(3, 0)]
    assert not (tmp_path / "wal" / "seg-00000000000000000001.wal").exists()
    assert list(wal.records()) == [payload(i) for i in range(3, 7)]


def test_drop_oldest_drops_unshipped_segments_and_counts_them(open_wal: Callable[..., WriteAheadLog]) -> None:
    wal = open_wal(segment_bytes=100, max_bytes=200, full_policy="drop_oldest")
    wal.save_checkpoint("lagging", Position(1, 0))
    for i in range(20):
        wal.append(payload(i))
    kept = list(wal.records())
    assert wal.dropped > 0
    assert wal.dropped % 3 == 0  # whole segments of three records
    assert wal.dropped + len(kept) == 20
    assert kept == [payload(i) for i in range(wal.dropped, 20)]
    assert wal.size_bytes() <= 200
    # The lagging sink goes on from the oldest record left.
    assert [p for _, p in wal.read(wal.checkpoint("lagging"))] == kept
    assert wal.pending_bytes("lagging") == wal.size_bytes()


@pytest.mark.parametrize("policy", ["block", "drop_oldest", "fail_closed"])
@pytest.mark.parametrize("max_bytes", [100, 110, 200])
def test_a_caught_up_sink_never_meets_the_bound(
    tmp_path: Path, open_wal: Callable[..., WriteAheadLog], policy: FullPolicy, max_bytes: int
) -> None:
    # max_bytes may be as small as one segment (LogSettings allows it).
    wal = open_wal(segment_bytes=100, max_bytes=max_bytes, full_policy=policy, block_timeout_s=0.05)
    wal.save_checkpoint("sink", Position(1, 0))
    for i in range(30):
        wal.append(payload(i))
        batch = wal.read(wal.checkpoint("sink"))
        assert [p for _, p in batch] == [payload(i)]
        wal.save_checkpoint("sink", batch[-1][0])
    assert wal.dropped == 0
    assert wal.size_bytes() <= max_bytes
    assert not (tmp_path / "wal" / "seg-00000000000000000001.wal").exists()
    assert list(wal.records())[-1] == payload(29)


def test_without_any_shipper_the_log_is_kept_up_to_its_bound(open_wal: Callable[..., WriteAheadLog]) -> None:
    wal = open_wal(segment_bytes=100, max_bytes=200, full_policy="fail_closed")
    assert fill(wal) == 6
    assert list(wal.records()) == [payload(i) for i in range(6)]


def test_pending_and_room_bytes(open_wal: Callable[..., WriteAheadLog]) -> None:
    wal = open_wal(segment_bytes=100, max_bytes=1000)
    assert wal.room_bytes == 1000
    assert wal.pending_bytes("sink") == 0
    for i in range(5):  # segment 1: three frames (90 bytes), segment 2: two (60 bytes)
        wal.append(payload(i))
    assert wal.size_bytes() == 5 * FRAME
    assert wal.room_bytes == 1000 - 5 * FRAME
    assert wal.pending_bytes("sink") == 5 * FRAME  # no checkpoint: everything is pending
    ends = [pos for pos, _ in wal.read(None)]
    assert ends == [Position(1, 30), Position(1, 60), Position(1, 90), Position(2, 30), Position(2, 60)]
    expected = [4 * FRAME, 3 * FRAME, 2 * FRAME, FRAME, 0]
    for end, pending in zip(ends, expected, strict=True):
        wal.save_checkpoint("sink", end)
        assert wal.pending_bytes("sink") == pending
    wal.close()

    again = open_wal(segment_bytes=100, max_bytes=1000)
    assert again.room_bytes == 1000 - 5 * FRAME
    assert again.pending_bytes("sink") == 0
    assert again.pending_bytes("other") == 5 * FRAME
