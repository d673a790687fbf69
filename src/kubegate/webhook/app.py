"""The webhook's HTTP surface: a Starlette ASGI application.

Routes:

* ``POST /validate``: an AdmissionReview (``admission.k8s.io/v1`` or
  ``v1beta1``) in, the answering AdmissionReview out (HTTP 200). A body over
  the limit (3 MiB by default, the API server's own request limit) gets 413,
  a body that is not an AdmissionReview 400, each with a JSON error
  ``{"code", "message"}``; never a 500 with a traceback.
* ``GET /healthz``: liveness; 503 when an evaluation has held a worker for
  longer than ``stuck_after_s`` (a runaway policy: restart the pod).
* ``GET /readyz``: 200 once a policy set is loaded, else 503 with the reason.
* ``GET /metrics``: Prometheus text format.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from kubegate.errors import ErrorList
from kubegate.webhook.admission import AdmissionError, admission_response, parse_admission_review
from kubegate.webhook.metrics import CONTENT_TYPE
from kubegate.webhook.service import AdmissionService
from kubegate.webhook.verdict import failure_verdict

__all__ = ["create_app"]

_log = logging.getLogger("kubegate.webhook")


def _json(doc: Any, status: int = 200) -> Response:
    return Response(json.dumps(doc, separators=(",", ":")), status_code=status, media_type="application/json")


def _error(exc: AdmissionError, service: AdmissionService) -> Response:
    service.metrics.bad_requests.labels(exc.code).inc()
    return _json({"code": exc.code, "message": exc.message}, exc.status)


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing more than ``limit`` bytes without reading it all.

    Raises:
        AdmissionError: ``request_too_large`` (413).
    """
    too_large = AdmissionError(f"request body is larger than {limit} bytes", code="request_too_large", status=413)
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(
    service: AdmissionService,
    on_startup: Callable[[], Awaitable[None]] | None = None,
    on_shutdown: Callable[[], Awaitable[None]] | None = None,
) -> Starlette:
    """The ASGI application serving ``service``.

    Args:
        service: the decision path.
        on_startup: awaited when the server starts (load policies, watch certificates).
        on_shutdown: awaited when it stops.
    """

    async def validate(request: Request) -> Response:
        try:
            body = await _read_body(request, service.settings.max_body_bytes)
            admission = parse_admission_review(body)
        except AdmissionError as exc:
            return _error(exc, service)
        except ClientDisconnect:
            return Response(status_code=400)
        try:
            verdict = await service.decide(admission)
        except AdmissionError as exc:
            return _error(exc, service)
        except Exception as exc:  # a well-formed request always gets an AdmissionReview back
            _log.exception("unexpected error while deciding request %s", admission.uid)
            verdict = failure_verdict(
                "internal_error", f"internal error: {type(exc).__name__}", service.settings.failure_mode
            )
        return _json(admission_response(admission, verdict))

    async def healthz(_: Request) -> Response:
        stuck = service.pool.stuck(service.settings.stuck_after_s)
        if stuck:
            detail = f"{stuck} worker(s) busy on one evaluation for more than {service.settings.stuck_after_s:g} s"
            return _json({"status": "unhealthy", "reason": detail}, 503)
        return _json({"status": "ok"})

    async def readyz(_: Request) -> Response:
        engine = service.engine
        if engine is None:
            error = service.load_error
            if error is None:
                return _json({"ready": False, "reason": "policy set not loaded yet"}, 503)
            errors = error.errors if isinstance(error, ErrorList) else [error]
            body = {"ready": False, "reason": "policy set not loaded", "errors": [e.to_dict() for e in errors]}
            return _json(body, 503)
        return _json(
            {
                "ready": True,
                "policies": len(engine.policies),
                "loadErrors": len(engine.errors),
                "policySetVersion": engine.version,
            }
        )

    async def metrics(_: Request) -> Response:
        service.metrics.queue.set(service.pool.unfinished)
        return Response(service.metrics.render(), media_type=CONTENT_TYPE)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        if on_startup is not None:
            await on_startup()
        try:
            yield
        finally:
            if on_shutdown is not None:
                await on_shutdown()
            await service.close()

    routes = [
        Route("/validate", validate, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
