"""uuid.*, opa.runtime, trace and http.send (against a real server on 127.0.0.1)."""

from __future__ import annotations

import contextlib
import gzip
import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

import kubegate.evaluator.builtins.misc
import kubegate.evaluator.builtins.misc_http  # noqa: F401
from kubegate.evaluator.builtins.registry import IMPLEMENTATIONS, BuiltinError, HaltError
from kubegate.evaluator.values import UNDEF

from ._timenet_cases import FakeContext, load, run


@pytest.mark.parametrize("case", load("misc.yaml"))
def test_case(case: dict[str, Any]) -> None:
    run(case)


def call(name: str, *args: Any) -> Any:
    return IMPLEMENTATIONS[name].impl(*args)


def test_rfc4122_is_memoised_per_query() -> None:
    ctx = FakeContext()
    a = call("uuid.rfc4122", ctx, "k")
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", a)
    assert call("uuid.rfc4122", ctx, "k") == a
    assert call("uuid.rfc4122", ctx, "other") != a
    assert call("uuid.rfc4122", FakeContext(), "k") != a
    assert call("uuid.parse", a) == {"version": 4, "variant": "RFC4122"}


def test_trace_is_a_no_op() -> None:
    ctx = FakeContext()
    assert call("trace", ctx, "hello") is True
    assert ctx.printed == []


def test_not_implemented_here() -> None:
    for name in ("rego.parse_module", "rego.metadata.chain", "rego.metadata.rule"):
        assert (
            name not in IMPLEMENTATIONS or IMPLEMENTATIONS[name].impl.__module__ != "kubegate.evaluator.builtins.misc"
        )


def test_uuid_parse_hostile() -> None:
    for s in ["\ud800" * 36, "{" * 38, "urn:uuid:" + "\x00" * 36, "0" * 100000]:
        assert call("uuid.parse", s) is UNDEF


# ---------------------------------------------------------------- http.send


class _Handler(BaseHTTPRequestHandler):
    hits: dict[str, int] = {}

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def _reply(
        self, code: int, body: bytes, ctype: str = "application/json", extra: dict[str, str] | None = None
    ) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.send_header("X-Multi", "a")
        self.send_header("X-Multi", "b")
        self.end_headers()
        with contextlib.suppress(OSError):  # the client may have timed out and gone
            self.wfile.write(body)

    def _handle(self) -> None:
        path = self.path.split("?")[0]
        self.hits[path] = self.hits.get(path, 0) + 1
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        echo = {
            "method": self.command,
            "path": self.path,
            "body": body.decode(),
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "hits": self.hits[path],
        }
        if path == "/json":
            self._reply(200, json.dumps(echo).encode())
        elif path == "/problem+json":
            self._reply(200, b'{"a": 1}', "application/problem+json; charset=utf-8")
        elif path == "/yaml":
            self._reply(200, b"a: [1, 2]\nb: {c: true}\n", "application/yaml")
        elif path == "/text":
            self._reply(200, b'{"not": "decoded"}', "text/plain")
        elif path == "/badjson":
            self._reply(200, b"{nope", "application/json")
        elif path == "/error":
            self._reply(500, json.dumps(echo).encode())
        elif path == "/notfound":
            self._reply(404, json.dumps(echo).encode())
        elif path == "/redirect":
            self._reply(302, b"", "text/plain", {"Location": "/json"})
        elif path == "/slow":
            time.sleep(1.0)
            with contextlib.suppress(OSError):
                self._reply(200, b"{}")
        elif path == "/gzip":
            self._reply(200, gzip.compress(b'{"z": 1}'), "application/json", {"Content-Encoding": "gzip"})
        else:
            self._reply(400, b"unknown path", "text/plain")

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        t.join(5)


@pytest.fixture
def ctx() -> FakeContext:
    _Handler.hits.clear()
    return FakeContext(http_send_enabled=True, http_send_timeout_s=5.0)


def send(ctx: FakeContext, req: dict[str, Any]) -> Any:
    return call("http.send", ctx, req)


def test_disabled() -> None:
    with pytest.raises(BuiltinError, match=r"http.send is disabled \(enable it explicitly\)"):
        send(FakeContext(), {"method": "GET", "url": "http://127.0.0.1:1/"})


def test_get_json(server: str, ctx: FakeContext) -> None:
    r = send(ctx, {"method": "get", "url": server + "/json?x=1", "headers": {"x-custom": "v"}})
    assert r["status_code"] == 200
    assert r["status"] == "200 OK"
    assert r["body"]["method"] == "GET"
    assert r["body"]["path"] == "/json?x=1"
    assert r["body"]["headers"]["x-custom"] == "v"
    assert r["body"]["headers"]["user-agent"].startswith("kubegate")
    assert json.loads(r["raw_body"]) == r["body"]
    assert r["headers"]["content-type"] == ("application/json",)
    assert r["headers"]["x-multi"] == ("a", "b")


