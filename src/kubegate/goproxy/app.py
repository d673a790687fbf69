"""The ASGI application of ``kubegate goproxy serve`` (Starlette).

Routes: the GOPROXY protocol under ``/`` (:mod:`kubegate.goproxy.service`),
``/sumdb/<name>/...`` (proxied to the configured checksum database, else 404
so a client with ``GOSUMDB`` pointed through the proxy falls back to
direct; https://go.dev/ref/mod#checksum-database), ``/metrics`` and
``/healthz``. Every response carries ``X-Go-Module-Trace-ID`` (the client's
when it sent a sane one, else a new one), also in the log line and the
decision record, and the trace id of the request's span when tracing is on
(:mod:`kubegate.goproxy.tracing`). Immutable files (``.info``, ``.mod``, ``.zip``) are
``Cache-Control: public, max-age=31536000, immutable``; ``list`` and
``@latest`` are ``no-cache`` (yanks and pins apply at once).
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

import requests
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from kubegate.goproxy.errors import GoproxyError, ModuleBlocked, NotFound
from kubegate.goproxy.escape import unescape
from kubegate.goproxy.metrics import CONTENT_TYPE, GoproxyMetrics
from kubegate.goproxy.service import ModuleProxy, Served
from kubegate.goproxy.tracing import ProxyTracing

__all__ = ["TRACE_HEADER", "SumdbSettings", "create_app", "parse_request"]

TRACE_HEADER = "X-Go-Module-Trace-ID"
_TRACE_OK = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
_log = logging.getLogger("kubegate.goproxy.requests")
IMMUTABLE = "public, max-age=31536000, immutable"


@dataclass(frozen=True)
class SumdbSettings:
    """A checksum database to proxy (``name`` as in GOSUMDB, e.g. ``sum.golang.org``; ``url`` its base)."""

    name: str = ""
    url: str = ""


def parse_request(path: str) -> tuple[str, str, str]:
    """``(endpoint, module path, version)`` of a GOPROXY URL path (escaped form).

    Raises:
        NotFound: not a GOPROXY path, or a bad escape.
    """
    path = path.lstrip("/")
    if path.endswith("/@latest"):
        return "latest", unescape(path[: -len("/@latest")]), ""
    module, sep, file = path.rpartition("/@v/")
    if not sep:
        raise NotFound(f"/{path} is not a GOPROXY path")
    if file == "list":
        return "list", unescape(module), ""
    for ext in ("info", "mod", "zip"):
        if file.endswith("." + ext):
            return ext, unescape(module), unescape(file[: -len(ext) - 1])
    raise NotFound(f"/{path} is not a GOPROXY path")


def create_app(
    proxy: ModuleProxy,
    metrics: GoproxyMetrics,
    sumdb: SumdbSettings | None = None,
    lifespan: Any = None,
    tracing: ProxyTracing | None = None,
) -> Starlette:
    """The application (see the module docstring); ``lifespan`` as Starlette takes it;
    ``tracing``: a span per request (:mod:`kubegate.goproxy.tracing`)."""
    sumdb = sumdb or SumdbSettings()
    session = requests.Session()

    def serve(endpoint: str, module: str, version: str, trace: str) -> Served:
        if endpoint == "list":
            return Served(
                ("\n".join(proxy.list_versions(module)) + "\n").encode().lstrip(b"\n"),
                "text/plain; charset=utf-8",
                False,
            )
        if endpoint == "latest":
            return proxy.latest(module)
        if endpoint == "info":
            return proxy.info(module, version)
        if endpoint == "mod":
            return proxy.mod(module, version)
        return proxy.zip(module, version, trace)

    def sumdb_fetch(rest: str) -> Response:
        name, _, tail = rest.partition("/")
        if not sumdb.url or name != sumdb.name:
            return PlainTextResponse(f"checksum database {name} is not proxied here\n", status_code=404)
        if tail == "supported":
            return PlainTextResponse("", status_code=200)
        try:
            upstream = session.get(f"{sumdb.url.rstrip('/')}/{tail}", timeout=(5, 30))
        except requests.RequestException as exc:
            return PlainTextResponse(f"checksum database unreachable: {type(exc).__name__}\n", status_code=502)
        return Response(
            upstream.content, status_code=upstream.status_code, media_type=upstream.headers.get("content-type")
        )

    async def answer(request: Request, trace: str, path: str) -> tuple[Response, dict[str, str]]:
        """The response and its span attributes (``goproxy.endpoint``, ``goproxy.result``...)."""
        facts = {"goproxy.endpoint": "other", "goproxy.result": "ok"}
        if path.startswith("/sumdb/"):
            response = await run_in_threadpool(sumdb_fetch, path[len("/sumdb/") :])
            status = response.status_code
            facts.update({"goproxy.endpoint": "sumdb"})
            facts["goproxy.result"] = "ok" if status == 200 else "not_found" if status == 404 else "error"
            return response, facts
        try:
            endpoint, module, version = parse_request(path)
            facts.update(
                {"goproxy.endpoint": endpoint, "goproxy.module.path": module, "goproxy.module.version": version}
            )
            served = proxy.cached(endpoint, module, version)  # from memory, on the event loop
            if served is None:
                served = await run_in_threadpool(serve, endpoint, module, version, trace)
            headers = {"Cache-Control": IMMUTABLE if served.immutable else "no-cache"}
            response = Response(served.body, media_type=served.media_type, headers=headers)
            metrics.cache.labels(served.cache).inc()
            facts["goproxy.cache"] = served.cache
            if served.verdict is not None:
                metrics.verdicts.labels(served.verdict.verdict, "false").inc()
                facts["goproxy.verdict"] = served.verdict.verdict
        except GoproxyError as exc:
            facts["goproxy.result"] = {404: "not_found", 410: "gone", 403: "blocked"}.get(exc.status, "error")
            body = exc.message if exc.message.endswith("\n") else exc.message + "\n"
            response = PlainTextResponse(body, status_code=exc.status, headers={"Cache-Control": "no-store"})
            if isinstance(exc, ModuleBlocked):
                metrics.blocked.inc()
                facts["goproxy.verdict"] = str(exc.details.get("verdict", "REJECT"))
                metrics.verdicts.labels(facts["goproxy.verdict"], "true").inc()
            if exc.status >= 500:
                _log.warning("%s %s: %s", trace, path, exc.message)
        except Exception:
            _log.exception("%s %s: internal error", trace, path)
            facts["goproxy.result"] = "error"
            response = PlainTextResponse("kubegate: internal error\n", status_code=500)
        return response, facts

    async def goproxy(request: Request) -> Response:
        started = time.perf_counter()
        sent = request.headers.get(TRACE_HEADER, "")
        trace = sent if _TRACE_OK.match(sent) else uuid.uuid4().hex
        path = request.url.path
        scope = (
            tracing.request(request.method, path, trace, request.headers)
            if tracing is not None
            else contextlib.nullcontext(None)
        )
        with scope as span:
            response, facts = await answer(request, trace, path)
            if span is not None:
                ProxyTracing.answered(span, response.status_code, facts)
        response.headers[TRACE_HEADER] = trace
        elapsed = time.perf_counter() - started
        metrics.answered(facts["goproxy.endpoint"], facts["goproxy.result"], elapsed, len(response.body))
        _log.info("%s %s %s %d %.1fms", trace, request.method, path, response.status_code, elapsed * 1000)
        return response

    async def metrics_endpoint(_: Request) -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    async def healthz(_: Request) -> Response:
        return PlainTextResponse("ok\n")

    return Starlette(
        lifespan=lifespan,
        routes=[
            Route("/metrics", metrics_endpoint),
            Route("/healthz", healthz),
            Route("/{rest:path}", goproxy, methods=["GET", "HEAD"]),
        ],
    )
