"""Where decision records go after the write-ahead log: files, HTTP (OPA's format), Kafka.

A shipper (:mod:`kubegate.audit.shipper`) hands each sink batches read from
the log and records a checkpoint once the sink has them:

* :class:`FileSink` — JSON lines, rotated by size, **exactly once**: the
  sink file's size is part of the checkpoint, and on start the file is cut
  back to it, so lines written after the last checkpoint (a crash in
  between) are written again exactly once;
* :class:`HttpSink` — OPA's decision-log upload
  (https://www.openpolicyagent.org/docs/latest/management-decision-logs/):
  a gzip-compressed JSON array POSTed to the service; retried with backoff by
  the shipper; **at least once** (``decision_id`` deduplicates);
* :class:`KafkaSink` — one message per record keyed by ``decision_id``
  (aiokafka, ``acks=all``, idempotent producer); **at least once**.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import os
import threading
from pathlib import Path
from typing import Any, Protocol

import requests

from kubegate.audit.wal import Position
from kubegate.errors import KubegateError

__all__ = ["FileSink", "HttpSink", "KafkaSink", "Sink", "SinkError", "parse_sink"]


class SinkError(KubegateError):
    """A sink could not take a batch (it is retried)."""

    code = "decision_sink_failed"


class Sink(Protocol):
    """What a shipper needs of a sink."""

    name: str

    def recover(self, extra: dict[str, int]) -> None:
        """Called once before shipping, with what :meth:`checkpoint_extra` returned last time."""

    def ship(self, batch: list[tuple[Position, bytes]]) -> None:
        """Delivers a batch or raises :class:`SinkError`."""

    def checkpoint_extra(self) -> dict[str, int]:
        """Sink state to save with the checkpoint, once ``ship`` returned."""

    def close(self) -> None: ...


class FileSink:
    """JSON lines in ``path``, rotated to ``path.<n>`` past ``max_bytes`` (at most ``keep`` files kept)."""

    def __init__(self, path: str, max_bytes: int = 64 * 1024 * 1024, keep: int = 10) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.name = "file-" + "".join(ch if ch.isalnum() else "_" for ch in str(self.path.resolve()))[-80:]
        self.max_bytes = max_bytes
        self.keep = keep
        self.generation = 0
        self._file: Any = None

    def recover(self, extra: dict[str, int]) -> None:
        """Cuts the sink file back to the size at the last checkpoint (exactly once)."""
        if not extra:
            # No checkpoint yet (a new log, or a new sink): keep what the file already
            # has, and number rotations after the rotated files already there.
            rotated_files = [p.name[len(self.path.name) + 1 :] for p in self.path.parent.glob(self.path.name + ".*")]
            self.generation = max((int(n) + 1 for n in rotated_files if n.isdigit()), default=0)
            self._file = self.path.open("ab")
            return
        self.generation = int(extra.get("generation", 0))
        size = int(extra.get("size", 0))
        rotated = self.path.with_name(f"{self.path.name}.{self.generation}")
        if rotated.exists():
            # The file was rotated after the checkpoint: that rotation is complete;
            # anything in the new file came after the checkpoint.
            with rotated.open("r+b") as f:
                f.truncate(size)
            self.generation += 1
            size = 0
        if self.path.exists() and self.path.stat().st_size > size:
            with self.path.open("r+b") as f:
                f.truncate(size)
                os.fsync(f.fileno())
        self._file = self.path.open("ab")

    def ship(self, batch: list[tuple[Position, bytes]]) -> None:
        start = self._file.tell()
        try:
            self._file.write(b"".join(payload + b"\n" for _, payload in batch))
            self._file.flush()
            os.fsync(self._file.fileno())
        except OSError as exc:
            # Take back what part of the batch got written: the retry writes it all again.
            with contextlib.suppress(OSError):
                self._file.close()  # may fail again flushing its buffer: it is closed all the same
            with contextlib.suppress(OSError), self.path.open("r+b") as f:
                f.truncate(start)
            self._file = self.path.open("ab")
            raise SinkError(f"cannot write {self.path}: {exc}") from None

    def checkpoint_extra(self) -> dict[str, int]:
        return {"generation": self.generation, "size": self._file.tell()}

    def after_checkpoint(self) -> dict[str, int] | None:
        """Rotates when the file is too big; returns the new checkpoint state, if it rotated."""
        if self._file.tell() < self.max_bytes:
            return None
        self._file.close()
        os.replace(self.path, self.path.with_name(f"{self.path.name}.{self.generation}"))
        stale = self.path.with_name(f"{self.path.name}.{self.generation - self.keep}")
        stale.unlink(missing_ok=True)
        self.generation += 1
        self._file = self.path.open("ab")
        return {"generation": self.generation, "size": 0}

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


class HttpSink:
    """POSTs batches to an OPA-compatible decision-log service.

    Args:
        url: the upload endpoint (OPA's default path is ``/logs``).
        timeout_s: per request.
        headers: extra headers (``Authorization``...).
        verify: TLS verification: ``True``, ``False`` or a CA bundle path.
    """

    def __init__(
        self, url: str, timeout_s: float = 10.0, headers: dict[str, str] | None = None, verify: bool | str = True
    ) -> None:
        self.url = url
        self.name = "http-" + "".join(ch if ch.isalnum() else "_" for ch in url)[-80:]
        self.timeout_s = timeout_s
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.headers.update({"Content-Type": "application/json", "Content-Encoding": "gzip", **(headers or {})})
        self.verify = verify

    def recover(self, extra: dict[str, int]) -> None:
        return None

    def ship(self, batch: list[tuple[Position, bytes]]) -> None:
        body = gzip.compress(b"[" + b",".join(payload for _, payload in batch) + b"]")
        try:
            reply = self.session.post(self.url, data=body, timeout=self.timeout_s, verify=self.verify)
        except requests.RequestException as exc:
            raise SinkError(f"POST {self.url} failed: {exc}") from None
        if not 200 <= reply.status_code < 300:
            raise SinkError(f"POST {self.url} answered {reply.status_code}")

    def checkpoint_extra(self) -> dict[str, int]:
        return {}

    def close(self) -> None:
        self.session.close()


class KafkaSink:
    """Sends each record to a Kafka topic (aiokafka, on a private event loop thread).

    Args:
        bootstrap: ``host:port[,host:port]``.
        topic: the topic.
    """

    def __init__(self, bootstrap: str, topic: str, timeout_s: float = 30.0) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.name = "kafka-" + "".join(ch if ch.isalnum() else "_" for ch in f"{bootstrap}_{topic}")[-80:]
        self.timeout_s = timeout_s
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="kubegate-kafka", daemon=True)
        self._thread.start()
        self._producer: Any = None

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(self.timeout_s)

    def recover(self, extra: dict[str, int]) -> None:
        return None

    async def _start(self) -> Any:
        from aiokafka import AIOKafkaProducer  # type: ignore[import-untyped]

        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all", enable_idempotence=True)
        try:
            await producer.start()
        except BaseException:
            await producer.stop()  # else each failed attempt leaks an unclosed producer
            raise
        return producer

    async def _send(self, batch: list[tuple[Position, bytes]]) -> None:
        import json

        futures = []
        for _, payload in batch:
            key = str(json.loads(payload).get("decision_id", "")).encode()
            futures.append(await self._producer.send(self.topic, payload, key=key))
        await asyncio.gather(*futures)

    def ship(self, batch: list[tuple[Position, bytes]]) -> None:
        try:
            if self._producer is None:
                self._producer = self._run(self._start())
            self._run(self._send(batch))
        except Exception as exc:  # aiokafka raises its own errors, timeouts and connection errors
            raise SinkError(f"Kafka {self.bootstrap}/{self.topic}: {type(exc).__name__}: {exc}") from None

    def checkpoint_extra(self) -> dict[str, int]:
        return {}

    def close(self) -> None:
        if self._producer is not None:
            with contextlib.suppress(Exception):  # closing is best effort
                self._run(self._producer.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self._loop.close()


def parse_sink(spec: str) -> Sink:
    """A sink from its command-line spelling: ``file:PATH``, ``http:URL`` / ``https:URL``,
    ``kafka:HOST:PORT[,HOST:PORT]/TOPIC``.

    Raises:
        KubegateError: ``invalid_sink``.
    """
    kind, _, rest = spec.partition(":")
    if kind == "file" and rest:
        return FileSink(rest)
    if kind in ("http", "https") and rest.startswith("//"):
        return HttpSink(spec)
    if kind == "kafka" and "/" in rest:
        bootstrap, _, topic = rest.rpartition("/")
        if bootstrap and topic:
            return KafkaSink(bootstrap, topic)
    raise KubegateError(
        f"sink {spec!r}: use file:PATH, http(s)://HOST/PATH or kafka:HOST:PORT/TOPIC", code="invalid_sink"
    )
