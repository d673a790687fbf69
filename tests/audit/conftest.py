"""Shared by the audit and webhook decision-log tests: a real decision-log service (OPA's upload format) on loopback."""

from __future__ import annotations

import gzip
import http.server
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest


@dataclass
class Upload:
    status: int
    headers: dict[str, str]
    records: list[Any]


class LogService:
    """A real decision-log service on loopback: answers each POST with the next of ``statuses``
    (then ``default``) and keeps what it was sent."""

    def __init__(self, statuses: list[int] | None = None, default: int = 204, delay_s: float = 0.0) -> None:
        self.statuses = list(statuses or [])
        self.default = default
        self.uploads: list[Upload] = []
        self.lock = threading.Lock()
        service = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                time.sleep(delay_s)  # a slow service: the sink lags behind
                with service.lock:
                    status = service.statuses.pop(0) if service.statuses else service.default
                    service.uploads.append(
                        Upload(status, dict(self.headers.items()), json.loads(gzip.decompress(body)))
                    )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/logs"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, name="log-service", daemon=True
        )
        self.thread.start()

    def accepted_ids(self) -> list[str]:
        return [str(r["decision_id"]) for r in self.accepted()]

    def batch_sizes(self) -> list[int]:
        with self.lock:
            return [len(u.records) for u in self.uploads]

    def statuses_seen(self) -> list[int]:
        with self.lock:
            return [u.status for u in self.uploads]

    def accepted(self) -> list[Any]:
        with self.lock:
            return [r for u in self.uploads if 200 <= u.status < 300 for r in u.records]

    def wait_for(self, n_accepted: int, timeout_s: float = 10) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.accepted()) < n_accepted:
            assert time.monotonic() < deadline, f"only {len(self.accepted())} records arrived"
            time.sleep(0.01)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def service() -> Iterator[LogService]:
    svc = LogService()
    yield svc
    svc.close()
