"""A local write-ahead log of decision records: segment files, a checksum per record.

Layout of the log directory::

    seg-00000000000000000001.wal   records, appended
    seg-00000000000000000002.wal
    checkpoints/<sink>.json        where each shipper has read up to

Each record is framed as ``length (u32, little endian) | crc32 (u32) | payload``.
A record counts as written when :meth:`WriteAheadLog.append` returns: it is in
the file (the operating system has it, so a killed process loses nothing),
and with ``fsync="always"`` it is on disk too (concurrent appenders share one
``fsync``: group commit). With ``fsync="interval"`` a background thread
syncs every ``fsync_interval_ms``; with ``"never"`` the OS decides.

On open, the last segment is scanned and a torn record at its end (a crash in
the middle of a write) is cut off. Segments are capped at ``segment_bytes``.
The log is bounded by ``max_bytes``: segments every shipper has passed are
deleted first, oldest first; if that is not enough, ``full_policy`` decides:
``block`` (wait up to ``block_timeout_s`` for shippers), ``drop_oldest``
(delete the oldest segment even though unshipped, counting the records lost)
or ``fail_closed`` (refuse the record: :class:`LogFull`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from kubegate.errors import KubegateError

__all__ = ["FsyncPolicy", "FullPolicy", "LogFull", "LogReader", "Position", "WriteAheadLog"]

_log = logging.getLogger("kubegate.audit")

FsyncPolicy = Literal["always", "interval", "never"]
FullPolicy = Literal["block", "drop_oldest", "fail_closed"]
_HEADER = struct.Struct("<II")
_PREFIX, _SUFFIX = "seg-", ".wal"


class LogFull(KubegateError):
    """The decision log is at its size bound and its policy refuses the record."""

    code = "decision_log_full"


@dataclass(frozen=True, order=True)
class Position:
    """A place in the log: segment number and byte offset in it."""

    segment: int
    offset: int

    def to_json(self) -> dict[str, int]:
        return {"segment": self.segment, "offset": self.offset}


def _segment_name(n: int) -> str:
    return f"{_PREFIX}{n:020d}{_SUFFIX}"


def _scan(path: Path, start: int = 0) -> Iterator[tuple[int, int, bytes]]:
    """(start, end, payload) of each intact record of a segment from byte ``start``;
    stops at the first torn or damaged one."""
    with path.open("rb") as f:
        f.seek(start)
        offset = start
        while True:
            header = f.read(_HEADER.size)
            if len(header) < _HEADER.size:
                return
            length, crc = _HEADER.unpack(header)
            payload = f.read(length)
            if len(payload) < length or zlib.crc32(payload) != crc:
                return
            end = offset + _HEADER.size + length
            yield offset, end, payload
            offset = end


def _torn(path: Path, offset: int, size: int) -> bool:
    """Whether the bad frame at ``offset`` is the segment's last (incomplete, or complete
    but with a payload that never reached the disk): a torn append, not damage."""
    if size - offset < _HEADER.size:
        return True
    with path.open("rb") as f:
        f.seek(offset)
        length = int(_HEADER.unpack(f.read(_HEADER.size))[0])
    return offset + _HEADER.size + length >= size


def _segments_in(directory: Path) -> list[int]:
    out = []
    for entry in directory.iterdir():
        if entry.name.startswith(_PREFIX) and entry.name.endswith(_SUFFIX):
            out.append(int(entry.name[len(_PREFIX) : -len(_SUFFIX)]))
    return sorted(out)


@dataclass(frozen=True)
class Unreadable:
    """Bytes of a segment that do not hold an intact record (a torn tail, or damage)."""

    segment: int
    offset: int
    size: int


class LogReader:
    """Reads a log without changing it (safe while a server appends to it).

    Records are yielded oldest first; what cannot be read (a record being
    written right now, or a damaged one and everything after it in its
    segment) is listed in :attr:`unreadable`, never skipped silently.
    """

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.unreadable: list[Unreadable] = []

    def records(self) -> Iterator[bytes]:
        self.unreadable = []
        for segment in _segments_in(self.directory):
            path = self.directory / _segment_name(segment)
            try:
                size = path.stat().st_size
            except FileNotFoundError:  # deleted after shipping, while we listed
                continue
            end = 0
            for _, stop, payload in _scan(path):
                end = stop
                yield payload
            if size > end:
                self.unreadable.append(Unreadable(segment, end, size - end))


class WriteAheadLog:
    """See the module docstring.

    Args:
        directory: created when missing.
        fsync: ``always``, ``interval`` or ``never``.
        fsync_interval_ms: for ``interval``.
        segment_bytes: size at which a new segment starts.
        max_bytes: bound of the whole log.
        full_policy: what happens at the bound when shippers lag.
        block_timeout_s: longest wait under ``block``.
    """

    def __init__(
        self,
        directory: str | Path,
        fsync: FsyncPolicy = "interval",
        fsync_interval_ms: int = 100,
        segment_bytes: int = 16 * 1024 * 1024,
        max_bytes: int = 1024 * 1024 * 1024,
        full_policy: FullPolicy = "block",
        block_timeout_s: float = 5.0,
    ) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "checkpoints").mkdir(exist_ok=True)
        self.fsync = fsync
        self.segment_bytes = segment_bytes
        self.max_bytes = max_bytes
        self.full_policy = full_policy
        self.block_timeout_s = block_timeout_s
        self._lock = threading.Lock()
        self._space = threading.Condition(self._lock)
        self._sync_lock = threading.Lock()
        self.dropped = 0
        self.appended = 0
        self.truncated_bytes = 0
        self.damaged: list[Unreadable] = []  # found on opening or by read(); never skipped silently
        self._segments = _segments_in(self.directory)
        if not self._segments:
            self._segments = [1]
        self._recover()
        current = self._segments[-1]
        self._file = (self.directory / _segment_name(current)).open("ab")
        self._offset = self._file.tell()
        self._bytes = self.size_bytes()
        self._written = 0  # bytes appended since open (for group commit)
        self._synced = 0
        self._closed = False
        self._stop = threading.Event()
        self._syncer: threading.Thread | None = None
        if fsync == "interval":
            self._syncer = threading.Thread(
                target=self._sync_loop, args=(fsync_interval_ms / 1000,), name="kubegate-wal-fsync", daemon=True
            )
            self._syncer.start()

    # ---- segments
    def _path(self, segment: int) -> Path:
        return self.directory / _segment_name(segment)

    def _recover(self) -> None:
        """Cuts a torn record (a bad last frame: a crash mid-append) off the end of the
        last segment. A bad frame with more bytes after it is damage, not a torn write:
        the segment is left as it is (``LogReader`` reports the bytes, shippers skip
        them with an error) and appends go to a new segment."""
        last = self._path(self._segments[-1])
        if not last.exists():
            last.touch()
            return
        end = 0
        for _, stop, _ in _scan(last):
            end = stop
        size = last.stat().st_size
        if size == end:
            return
        if _torn(last, end, size):
            self.truncated_bytes = size - end
            with last.open("r+b") as f:
                f.truncate(end)
                os.fsync(f.fileno())
            return
        self.damaged.append(Unreadable(self._segments[-1], end, size - end))
        _log.error(
            "decision log segment %s is damaged at byte %d (%d bytes unreadable); kept as it is, "
            "new records go to a new segment",
            last,
            end,
            size - end,
        )
        self._segments.append(self._segments[-1] + 1)
        self._path(self._segments[-1]).touch()

    @property
    def current_segment(self) -> int:
        """The segment the next record goes to (unless it starts a new one)."""
        return self._segments[-1]

    @property
    def room_bytes(self) -> int:
        """Bytes that may still be appended before the bound applies."""
        return self.max_bytes - self._bytes

    def oldest(self) -> Position:
        """The position of the oldest record kept."""
        with self._lock:
            return Position(self._segments[0], 0)

    def pending_bytes(self, name: str) -> int:
        """Bytes of the log that shipper ``name`` has not read yet."""
        at = self.checkpoint(name)
        with self._lock:
            segments = list(self._segments)
        total = 0
        for segment in segments:
            if at is not None and segment < at.segment:
                continue
            try:
                size = self._path(segment).stat().st_size
            except FileNotFoundError:
                continue
            total += size - (at.offset if at is not None and segment == at.segment else 0)
        return max(total, 0)

    def size_bytes(self) -> int:
        total = 0
        for segment in self._segments:
            with contextlib.suppress(FileNotFoundError):
                total += self._path(segment).stat().st_size
        return total

    # ---- writing
    def append(self, payload: bytes, sync: bool = True) -> Position:
        """Appends one record; returns its position once it counts as written.

        With ``sync=False`` under ``fsync=always`` the record is written (the OS has
        it: a killed process loses nothing) but not yet fsynced: the caller calls
        :meth:`sync` later (the webhook does, once its answer is on its way).

        Raises:
            LogFull: at the bound under ``fail_closed``, or after ``block_timeout_s`` under ``block``.
        """
        frame = _HEADER.pack(len(payload), zlib.crc32(payload)) + payload
        with self._lock:
            if self._offset + len(frame) > self.segment_bytes and self._offset > 0:
                self._rotate()  # first: the sealed segment may then be deleted to make room
            self._make_room(len(frame))
            position = Position(self._segments[-1], self._offset)
            self._file.write(frame)
            self._file.flush()  # the OS has it: a killed process loses nothing
            self._offset += len(frame)
            self._bytes += len(frame)
            self._written += len(frame)
            self.appended += 1
            mark = self._written
        if self.fsync == "always" and sync:
            self._sync_to(mark)
        return position

    def sync(self) -> None:
        """fsyncs everything appended so far (one fsync for all of it: group commit)."""
        with self._lock:
            mark = self._written
        self._sync_to(mark)

    def _sync_to(self, mark: int) -> None:
        with self._sync_lock:  # group commit: one fsync covers every append before it
            if self._synced >= mark:
                return
            with self._lock:
                target = self._written
                # A duplicate descriptor: a rotation may close the file meanwhile (it
                # fsyncs before closing, so the duplicate still covers everything).
                fd = os.dup(self._file.fileno())
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            self._synced = target

    def _sync_loop(self, interval_s: float) -> None:
        while not self._stop.wait(interval_s):
            with self._lock:
                mark = self._written
            if mark > self._synced:
                try:
                    self._sync_to(mark)
                except (OSError, ValueError):
                    return

    def _rotate(self) -> None:
        os.fsync(self._file.fileno())
        self._file.close()
        self._segments.append(self._segments[-1] + 1)
        self._file = self._path(self._segments[-1]).open("ab")
        self._offset = 0

    def _make_room(self, needed: int) -> None:
        deadline = time.monotonic() + self.block_timeout_s
        while self._bytes + needed > self.max_bytes:
            if self._delete_shipped():
                continue
            if self.full_policy == "drop_oldest" and len(self._segments) > 1:
                oldest = self._segments.pop(0)
                path = self._path(oldest)
                self.dropped += sum(1 for _ in _scan(path))
                self._unlink(path)
                continue
            if self.full_policy == "block":
                remaining = deadline - time.monotonic()
                if remaining > 0:
                    self._space.wait(min(remaining, 0.05))
                    continue
            raise LogFull(
                f"the decision log is full ({self.max_bytes} bytes) and its sinks are behind "
                f"(policy {self.full_policy})"
            )

    def _delete_shipped(self) -> bool:
        """Deletes the oldest segment if every shipper is past it."""
        if len(self._segments) < 2:
            return False
        checkpoints = [self.checkpoint(name) for name in self.shippers()]
        oldest = self._segments[0]
        try:
            size = self._path(oldest).stat().st_size
        except FileNotFoundError:
            size = 0
        # A shipper at the end of a sealed segment has passed it too.
        if checkpoints and all(c is not None and c >= Position(oldest, size) for c in checkpoints):
            self._segments.pop(0)
            self._unlink(self._path(oldest))
            return True
        return False

    def _unlink(self, path: Path) -> None:
        try:
            self._bytes -= path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            pass

    # ---- reading
    def read(self, after: Position | None, max_records: int = 1000) -> list[tuple[Position, bytes]]:
        """Records after ``after`` (``None``: from the oldest); each with the position just past it."""
        with self._lock:
            segments = list(self._segments)
        start = after or Position(segments[0], 0)
        out: list[tuple[Position, bytes]] = []
        for segment in segments:
            if segment < start.segment:
                continue
            offset = start.offset if segment == start.segment else 0
            try:
                for _, end, payload in _scan(self._path(segment), offset):
                    out.append((Position(segment, end), payload))
                    offset = end
                    if len(out) >= max_records:
                        return out
                if segment != segments[-1]:
                    self._check_sealed(segment, offset)
            except FileNotFoundError:  # shipped and deleted while we read
                continue
        return out

    def _check_sealed(self, segment: int, end: int) -> None:
        """A sealed segment read up to ``end``: bytes after it are damage; report them once."""
        size = self._path(segment).stat().st_size
        if end < size and not any(d.segment == segment and d.offset == end for d in self.damaged):
            self.damaged.append(Unreadable(segment, end, size - end))
            _log.error(
                "decision log segment %s is damaged at byte %d: %d bytes cannot be shipped",
                self._path(segment),
                end,
                size - end,
            )

    def records(self) -> Iterator[bytes]:
        """Every retained record, oldest first."""
        for segment in list(self._segments):
            path = self._path(segment)
            if path.exists():
                for _, _, payload in _scan(path):
                    yield payload

    # ---- checkpoints
    def shippers(self) -> list[str]:
        return sorted(p.stem for p in (self.directory / "checkpoints").glob("*.json"))

    def checkpoint(self, name: str) -> Position | None:
        path = self.directory / "checkpoints" / f"{name}.json"
        try:
            doc = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        return Position(int(doc["segment"]), int(doc["offset"]))

    def save_checkpoint(self, name: str, position: Position, extra: dict[str, int] | None = None) -> None:
        """Atomically records how far shipper ``name`` has read (write, fsync, rename)."""
        path = self.directory / "checkpoints" / f"{name}.json"
        tmp = path.with_suffix(".tmp")
        with tmp.open("w") as f:
            json.dump({**position.to_json(), **(extra or {})}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        with self._lock:
            self._space.notify_all()

    def checkpoint_extra(self, name: str) -> dict[str, int]:
        path = self.directory / "checkpoints" / f"{name}.json"
        try:
            doc = json.loads(path.read_text())
        except FileNotFoundError:
            return {}
        return {k: int(v) for k, v in doc.items() if k not in ("segment", "offset")}

    def close(self) -> None:
        """Syncs and closes the log."""
        self._stop.set()
        if self._syncer is not None:
            self._syncer.join(timeout=5)
        with self._lock:
            if not self._closed:
                self._file.flush()
                os.fsync(self._file.fileno())
                self._file.close()
                self._closed = True
