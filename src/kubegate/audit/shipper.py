"""Shippers: one thread per sink, reading the write-ahead log from its checkpoint.

Each loop reads up to ``batch`` records after the sink's checkpoint, hands
them to the sink and, once the sink has them, saves the checkpoint
atomically. A failing sink is retried with exponential backoff (0.1 s up to
``max_backoff_s``); the log keeps the records meanwhile (and grows, up to
its bound).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable

from kubegate.audit.manifest import ManifestIndex, is_manifest, maybe_manifest
from kubegate.audit.sinks import FileSink, Sink, SinkError
from kubegate.audit.wal import Position, WriteAheadLog

__all__ = ["Shipper"]

_log = logging.getLogger("kubegate.audit")


class Shipper:
    """Moves records from ``wal`` to ``sink``.

    Args:
        wal: the log.
        sink: where to.
        batch: records per delivery.
        idle_s: how long to wait for new records when caught up (a new append wakes it sooner).
        linger_s: pause after a delivery, so that records arriving meanwhile go in the next
            batch (fewer fsyncs, checkpoints and uploads under load; seconds).
        on_shipped: called with the number of records delivered (metrics).
        on_error: called with each delivery error (metrics).
    """

    def __init__(
        self,
        wal: WriteAheadLog,
        sink: Sink,
        batch: int = 500,
        idle_s: float = 0.05,
        linger_s: float = 0.05,
        max_backoff_s: float = 5.0,
        on_shipped: Callable[[int], None] | None = None,
        on_error: Callable[[SinkError], None] | None = None,
    ) -> None:
        self.wal = wal
        self.sink = sink
        self.batch = batch
        self.idle_s = idle_s
        self.linger_s = linger_s
        self.max_backoff_s = max_backoff_s
        self._on_shipped = on_shipped
        self._on_error = on_error
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.shipped = 0
        self.errors = 0
        self.position: Position | None = wal.checkpoint(sink.name)
        self._manifests: ManifestIndex | None = None
        if sink.resolve_policies:  # manifests before the checkpoint were shipped in an earlier run
            self._manifests = ManifestIndex()
            self._manifests.add_payloads(wal.records)
        sink.recover(wal.checkpoint_extra(sink.name))
        if self.position is None:
            # Register now, so the log keeps everything until this sink has it.
            first = wal.oldest()
            wal.save_checkpoint(sink.name, first, sink.checkpoint_extra())
            self.position = first

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=f"kubegate-ship-{self.sink.name[:20]}", daemon=True)
        self._thread.start()

    def notify(self) -> None:
        """A record was appended: ship without waiting for the idle timeout."""
        self._wake.set()

    def ship_pending(self) -> int:
        """Delivers everything appended so far (raises :class:`SinkError`); returns how many records."""
        total = 0
        while True:
            records = self.wal.read(self.position, self.batch)
            if not records:
                return total
            batch = records if self._manifests is None else self._resolved(records, self._manifests)
            if batch:
                self.sink.ship(batch)
            self.position = records[-1][0]
            self.wal.save_checkpoint(self.sink.name, self.position, self.sink.checkpoint_extra())
            if isinstance(self.sink, FileSink):
                rotated = self.sink.after_checkpoint()
                if rotated is not None:
                    self.wal.save_checkpoint(self.sink.name, self.position, rotated)
            total += len(records)
            self.shipped += len(records)
            if self._on_shipped is not None:
                self._on_shipped(len(records))

    @staticmethod
    def _resolved(records: list[tuple[Position, bytes]], index: ManifestIndex) -> list[tuple[Position, bytes]]:
        """The batch with manifests left out and their versions put into the decision records."""
        out: list[tuple[Position, bytes]] = []
        for position, payload in records:
            try:
                record = json.loads(payload)
            except ValueError:
                out.append((position, payload))  # not JSON: shipped as it is (the sink reports it)
                continue
            if maybe_manifest(payload) and is_manifest(record):
                index.add(record)
                continue
            if not isinstance(record, dict):
                out.append((position, payload))
                continue
            text = json.dumps(index.resolve(record), separators=(",", ":"), ensure_ascii=False)
            try:
                out.append((position, text.encode()))
            except UnicodeEncodeError:  # a lone surrogate: escaped, as the logger writes such a record
                out.append((position, json.dumps(record, separators=(",", ":")).encode()))
        return out

    def _loop(self) -> None:
        backoff = 0.1
        while not self._stop.is_set():
            try:
                shipped = self.ship_pending()
                backoff = 0.1
            except Exception as exc:  # the thread must not die: any failure is retried
                error = exc if isinstance(exc, SinkError) else SinkError(f"{type(exc).__name__}: {exc}")
                self.errors += 1
                if self._on_error is not None:
                    self._on_error(error)
                if self.errors == 1 or self.errors % 100 == 0:
                    _log.warning("decision log sink %s failed (%s); retrying", self.sink.name, error.message)
                self._stop.wait(backoff)
                backoff = min(self.max_backoff_s, backoff * 2)
                continue
            if shipped:
                self._stop.wait(self.linger_s)
            else:
                self._wake.wait(self.idle_s)
                self._wake.clear()

    def stop(self, drain: bool = True) -> None:
        """Stops the thread; with ``drain``, first ships what is left (best effort)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if drain:
            try:
                self.ship_pending()
            except SinkError as exc:
                _log.warning("decision log sink %s: %s left in the log", self.sink.name, exc.message)
        self.sink.close()
