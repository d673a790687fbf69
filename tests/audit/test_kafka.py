"""The Kafka sink against a real Kafka-compatible broker: Tansu, a process of its own on
loopback (tests/audit/kafka_broker.py), with the producer's idempotence off (Tansu 0.6
refuses aiokafka's InitProducerId v0). Delivery, a broker restart, a stalled broker,
backpressure while it is down, and kill -9 of `kubegate serve` shipping to it."""

from __future__ import annotations

import collections
import itertools
import json
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kubegate.audit.manifest import is_manifest
from kubegate.audit.shipper import Shipper
from kubegate.audit.sinks import KafkaSink, SinkError, parse_sink
from kubegate.audit.wal import LogFull, Position, WriteAheadLog
from kubegate.errors import KubegateError
from kubegate.webhook.certs import CertificateFiles, write_dev_certificates
from tests.audit.kafka_broker import (
    Gate,
    Tansu,
    read_topic,
    tansu_fixture,  # noqa: F401 (the `tansu` fixture)
)
from tests.audit.test_record_schema import VALIDATOR
from tests.ports import owns_listener
from tests.webhook.conftest import read_jsonl, read_jsonl_raw
from tests.webhook.test_decision_log_crash import send_until_stopped, serve_logging


def record(i: int) -> bytes:
    return json.dumps({"decision_id": f"id-{i:04d}", "n": i}, separators=(",", ":")).encode()


def ids(messages: list[Any]) -> list[str]:
    return [m.key.decode() for m in messages]


def has_ids(wanted: set[str]) -> Callable[[list[Any]], bool]:
    return lambda messages: wanted <= set(ids(messages))


