"""Transport limits of the webhook's HTTP servers: the timeouts and caps uvicorn lacks.

uvicorn 0.54 bounds none of the phases a hostile client can stretch: its
``httptools`` protocol arms ``timeout_keep_alive`` only after a response, so
a connection that sends nothing, a partial request head (slowloris) or a
slow body is kept forever; the request head has no size limit (``httptools``
keeps a 200 MiB header in memory); ``limit_concurrency`` answers 503 only once
a request head is complete, counts the asking connection itself (a limit of
N serves N-1 connections) and never closes a silent excess connection; and
``loop.create_server`` is called without ``ssl_handshake_timeout`` (60 s in
asyncio and uvloop).

:class:`LimitedHttpToolsProtocol` adds those limits to uvicorn's ``httptools``
protocol (what ``http="auto"`` picks when ``httptools`` is installed, as with
``uvicorn[standard]``; the h11 protocol has no per-event hooks to add them
to, so kubegate pins ``httptools``). :class:`TransportServer` passes the TLS
handshake timeout to the listener and runs companion servers (the plain
probe port) in the same event loop, stopping them when it stops.

The limits follow what other servers do: Go's ``net/http``
(``ReadHeaderTimeout``, ``IdleTimeout``, ``MaxHeaderBytes``,
https://pkg.go.dev/net/http#Server) and Apache's ``mod_reqtimeout`` (408 for
a request head or body not received in time,
https://httpd.apache.org/docs/2.4/mod/mod_reqtimeout.html).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import sys
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from kubegate.errors import UsageError

__all__ = [
    "CLOSE_GRACE_S",
    "LimitedHttpToolsProtocol",
    "TransportLimits",
    "TransportServer",
    "limited_protocol",
]

_log = logging.getLogger("kubegate.webhook.transport")

CLOSE_GRACE_S = 1.0
"""Seconds a connection closed by a limit may take to flush its last bytes and
finish the TLS closing handshake before it is aborted (TCP RST): a peer that
stops reading or never answers ``close_notify`` cannot keep it open."""


@dataclass(frozen=True)
class TransportLimits:
    """How long, how large and how many, per server.

    Attributes:
        header_timeout_s: the whole request head (request line and headers)
            must arrive within this many seconds of the connection being
            ready (after the TLS handshake) or of the previous response's
            end; else 408 and the connection is closed (without an answer
            if nothing of the head arrived).
        body_timeout_s: the whole request body must arrive within this many
            seconds of the end of its head; else 408 (or a plain close when a
            response has started) and the connection is closed.
        idle_timeout_s: a connection that sends nothing for this many seconds,
            on a fresh connection as well as between requests (keep-alive),
            is closed (uvicorn's ``timeout_keep_alive``; the shorter of this
            and ``header_timeout_s``).
        handshake_timeout_s: the TLS handshake, and the TLS closing handshake,
            must finish within this many seconds.
        max_connections: open connections (past the TLS handshake) per server;
            one more is answered 503 and closed at once. Also caps running
            request handlers (uvicorn's ``limit_concurrency``).
        max_header_bytes: size of a request head, in bytes; more is answered
            431 and the connection is closed. 16 KiB is the default of h11
            (uvicorn's other HTTP implementation) and of Node.js.
    """

    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    idle_timeout_s: float = 5.0
    handshake_timeout_s: float = 10.0
    max_connections: int = 1000
    max_header_bytes: int = 16 * 1024

    def check(self) -> None:
        """Raises :class:`UsageError` for limits that cannot work."""
        timeouts = (self.header_timeout_s, self.body_timeout_s, self.idle_timeout_s, self.handshake_timeout_s)
        if min(timeouts) <= 0:
            raise UsageError("--header-timeout, --body-timeout, --idle-timeout and --tls-handshake-timeout must be > 0")
        if self.max_connections < 1 or self.max_header_bytes < 1024:
            raise UsageError("--max-connections must be >= 1 and --max-header-bytes >= 1024")

    @property
    def limit_concurrency(self) -> int:
        """uvicorn's ``limit_concurrency`` for ``max_connections``.

        uvicorn answers 503 when ``len(connections) >= limit`` with the asking
        connection counted, or when ``len(tasks) >= limit``: ``max + 1`` never
        refuses a connection kubegate admitted and lets at most
        ``max_connections`` request handlers run.
        """
        return self.max_connections + 1


def _response(status: int, reason: str, text: str) -> bytes:
    body = text.encode()
    return (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: text/plain; charset=utf-8\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    ).encode() + body


_TOO_MANY = _response(503, "Service Unavailable", "too many connections")
_HEAD_TIMEOUT = _response(408, "Request Timeout", "request head not received in time")
_BODY_TIMEOUT = _response(408, "Request Timeout", "request body not received in time")
_HEAD_TOO_LARGE = _response(431, "Request Header Fields Too Large", "request head too large")


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's ``httptools`` protocol with the :class:`TransportLimits` of ``limits``.

    Use :func:`limited_protocol` for a subclass bound to other limits.

    A connection is always in one of three phases: waiting for a request
    head (from the connection being ready, or from the end of the previous
    response), reading a body (from the end of its head), or answering (no
    limit: the evaluation has its own time limit). Nothing is scheduled for
    requests that arrive in one read, the common case: uvicorn's keep-alive
    timer (the idle timeout, also armed on a fresh connection here) closes a
    connection that sends nothing, and the header or body deadline timer is
    armed only when a read leaves a head or a body incomplete, for the time
    left of its phase.
    """

    limits: ClassVar[TransportLimits] = TransportLimits()

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        # uvicorn's keep-alive timer: nothing at all arrives for this long, the connection is closed.
        # Config types it int (whole seconds); call_later takes float.
        self.timeout_keep_alive = min(self.limits.idle_timeout_s, self.limits.header_timeout_s)  # type: ignore[assignment]
        self._awaiting_head = True
        self._head_bytes = 0  # bytes read while waiting for the current head
        self._in_body = False
        self._phase_start = 0.0  # loop time the current wait (for a head, for a body) began
        self._deadline: asyncio.TimerHandle | None = None  # the header or the body deadline
        self._abort_timer: asyncio.TimerHandle | None = None
        self._closing = False  # closed by a limit: the parser's remaining callbacks are ignored
        self._lost = False

    # Connection

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            _log.debug("connection from %s refused: %d open", self.client, len(self.connections) - 1)
            self._close(_TOO_MANY)
            return
        self._phase_start = self.loop.time()
        self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive, self.timeout_keep_alive_handler)

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self._cancel_timers()
        if self._abort_timer is not None:
            self._abort_timer.cancel()
            self._abort_timer = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._closing or self.transport.is_closing():
            return  # refused or timed out: nothing more is parsed
        if self._awaiting_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._closing:
            return
        if self._awaiting_head:
            if self._head_bytes > self.limits.max_header_bytes:
                # Still no complete head after this many bytes: too large, whatever the parser has seen of it.
                self._refuse_head()
            elif self._head_bytes and self._deadline is None and self._idle():
                self._arm(self.limits.header_timeout_s, self._on_header_timeout)
        elif self._in_body and self._deadline is None:
            self._arm(self.limits.body_timeout_s, self._on_body_timeout)

    # Parser callbacks (httptools)

    def on_headers_complete(self) -> None:
        if self._closing:
            return
        if self._head_bytes > self.limits.max_header_bytes and self._head_size() > self.limits.max_header_bytes:
            self._refuse_head()  # the whole head in one read: measured now
            return
        self._awaiting_head = False
        self._head_bytes = 0
        self._in_body = True
        self._cancel_deadline()
        self._phase_start = self.loop.time()
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._closing:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._closing:
            return
        self._in_body = False
        self._awaiting_head = True
        self._head_bytes = 0
        self._cancel_deadline()
        super().on_message_complete()
        if self._idle():  # answered before the body was read: the wait for the next head starts now
            self._begin_wait()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._idle() and not self._closing and not self.transport.is_closing():
            self._phase_start = self.loop.time()  # uvicorn has armed the keep-alive timer
            if self._awaiting_head and self._head_bytes and self._deadline is None:
                self._arm(self.limits.header_timeout_s, self._on_header_timeout)  # part of the next head is here

    # Closing

    def timeout_keep_alive_handler(self) -> None:
        """The idle timeout: closed without a response, as uvicorn does."""
        self.timeout_keep_alive_task = None
        self._close(None)

    def shutdown(self) -> None:
        """Server shutdown: idle connections close now (bounded by :data:`CLOSE_GRACE_S`)."""
        if self.cycle is None or self.cycle.response_complete:
            self._close(None)
        else:
            super().shutdown()

    def send_400_response(self, msg: str) -> None:
        super().send_400_response(msg)
        self._close(None)

    # Internals

    def _idle(self) -> bool:
        """No response is owed: the connection is waiting for the client."""
        return (self.cycle is None or self.cycle.response_complete) and not self.pipeline

    def _head_size(self) -> int:
        return len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)

    def _begin_wait(self) -> None:
        self._phase_start = self.loop.time()
        if self.timeout_keep_alive_task is None and not self.transport.is_closing():
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self.timeout_keep_alive_handler
            )

    def _arm(self, limit_s: float, callback: Callable[[], None]) -> None:
        self._deadline = self.loop.call_at(self._phase_start + limit_s, callback)

    def _refuse_head(self) -> None:
        _log.debug("request head from %s over %d bytes", self.client, self.limits.max_header_bytes)
        self._close(_HEAD_TOO_LARGE)

    def _on_header_timeout(self) -> None:
        self._deadline = None
        _log.debug("request head from %s not received in %g s", self.client, self.limits.header_timeout_s)
        self._close(_HEAD_TIMEOUT)

    def _on_body_timeout(self) -> None:
        self._deadline = None
        _log.debug("request body from %s not received in %g s", self.client, self.limits.body_timeout_s)
        cycle = self.cycle
        started = cycle is not None and cycle.response_started
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True  # the application's receive() returns http.disconnect, its answer is dropped
            cycle.message_event.set()
        self._close(None if started else _BODY_TIMEOUT)

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _cancel_timers(self) -> None:
        self._cancel_deadline()
        self._unset_keepalive_if_required()

    def _close(self, response: bytes | None) -> None:
        """Closes the connection after ``response``; aborts it if that takes over :data:`CLOSE_GRACE_S`."""
        self._closing = True
        self._cancel_timers()
        if self._lost:
            return
        if not self.transport.is_closing():
            if response is not None:
                self.transport.write(response)
            self.transport.close()
        if self._abort_timer is None:
            self._abort_timer = self.loop.call_later(CLOSE_GRACE_S, self._abort)

    def _abort(self) -> None:
        self._abort_timer = None
        if not self._lost:
            self.transport.abort()


