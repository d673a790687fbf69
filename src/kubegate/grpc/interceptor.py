"""The server interceptor: status metrics, and no call ever ends ``UNKNOWN`` with a traceback.

grpc answers an exception escaping a handler with ``UNKNOWN`` and the
exception's text (https://grpc.github.io/grpc/python/grpc.html#grpc.ServicerContext).
Every handler of the server is wrapped here: a :class:`KubegateError` that
reaches this point is answered with its mapped status
(:func:`kubegate.grpc.status.status_for`), any other exception is logged
with a fresh error id and answered ``INTERNAL: internal error <id>`` (the id
lets an operator find the logged traceback; the client sees no internals).
Each call's status and duration are counted in :class:`GrpcMetrics`.
"""

from __future__ import annotations

import inspect
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from grpc import aio

from kubegate.errors import KubegateError
from kubegate.grpc.metrics import GrpcMetrics
from kubegate.grpc.status import status_for

__all__ = ["GateInterceptor"]

_log = logging.getLogger("kubegate.grpc")


def _code(context: Any) -> str:
    code = context.code()
    if code is None:
        return "OK"
    if isinstance(code, grpc.StatusCode):
        return str(code.name)
    return str(code)


async def _fail(context: Any, exc: BaseException, method: str) -> None:
    """Aborts the call for ``exc`` (never returns)."""
    if isinstance(exc, KubegateError):
        code, message = status_for(exc)
        await context.abort(code, message)
    error_id = uuid.uuid4().hex[:12]
    _log.error("internal error %s in %s", error_id, method, exc_info=exc, extra={"errorId": error_id})
    await context.abort(grpc.StatusCode.INTERNAL, f"internal error {error_id}")


class GateInterceptor(aio.ServerInterceptor):  # type: ignore[misc]
    """Wraps every handler (see the module docstring)."""

    def __init__(self, metrics: GrpcMetrics) -> None:
        self.metrics = metrics

    async def intercept_service(
        self,
        continuation: Callable[[Any], Awaitable[Any]],
        handler_call_details: Any,
    ) -> Any:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        method: str = handler_call_details.method
        for kind, factory in (
            ("unary_unary", grpc.unary_unary_rpc_method_handler),
            ("unary_stream", grpc.unary_stream_rpc_method_handler),
            ("stream_unary", grpc.stream_unary_rpc_method_handler),
            ("stream_stream", grpc.stream_stream_rpc_method_handler),
        ):
            behaviour = getattr(handler, kind)
            if behaviour is not None:
                return factory(
                    self._wrap(behaviour, method),
                    request_deserializer=handler.request_deserializer,
                    response_serializer=handler.response_serializer,
                )
        return handler

    def _wrap(self, behaviour: Any, method: str) -> Any:
        metrics = self.metrics
        if inspect.isasyncgenfunction(behaviour):

            async def streaming(request: Any, context: Any) -> AsyncIterator[Any]:
                start = time.perf_counter()
                code = "OK"
                try:
                    async for item in behaviour(request, context):
                        yield item
                    code = _code(context)
                except aio.AbortError:
                    code = _code(context)
                    raise
                except Exception as exc:
                    code = "INTERNAL" if not isinstance(exc, KubegateError) else status_for(exc)[0].name
                    await _fail(context, exc, method)
                finally:
                    metrics.finished(method, code, time.perf_counter() - start)

            return streaming

        async def unary(request: Any, context: Any) -> Any:
            start = time.perf_counter()
            code = "OK"
            try:
                result = behaviour(request, context)
                if inspect.isawaitable(result):
                    result = await result
                code = _code(context)
                return result
            except aio.AbortError:
                code = _code(context)
                raise
            except Exception as exc:
                code = "INTERNAL" if not isinstance(exc, KubegateError) else status_for(exc)[0].name
                await _fail(context, exc, method)
            finally:
                metrics.finished(method, code, time.perf_counter() - start)

        return unary
