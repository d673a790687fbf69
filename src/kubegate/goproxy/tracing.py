"""OpenTelemetry spans of the Go module proxy, on the webhook's tracing set-up.

:class:`ProxyTracing` builds a :class:`kubegate.audit.tracing.Tracing`
(``--trace-exporter console|otlp``, ``--trace-endpoint``, service name
``kubegate-goproxy``) and adds, per request:

* ``kubegate.goproxy.request`` (kind ``SERVER``): ``http.request.method``,
  ``url.path``, ``http.response.status_code``, ``goproxy.endpoint``
  (``list``, ``latest``, ``info``, ``mod``, ``zip``, ``sumdb``, ``other``),
  ``goproxy.module.path``, ``goproxy.module.version``, ``goproxy.result``
  (``ok``, ``not_found``, ``gone``, ``blocked``, ``error``),
  ``goproxy.cache`` (``hit``/``miss``), ``goproxy.verdict`` (license
  verdict of a ``.zip``) and ``goproxy.trace_id`` (the
  ``X-Go-Module-Trace-ID`` answered); status ``ERROR`` for a 5xx answer;
* ``kubegate.goproxy.upstream`` (kind ``CLIENT``) per upstream fetch, with
  ``goproxy.upstream.file`` (``@v/list``, ``@v/v1.2.3.zip``...) and
  ``goproxy.result``;
* ``kubegate.policy`` per license policy evaluated (the engine's spans,
  :meth:`kubegate.audit.tracing.Tracing.evaluated`), under the request span.

The trace id is the request's ``X-Go-Module-Trace-ID`` when that is a W3C
trace id (32 lowercase hex digits, not all zero:
https://www.w3.org/TR/trace-context/#trace-id), so the id a client or the
logs show finds the trace; the proxy generates its own ids in that form.
A W3C ``traceparent`` header, when present, is the parent instead (the span
joins the caller's trace).
"""

from __future__ import annotations

import contextlib
import contextvars
import re
from collections.abc import Iterator, Mapping

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from kubegate.audit.tracing import TraceExporter, Tracing

__all__ = ["ProxyTracing", "otel_trace_id"]

_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")
_PROPAGATOR = TraceContextTextMapPropagator()
_wanted: contextvars.ContextVar[int] = contextvars.ContextVar("kubegate_goproxy_trace_id", default=0)


def otel_trace_id(value: str) -> int:
    """The W3C trace id ``value`` spells (``0`` when it is not one)."""
    return int(value, 16) if _TRACE_ID.match(value) else 0


class _RequestTraceIds(RandomIdGenerator):
    """Root spans take the trace id the request named (else a random one)."""

    def generate_trace_id(self) -> int:
        return _wanted.get() or super().generate_trace_id()


class ProxyTracing:
    """Request and upstream spans (see the module docstring).

    Args:
        exporter: ``console`` or ``otlp``.
        endpoint: the OTLP/HTTP traces URL (default ``http://localhost:4318/v1/traces``).
        span_exporter: export synchronously to this exporter instead (tests).
        provider: an embedding program's tracer provider (its id generator is left alone,
            so trace ids then follow ``traceparent`` only).

    Raises:
        UsageError: ``invalid_trace_exporter``.
    """

    def __init__(
        self,
        exporter: TraceExporter = "otlp",
        endpoint: str | None = None,
        span_exporter: SpanExporter | None = None,
        provider: TracerProvider | None = None,
    ) -> None:
        self.tracing = Tracing(
            exporter, endpoint, service_name="kubegate-goproxy", span_exporter=span_exporter, provider=provider
        )
        if provider is None:
            self.tracing.provider.id_generator = _RequestTraceIds()
        self.tracer: Tracer = self.tracing.provider.get_tracer("kubegate.goproxy")

    @contextlib.contextmanager
    def request(self, method: str, path: str, trace_id: str, headers: Mapping[str, str]) -> Iterator[Span]:
        """The current span of one request (ended on leaving; the caller sets the answer's attributes)."""
        parent = _PROPAGATOR.extract(dict(headers)) if "traceparent" in headers else None
        token = _wanted.set(otel_trace_id(trace_id))
        try:
            span = self.tracer.start_span(
                "kubegate.goproxy.request",
                context=parent,
                kind=SpanKind.SERVER,
                attributes={"http.request.method": method, "url.path": path, "goproxy.trace_id": trace_id},
            )
        finally:
            _wanted.reset(token)
        with trace.use_span(span, end_on_exit=True):
            yield span

    @contextlib.contextmanager
    def upstream(self, module: str, file: str) -> Iterator[Span]:
        """A span around one upstream fetch (under the current request span)."""
        with self.tracer.start_as_current_span(
            "kubegate.goproxy.upstream",
            kind=SpanKind.CLIENT,
            attributes={"goproxy.module.path": module, "goproxy.upstream.file": file},
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            yield span

    @staticmethod
    def answered(span: Span, status: int, attributes: Mapping[str, str]) -> None:
        """Sets the answer's attributes on a request span."""
        span.set_attribute("http.response.status_code", status)
        for key, value in attributes.items():
            if value:
                span.set_attribute(key, value)
        if status >= 500:
            span.set_status(Status(StatusCode.ERROR, attributes.get("goproxy.result", "error")))

    def shutdown(self) -> None:
        """Flushes and stops the exporter."""
        self.tracing.shutdown()
