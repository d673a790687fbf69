"""Decision logs written by `kubegate serve`: records, redaction, metrics, a full log
refusing requests (fail_closed), and OpenTelemetry spans exported over OTLP/HTTP."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from kubegate.webhook.certs import CertificateFiles
from tests.audit.conftest import LogService
from tests.webhook.conftest import (
    POLICIES,
    Webhook,
    admission_review,
    metric_value,
    obj,
    read_jsonl,
    start_webhook,
)


def _wait_for(condition: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory, certs: CertificateFiles) -> Iterator[tuple[Webhook, Path]]:
    """A webhook logging in strict mode to a file sink, fsync on every record."""
    workdir = tmp_path_factory.mktemp("decision-log")
    sink = workdir / "sink" / "decisions.jsonl"
    hook = start_webhook(
        workdir,
        certs,
        "--policies",
        str(POLICIES / "main"),
        "--decision-log",
        str(workdir / "wal"),
        "--decision-log-mode",
        "strict",
        "--decision-log-fsync",
        "always",
        "--decision-log-sink",
        f"file:{sink}",
    )
    yield hook, sink
    hook.stop()


def _records_for(sink: Path, uid: str) -> list[dict[str, Any]]:
    _wait_for(lambda: any(r["kubegate"]["uid"] == uid for r in read_jsonl(sink)))
    return [r for r in read_jsonl(sink) if r["kubegate"]["uid"] == uid]


def test_strict_record_has_opa_and_kubegate_fields(logged: tuple[Webhook, Path]) -> None:
    hook, sink = logged
    doc = admission_review(obj("pod-no-owner"), user="jane.doe@bank.example")
    response = hook.review(doc)
    assert response["allowed"] is False
    [record] = _records_for(sink, doc["request"]["uid"])

    # OPA's decision-log fields.
    assert record["path"] == "kubegate/admission"
    assert len(record["decision_id"]) == 36
    assert record["timestamp"].endswith("Z")
    assert record["labels"]["id"] and record["labels"]["version"]
    assert record["metrics"]["timer_rego_query_eval_ns"] > 0
    assert record["metrics"]["timer_server_handler_ns"] >= record["metrics"]["timer_rego_query_eval_ns"]
    assert record["result"]["allowed"] is False
    assert record["result"]["message"] == response["status"]["message"]
    assert any(v["enforcement"] == "deny" for v in record["result"]["violations"])
    # Strict mode: the input snapshot, redacted (the username is an email address).
    assert record["input"]["review"]["object"]["metadata"]["name"] == "api-1"
    assert record["input"]["review"]["userInfo"]["username"] == "<redacted:email>"
    assert record["redaction"]["rules"].get("email", 0) >= 2  # input and kubegate.userInfo

    kg = record["kubegate"]
    assert kg["mode"] == "strict"
    assert (kg["namespace"], kg["kind"], kg["name"], kg["operation"]) == ("shop", "Pod", "api-1", "CREATE")
    assert kg["cacheHit"] is False
    assert kg["userInfo"]["username"] == "<redacted:email>"
    assert len(kg["policySetVersion"]) == 64
    assert kg["policies"] and all(p["version"] and "allowed" in p for p in kg["policies"])
    assert any(p["allowed"] is False for p in kg["policies"])


def test_cache_hits_are_logged_too(logged: tuple[Webhook, Path]) -> None:
    hook, sink = logged
    pod = obj("pod-good")
    pod["metadata"]["name"] = "cached-once"
    first, second = admission_review(pod), admission_review(pod)
    assert hook.review(first)["allowed"] and hook.review(second)["allowed"]
    [a] = _records_for(sink, first["request"]["uid"])
    [b] = _records_for(sink, second["request"]["uid"])
    assert (a["kubegate"]["cacheHit"], b["kubegate"]["cacheHit"]) == (False, True)
    assert a["kubegate"]["policySetVersion"] == b["kubegate"]["policySetVersion"]
    assert a["decision_id"] != b["decision_id"]


def test_sensitive_values_never_reach_the_sink(logged: tuple[Webhook, Path]) -> None:
    hook, sink = logged
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db", "namespace": "shop", "labels": {"owner": "a", "cost-center": "c", "tier": "t"}},
        "data": {"password": "aHVudGVyMg=="},
        "stringData": {"token": "s3cr3t-plain"},
    }
    pod = obj("pod-good")
    pod["metadata"]["name"] = "with-env"
    pod["spec"]["containers"][0]["env"] = [
        {"name": "DB_PASSWORD", "value": "hunter2"},
        {"name": "LOG_LEVEL", "value": "debug"},
    ]
    docs = [admission_review(secret), admission_review(pod)]
    for doc in docs:
        hook.review(doc)
    [s] = _records_for(sink, docs[0]["request"]["uid"])
    [p] = _records_for(sink, docs[1]["request"]["uid"])
    raw = sink.read_text()
    assert "aHVudGVyMg==" not in raw and "s3cr3t-plain" not in raw and "hunter2" not in raw
    assert s["input"]["review"]["object"]["data"]["password"] == "<redacted:secret_data>"
    assert s["redaction"]["rules"]["secret_data"] == 2
    env = p["input"]["review"]["object"]["spec"]["containers"][0]["env"]
    assert env == [
        {"name": "DB_PASSWORD", "value": "<redacted:sensitive_env>"},
        {"name": "LOG_LEVEL", "value": "debug"},
    ]
    text = hook.metrics()
    assert metric_value(text, "kubegate_decision_log_redactions_total", 'rule="secret_data"') >= 2
    assert metric_value(text, "kubegate_decision_log_redactions_total", 'rule="sensitive_env"') >= 1
    assert metric_value(text, "kubegate_decision_log_records_total", 'mode="strict"') >= 2
    assert metric_value(text, "kubegate_decision_log_bytes") > 0
    shipped = [line for line in text.splitlines() if line.startswith("kubegate_decision_log_shipped_total{")]
    assert shipped and float(shipped[0].rsplit(" ", 1)[1]) >= 2


def test_standard_mode_keeps_identity_and_decision_only(tmp_path: Path, certs: CertificateFiles) -> None:
    sink = tmp_path / "decisions.jsonl"
    hook = start_webhook(
        tmp_path,
        certs,
        "--policies",
        str(POLICIES / "main"),
        "--decision-log",
        str(tmp_path / "wal"),
        "--decision-log-sink",
        f"file:{sink}",
    )
    try:
        doc = admission_review(obj("pod-no-owner"), user="system:serviceaccount:ci:deployer")
        hook.review(doc)
        [record] = _records_for(sink, doc["request"]["uid"])
    finally:
        hook.stop()
    assert "input" not in record
    assert record["kubegate"]["mode"] == "standard"
    assert record["kubegate"]["userInfo"] == {"username": "system:serviceaccount:ci:deployer"}
    assert record["result"]["allowed"] is False and record["result"]["violations"]


def test_fail_closed_denies_when_the_log_is_full(tmp_path: Path, certs: CertificateFiles) -> None:
    """The only sink is down (HTTP 500 forever): the log fills to its bound, then
    requests are denied with reason decision_log_full rather than answered unlogged."""
    receiver = LogService(default=500)
    hook = start_webhook(
        tmp_path,
        certs,
        "--policies",
        str(POLICIES / "main"),
        "--decision-log",
        str(tmp_path / "wal"),
        "--decision-log-mode",
        "strict",
        "--decision-log-max-bytes",
        "256Ki",
        "--decision-log-full-policy",
        "fail_closed",
        "--decision-log-sink",
        receiver.url,
    )
    try:
        answers: list[dict[str, Any]] = []
        with hook.client() as client:
            for n in range(2000):
                pod = obj("pod-good")
                pod["metadata"]["name"] = f"fill-{n}"
                pod["metadata"]["annotations"] = {"padding": "x" * 2000}
                answers.append(hook.review(admission_review(pod), client))
                if not answers[-1]["allowed"]:
                    break
        refused = answers[-1]
        assert refused["allowed"] is False, "the log never filled up"
        assert refused["status"]["code"] == 500
        assert "decision log" in refused["status"]["message"]
        assert all(a["allowed"] for a in answers[:-1]) and len(answers) > 20
        text = hook.metrics()
        assert metric_value(text, "kubegate_decision_log_refused_total") >= 1
        assert metric_value(text, "kubegate_decision_log_bytes") > 200 * 1024
        assert metric_value(text, "kubegate_decision_log_max_bytes") == 256 * 1024
        lag = [line for line in text.splitlines() if line.startswith("kubegate_decision_log_sink_lag_bytes{")]
        assert lag and float(lag[0].rsplit(" ", 1)[1]) > 200 * 1024
        errors = [line for line in text.splitlines() if line.startswith("kubegate_decision_log_sink_errors_total{")]
        assert errors and float(errors[0].rsplit(" ", 1)[1]) >= 1
        assert receiver.uploads and not receiver.accepted()
    finally:
        hook.stop()
        receiver.close()


class _OtlpReceiver:
    """A real OTLP/HTTP traces endpoint on loopback: decodes ExportTraceServiceRequest protobufs."""

    def __init__(self) -> None:
        self.spans: list[Any] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                with receiver.lock:
                    for resource_spans in request.resource_spans:
                        for scope_spans in resource_spans.scope_spans:
                            receiver.spans.extend(scope_spans.spans)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.end_headers()

            def log_message(self, fmt: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/traces"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def test_spans_are_exported_over_otlp_under_the_api_servers_trace(tmp_path: Path, certs: CertificateFiles) -> None:
    collector = _OtlpReceiver()
    hook = start_webhook(
        tmp_path,
        certs,
        "--policies",
        str(POLICIES / "main"),
        "--trace-exporter",
        "otlp",
        "--trace-endpoint",
        collector.url,
    )
    trace_id, parent_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    try:
        doc = admission_review(obj("pod-no-owner"))
        with hook.client() as client:
            reply = client.post("/validate", json=doc, headers={"traceparent": f"00-{trace_id}-{parent_id}-01"})
        assert reply.status_code == 200
    finally:
        hook.stop()  # shutting down flushes the batch exporter
        collector.close()
    by_name: dict[str, list[Any]] = {}
    for span in collector.spans:
        by_name.setdefault(span.name, []).append(span)
    [admission] = by_name["kubegate.admission"]
    [review] = by_name["kubegate.review"]
    policies = by_name["kubegate.policy"]
    assert admission.trace_id.hex() == trace_id and admission.parent_span_id.hex() == parent_id
    assert review.parent_span_id == admission.span_id and review.trace_id == admission.trace_id
    assert policies and all(p.parent_span_id == review.span_id for p in policies)
    attributes = {a.key: a.value.string_value for a in admission.attributes}
    assert attributes["k8s.request.uid"] == doc["request"]["uid"]
    assert attributes["kubegate.decision"] == "deny"
    policy_ids = {a.value.string_value for p in policies for a in p.attributes if a.key == "kubegate.policy.id"}
    assert len(policy_ids) == len(policies) > 1
    assert admission.start_time_unix_nano <= review.start_time_unix_nano <= review.end_time_unix_nano
    assert review.end_time_unix_nano <= admission.end_time_unix_nano
