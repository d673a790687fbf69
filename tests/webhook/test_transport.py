"""Hostile clients against real `kubegate serve` processes on loopback: slow and idle connections
are closed on time (TLS and plain), stalled TLS handshakes too, excess connections are refused at
once, oversized request heads are refused, and SIGTERM stops the admission and probe ports."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from kubegate.webhook.certs import CertificateFiles
from tests.webhook.conftest import POLICIES, Webhook, admission_review, free_port, obj, start_webhook

TIMEOUT_S = 1.0
# Closed within the timeout plus this: scheduling on a loaded 2-core machine, the TLS close.
MARGIN_S = 1.5
SHORT = (
    "--header-timeout",
    str(TIMEOUT_S),
    "--body-timeout",
    str(TIMEOUT_S),
    "--idle-timeout",
    str(TIMEOUT_S),
    "--tls-handshake-timeout",
    str(TIMEOUT_S),
)
HEAD = b"POST /validate HTTP/1.1\r\nHost: kubegate\r\nContent-Type: application/json\r\n"


@dataclass
class Closed:
    """What one hostile connection saw."""

    kind: str
    lived_s: float  # from the connection being ready (TLS: handshake done) to the server closing it
    data: bytes


def _address(hook: Webhook) -> tuple[str, int]:
    host, port = hook.url.split("://")[1].split(":")
    return host, int(port)


def _tls(hook: Webhook) -> ssl.SSLContext | None:
    return ssl.create_default_context(cafile=str(hook.ca)) if hook.ca is not None else None


async def _read_until_closed(reader: asyncio.StreamReader, got: bytearray) -> float:
    """Reads into ``got`` until the server closes the connection; returns when that was (monotonic s)."""
    try:
        while chunk := await reader.read(65536):
            got += chunk
    except (ConnectionError, ssl.SSLError):
        pass
    return time.monotonic()


async def hostile(hook: Webhook, kind: str, pace_s: float = 0.25, cap_s: float = 10.0) -> Closed:
    """Opens one connection that misbehaves per ``kind`` and waits until the server closes it.

    Kinds: ``idle`` (sends nothing), ``header`` (the request head, a byte every ``pace_s``),
    ``body`` (the head at once with Content-Length 100000, then a body byte every ``pace_s``),
    ``second-header`` (one good request, then the next head a byte at a time), ``answered-body``
    (a head declaring a body over the limit, answered 413 at once, then that body a byte at a time).
    """
    host, port = _address(hook)
    reader, writer = await asyncio.open_connection(host, port, ssl=_tls(hook))
    ready = time.monotonic()
    got = bytearray()
    reading = asyncio.create_task(_read_until_closed(reader, got))
    try:
        if kind == "second-header":
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: kubegate\r\n\r\n")
            while b'{"status":"ok"' not in got:
                assert not reading.done(), bytes(got)
                await asyncio.sleep(0.01)
            ready = time.monotonic()
            del got[:]
        drip = {"header": HEAD, "second-header": HEAD, "body": b" " * 100_000, "answered-body": b" " * 100_000}
        if kind == "body":
            writer.write(HEAD + b"Content-Length: 100000\r\n\r\n")
        if kind == "answered-body":
            writer.write(HEAD + b"Content-Length: 5000000\r\n\r\n")
        data = drip.get(kind, b"")
        for i in range(len(data)):
            if reading.done() or (got and kind != "answered-body") or time.monotonic() - ready > cap_s:
                break
            writer.write(data[i : i + 1])
            await asyncio.sleep(pace_s)
        closed_at = await asyncio.wait_for(reading, cap_s)
        return Closed(kind, closed_at - ready, bytes(got))
    finally:
        reading.cancel()
        writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await writer.wait_closed()


async def stalled_handshake(hook: Webhook, partial: bool, cap_s: float = 10.0) -> Closed:
    """A TCP connection to the TLS port that never finishes the handshake (sends nothing, or half a ClientHello)."""
    reader, writer = await asyncio.open_connection(*_address(hook))
    start = time.monotonic()
    if partial:
        writer.write(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # a record header and the start of a hello
    got = bytearray()
    closed_at = await asyncio.wait_for(_read_until_closed(reader, got), cap_s)
    writer.close()
    return Closed("partial-hello" if partial else "silent-tls", closed_at - start, bytes(got))


async def good_reviews(hook: Webhook, n: int) -> list[int]:
    """``n`` AdmissionReviews from a well-behaved client, one after the other, during the attack."""
    verify: ssl.SSLContext | bool = _tls(hook) or False
    statuses = []
    async with httpx.AsyncClient(base_url=hook.url, verify=verify, timeout=5) as client:
        for _ in range(n):
            reply = await client.post("/validate", json=admission_review(obj("pod-good")))
            assert reply.json()["response"]["allowed"] is True
            statuses.append(reply.status_code)
            await asyncio.sleep(0.1)
    return statuses


async def _gather(*aws: Awaitable[object]) -> list[object]:
    return list(await asyncio.gather(*aws))


def test_slow_and_idle_clients_are_closed_on_time_while_others_are_served(
    tmp_path: Path, certs: CertificateFiles
) -> None:
    tls = start_webhook(tmp_path / "tls", certs, "--no-builtin", *SHORT)
    plain = start_webhook(tmp_path / "plain", None, "--no-builtin", *SHORT)
    try:
        attacks: list[Awaitable[object]] = []
        for hook in (tls, plain):
            attacks += [hostile(hook, "header") for _ in range(50)]
            attacks += [hostile(hook, "body") for _ in range(50)]
            attacks += [hostile(hook, "idle") for _ in range(20)]
            attacks += [hostile(hook, "second-header") for _ in range(10)]
            attacks += [hostile(hook, "answered-body") for _ in range(10)]
            attacks.append(good_reviews(hook, 15))
        attacks += [stalled_handshake(tls, partial) for partial in (False, True) for _ in range(10)]
        started = time.monotonic()
        results = asyncio.run(_gather(*attacks))
        elapsed = time.monotonic() - started
    finally:
        tls.stop()
        plain.stop()
    closed = [r for r in results if isinstance(r, Closed)]
    assert len(closed) == 2 * 140 + 20
    assert [r for r in results if isinstance(r, list)] == [[200] * 15, [200] * 15]
    for c in closed:
        # Not before the timeout (client-side scheduling may shave a little off), not long after it.
        assert TIMEOUT_S * 0.7 <= c.lived_s <= TIMEOUT_S + MARGIN_S, c
        if c.kind in ("header", "second-header", "body"):
            assert c.data.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), c
            assert b"connection: close\r\n" in c.data
        elif c.kind == "answered-body":  # answered already: the body deadline closes it without another answer
            assert c.data.startswith(b"HTTP/1.1 413 ") and c.data.count(b"HTTP/1.1") == 1, c
        else:
            assert c.data == b"", c
    # Everything ran at once: the slowest connection bounds the whole attack.
    assert elapsed < 2 * (TIMEOUT_S + MARGIN_S) + 5


def test_the_timeouts_do_not_cut_a_request_the_server_is_still_answering(tmp_path: Path) -> None:
    # The slow policy takes ~0.5 s: longer than every timeout. Only the client's phases are timed.
    hook = start_webhook(
        tmp_path,
        None,
        "--no-builtin",
        "-p",
        str(POLICIES / "slow"),
        "--max-evaluation-time",
        "10000",
        "--cache-ttl",
        "0",
        "--header-timeout",
        "0.2",
        "--body-timeout",
        "0.2",
        "--idle-timeout",
        "0.2",
    )
    try:
        with hook.client() as c:  # one kept-alive connection for both requests
            for _ in range(2):
                start = time.monotonic()
                reply = c.post("/validate", json=admission_review(obj("pod-slow")))
                assert reply.status_code == 200 and reply.json()["response"]["allowed"] is True
                assert time.monotonic() - start > 0.2
    finally:
        hook.stop()


def test_max_connections_refuses_excess_connections_at_once_and_recovers(
    tmp_path: Path, certs: CertificateFiles
) -> None:
    probe_port = free_port()
    hook = start_webhook(
        tmp_path, certs, "--no-builtin", "--max-connections", "5", "--health-addr", f"127.0.0.1:{probe_port}"
    )
    host, port = _address(hook)
    context = _tls(hook)
    assert context is not None

    def open_tls() -> ssl.SSLSocket:
        return context.wrap_socket(socket.create_connection((host, port), timeout=5), server_hostname=host)

    def get(conn: ssl.SSLSocket) -> bytes:
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: kubegate\r\n\r\n")
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.endswith(b"}"):
            chunk = conn.recv(4096)
            if not chunk:
                break
            reply += chunk
        return reply

    held: list[ssl.SSLSocket] = []
    try:
        # All five allowed connections are served (uvicorn's limit_concurrency=5 alone serves four).
        held = [open_tls() for _ in range(5)]
        for conn in held:
            assert get(conn).startswith(b"HTTP/1.1 200 OK\r\n")
        # The sixth and later: 503 and closed as soon as the handshake is done, without waiting for a request.
        for _ in range(5):
            start = time.monotonic()
            with open_tls() as extra:
                data = b""
                while chunk := extra.recv(4096):
                    data += chunk
            assert time.monotonic() - start < 1.0
            assert data.startswith(b"HTTP/1.1 503 Service Unavailable\r\n") and data.endswith(b"too many connections")
        # The probe port is another server with its own count: the kubelet still gets through.
        assert httpx.get(f"http://127.0.0.1:{probe_port}/healthz", timeout=5).status_code == 200
        # The held connections still work; once they are gone, new clients are served again.
        assert get(held[0]).startswith(b"HTTP/1.1 200 OK\r\n")
        for conn in held:
            conn.close()
        held = []
        deadline = time.monotonic() + 5
        while True:
            with hook.client() as c:
                try:
                    if c.post("/validate", json=admission_review(obj("pod-good"))).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
            assert time.monotonic() < deadline, "the server did not recover"
            time.sleep(0.05)
    finally:
        for conn in held:
            conn.close()
        hook.stop()


def test_oversized_request_head_is_refused_before_it_is_read(tmp_path: Path) -> None:
    hook = start_webhook(tmp_path, None, "--no-builtin", "--max-header-bytes", "8192")
    try:
        with socket.create_connection(_address(hook), timeout=5) as conn:
            conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: kubegate\r\nX-Big: ")
            sent = 0
            with pytest.raises(OSError):  # the server stops reading and closes: the writes fail
                for _ in range(64):
                    conn.sendall(b"a" * 1024 * 1024)
                    sent += 1
            assert sent < 64, "the server read 64 MiB of one header"
        with hook.client() as c:
            # A head over the limit sent at once is answered 431 ...
            reply = c.get("/healthz", headers={"X-Big": "a" * 20_000})
            assert reply.status_code == 431 and reply.headers["connection"] == "close"
            # ... one under it is fine, and a large body is not a large head.
            assert c.get("/healthz", headers={"X-Fine": "a" * 6000}).status_code == 200
            doc = admission_review(obj("pod-good"))
            doc["request"]["object"]["metadata"]["annotations"] = {"big": "x" * 200_000}
            assert c.post("/validate", content=json.dumps(doc)).json()["response"]["allowed"] is True
    finally:
        hook.stop()


def test_sigterm_stops_both_servers_with_idle_clients_connected(tmp_path: Path, certs: CertificateFiles) -> None:
    probe_port = free_port()
    hook = start_webhook(tmp_path, certs, "--no-builtin", "--health-addr", f"127.0.0.1:{probe_port}")
    host, port = _address(hook)
    context = _tls(hook)
    assert context is not None
    # Clients that never answer: an idle TLS connection and an idle plain one on the probe port.
    idle_tls = context.wrap_socket(socket.create_connection((host, port)), server_hostname=host)
    idle_plain = socket.create_connection(("127.0.0.1", probe_port))
    try:
        assert httpx.get(f"http://127.0.0.1:{probe_port}/readyz", timeout=5).json()["ready"] is True
        start = time.monotonic()
        hook.process.send_signal(signal.SIGTERM)
        hook.process.wait(10)
        assert time.monotonic() - start < 5
        assert hook.process.returncode in (0, -signal.SIGTERM)  # uvicorn re-raises the signal it handled
        for p in (port, probe_port):
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(("127.0.0.1", p), timeout=2).close()
        log = hook.log.read_text()
        assert "Traceback" not in log and '"level": "ERROR"' not in log, log
        assert "Application shutdown complete." in log
    finally:
        idle_tls.close()
        idle_plain.close()
        hook.stop()


def test_a_probe_port_in_use_fails_start_up_with_a_clear_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        args = ["--insecure-http", "--no-builtin", "--host", "127.0.0.1", "--port", "0"]
        proc = subprocess.run(
            [sys.executable, "-m", "kubegate", "serve", *args, "--health-addr", f"127.0.0.1:{port}"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 3  # as uvicorn exits when its own port is taken
    assert "cannot listen: [Errno 98] Address already in use" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr
