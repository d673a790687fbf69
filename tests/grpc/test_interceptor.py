"""The interceptor on a real grpc.aio server: kubegate errors get their status, anything else
INTERNAL with an error id (never UNKNOWN with a traceback), and every call is counted."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from grpc import aio
from prometheus_client import CollectorRegistry

from kubegate.errors import InputError
from kubegate.grpc.interceptor import GateInterceptor
from kubegate.grpc.metrics import GrpcMetrics
from kubegate.webhook.pool import PoolFull


async def boom(_request: bytes, _context: Any) -> bytes:
    raise RuntimeError("secret internals /etc/passwd")


async def bad_input(_request: bytes, _context: Any) -> bytes:
    raise InputError("not an object", code="invalid_object")


async def full(_request: bytes, _context: Any) -> bytes:
    raise PoolFull("all workers are busy")


async def echo(request: bytes, _context: Any) -> bytes:
    return request


async def stream_boom(_request: bytes, _context: Any) -> AsyncIterator[bytes]:
    yield b"one"
    raise KeyError("oops")


def _handlers() -> Any:
    return grpc.method_handlers_generic_handler(
        "t.T",
        {
            "Boom": grpc.unary_unary_rpc_method_handler(boom),
            "Bad": grpc.unary_unary_rpc_method_handler(bad_input),
            "Full": grpc.unary_unary_rpc_method_handler(full),
            "Echo": grpc.unary_unary_rpc_method_handler(echo),
            "Stream": grpc.unary_stream_rpc_method_handler(stream_boom),
        },
    )


def test_statuses_and_metrics(caplog: pytest.LogCaptureFixture) -> None:
    registry = CollectorRegistry()
    metrics = GrpcMetrics(registry)

    async def scenario() -> dict[str, tuple[grpc.StatusCode, str]]:
        server = aio.server(interceptors=[GateInterceptor(metrics)])
        server.add_generic_rpc_handlers((_handlers(),))
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        out: dict[str, tuple[grpc.StatusCode, str]] = {}
        try:
            async with aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                assert await channel.unary_unary("/t.T/Echo")(b"hi") == b"hi"
                for name in ("Boom", "Bad", "Full"):
                    try:
                        await channel.unary_unary(f"/t.T/{name}")(b"x")
                    except aio.AioRpcError as exc:
                        out[name] = (exc.code(), exc.details() or "")
                got = []
                try:
                    async for item in channel.unary_stream("/t.T/Stream")(b"x"):
                        got.append(item)
                except aio.AioRpcError as exc:
                    out["Stream"] = (exc.code(), exc.details() or "")
                assert got == [b"one"]
        finally:
            await server.stop(None)
        return out

    with caplog.at_level(logging.ERROR, logger="kubegate.grpc"):
        out = asyncio.run(scenario())
    code, details = out["Boom"]
    assert code == grpc.StatusCode.INTERNAL and details.startswith("internal error ")
    assert "passwd" not in details and "Traceback" not in details
    error_id = details.removeprefix("internal error ")
    assert any(error_id in r.getMessage() and r.exc_info for r in caplog.records)
    assert out["Bad"] == (grpc.StatusCode.INVALID_ARGUMENT, "invalid_object: not an object")
    assert out["Full"][0] == grpc.StatusCode.RESOURCE_EXHAUSTED and out["Full"][1].startswith("queue_full:")
    assert out["Stream"][0] == grpc.StatusCode.INTERNAL

    def count(method: str, code: str) -> float:
        value = registry.get_sample_value("kubegate_grpc_requests_total", {"method": method, "code": code})
        return value or 0.0

    assert count("/t.T/Echo", "OK") == 1
    assert count("/t.T/Boom", "INTERNAL") == 1
    assert count("/t.T/Bad", "INVALID_ARGUMENT") == 1
    assert count("/t.T/Full", "RESOURCE_EXHAUSTED") == 1
    assert count("/t.T/Stream", "INTERNAL") == 1
    assert registry.get_sample_value("kubegate_grpc_request_duration_seconds_count", {"method": "/t.T/Echo"}) == 1
