"""The webhook's HTTP surface: a Starlette ASGI application.

Routes:

* ``POST /validate``: an AdmissionReview (``admission.k8s.io/v1`` or
  ``v1beta1``) in, the answering AdmissionReview out (HTTP 200). A body over
  the limit (3 MiB by default, the API server's own request limit) gets 413,
  a body that is not an AdmissionReview 400, each with a JSON error
  ``{"code", "message"}``; never a 500 with a traceback.
* ``GET /healthz``: liveness, with ``overdueWorkers`` (workers still on an
  evaluation whose time limit has passed, reported at once); 503 when an
  evaluation has held a worker for longer than ``stuck_after_s`` or every
  worker is overdue (a runaway policy: restart the pod).
* ``GET /readyz``: 200 once a policy set is loaded, else 503 with the reason;
  reports a failing policy source (``staleSeconds``) and, past
  ``max_staleness_s``, ``stale: true`` (and 503 with ``not_ready_when_stale``).
* ``GET /policies``: each policy with version, source, load time, rollout
  state and last error, the source's state and the recent history.
* ``GET /metrics``: Prometheus text format.

:func:`create_probe_app` serves only ``/healthz``, ``/readyz`` and
``/metrics`` (the same handlers, :func:`probe_routes`), for the plain-HTTP
probe port beside a mutual-TLS admission port.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from kubegate.webhook.admission import AdmissionError, admission_response, parse_admission_review
from kubegate.webhook.metrics import CONTENT_TYPE
from kubegate.webhook.service import AdmissionService
from kubegate.webhook.verdict import failure_verdict

__all__ = ["Readiness", "create_app", "create_probe_app", "probe_routes"]

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


@dataclass(frozen=True)
class Readiness:
    """When ``/readyz`` calls a server with a failing policy source stale.

    Attributes:
        max_staleness_s: seconds of source failure before ``stale: true``.
        not_ready_when_stale: answer 503 once stale (default: stay ready and
            keep enforcing the last good set; say so in the body).
    """

    max_staleness_s: float = 60.0
    not_ready_when_stale: bool = False


def create_app(
    service: AdmissionService,
    on_startup: Callable[[], Awaitable[None]] | None = None,
    on_shutdown: Callable[[], Awaitable[None]] | None = None,
    readiness: Readiness | None = None,
) -> Starlette:
    """The ASGI application serving ``service``.

    Args:
        service: the decision path.
        readiness: staleness reporting of ``/readyz``.
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
            verdict = await service.decide(admission, dict(request.headers) if service.tracing else None)
        except AdmissionError as exc:
            return _error(exc, service)
        except Exception as exc:  # a well-formed request always gets an AdmissionReview back
            # Denied whatever the failure mode: an error nobody foresaw may be the request's doing.
            _log.exception("unexpected error while deciding request %s", admission.uid)
            verdict = failure_verdict("internal_error", f"internal error: {type(exc).__name__}", "deny")
        return _json(admission_response(admission, verdict))

    async def policies(_: Request) -> Response:
        return _json(service.manager.status())

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
        *probe_routes(service, readiness),
        Route("/policies", policies, methods=["GET"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


def probe_routes(service: AdmissionService, readiness: Readiness | None = None) -> list[Route]:
    """``GET /healthz``, ``/readyz`` and ``/metrics`` of ``service`` (one implementation for both ports).

    Args:
        service: the decision path whose health, readiness and metrics are reported.
        readiness: staleness reporting of ``/readyz``.
    """

    readiness = readiness or Readiness()

    async def healthz(_: Request) -> Response:
        pool = service.pool
        overdue = pool.overdue()
        service.metrics.workers_overdue.set(overdue)
        body: dict[str, Any] = {"status": "ok", "workers": pool.workers, "overdueWorkers": overdue}
        stuck = pool.stuck(service.settings.stuck_after_s)
        if stuck:
            body["reason"] = (
                f"{stuck} worker(s) busy on one evaluation for more than {service.settings.stuck_after_s:g} s"
            )
        elif overdue >= pool.workers:
            body["reason"] = f"all {pool.workers} workers are on evaluations past their time limit"
        if "reason" in body:
            body["status"] = "unhealthy"
            return _json(body, 503)
        return _json(body)

    async def readyz(_: Request) -> Response:
        manager = service.manager
        snapshot = manager.snapshot
        source_error = manager.source.error
        if snapshot is None:
            body: dict[str, Any] = {"ready": False, "reason": "policy set not loaded yet"}
            if source_error is not None:
                body["reason"] = "policy source failed"
                body["errors"] = [source_error.to_dict()]
            elif manager.last_rejection:
                body["reason"] = "policy set not loaded"
                body["errors"] = [e.to_dict() for e in manager.last_rejection]
            return _json(body, 503)
        stale_s = manager.staleness_s()
        stale = stale_s > readiness.max_staleness_s
        body = {
            "ready": not (stale and readiness.not_ready_when_stale),
            "policies": len(snapshot.latest.policies),
            "loadErrors": len(snapshot.latest.errors),
            "policySetVersion": snapshot.version,
            "sequence": snapshot.sequence,
            "stale": stale,
            "staleSeconds": round(stale_s, 3),
        }
        if source_error is not None:
            body["sourceError"] = source_error.to_dict()
        return _json(body, 503 if not body["ready"] else 200)

    async def metrics(_: Request) -> Response:
        service.metrics.queue.set(service.pool.unfinished)
        service.metrics.workers_overdue.set(service.pool.overdue())
        service.metrics.source_stale.set(service.manager.staleness_s())
        if service.decision_log is not None:
            service.metrics.decision_log_state(service.decision_log)
        return Response(service.metrics.render(), media_type=CONTENT_TYPE)

    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]


def create_probe_app(service: AdmissionService, readiness: Readiness | None = None) -> Starlette:
    """The probe port's application: :func:`probe_routes` only, no lifespan (the admission app owns ``service``).

    Anything else, ``/validate`` and ``/policies`` included, is 404.
    """
    return Starlette(routes=probe_routes(service, readiness))
