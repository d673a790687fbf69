"""The upstream chain against real loopback servers: fallback, retries, time-outs."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from kubegate.goproxy.errors import NotFound, UpstreamError
from kubegate.goproxy.upstream import Upstream, UpstreamSettings


class _Scripted(http.server.BaseHTTPRequestHandler):
    script: list[int] = []
    delay_s = 0.0
    hits: list[str] = []

    def do_GET(self) -> None:
        type(self).hits.append(self.path)
        status = type(self).script.pop(0) if type(self).script else 200
        if type(self).delay_s:
            time.sleep(type(self).delay_s)
        body = b"v1.0.0\n" if status == 200 else b"no"
        try:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:  # the client gave up (the time-out test)
            return

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        return


def _server(script: list[int], delay_s: float = 0.0) -> Iterator[str]:
    handler = type("H", (_Scripted,), {"script": list(script), "delay_s": delay_s, "hits": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def flaky() -> Iterator[str]:
    yield from _server([503, 502])


@pytest.fixture
def missing() -> Iterator[str]:
    yield from _server([404] * 10)


@pytest.fixture
def slow() -> Iterator[str]:
    yield from _server([], delay_s=2.0)


def test_retries_then_succeeds(flaky: str) -> None:
    up = Upstream(UpstreamSettings((flaky,), retries=2, backoff_s=0.01))
    assert up.get("example.test/m", "@v/list") == (b"v1.0.0\n", flaky)


def test_404_moves_to_the_next(missing: str, flaky: str) -> None:
    up = Upstream(UpstreamSettings((missing, flaky), retries=2, backoff_s=0.01))
    assert up.get("example.test/Mixed", "@v/list")[1] == flaky
    with pytest.raises(NotFound):
        Upstream(UpstreamSettings((missing,))).get("example.test/m", "@v/list")
    with pytest.raises(NotFound):
        Upstream(UpstreamSettings(())).get("example.test/m", "@v/list")


def test_errors_and_timeouts(flaky: str, slow: str) -> None:
    with pytest.raises(UpstreamError):
        Upstream(UpstreamSettings((flaky,), retries=0)).get("example.test/m", "@v/list")
    with pytest.raises(UpstreamError):
        Upstream(UpstreamSettings((slow,), read_timeout_s=0.2, retries=0)).get("example.test/m", "@v/list")
    with pytest.raises(UpstreamError) as err:
        Upstream(UpstreamSettings(("http://127.0.0.1:1",), retries=1, backoff_s=0.01)).get("example.test/m", "@v/list")
    assert "ConnectionError" in err.value.message
