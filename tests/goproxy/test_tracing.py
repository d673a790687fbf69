"""OpenTelemetry spans of the proxy: exported over OTLP/HTTP by a real ``serve`` process
to a real receiver on loopback, with X-Go-Module-Trace-ID as the trace id."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from kubegate.goproxy.tracing import otel_trace_id
from tests.goproxy.serving import serve


class OtlpReceiver:
    """An OTLP/HTTP traces endpoint on loopback: decodes ExportTraceServiceRequest protobufs."""

    def __init__(self) -> None:
        self.spans: list[Any] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                request = ExportTraceServiceRequest()
                request.ParseFromString(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
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


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    r = OtlpReceiver()
    yield r
    r.close()


def _attributes(span: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for a in span.attributes:
        value = a.value
        out[a.key] = value.string_value if value.HasField("string_value") else value.int_value
    return out


def test_otel_trace_ids() -> None:
    assert otel_trace_id("4bf92f3577b34da6a3ce929d0e0e4736") == 0x4BF92F3577B34DA6A3CE929D0E0E4736
    for bad in ("build-77", "0" * 32, "4BF92F3577B34DA6A3CE929D0E0E4736", "4bf92f3577b34da6a3ce929d0e0e473"):
        assert otel_trace_id(bad) == 0


def test_spans_exported_over_otlp(tmp_path: Path, upstream_url: str, receiver: OtlpReceiver) -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    caller_trace, caller_span = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
    args = ["--storage", str(tmp_path / "vault"), "--upstream", upstream_url, "--workers", "1"]
    args += ["--trace-exporter", "otlp", "--trace-endpoint", receiver.url]
    with serve(tmp_path, *args) as server:
        z = requests.get(
            f"{server.url}/example.test/mitlib/@v/v1.0.0.zip", headers={"X-Go-Module-Trace-ID": trace_id}, timeout=30
        )
        assert z.status_code == 200 and z.headers["X-Go-Module-Trace-ID"] == trace_id
        blocked = requests.get(f"{server.url}/example.test/gpllib/@v/v1.0.0.zip", timeout=30)
        assert blocked.status_code == 403
        generated = blocked.headers["X-Go-Module-Trace-ID"]
        named = requests.get(
            f"{server.url}/example.test/nothing/@v/list", headers={"X-Go-Module-Trace-ID": "build-77"}, timeout=30
        )
        assert named.status_code == 404
        joined = requests.get(
            f"{server.url}/example.test/mitlib/@v/v1.0.0.info",
            headers={"traceparent": f"00-{caller_trace}-{caller_span}-01"},
            timeout=30,
        )
        assert joined.status_code == 200
    # SIGTERM ended the server, which flushed its batch exporter
    requests_by_path = {_attributes(s)["url.path"]: s for s in receiver.spans if s.name == "kubegate.goproxy.request"}
    zip_span = requests_by_path["/example.test/mitlib/@v/v1.0.0.zip"]
    assert zip_span.trace_id.hex() == trace_id and not zip_span.parent_span_id
    attrs = _attributes(zip_span)
    assert attrs["goproxy.endpoint"] == "zip" and attrs["goproxy.module.path"] == "example.test/mitlib"
    assert attrs["goproxy.verdict"] == "PASS" and attrs["goproxy.cache"] == "miss"
    assert attrs["http.response.status_code"] == 200 and attrs["goproxy.trace_id"] == trace_id
    children = [s for s in receiver.spans if s.parent_span_id == zip_span.span_id]
    upstream = [s for s in children if s.name == "kubegate.goproxy.upstream"]
    assert {_attributes(s)["goproxy.upstream.file"] for s in upstream} == {
        "@v/v1.0.0.info",
        "@v/v1.0.0.mod",
        "@v/v1.0.0.zip",
    }
    assert all(s.trace_id.hex() == trace_id for s in children)
    [policy] = [s for s in children if s.name == "kubegate.policy"]
    assert _attributes(policy)["kubegate.policy.id"] == "go-module-license-allowlist"
    assert zip_span.start_time_unix_nano <= policy.start_time_unix_nano <= zip_span.end_time_unix_nano
    gpl = requests_by_path["/example.test/gpllib/@v/v1.0.0.zip"]
    assert gpl.trace_id.hex() == generated  # the id the proxy made up is the trace id too
    assert _attributes(gpl)["goproxy.result"] == "blocked" and _attributes(gpl)["goproxy.verdict"] == "REJECT"
    unknown = requests_by_path["/example.test/nothing/@v/list"]
    assert _attributes(unknown)["goproxy.trace_id"] == "build-77"  # not a trace id: kept as an attribute
    assert _attributes(unknown)["goproxy.result"] == "not_found" and len(unknown.trace_id.hex()) == 32
    info = requests_by_path["/example.test/mitlib/@v/v1.0.0.info"]
    assert info.trace_id.hex() == caller_trace and info.parent_span_id.hex() == caller_span