def test_post_body_is_go_json(server: str, ctx: FakeContext) -> None:
    r = send(ctx, {"method": "POST", "url": server + "/json", "body": {"b": [1, "<&>"], "a": None}})
    assert r["body"]["method"] == "POST"
    assert r["body"]["body"] == '{"a":null,"b":[1,"\\u003c\\u0026\\u003e"]}'


def test_raw_body_wins(server: str, ctx: FakeContext) -> None:
    r = send(ctx, {"method": "PUT", "url": server + "/json", "body": {"a": 1}, "raw_body": "plain text"})
    assert r["body"]["body"] == "plain text"


def test_decoding(server: str, ctx: FakeContext) -> None:
    assert send(ctx, {"method": "GET", "url": server + "/problem+json"})["body"] == {"a": 1}
    assert send(ctx, {"method": "GET", "url": server + "/yaml"})["body"] == {"a": [1, 2], "b": {"c": True}}
    text = send(ctx, {"method": "GET", "url": server + "/text"})
    assert text["body"] is None
    assert text["raw_body"] == '{"not": "decoded"}'
    forced = send(ctx, {"method": "GET", "url": server + "/text", "force_json_decode": True})
    assert forced["body"] == {"not": "decoded"}
    assert send(ctx, {"method": "GET", "url": server + "/badjson"})["body"] is None


def test_gzip_is_decoded(server: str, ctx: FakeContext) -> None:
    r = send(ctx, {"method": "GET", "url": server + "/gzip"})
    assert r["body"] == {"z": 1}
    assert "content-encoding" not in r["headers"]


def test_identical_requests_are_sent_once_per_query(server: str, ctx: FakeContext) -> None:
    req = {"method": "GET", "url": server + "/json"}
    a = send(ctx, req)
    b = send(ctx, dict(req))
    assert a["body"]["hits"] == b["body"]["hits"] == 1
    fresh = send(FakeContext(http_send_enabled=True), req)
    assert fresh["body"]["hits"] == 2


def test_cache_ignored_headers(server: str, ctx: FakeContext) -> None:
    base = {"method": "GET", "url": server + "/json", "cache_ignored_headers": ["X-Request-Id"]}
    a = send(ctx, {**base, "headers": {"X-Request-Id": "1"}})
    b = send(ctx, {**base, "headers": {"X-Request-Id": "2"}})
    assert a is b


def test_uncacheable_status_is_sent_again(server: str, ctx: FakeContext) -> None:
    req = {"method": "GET", "url": server + "/error"}
    assert send(ctx, req)["status_code"] == 500
    assert send(ctx, req)["body"]["hits"] == 2
    nf = {"method": "GET", "url": server + "/notfound"}
    assert send(ctx, nf)["status_code"] == 404
    assert send(ctx, nf)["body"]["hits"] == 1


def test_redirects(server: str, ctx: FakeContext) -> None:
    r = send(ctx, {"method": "GET", "url": server + "/redirect"})
    assert r["status_code"] == 302
    assert r["headers"]["location"] == ("/json",)
    followed = send(ctx, {"method": "GET", "url": server + "/redirect", "enable_redirect": True})
    assert followed["status_code"] == 200
    assert followed["body"]["path"] == "/json"


def test_timeout(server: str, ctx: FakeContext) -> None:
    with pytest.raises(HaltError, match=r"Get http://127\.0\.0\.1:\d+/slow: request timed out"):
        send(ctx, {"method": "GET", "url": server + "/slow", "timeout": "100ms"})
    r = send(ctx, {"method": "GET", "url": server + "/slow", "timeout": 100000000, "raise_error": False})
    assert r["status_code"] == 0
    assert r["error"]["code"] == "eval_http_send_network_error"
    assert "Client.Timeout exceeded" in r["error"]["message"]


def test_transport_errors(ctx: FakeContext) -> None:
    url = "http://127.0.0.1:1/"
    with pytest.raises(
        HaltError, match=r'Get "http://127\.0\.0\.1:1/": dial tcp 127\.0\.0\.1:1: connect: connection refused'
    ):
        send(ctx, {"method": "GET", "url": url})
    r = send(ctx, {"method": "GET", "url": url, "raise_error": False})
    assert r == {
        "status_code": 0,
        "error": {
            "code": "eval_http_send_network_error",
            "message": 'Get "http://127.0.0.1:1/": dial tcp 127.0.0.1:1: connect: connection refused',
        },
    }
    with pytest.raises(HaltError, match='unsupported protocol scheme "ftp"'):
        send(ctx, {"method": "GET", "url": "ftp://127.0.0.1/"})


