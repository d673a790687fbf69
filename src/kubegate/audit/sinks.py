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
  the shipper; **at least once** (``decision_id`` deduplicates); or another
  wire format (Splunk HEC, Elastic bulk: :mod:`kubegate.audit.formats`);
* :class:`KafkaSink` — one message per record keyed by ``decision_id``
  (aiokafka, ``acks=all``, idempotent producer unless turned off); **at least once**.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import threading
from pathlib import Path
from typing import Any, Protocol

import requests

from kubegate.audit.formats import OpaUpload, WireFormat, parse_http_spec
from kubegate.audit.wal import Position
from kubegate.errors import KubegateError

__all__ = ["FileSink", "HttpSink", "KafkaSink", "Sink", "SinkError", "parse_sink"]


class SinkError(KubegateError):
    """A sink could not take a batch (it is retried)."""

    code = "decision_sink_failed"


class Sink(Protocol):
    """What a shipper needs of a sink."""

    name: str
    resolve_policies: bool
    """Receives decision records with every policy's version and no policy-set manifest
    records (:mod:`kubegate.audit.manifest`); otherwise the log as written."""

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
        self.resolve_policies = False
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
        wire: the wire format (:mod:`kubegate.audit.formats`; OPA's upload by default).
    """

    def __init__(
        self,
        url: str,
        timeout_s: float = 10.0,
        headers: dict[str, str] | None = None,
        verify: bool | str = True,
        wire: WireFormat | None = None,
    ) -> None:
        self.url = url
        self.name = "http-" + "".join(ch if ch.isalnum() else "_" for ch in url)[-80:]
        self.timeout_s = timeout_s
        self.wire: WireFormat = wire or OpaUpload()
        self.resolve_policies = isinstance(self.wire, OpaUpload)  # OPA's format: decision events only
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.headers.update({**self.wire.content_headers(), **(headers or {})})
        self.verify = verify

    def recover(self, extra: dict[str, int]) -> None:
        return None

    def ship(self, batch: list[tuple[Position, bytes]]) -> None:
        try:
            body = self.wire.encode([payload for _, payload in batch])
            auth = self.wire.authorization()  # read for each request: a rotated token is picked up
        except (KubegateError, ValueError) as exc:
            raise SinkError(f"POST {self.url}: {exc}") from None
        try:
            reply = self.session.post(self.url, data=body, headers=auth, timeout=self.timeout_s, verify=self.verify)
        except requests.RequestException as exc:
            raise SinkError(f"POST {self.url} failed: {exc}") from None
        if not 200 <= reply.status_code < 300:
            raise SinkError(f"POST {self.url} answered {reply.status_code}")
        problem = self.wire.rejected(reply.content, len(batch))
        if problem is not None:
            raise SinkError(f"POST {self.url} answered {reply.status_code}, but {problem}")

    def checkpoint_extra(self) -> dict[str, int]:
        return {}

    def close(self) -> None:
        self.session.close()


KAFKA_MAX_MESSAGE_BYTES = 1_000_000
"""Below aiokafka's ``max_request_size`` and Kafka's ``message.max.bytes`` (1 MiB each, by default),
with room for the message's key and headers."""


class KafkaSink:
    """Sends each record to a Kafka topic, keyed by its ``decision_id`` (aiokafka, on a
    private event loop thread; producer settings:
    https://aiokafka.readthedocs.io/en/stable/api.html#producer-class).

    The producer is created on the first delivery and kept: aiokafka reconnects by
    itself when a broker comes back. A record whose send is still in flight when a
    delivery times out is not sent again by the retry; the retry waits for it.

    Args:
        bootstrap: ``host:port[,host:port]``.
        topic: the topic (created by the broker on first use where it allows that).
        timeout_s: how long one delivery may take, in seconds; a batch not acknowledged
            by then raises :class:`SinkError` (the shipper retries it). Also the
            producer's ``request_timeout_ms``.
        idempotence: the producer's ``enable_idempotence`` (on: the broker drops a
            retried send it already has, within one producer session). Off for brokers
            that do not answer ``InitProducerId`` v0, as aiokafka sends it (Tansu 0.6).
        max_message_bytes: a record longer than this (a strict record of a large
            object) is sent shortened, its ``input`` left out (then its result's
            violations and policies too, if still too long), with
            ``kubegate.omitted`` saying what and why: the full record stays in the
            decision log and the other sinks. Sending it whole would fail on every
            retry (the producer's ``max_request_size`` and the broker's
            ``message.max.bytes`` default to 1 MiB) and stall the sink.
    """

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        timeout_s: float = 30.0,
        idempotence: bool = True,
        max_message_bytes: int = KAFKA_MAX_MESSAGE_BYTES,
    ) -> None:
        self.bootstrap = bootstrap
        self.max_message_bytes = max_message_bytes
        self.shortened = 0
        """Records sent shortened (over ``max_message_bytes``)."""
        self.topic = topic
        self.name = "kafka-" + "".join(ch if ch.isalnum() else "_" for ch in f"{bootstrap}_{topic}")[-80:]
        self.timeout_s = timeout_s
        self.idempotence = idempotence
        self.resolve_policies = False
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="kubegate-kafka", daemon=True)
        self._thread.start()
        self._producer: Any = None
        self._in_flight: dict[Position, asyncio.Future[Any]] = {}

    def _run(self, coro: Any) -> Any:
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(self.timeout_s + 5)  # the coroutines keep to timeout_s: a safety net
        except TimeoutError:
            future.cancel()
            raise

    def recover(self, extra: dict[str, int]) -> None:
        return None

    async def _start(self) -> Any:
        from aiokafka import AIOKafkaProducer  # type: ignore[import-untyped]

        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            acks="all",
            enable_idempotence=self.idempotence,
            request_timeout_ms=int(self.timeout_s * 1000),
        )
        try:
            await producer.start()
        except BaseException:
            await producer.stop()  # else each failed attempt leaks an unclosed producer
            raise
        return producer

    async def _send(self, batch: list[tuple[Position, bytes]]) -> None:
        deadline = self._loop.time() + self.timeout_s
        # The shipper has moved past these (delivered, or dropped from the log).
        for position in [p for p in self._in_flight if p < batch[0][0]]:
            del self._in_flight[position]
        futures = []
        try:
            async with asyncio.timeout_at(deadline):
                if self._producer is None:
                    self._producer = await self._start()
                for position, payload in batch:
                    if len(payload) > self.max_message_bytes:
                        payload = shortened(payload, self.max_message_bytes)
                        self.shortened += 1
                    future = self._in_flight.get(position)
                    if future is None or (future.done() and (future.cancelled() or future.exception() is not None)):
                        future = await self._producer.send(self.topic, payload, key=_decision_id(payload))
                        future.add_done_callback(_retrieve)
                        self._in_flight[position] = future
                    futures.append(future)
        except TimeoutError:
            raise TimeoutError(f"no broker took the batch in {self.timeout_s:g} s") from None
        _, pending = await asyncio.wait(futures, timeout=max(0.0, deadline - self._loop.time()))
        if pending:
            raise TimeoutError(f"{len(pending)} of {len(batch)} records not acknowledged in {self.timeout_s:g} s")
        for future in futures:
            if future.cancelled():
                raise RuntimeError("a send was cancelled (the producer is closing)")
            error = future.exception()
            if error is not None:
                raise error
        for position, _ in batch:
            del self._in_flight[position]

    def ship(self, batch: list[tuple[Position, bytes]]) -> None:
        """Delivers ``batch``, one message per record.

        Raises:
            SinkError: no broker, a send refused, or not acknowledged in ``timeout_s``.
        """
        if not batch:
            return
        try:
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