def limited_protocol(limits: TransportLimits) -> type[LimitedHttpToolsProtocol]:
    """A :class:`LimitedHttpToolsProtocol` subclass bound to ``limits`` (for ``uvicorn.Config(http=...)``)."""
    return type("LimitedHttpToolsProtocol", (LimitedHttpToolsProtocol,), {"limits": limits})


def _bind_socket(host: str, port: int, backlog: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (IPv6 when ``host`` has a colon).

    Raises:
        OSError: the address is in use or cannot be assigned.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_server((host, port), family=family, backlog=backlog)
    sock.setblocking(False)
    return sock


class _CompanionServer(uvicorn.Server):
    """A server run inside another one's event loop: it leaves signal handling to that one."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class TransportServer(uvicorn.Server):
    """uvicorn's server with a TLS handshake timeout and companion servers.

    Args:
        config: the main server's uvicorn configuration.
        limits: for ``handshake_timeout_s`` (the other limits are in the
            protocol class, ``config.http``).
        companions: configurations of plain-HTTP servers run in the same event
            loop (the probe port). Their sockets are bound at start-up with
            the main server's and the same failure handling (logged, exit
            status 3); they stop after the main server has drained its
            connections (or earlier, from :meth:`stop_companions`).
    """

    def __init__(
        self, config: uvicorn.Config, limits: TransportLimits, companions: Sequence[uvicorn.Config] = ()
    ) -> None:
        super().__init__(config)
        self.limits = limits
        self.companions = [_CompanionServer(c) for c in companions]
        self._companion_tasks: list[asyncio.Task[None]] = []

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's ``Server.startup`` for a host and port, with ``ssl_handshake_timeout``.

        asyncio and uvloop default to 60 s for the handshake and 30 s for the
        closing handshake (https://docs.python.org/3/library/asyncio-eventloop.html#asyncio.loop.create_server);
        uvicorn passes neither.
        """
        if sockets is not None:
            raise ValueError("TransportServer binds its own sockets")
        await self.lifespan.startup()
        if self.lifespan.should_exit:
            sys.exit(STARTUP_FAILURE)
        config = self.config

        def create_protocol(_loop: asyncio.AbstractEventLoop | None = None) -> asyncio.Protocol:
            return config.http_protocol_class(  # type: ignore[call-arg]
                config=config, server_state=self.server_state, app_state=self.lifespan.state, _loop=_loop
            )

        tls: dict[str, Any] = {}
        if config.ssl is not None:
            timeout = self.limits.handshake_timeout_s
            tls = {"ssl": config.ssl, "ssl_handshake_timeout": timeout, "ssl_shutdown_timeout": timeout}
        loop = asyncio.get_running_loop()
        bound: list[socket.socket] = []
        try:
            for companion in self.companions:
                bound.append(_bind_socket(companion.config.host, companion.config.port, companion.config.backlog))
            server = await loop.create_server(
                create_protocol, host=config.host, port=config.port, backlog=config.backlog, **tls
            )
        except OSError as exc:
            for sock in bound:
                sock.close()
            _log.error("cannot listen: %s", exc)
            await self.lifespan.shutdown()
            sys.exit(STARTUP_FAILURE)
        self.servers = [server]
        assert server.sockets
        scheme = "https" if config.ssl is not None else "http"
        host, port = server.sockets[0].getsockname()[:2]
        logging.getLogger("uvicorn.error").info("Uvicorn running on %s://%s:%d", scheme, host, port)
        for companion, sock in zip(self.companions, bound, strict=True):
            task = asyncio.create_task(companion.serve(sockets=[sock]))
            task.add_done_callback(_companion_ended)
            self._companion_tasks.append(task)
            chost, cport = sock.getsockname()[:2]
            _log.info("health, readiness and metrics on http://%s:%d", chost, cport)
        self.started = True

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's shutdown (drain, then the lifespan's), then the companions'."""
        try:
            await super().shutdown(sockets)
        finally:
            await self.stop_companions()

    async def stop_companions(self) -> None:
        """Stops the companion servers and waits for them (idempotent)."""
        for companion in self.companions:
            companion.should_exit = True
            companion.force_exit = self.force_exit
        tasks, self._companion_tasks = self._companion_tasks, []
        await asyncio.gather(*tasks, return_exceptions=True)


def _companion_ended(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        _log.error("probe server stopped: %r", task.exception())