def test_retries(ctx: FakeContext) -> None:
    start = time.monotonic()
    r = send(ctx, {"method": "GET", "url": "http://127.0.0.1:1/", "raise_error": False, "max_retry_attempts": 2})
    assert r["status_code"] == 0
    assert time.monotonic() - start >= 0.3  # 0.1 s then 0.2 s of backoff


@pytest.mark.parametrize(
    ("req", "code", "message"),
    [
        ({"method": "GET"}, "eval_type_error", 'operand 1 missing required request parameters(s): {"url"}'),
        ({"url": "x"}, "eval_type_error", 'operand 1 missing required request parameters(s): {"method"}'),
        ({"method": "GET", "url": "x", "foo": 1, "bar": 2}, "eval_type_error",
         'operand 1 invalid request parameters(s): {"bar", "foo"}'),
        ({"method": 1, "url": "x"}, "eval_builtin_error", '"method" must be a string'),
        ({"method": "GET", "url": "x", "timeout": "5x"}, "eval_builtin_error",
         'invalid timeout value "5x": time: unknown unit "x" in duration "5x"'),
        ({"method": "GET", "url": "x", "timeout": {}}, "eval_type_error",
         "operand 1 'timeout' must be one of {string, number} but got object"),
        ({"method": "GET", "url": "x", "headers": []}, "eval_builtin_error", "invalid type for headers key"),
        ({"method": "GET", "url": "x", "headers": {"a": 1}}, "eval_builtin_error",
         'invalid type for headers value "1"'),
        ({"method": "GET", "url": "x", "enable_redirect": "true"}, "eval_builtin_error",
         'strconv.ParseBool: parsing "\\"true\\"": invalid syntax'),
        ({"method": "GET", "url": "x", "cache": 1}, "eval_builtin_error", 'invalid value for "cache" field'),
        ({"method": "GET", "url": "x", "force_cache": True}, "eval_builtin_error",
         "'force_cache' set but 'force_cache_duration_seconds' parameter is missing"),
        ({"method": "GET", "url": "x", "caching_mode": "x"}, "eval_builtin_error",
         'invalid value specified for "caching_mode" field: x'),
        ({"method": "G ET", "url": "x"}, "eval_builtin_error", 'net/http: invalid method "G ET"'),
        ({"method": "GET", "url": "x", "raise_error": "no"}, "eval_builtin_error",
         "invalid value for raise_error field"),
        ({"method": "GET", "url": "x", "tls_ca_cert": "junk"}, "eval_builtin_error", "could not append certificates"),
        ({"method": "GET", "url": "x", "tls_ca_cert_file": "/nonexistent/ca.pem"}, "eval_builtin_error",
         "open /nonexistent/ca.pem: no such file or directory"),
    ],
)  # fmt: skip
def test_request_errors(ctx: FakeContext, req: dict[str, Any], code: str, message: str) -> None:
    with pytest.raises(HaltError) as info:
        send(ctx, req)
    assert info.value.code == code
    assert info.value.message == message


def test_request_errors_without_raise(ctx: FakeContext) -> None:
    r = send(ctx, {"method": "GET", "raise_error": False})
    assert r["error"] == {
        "code": "eval_http_send_internal_error",
        "message": 'eval_type_error: http.send: operand 1 missing required request parameters(s): {"url"}',
    }
    r = send(ctx, {"method": "GET", "url": "x", "max_retry_attempts": -1, "raise_error": False})
    assert r["error"] == {
        "code": "eval_http_send_internal_error",
        "message": 'invalid value -1 for field "max_retry_attempts"',
    }


def test_errors_are_cached(ctx: FakeContext) -> None:
    req = {"method": "GET", "url": "http://127.0.0.1:1/", "raise_error": False}
    assert send(ctx, req) == send(ctx, req)
    assert any(k[0] == "http.send" for k in ctx.cache)


def test_operand_not_object(ctx: FakeContext) -> None:
    with pytest.raises(HaltError) as info:
        send(ctx, "http://x")  # type: ignore[arg-type]
    assert info.value.code == "eval_type_error"
    assert info.value.message == "operand 1 must be object but got string"


def test_request_is_not_mutated(server: str, ctx: FakeContext) -> None:
    req = {"method": "GET", "url": server + "/json", "headers": {"a": "b"}, "cache_ignored_headers": ["a"]}
    snapshot = json.dumps(req, sort_keys=True)
    send(ctx, req)
    assert json.dumps(req, sort_keys=True) == snapshot
