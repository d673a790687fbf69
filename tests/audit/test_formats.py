"""The HTTP sink's SIEM wire formats against loopback receivers that implement the documented
protocols and check every request exactly: Splunk HEC (/services/collector/event) and the
Elasticsearch bulk API (/_bulk, with per-item failures); spec parsing and tokens; and a real
`kubegate serve` shipping its records to both."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from kubegate.audit.formats import (
    Credential,
    CredentialError,
    ElasticBulk,
    OpaUpload,
    SplunkHec,
    epoch_seconds,
    parse_http_spec,
)
from kubegate.audit.record import DecisionFacts, build_record
from kubegate.audit.shipper import Shipper
from kubegate.audit.sinks import HttpSink, SinkError, parse_sink
from kubegate.audit.wal import Position, WriteAheadLog
from kubegate.errors import KubegateError
from tests.webhook.conftest import POLICIES, admission_review, obj, start_webhook

#: The decision record's schema, as the package ships it.
VALIDATOR = jsonschema.Draft202012Validator(
    json.loads(resources.files("kubegate.audit").joinpath("record.schema.json").read_text(encoding="utf-8"))
)
HEC_TOKEN = "9f3a6c1e-5b7d-4e2a-8c0f-1d2e3f4a5b6c"
ES_KEY = "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw=="


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """An HTTP service on loopback (http.server in a thread): ``respond`` answers each request
    with ``(status, JSON body)``; every request is kept."""

    respond: Callable[[Request], tuple[int, Any]]
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _any(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                request = Request(self.command, self.path, dict(self.headers.items()), body)
                with receiver.lock:
                    receiver.requests.append(request)
                    status, answer = receiver.respond(request)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_POST = do_PUT = do_GET = _any

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


class SplunkHecService:
    """Splunk's HTTP Event Collector as documented
    (https://docs.splunk.com/Documentation/Splunk/latest/Data/FormateventsforHTTPEventCollector and
    .../RESTREF/RESTinput#services.2Fcollector.2Fevent): POST /services/collector/event,
    ``Authorization: Splunk <token>``, a body of concatenated JSON event objects with an ``event``
    each; answers ``{"text", "code"}`` (0 Success, 2 Token is required, 4 Invalid token,
    5 No data, 6 Invalid data format, 9 Server is busy, 12 Event field is required)."""

    def __init__(self, tokens: set[str], busy: int = 0) -> None:
        self.tokens = tokens
        self.busy = busy  # answer 503 "Server is busy" to this many requests first
        self.events: list[dict[str, Any]] = []
        self.receiver = Receiver(self._respond)
        self.url = f"{self.receiver.base}/services/collector/event"

    def _respond(self, request: Request) -> tuple[int, Any]:
        if request.method != "POST" or request.path != "/services/collector/event":
            return 404, {"text": "The requested URL was not found on this server.", "code": 404}
        auth = request.headers.get("Authorization", "")
        if not auth:
            return 401, {"text": "Token is required", "code": 2}
        scheme, _, token = auth.partition(" ")
        if scheme != "Splunk" or token not in self.tokens:
            return 403, {"text": "Invalid token", "code": 4}
        if self.busy:
            self.busy -= 1
            return 503, {"text": "Server is busy", "code": 9}
        text = request.body.decode()
        if not text.strip():
            return 400, {"text": "No data", "code": 5}
        decoder, at = json.JSONDecoder(), 0
        events: list[dict[str, Any]] = []
        while at < len(text):
            try:
                event, at = decoder.raw_decode(text, at)
            except ValueError:
                return 400, {"text": "Invalid data format", "code": 6, "invalid-event-number": len(events)}
            if not isinstance(event, dict) or "event" not in event:
                return 400, {"text": "Event field is required", "code": 12, "invalid-event-number": len(events)}
            events.append(event)
            while at < len(text) and text[at].isspace():
                at += 1
        self.events.extend(events)
        return 200, {"text": "Success", "code": 0}

    def close(self) -> None:
        self.receiver.close()


class ElasticBulkService:
    """Elasticsearch's bulk API as documented
    (https://www.elastic.co/guide/en/elasticsearch/reference/current/docs-bulk.html): POST /_bulk
    or /<index>/_bulk, ``Content-Type: application/x-ndjson``, action and document lines, the body
    newline-terminated; ``create`` of an ``_id`` already indexed fails with 409
    ``version_conflict_engine_exception``; per-item results, ``errors: true`` if any failed.
    ``reject_once`` ids fail once with 429 ``es_rejected_execution_exception`` (a full write queue)."""

    def __init__(self, api_key: str | None, reject_once: set[str] | None = None) -> None:
        self.api_key = api_key
        self.reject_once = set(reject_once or ())
        self.indices: dict[str, dict[str, dict[str, Any]]] = {}
        self.answers: list[dict[str, Any]] = []
        self.receiver = Receiver(self._respond)
        self.base = self.receiver.base

    def _respond(self, request: Request) -> tuple[int, Any]:
        parts = request.path.split("?")[0].strip("/").split("/")
        if request.method not in ("POST", "PUT") or parts[-1] != "_bulk" or len(parts) > 2:
            return 405, {"error": "Incorrect HTTP method", "status": 405}
        if self.api_key is not None and request.headers.get("Authorization") != f"ApiKey {self.api_key}":
            return 401, {"error": {"type": "security_exception", "reason": "unable to authenticate"}, "status": 401}
        if request.headers.get("Content-Type") != "application/x-ndjson":
            return 406, {"error": "Content-Type header is not supported", "status": 406}
        if not request.body.endswith(b"\n"):
            reason = "The bulk request must be terminated by a newline [\\n]"
            return 400, {"error": {"type": "illegal_argument_exception", "reason": reason}, "status": 400}
        lines = request.body.split(b"\n")[:-1]
        items, errors = [], False
        for action_line, source_line in zip(lines[::2], lines[1::2], strict=True):
            action = json.loads(action_line)
            (op, target), source = next(iter(action.items())), json.loads(source_line)
            index = target.get("_index") or (parts[0] if len(parts) == 2 else "")
            doc_id = target["_id"]
            docs = self.indices.setdefault(index, {})
            result: dict[str, Any] = {"_index": index, "_id": doc_id}
            if op != "create":
                result.update(status=400, error={"type": "illegal_argument_exception", "reason": f"op {op}"})
            elif doc_id in self.reject_once:
                self.reject_once.discard(doc_id)
                reason = "rejected execution of coordinating operation"
                result.update(status=429, error={"type": "es_rejected_execution_exception", "reason": reason})
            elif doc_id in docs:
                reason = f"[{doc_id}]: version conflict, document already exists (current version [1])"
                result.update(status=409, error={"type": "version_conflict_engine_exception", "reason": reason})
            else:
                docs[doc_id] = source
                result.update(status=201, result="created", _version=1)
            errors = errors or "error" in result
            items.append({op: result})
        answer = {"took": 3, "errors": errors, "items": items}
        self.answers.append(answer)
        return 200, answer

    def close(self) -> None:
        self.receiver.close()


def make_record(n: int, timestamp: str = "2026-11-21T10:33:56.610281000Z") -> bytes:
    """A real decision record (build_record, redaction fields), serialised as the log holds it."""
    review = {
        "uid": f"uid-{n}",
        "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "operation": "CREATE",
        "namespace": "shop",
        "name": f"web-{n}",
        "userInfo": {"username": "jane"},
        "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"web-{n}", "namespace": "shop"}},
    }
    facts = DecisionFacts(allowed=n % 2 == 0, policy_set_version="c" * 64, duration_ns=1000 + n)
    record = build_record(
        review, facts, mode="strict", path="kubegate/admission", labels={"id": "gate-1", "version": "0"}
    )
    record["timestamp"] = timestamp
    record["redaction"] = {"count": 0, "rules": {}}
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode()


def batch_of(payloads: list[bytes]) -> list[tuple[Position, bytes]]:
    return [(Position(1, 100 * (i + 1)), p) for i, p in enumerate(payloads)]


@pytest.fixture
def hec(monkeypatch: pytest.MonkeyPatch) -> Iterator[SplunkHecService]:
    monkeypatch.setenv("TEST_HEC_TOKEN", HEC_TOKEN)
    service = SplunkHecService({HEC_TOKEN})
    yield service
    service.close()


@pytest.fixture
def wal(tmp_path: Path) -> Iterator[WriteAheadLog]:
    log = WriteAheadLog(tmp_path / "wal", fsync="never")
    yield log
    log.close()


def expected_time(timestamp: str) -> bytes:
    """Splunk's ``<sec>.<ms>`` for an RFC 3339 time, computed with datetime (independently of the sink)."""
    when = dt.datetime.strptime(timestamp[:26] + "Z", "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)
    seconds = int(when.timestamp())
    return f"{seconds}.{when.microsecond // 1000:03d}".encode()


# ---- Splunk HEC


def test_splunk_hec_wire_format_is_exactly_the_documented_one(hec: SplunkHecService) -> None:
    sink = parse_sink(f"{hec.url}#format=splunk-hec&token-env=TEST_HEC_TOKEN&host=gate-host")
    payloads = [make_record(1), make_record(2, "2026-11-21T10:33:57.000000000Z")]
    try:
        assert isinstance(sink, HttpSink) and isinstance(sink.wire, SplunkHec)
        assert sink.url == hec.url  # the options never leave this process
        sink.ship(batch_of(payloads))
    finally:
        sink.close()
    [request] = hec.receiver.requests
    assert (request.method, request.path) == ("POST", "/services/collector/event")
    assert request.headers["Authorization"] == f"Splunk {HEC_TOKEN}"
    assert request.headers["Content-Type"] == "application/json"
    assert "Content-Encoding" not in request.headers
    meta = b'"host":"gate-host","source":"kubegate","sourcetype":"kubegate:decision"'
    assert request.body == b"".join(
        b'{"time":' + expected_time(json.loads(p)["timestamp"]) + b"," + meta + b',"event":' + p + b"}"
        for p in payloads
    )
    assert [e["event"] for e in hec.events] == [json.loads(p) for p in payloads]
    assert [e["time"] for e in hec.events] == [float(expected_time(json.loads(p)["timestamp"])) for p in payloads]
    for event in hec.events:
        assert list(VALIDATOR.iter_errors(event["event"])) == []


def test_splunk_hec_index_source_and_sourcetype_options(hec: SplunkHecService) -> None:
    spec = parse_http_spec(
        f"{hec.url}#format=splunk-hec&token-env=TEST_HEC_TOKEN&index=security&source=gate-eu&sourcetype=kg%3Adecision"
    )
    assert isinstance(spec.wire, SplunkHec)
    assert (spec.wire.index, spec.wire.source, spec.wire.sourcetype) == ("security", "gate-eu", "kg:decision")
    assert spec.wire.host == socket.gethostname()  # the machine's name by default
    sink = HttpSink(spec.url, wire=spec.wire)
    try:
        sink.ship(batch_of([make_record(3)]))
    finally:
        sink.close()
    [event] = hec.events
    assert list(event) == ["time", "host", "source", "sourcetype", "index", "event"]
    assert (event["index"], event["source"], event["sourcetype"]) == ("security", "gate-eu", "kg:decision")


def test_a_record_without_a_timestamp_gets_hecs_receipt_time(hec: SplunkHecService) -> None:
    sink = parse_sink(f"{hec.url}#format=splunk-hec&token-env=TEST_HEC_TOKEN&host=h")
    try:
        sink.ship(batch_of([b'{"decision_id":"m-1","kind":"manifest"}']))
    finally:
        sink.close()
    assert hec.receiver.requests[0].body == (
        b'{"host":"h","source":"kubegate","sourcetype":"kubegate:decision","event":{"decision_id":"m-1","kind":"manifest"}}'
    )


def test_splunk_hec_busy_and_invalid_token_are_failed_deliveries_and_retried(
    hec: SplunkHecService, wal: WriteAheadLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    hec.busy = 2
    payloads = [make_record(i) for i in range(4)]
    for payload in payloads:
        wal.append(payload)
    errors: list[SinkError] = []
    sink = parse_sink(f"{hec.url}#format=splunk-hec&token-env=TEST_HEC_TOKEN")
    shipper = Shipper(wal, sink, max_backoff_s=0.1, on_error=errors.append)
    try:
        shipper.start()
        deadline = time.monotonic() + 20
        while len(hec.events) < 4:
            assert time.monotonic() < deadline, "HEC never got the events"
            time.sleep(0.01)
    finally:
        shipper.stop(drain=True)
    assert [e.message for e in errors] == [f"POST {hec.url} answered 503"] * 2
    assert [e["event"] for e in hec.events] == [json.loads(p) for p in payloads]  # each once, in order
    assert wal.pending_bytes(sink.name) == 0

    monkeypatch.setenv("TEST_HEC_TOKEN", "not-the-token")  # read for each request
    sink = parse_sink(f"{hec.url}#format=splunk-hec&token-env=TEST_HEC_TOKEN")
    try:
        with pytest.raises(SinkError) as info:
            sink.ship(batch_of([make_record(9)]))
    finally:
        sink.close()
    assert info.value.message == f"POST {hec.url} answered 403"
    assert len(hec.events) == 4


def test_a_2xx_answer_that_is_not_hec_success_fails() -> None:
    wire = SplunkHec(Credential(env="X"), host="h")
    assert wire.rejected(b'{"text":"Success","code":0}', 1) is None
    assert wire.rejected(b'{"text":"Data channel is missing","code":10}', 1) == "HEC code 10: Data channel is missing"
    assert wire.rejected(b"<html>login</html>", 1) == "the answer is not Splunk HEC's: b'<html>login</html>'"


def test_a_token_file_is_read_for_each_request(tmp_path: Path) -> None:
    token_file = tmp_path / "hec-token"
    token_file.write_text(HEC_TOKEN + "\n")  # a Secret's file often ends with a newline
    rotated = "0d1e2f3a-4b5c-6d7e-8f90-a1b2c3d4e5f6"
    service = SplunkHecService({HEC_TOKEN, rotated})
    sink = parse_sink(f"{service.url}#format=splunk-hec&token-file={token_file}")
    try:
        sink.ship(batch_of([make_record(1)]))
        token_file.write_text(rotated)
        sink.ship(batch_of([make_record(2)]))
        token_file.unlink()
        with pytest.raises(SinkError) as info:
            sink.ship(batch_of([make_record(3)]))
    finally:
        sink.close()
        service.close()
    assert [r.headers["Authorization"] for r in service.receiver.requests] == [
        f"Splunk {HEC_TOKEN}",
        f"Splunk {rotated}",
    ]
    assert info.value.code == "decision_sink_failed"
    assert "cannot read the token file" in info.value.message
    assert len(service.events) == 2


# ---- Elastic bulk


def test_elastic_bulk_wire_format_is_exactly_the_documented_one(tmp_path: Path) -> None:
    key_file = tmp_path / "es-api-key"
    key_file.write_text(ES_KEY)
    service = ElasticBulkService(ES_KEY)
    payloads = [make_record(1), make_record(2)]
    sink = parse_sink(
        f"{service.base}/_bulk#format=elastic-bulk&index=logs-kubegate.decision-default&token-file={key_file}"
    )
    try:
        assert isinstance(sink, HttpSink) and isinstance(sink.wire, ElasticBulk)
        sink.ship(batch_of(payloads))
    finally:
        sink.close()
        service.close()
    [request] = service.receiver.requests
    assert (request.method, request.path) == ("POST", "/_bulk")
    assert request.headers["Authorization"] == f"ApiKey {ES_KEY}"
    assert request.headers["Content-Type"] == "application/x-ndjson"
    lines = []
    for p in payloads:
        record = json.loads(p)
        action = {"create": {"_index": "logs-kubegate.decision-default", "_id": record["decision_id"]}}
        lines.append(json.dumps(action, separators=(",", ":")).encode())
        lines.append(b'{"@timestamp":"' + record["timestamp"].encode() + b'",' + p[1:])
    assert request.body == b"\n".join(lines) + b"\n"
    docs = service.indices["logs-kubegate.decision-default"]
    assert list(docs) == [json.loads(p)["decision_id"] for p in payloads]
    for payload, doc in zip(payloads, docs.values(), strict=True):
        record = json.loads(payload)
        assert doc == {"@timestamp": record["timestamp"], **record}
        assert list(VALIDATOR.iter_errors({k: v for k, v in doc.items() if k != "@timestamp"})) == []


def test_the_index_can_come_from_the_path() -> None:
    service = ElasticBulkService(None)
    sink = parse_sink(f"{service.base}/kubegate-decisions/_bulk#format=elastic-bulk")
    try:
        sink.ship(batch_of([make_record(1)]))
    finally:
        sink.close()
        service.close()
    [request] = service.receiver.requests
    assert request.path == "/kubegate-decisions/_bulk"
    assert "Authorization" not in request.headers
    assert list(service.indices) == ["kubegate-decisions"]


def test_a_partial_bulk_failure_is_retried_and_indexes_each_record_once(wal: WriteAheadLog) -> None:
    payloads = [make_record(i) for i in range(5)]
    ids = [json.loads(p)["decision_id"] for p in payloads]
    service = ElasticBulkService(None, reject_once={ids[1], ids[3]})
    for payload in payloads:
        wal.append(payload)
    errors: list[SinkError] = []
    sink = parse_sink(f"{service.base}/_bulk#format=elastic-bulk&index=decisions")
    shipper = Shipper(wal, sink, max_backoff_s=0.1, on_error=errors.append)
    try:
        shipper.start()
        deadline = time.monotonic() + 20
        while wal.pending_bytes(sink.name) > 0:
            assert time.monotonic() < deadline, "the records never reached the index"
            time.sleep(0.01)
    finally:
        shipper.stop(drain=True)
        service.close()
    first, second = service.answers
    assert first["errors"] is True
    assert [item["create"]["status"] for item in first["items"]] == [201, 429, 201, 429, 201]
    # The retry sends the whole batch again: what the first attempt indexed is a 409 conflict, not a failure.
    assert second["errors"] is True
    assert [item["create"]["status"] for item in second["items"]] == [409, 201, 409, 201, 409]
    assert [e.message for e in errors] == [
        f"POST {service.base}/_bulk answered 200, but 2 of 5 bulk items failed; first: status 429 "
        f"es_rejected_execution_exception: rejected execution of coordinating operation (_id {ids[1]})"
    ]
    assert sorted(service.indices["decisions"]) == sorted(ids)  # each record indexed exactly once
    assert shipper.shipped == 5


def test_answers_that_are_not_a_complete_bulk_response_fail() -> None:
    wire = ElasticBulk("decisions")
    ok = {"took": 1, "errors": False, "items": [{"create": {"status": 201}}]}
    assert wire.rejected(json.dumps(ok).encode(), 1) is None
    assert wire.rejected(json.dumps(ok).encode(), 2) == "the bulk response has 1 items for 2 sent"
    assert wire.rejected(b'{"acknowledged":true}', 1) == "the answer is not a bulk response: b'{\"acknowledged\":true}'"
    mapping = {
        "errors": True,
        "items": [
            {"create": {"_id": "a", "status": 400, "error": {"type": "document_parsing_exception", "reason": "r"}}}
        ],
    }
    assert wire.rejected(json.dumps(mapping).encode(), 1) == (
        "1 of 1 bulk items failed; first: status 400 document_parsing_exception: r (_id a)"
    )


def test_a_record_with_a_newline_is_still_one_ndjson_line() -> None:
    pretty = json.dumps(json.loads(make_record(1)), indent=2).encode()
    body = ElasticBulk("decisions").encode([pretty])
    action, doc, end = body.split(b"\n")
    assert end == b""
    assert json.loads(doc) == {"@timestamp": json.loads(pretty)["timestamp"], **json.loads(pretty)}
    assert json.loads(action) == {"create": {"_index": "decisions", "_id": json.loads(pretty)["decision_id"]}}


# ---- spec parsing, tokens, the default format


def test_epoch_seconds_truncates_to_milliseconds() -> None:
    for stamp in ("2026-11-21T10:33:56.610981000Z", "1970-01-01T00:00:00.000000000Z", "2026-02-28T23:59:59.999999999Z"):
        assert epoch_seconds(stamp) == expected_time(stamp).decode()
    whole = dt.datetime(2026, 11, 21, 10, 33, 56, tzinfo=dt.UTC)
    assert epoch_seconds("2026-11-21T10:33:56Z") == f"{int(whole.timestamp())}.000"
    assert epoch_seconds("2026-11-21 10:33:56") is None


def test_the_default_format_is_opas_upload_and_takes_a_bearer_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_OPA_TOKEN", "s3cret")
    assert parse_http_spec("https://logs.example/logs").wire == OpaUpload()
    spec = parse_http_spec("https://logs.example/logs#token-env=TEST_OPA_TOKEN")
    assert spec.url == "https://logs.example/logs"
    assert spec.wire.authorization() == {"Authorization": "Bearer s3cret"}
    assert parse_http_spec("https://logs.example/logs#format=opa").wire.authorization() == {}


def test_a_ca_file_sets_tls_verification(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    assert parse_http_spec(f"https://es:9200/_bulk#format=elastic-bulk&index=d&ca-file={ca}").verify == str(ca)
    with pytest.raises(KubegateError) as info:
        parse_http_spec(f"https://es:9200/_bulk#format=elastic-bulk&index=d&ca-file={tmp_path / 'none.pem'}")
    assert info.value.code == "invalid_sink"
    assert info.value.location is not None and info.value.location.file == str(tmp_path / "none.pem")


@pytest.mark.parametrize(
    ("fragment_or_path", "problem"),
    [
        ("/logs#format=syslog", "format 'syslog' is not one of opa, splunk-hec, elastic-bulk"),
        ("/logs#index=a", "unknown option(s) index for opa; known: format, token-env, token-file, ca-file"),
        ("/logs#token", "options after # are key=value pairs joined by &"),
        ("/logs#format=opa&format=opa", "option format is given twice"),
        ("/logs#token-env=", "option token-env has no value"),
        ("/logs#token-env=A&token-file=/b", "give token-env or token-file, not both"),
        (
            "/services/collector/event#format=splunk-hec",
            "splunk-hec needs the HEC token: token-env=VAR or token-file=PATH",
        ),
        (
            "/services/collector/raw#format=splunk-hec&token-env=TEST_HEC_TOKEN",
            "the splunk-hec path is /services/collector/event",
        ),
        ("/_bulk#format=elastic-bulk", "elastic-bulk needs an index: index=NAME, or the path /<index>/_bulk"),
        ("/_doc#format=elastic-bulk&index=a", "the elastic-bulk path is /_bulk or /<index>/_bulk"),
        ("/_bulk#format=elastic-bulk&index=Decisions", "'Decisions' is not an Elasticsearch index name"),
        ("/_bulk#format=elastic-bulk&index=a,b", "'a,b' is not an Elasticsearch index name"),
        ("/_bulk#format=elastic-bulk&index=-a", "'-a' is not an Elasticsearch index name"),
    ],
)
def test_bad_specs_are_refused_with_the_problem(
    fragment_or_path: str, problem: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_HEC_TOKEN", HEC_TOKEN)
    spec = "https://siem.example:8088" + fragment_or_path
    with pytest.raises(KubegateError) as info:
        parse_sink(spec)
    assert info.value.code == "invalid_sink"
    assert info.value.message == f"sink {spec.partition('#')[0]!r}: {problem}"


def test_an_unreadable_token_refuses_the_sink_at_start_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEST_UNSET_TOKEN", raising=False)
    monkeypatch.setenv("TEST_SPACED_TOKEN", "two words")
    cases = {
        "token-env=TEST_UNSET_TOKEN": "environment variable TEST_UNSET_TOKEN is empty or unset",
        "token-env=TEST_SPACED_TOKEN": "environment variable TEST_SPACED_TOKEN holds characters a token cannot have",
        f"token-file={tmp_path / 'missing'}": "cannot read the token file",
    }
    for option, message in cases.items():
        with pytest.raises(CredentialError) as info:
            parse_sink(f"https://siem.example:8088/services/collector/event#format=splunk-hec&{option}")
        assert info.value.code == "sink_credential_unavailable"
        assert info.value.message.startswith(message)
        assert "two words" not in info.value.message  # a token never appears in an error
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(CredentialError) as info:
        Credential(file=str(tmp_path / "empty")).read()
    assert info.value.location is not None and info.value.location.file == str(tmp_path / "empty")


# ---- a real server


def test_a_real_kubegate_serve_ships_to_splunk_hec_and_elastic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The worked examples of docs/audit.md: `kubegate serve` with both sinks; the tokens are
    read from the environment and a file, never from the command line."""
    monkeypatch.setenv("TEST_HEC_TOKEN", HEC_TOKEN)
    key_file = tmp_path / "es-api-key"
    key_file.write_text(ES_KEY + "\n")
    hec, es = SplunkHecService({HEC_TOKEN}), ElasticBulkService(ES_KEY)
    index = "logs-kubegate.decision-default"
    try:
        hook = start_webhook(
            tmp_path / "serve",
            None,
            "--policies",
            str(POLICIES / "main"),
            "--decision-log",
            str(tmp_path / "wal"),
            "--decision-log-mode",
            "strict",
            "--decision-log-sink",
            f"{hec.url}#format=splunk-hec&token-env=TEST_HEC_TOKEN",
            "--decision-log-sink",
            f"{es.base}/_bulk#format=elastic-bulk&index={index}&token-file={key_file}",
        )
        try:
            cmdline = Path(f"/proc/{hook.process.pid}/cmdline").read_bytes()
            assert HEC_TOKEN.encode() not in cmdline and ES_KEY.encode() not in cmdline
            reviews = [admission_review(obj("pod-no-owner")), admission_review(obj("pod-good"))]
            reviews.append(admission_review(obj("pod-good")))  # the same request again: a cache hit
            answers = [hook.review(doc)["allowed"] for doc in reviews]
            deadline = time.monotonic() + 30
            while len(hec.events) < 4 or len(es.indices.get(index, {})) < 4:  # a manifest + 3 decisions
                assert time.monotonic() < deadline, (len(hec.events), es.answers, hook.logs()[-20:])
                time.sleep(0.05)
        finally:
            hook.stop()
    finally:
        hec.close()
        es.close()
    assert answers == [False, True, True]
    # The policy set's manifest first (its own sourcetype), then the decisions, which name it.
    manifest, *decisions = hec.events
    assert manifest["sourcetype"] == "kubegate:policy-set" and manifest["event"]["path"] == "kubegate/policy-set"
    versions = manifest["event"]["kubegate"]["policyVersions"]
    records = [event["event"] for event in decisions]
    assert [r["kubegate"]["uid"] for r in records] == [doc["request"]["uid"] for doc in reviews]
    assert [r["result"]["allowed"] for r in records] == answers
    assert [r["kubegate"]["cacheHit"] for r in records] == [False, False, True]
    assert {event["sourcetype"] for event in decisions} == {"kubegate:decision"}
    for record in records:
        assert record["kubegate"]["policySetVersion"] == manifest["event"]["kubegate"]["policySetVersion"]
        assert {p["id"] for p in record["kubegate"]["policies"]} <= set(versions)
    for record in [manifest["event"], *records]:
        assert list(VALIDATOR.iter_errors(record)) == []
    records = [manifest["event"], *records]
    docs = es.indices[index]
    assert list(docs) == [r["decision_id"] for r in records]  # _id is the decision_id
    assert [{k: v for k, v in doc.items() if k != "@timestamp"} for doc in docs.values()] == records
    assert all(r.headers["Authorization"] == f"ApiKey {ES_KEY}" for r in es.receiver.requests)


def test_kubegate_serve_refuses_a_sink_whose_token_is_missing(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TEST_UNSET_TOKEN"}
    spec = "https://splunk.example:8088/services/collector/event#format=splunk-hec&token-env=TEST_UNSET_TOKEN"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "kubegate",
            "serve",
            "--insecure-http",
            "--no-builtin",
            "--port",
            "0",
            "--decision-log",
            str(tmp_path / "wal"),
            "--decision-log-sink",
            spec,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode != 0
    assert "sink_credential_unavailable: environment variable TEST_UNSET_TOKEN is empty or unset" in proc.stderr
    assert "Traceback" not in proc.stderr