def eventually(condition: Callable[[], bool], what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def new_topic() -> str:
    return f"decisions-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def wal(tmp_path: Path) -> Iterator[WriteAheadLog]:
    log = WriteAheadLog(tmp_path / "wal", fsync="never", segment_bytes=1024)
    yield log
    log.close()


# ---- the spelling


@pytest.mark.parametrize(
    ("spec", "bootstrap", "topic", "idempotence"),
    [
        ("kafka:broker:9092/decisions", "broker:9092", "decisions", True),
        ("kafka:b1:9092,b2:9092/audit.log?idempotence=false", "b1:9092,b2:9092", "audit.log", False),
        ("kafka://broker:9092/decisions?idempotence=FALSE", "broker:9092", "decisions", False),
        ("kafka://broker:9092/decisions?idempotence=true", "broker:9092", "decisions", True),
    ],
)
def test_parse_sink_kafka_with_idempotence(spec: str, bootstrap: str, topic: str, idempotence: bool) -> None:
    sink = parse_sink(spec)
    try:
        assert isinstance(sink, KafkaSink)
        assert (sink.bootstrap, sink.topic, sink.idempotence) == (bootstrap, topic, idempotence)
        # The checkpoint name does not depend on the options or on the `//`.
        assert sink.name == KafkaSink(bootstrap, topic).name
    finally:
        sink.close()


@pytest.mark.parametrize(
    ("spec", "wrong"),
    [
        ("kafka:b:9092/t?idempotence=maybe", "option 'idempotence=maybe'"),
        ("kafka:b:9092/t?idempotence", "option 'idempotence'"),
        ("kafka:b:9092/t?acks=1", "option 'acks=1'"),
        ("kafka:b:9092/t?idempotence=true&idempotence=false", "option 'idempotence=false'"),
        ("kafka:b:9092/a topic", "'a topic' is not a Kafka topic name"),
        ("kafka:b:9092/..", "'..' is not a Kafka topic name"),
        (f"kafka:b:9092/{'t' * 250}", "is not a Kafka topic name"),
        ("kafka://b:9092", "use file:PATH, http(s)://HOST/PATH or kafka:HOST:PORT/TOPIC"),
        ("kafka://b:9092/?idempotence=false", "use file:PATH"),
    ],
)
def test_parse_sink_rejects_bad_kafka_specs(spec: str, wrong: str) -> None:
    with pytest.raises(KubegateError) as info:
        parse_sink(spec)
    assert info.value.code == "invalid_sink"
    assert info.value.message.startswith(f"sink {spec!r}: ")
    assert wrong in info.value.message


# ---- the broker


def test_a_broker_that_cannot_start_fails_the_test_with_its_output(tmp_path: Path) -> None:
    broker = Tansu(tmp_path / "tansu")
    broker.binary = "/bin/false"  # exits at once, with nothing about its port
    with pytest.raises(pytest.fail.Exception) as info:
        broker.start()
    assert info.value.msg is not None and info.value.msg.startswith("tansu exited with 1: ['/bin/false'")
    assert str(broker.port) in info.value.msg  # its command line is in the message


def test_a_first_start_whose_port_was_taken_moves_to_a_new_port(tmp_path: Path) -> None:
    """Another process listening on the picked port answers a connect: the broker must
    not count as ready because of it (it exited on AddrInUse; SIGSTOP then stopped nothing)."""
    broker = Tansu(tmp_path / "tansu")
    taken = broker.port
    with socket.create_server(("127.0.0.1", taken)) as other:
        broker.start()
        try:
            assert broker.port != taken and broker.bootstrap == f"127.0.0.1:{broker.port}"
            assert broker.process is not None and broker.process.poll() is None
            assert owns_listener(broker.process.pid, broker.port)
            assert not owns_listener(broker.process.pid, taken)
            assert owns_listener(os.getpid(), other.getsockname()[1])
        finally:
            broker.stop()


def test_a_restart_whose_port_was_taken_fails_instead_of_moving(tmp_path: Path) -> None:
    broker = Tansu(tmp_path / "tansu")
    broker.start()
    broker.kill()
    with socket.create_server(("127.0.0.1", broker.port)), pytest.raises(pytest.fail.Exception) as info:
        broker.start()  # clients still use the old port: moving would hide the failure
    assert info.value.msg is not None
    assert info.value.msg.startswith(f"tansu could not listen on port {broker.port}: taken by another process")
    assert "AddrInUse" in info.value.msg


# ---- delivery


def test_sends_one_message_per_record_keyed_by_decision_id(tansu: Tansu) -> None:
    topic = new_topic()
    docs = [{"decision_id": str(uuid.uuid4()), "n": i} for i in range(20)]
    sink = KafkaSink(tansu.bootstrap, topic, timeout_s=10, idempotence=False)
    try:
        sink.ship([(Position(1, 30 * (i + 1)), json.dumps(doc).encode()) for i, doc in enumerate(docs)])
        assert sink.checkpoint_extra() == {}
    finally:
        sink.close()
    wanted = {str(doc["decision_id"]) for doc in docs}
    messages = read_topic(tansu.bootstrap, topic, has_ids(wanted))
    # Exactly what was sent, once each (no failure: nothing was retried).
    assert sorted((m.key.decode(), json.loads(m.value)) for m in messages) == sorted(
        (str(doc["decision_id"]), doc) for doc in docs
    )
    # One key, one partition: a decision's record never splits; per partition, in order.
    for partition in {m.partition for m in messages}:
        sent = [m.value for m in messages if m.partition == partition]
        assert [json.loads(v)["n"] for v in sent] == sorted(json.loads(v)["n"] for v in sent)


def test_a_record_without_decision_id_is_sent_without_a_key(tansu: Tansu) -> None:
    topic = new_topic()
    sink = KafkaSink(tansu.bootstrap, topic, timeout_s=10, idempotence=False)
    try:
        sink.ship([(Position(1, 30), b'{"kind":"manifest"}')])
    finally:
        sink.close()
    [message] = read_topic(tansu.bootstrap, topic, lambda ms: len(ms) >= 1)
    assert (message.key, message.value) == (None, b'{"kind":"manifest"}')


def test_a_record_over_the_message_limit_is_sent_shortened_and_the_sink_goes_on(
    tansu: Tansu, wal: WriteAheadLog, tmp_path: Path
) -> None:
    """A strict record of a 1.5 MiB ConfigMap would be refused on every retry (aiokafka's and
    Kafka's 1 MiB limits) and stall the sink: it goes out without its input, listed in
    ``erased``, and the records after it are delivered too."""
    from kubegate.audit.logger import DecisionLogger, LogSettings
    from kubegate.audit.record import DecisionFacts

    topic = new_topic()
    logger = DecisionLogger(LogSettings(str(tmp_path / "wal-big"), mode="strict", fsync="never"))
    big = {"kind": {"kind": "ConfigMap"}, "uid": "big", "object": {"data": {"blob": "x" * 1_500_000}}}
    for uid, review in (("small-1", {"uid": "small-1"}), ("big", big), ("small-2", {"uid": "small-2"})):
        logger.record(review, DecisionFacts(allowed=uid != "big"), path="kubegate/admission")
    logger.close()
    source = WriteAheadLog(tmp_path / "wal-big", fsync="never")
    sink = KafkaSink(tansu.bootstrap, topic, timeout_s=20, idempotence=False)
    shipper = Shipper(source, sink, batch=10)
    try:
        assert shipper.ship_pending() == 3
    finally:
        shipper.stop(drain=False)
        source.close()
    messages = read_topic(tansu.bootstrap, topic, lambda ms: len(ms) >= 3)
    records = {json.loads(m.value)["kubegate"]["uid"]: json.loads(m.value) for m in messages}
    assert set(records) == {"small-1", "big", "small-2"}
    shortened = records["big"]
    assert "input" not in shortened and shortened["erased"] == ["/input"]
    assert shortened["shortened"]["bytes"] > 1_500_000 and shortened["shortened"]["limit"] == 1_000_000
    assert shortened["result"]["allowed"] is False
    assert all(len(m.value) <= 1_000_000 for m in messages)
    assert records["small-1"]["input"]["review"]["uid"] == "small-1"  # the others whole
    assert list(VALIDATOR.iter_errors(shortened)) == []


def test_the_idempotent_producer_is_refused_by_tansu(tansu: Tansu, wal: WriteAheadLog) -> None:
    """The default (idempotence on) is the path this broker cannot verify: Tansu 0.6 does
    not answer InitProducerId v0. The failure is a SinkError and the records stay in the log."""
    topic = new_topic()
    for i in range(3):
        wal.append(record(i))
    sink = KafkaSink(tansu.bootstrap, topic, timeout_s=10)
    assert sink.idempotence
    shipper = Shipper(wal, sink)
    try:
        with pytest.raises(SinkError) as info:
            shipper.ship_pending()
    finally:
        shipper.stop(drain=False)
    assert info.value.code == "decision_sink_failed"
    assert info.value.message.startswith(f"Kafka {tansu.bootstrap}/{topic}: ")
    assert wal.checkpoint(sink.name) == Position(1, 0)
    assert wal.pending_bytes(sink.name) == wal.size_bytes() > 0


def test_a_shipper_delivers_every_record(tansu: Tansu, wal: WriteAheadLog) -> None:
    topic = new_topic()
    shipper = Shipper(wal, KafkaSink(tansu.bootstrap, topic, timeout_s=10, idempotence=False), batch=16)
    shipper.start()
    try:
        for i in range(100):
            wal.append(record(i))
            shipper.notify()
        eventually(lambda: wal.pending_bytes(shipper.sink.name) == 0, "the shipper to catch up")
    finally:
        shipper.stop(drain=True)
    assert shipper.shipped == 100 and shipper.errors == 0
    wanted = [f"id-{i:04d}" for i in range(100)]
    assert sorted(ids(read_topic(tansu.bootstrap, topic, has_ids(set(wanted))))) == wanted


# ---- failures


def test_retries_across_a_broker_restart(tmp_path: Path, wal: WriteAheadLog) -> None:
    """kill -9 of the broker while the shipper runs, records appended while it is down,
    then a new broker process on the same address: the shipper's retries deliver them."""
    topic = new_topic()
    gate = Gate()
    broker = Tansu(tmp_path / "tansu", advertised_port=gate.port)

    def broker_up() -> None:
        broker.start()
        broker.create_topic(topic)
        gate.open(broker.port)

    broker_up()
    errors: list[SinkError] = []
    sink = KafkaSink(broker.bootstrap, topic, timeout_s=3, idempotence=False)
    shipper = Shipper(wal, sink, batch=8, max_backoff_s=0.5, on_error=errors.append)
    shipper.start()
    try:
        for i in range(10):
            wal.append(record(i))
            shipper.notify()
        eventually(lambda: wal.pending_bytes(sink.name) == 0, "the first 10 records")
        before = {f"id-{i:04d}" for i in range(10)}
        assert before == set(ids(read_topic(broker.bootstrap, topic, has_ids(before))))

        broker.kill()  # mid-connection: the producer's sockets break
        gate.cut()
        for i in range(10, 20):
            wal.append(record(i))
            shipper.notify()
        eventually(lambda: len(errors) >= 2, "deliveries to fail while the broker is down")
        checkpoint = wal.checkpoint(sink.name)
        assert checkpoint is not None and wal.pending_bytes(sink.name) > 0

        broker_up()  # a new process, the same address
        eventually(lambda: wal.pending_bytes(sink.name) == 0, "the retries to deliver")
        after = {f"id-{i:04d}" for i in range(10, 20)}
        # The new broker has every record appended while it was down (at least once).
        assert after <= set(ids(read_topic(broker.bootstrap, topic, has_ids(after))))
    finally:
        shipper.stop(drain=False)
        gate.close()
        broker.stop()
    assert all(e.code == "decision_sink_failed" and e.message.startswith(f"Kafka {broker.bootstrap}/") for e in errors)
    assert shipper.errors == len(errors)
    assert (wal.checkpoint(sink.name) or checkpoint) > checkpoint
    assert shipper.shipped >= 20


def test_a_stalled_broker_fails_the_delivery_then_gets_it(tansu: Tansu, wal: WriteAheadLog) -> None:
    """SIGSTOP: connections stay open and nothing answers. The delivery fails within its
    timeout instead of hanging the shipper; after SIGCONT the retry delivers."""
    topic = new_topic()
    sink = KafkaSink(tansu.bootstrap, topic, timeout_s=2, idempotence=False)
    shipper = Shipper(wal, sink)
    try:
        wal.append(record(0))
        assert shipper.ship_pending() == 1  # connected, metadata known
        for i in range(1, 6):
            wal.append(record(i))
        assert tansu.process is not None
        tansu.process.send_signal(signal.SIGSTOP)
        try:
            with pytest.raises(SinkError) as info:
                shipper.ship_pending()
        finally:
            tansu.process.send_signal(signal.SIGCONT)
        assert "TimeoutError" in info.value.message or "KafkaTimeoutError" in info.value.message
        assert shipper.position == wal.read(None)[0][0]  # not past the first record
        deadline = time.monotonic() + 60
        while True:
            try:
                assert shipper.ship_pending() == 5
                break
            except SinkError:
                assert time.monotonic() < deadline, "the retries never delivered"
    finally:
        shipper.stop(drain=False)
    wanted = {f"id-{i:04d}" for i in range(6)}
    assert wanted == set(ids(read_topic(tansu.bootstrap, topic, has_ids(wanted))))


def test_fail_closed_refuses_while_the_broker_is_down_and_accepts_once_it_is_back(tmp_path: Path) -> None:
    broker = Tansu(tmp_path / "tansu")  # not started yet: nothing listens on its port
    wal = WriteAheadLog(tmp_path / "wal", fsync="never", segment_bytes=1024, max_bytes=4096, full_policy="fail_closed")
    topic = new_topic()
    sink = KafkaSink(broker.bootstrap, topic, timeout_s=3, idempotence=False)
    shipper = Shipper(wal, sink, max_backoff_s=0.5)
    shipper.start()
    try:
        appended = 0
        with pytest.raises(LogFull) as info:
            for i in itertools.count():
                wal.append(record(i))
                appended += 1
                shipper.notify()
        assert info.value.code == "decision_log_full"
        assert 0 < appended < 4096 // len(record(0))
        eventually(lambda: shipper.errors >= 1, "a failed delivery")
        assert shipper.shipped == 0
        assert wal.dropped == 0  # nothing was given up to make room

        broker.start()
        eventually(lambda: wal.pending_bytes(sink.name) == 0, "the sink to catch up")
        wal.append(record(appended))  # there is room again
        shipper.notify()
        eventually(lambda: wal.pending_bytes(sink.name) == 0, "the new record")
        wanted = {f"id-{i:04d}" for i in range(appended + 1)}
        assert wanted <= set(ids(read_topic(broker.bootstrap, topic, has_ids(wanted))))
    finally:
        shipper.stop(drain=False)
        wal.close()
        broker.stop()


def test_block_waits_for_the_broker_then_logs_every_record(tmp_path: Path) -> None:
    broker = Tansu(tmp_path / "tansu")
    wal = WriteAheadLog(
        tmp_path / "wal", fsync="never", segment_bytes=1024, max_bytes=4096, full_policy="block", block_timeout_s=120
    )
    topic = new_topic()
    sink = KafkaSink(broker.bootstrap, topic, timeout_s=3, idempotence=False)
    shipper = Shipper(wal, sink, max_backoff_s=0.5)
    shipper.start()
    total = 3 * 4096 // len(record(0))  # three times what the bound holds
    failures: list[BaseException] = []

    def append_all() -> None:
        try:
            for i in range(total):
                wal.append(record(i))
                shipper.notify()
        except BaseException as exc:
            failures.append(exc)

    writer = threading.Thread(target=append_all)
    writer.start()
    try:
        # The writer reaches the bound and waits there, inside append.
        eventually(lambda: wal.room_bytes < len(record(0)) + 8, "the log to reach its bound")
        assert writer.is_alive() and wal.appended < total
        assert shipper.shipped == 0

        broker.start()
        writer.join(120)
        assert not writer.is_alive() and failures == []
        eventually(lambda: wal.pending_bytes(sink.name) == 0, "the sink to catch up")
        assert wal.appended == total and wal.dropped == 0
        wanted = {f"id-{i:04d}" for i in range(total)}
        assert wanted <= set(ids(read_topic(broker.bootstrap, topic, has_ids(wanted))))
    finally:
        shipper.stop(drain=False)
        writer.join(10)
        wal.close()
        broker.stop()


# ---- kill -9 of `kubegate serve` with a Kafka sink

LOAD_THREADS = 4


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> CertificateFiles:
    return write_dev_certificates(
        str(tmp_path_factory.mktemp("certs")), "kubegate", "kubegate-system", extra_names=["127.0.0.1"], days=2
    )


def test_kill_9_under_load_loses_no_record_shipped_to_kafka(
    tmp_path: Path, certs: CertificateFiles, tansu: Tansu
) -> None:
    """As tests/webhook/test_decision_log_crash.py, with a Kafka sink: the broker is stalled
    (SIGSTOP) for the last requests before the kill, so the Kafka shipper is mid-batch with
    records sent but unacknowledged, and more behind them; it resumes after the restart."""
    log_dir, sink = tmp_path / "wal", tmp_path / "sink" / "decisions.jsonl"
    topic = new_topic()
    kafka = f"kafka:{tansu.bootstrap}/{topic}?idempotence=false"
    hook = serve_logging(tmp_path / "first", certs, log_dir, sink, kafka)
    answered: list[str] = []
    stop = threading.Event()
    numbers = itertools.count(1)
    threads = [
        threading.Thread(target=send_until_stopped, args=(hook, answered, stop, numbers)) for _ in range(LOAD_THREADS)
    ]
    for t in threads:
        t.start()
    assert tansu.process is not None
    try:
        deadline = time.monotonic() + 30
        while len(answered) < 300 and time.monotonic() < deadline:
            time.sleep(0.05)
        tansu.process.send_signal(signal.SIGSTOP)
        stalled_at = len(answered)
        while len(answered) < stalled_at + 50 and time.monotonic() < deadline + 30:
            time.sleep(0.01)
        os.kill(hook.process.pid, signal.SIGKILL)
        hook.process.wait(10)
    finally:
        tansu.process.send_signal(signal.SIGCONT)  # it takes what was sent before the kill
        stop.set()
        for t in threads:
            t.join(10)
        hook.stop()
    assert stalled_at >= 300, f"only {stalled_at} requests were answered before the broker stalled"
    assert len(answered) >= stalled_at + 50, "the webhook stopped answering while the broker stalled"
    assert hook.process.returncode == -signal.SIGKILL
    kafka_sink = parse_sink(kafka)
    kafka_sink.close()
    wal = WriteAheadLog(log_dir, fsync="never")
    try:
        assert wal.pending_bytes(kafka_sink.name) > 0  # the Kafka shipper was behind at the kill
    finally:
        wal.close()

    # Restart on the same log: the Kafka shipper resumes from its checkpoint.
    again = serve_logging(tmp_path / "second", certs, log_dir, sink, kafka)
    try:
        wanted = set(answered)
        eventually(lambda: wanted <= {r["kubegate"]["uid"] for r in read_jsonl(sink)}, "the file sink", 60)
        in_file = {r["decision_id"] for r in read_jsonl_raw(sink)}  # policy-set manifests too
        messages = read_topic(tansu.bootstrap, topic, has_ids(in_file), timeout_s=60)
    finally:
        again.stop()
        assert again.process.returncode in (0, -signal.SIGTERM), again.log.read_text()

    everything = [json.loads(m.value) for m in messages]
    assert all(m.key.decode() == r["decision_id"] for m, r in zip(messages, everything, strict=True))
    assert {r["decision_id"] for r in everything} == in_file
    records = [r for r in everything if not is_manifest(r)]
    per_uid = collections.Counter(r["kubegate"]["uid"] for r in records)
    missing = wanted - set(per_uid)
    assert not missing, f"{len(missing)} answered decisions never reached Kafka"
    # Every record is complete (strict mode: the input snapshot is there).
    assert all(r["input"]["review"]["uid"] == r["kubegate"]["uid"] for r in records)
    # At least once: a record sent again after the restart has the same decision_id, so the
    # topic deduplicated by key is exactly the file sink's records.
    assert {r["decision_id"] for r in records} == {r["decision_id"] for r in read_jsonl(sink)}