def shortened(payload: bytes, limit: int) -> bytes:
    """A record made to fit in ``limit`` bytes: ``input`` left out, then ``result.violations``,
    then ``kubegate.policies``, then everything but the header and the decision. As a mask
    rule's removals, each is listed in OPA's ``erased`` (JSON pointers); ``shortened``
    gives the full size and the limit. A payload that is not a JSON object becomes an
    object saying so."""
    try:
        record = json.loads(payload)
    except ValueError:
        record = None
    if not isinstance(record, dict):
        return json.dumps(
            {"shortened": {"bytes": len(payload), "limit": limit, "reason": "not a JSON object"}}
        ).encode()
    erased = record["erased"] if isinstance(record.get("erased"), list) else []
    record["erased"] = erased
    record["shortened"] = {"bytes": len(payload), "limit": limit}
    for section, key in ((None, "input"), ("result", "violations"), ("kubegate", "policies")):
        holder = record if section is None else record.get(section)
        if isinstance(holder, dict) and key in holder:
            del holder[key]
            erased.append(f"/{key}" if section is None else f"/{section}/{key}")
            out = json.dumps(record, separators=(",", ":")).encode()
            if len(out) <= limit:
                return out
    result = record.get("result")
    kept = {k: record[k] for k in ("decision_id", "timestamp", "path", "labels", "bundles", "metrics") if k in record}
    kept["result"] = {"allowed": result.get("allowed")} if isinstance(result, dict) else {}
    kept["kubegate"] = {}
    kept["redaction"] = record.get("redaction", {"count": 0, "rules": {}})
    kept["erased"] = ["/input", "/result", "/kubegate"]
    kept["shortened"] = record["shortened"]
    return json.dumps(kept, separators=(",", ":")).encode()


def _decision_id(payload: bytes) -> bytes | None:
    """The message key: the record's ``decision_id`` (none: the broker picks the partition)."""
    record = json.loads(payload)
    decision_id = record.get("decision_id") if isinstance(record, dict) else None
    return str(decision_id).encode() if decision_id is not None else None


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Marks a send's error as seen (a retry resends it; asyncio would log it as never retrieved)."""
    if not future.cancelled():
        future.exception()


_KAFKA_TOPIC = re.compile(r"[A-Za-z0-9._-]{1,249}")
_USAGE = "use file:PATH, http(s)://HOST/PATH or kafka:HOST:PORT/TOPIC"


def _kafka_sink(spec: str, rest: str) -> KafkaSink:
    """``HOST:PORT[,HOST:PORT]/TOPIC[?idempotence=true|false]``, optionally after ``//``."""
    address, _, query = rest.removeprefix("//").partition("?")
    bootstrap, _, topic = address.rpartition("/")
    if not bootstrap or not topic:
        raise KubegateError(f"sink {spec!r}: {_USAGE}", code="invalid_sink")
    if not _KAFKA_TOPIC.fullmatch(topic) or topic in (".", ".."):
        raise KubegateError(
            f"sink {spec!r}: {topic!r} is not a Kafka topic name (at most 249 letters, digits, '.', '_', '-')",
            code="invalid_sink",
        )
    options: dict[str, bool] = {}
    for item in query.split("&") if query else []:
        key, equals, value = item.partition("=")
        if key != "idempotence" or not equals or value.lower() not in ("true", "false") or key in options:
            raise KubegateError(
                f"sink {spec!r}: option {item!r} is not idempotence=true or idempotence=false (given once)",
                code="invalid_sink",
            )
        options[key] = value.lower() == "true"
    return KafkaSink(bootstrap, topic, idempotence=options.get("idempotence", True))


def parse_sink(spec: str) -> Sink:
    """A sink from its command-line spelling: ``file:PATH``, ``http(s)://HOST/PATH[#OPTIONS]``
    (format and token options: :func:`kubegate.audit.formats.parse_http_spec`),
    ``kafka:HOST:PORT[,HOST:PORT]/TOPIC[?idempotence=false]`` (``kafka://…`` too).

    Raises:
        KubegateError: ``invalid_sink``; ``sink_credential_unavailable`` (an HTTP sink's token).
    """
    kind, _, rest = spec.partition(":")
    if kind == "file" and rest:
        return FileSink(rest)
    if kind in ("http", "https") and rest.startswith("//"):
        http = parse_http_spec(spec)  # URL#format=...&token-env=... (kubegate.audit.formats)
        return HttpSink(http.url, verify=http.verify, wire=http.wire)
    if kind == "kafka":
        return _kafka_sink(spec, rest)
    raise KubegateError(f"sink {spec!r}: {_USAGE}", code="invalid_sink")
