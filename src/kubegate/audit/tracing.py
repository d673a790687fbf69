"""OpenTelemetry tracing of reviews: a span per review and one per policy evaluation.

Off by default. Spans are built after the decision from the times the engine
measured (:attr:`~kubegate.engine.decision.Decision.started_ns` and
``duration_ms``), so tracing adds nothing to the evaluation itself and needs
no hooks inside it. Span names and attributes:

* ``kubegate.admission`` (webhook only, kind ``SERVER``): ``k8s.request.uid``,
  ``k8s.kind``, ``k8s.namespace``, ``k8s.name``, ``k8s.operation``,
  ``kubegate.decision``, ``kubegate.cache``, ``kubegate.reason``. Its parent
  is the API server's span when the request carries a W3C ``traceparent``
  header (Kubernetes ``APIServerTracing``:
  https://kubernetes.io/docs/concepts/cluster-administration/system-traces/);
* ``kubegate.review``: ``kubegate.policy_set_version``, ``kubegate.allowed``,
  ``kubegate.violations``;
* ``kubegate.policy`` per evaluated policy: ``kubegate.policy.id``,
  ``kubegate.policy.version``, ``kubegate.allowed``, ``kubegate.violations``;
  status ``ERROR`` when the policy failed to evaluate.

Exporters: ``console`` (JSON lines on stdout), ``otlp`` (OTLP over HTTP,
protobuf, to ``endpoint``, default ``http://localhost:4318/v1/traces``), or
any ``SpanExporter`` (tests use the in-memory one). An embedding program can
pass its own ``TracerProvider`` instead.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Literal

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from kubegate.engine.decision import Decision, ReviewResult
from kubegate.errors import UsageError

__all__ = ["TraceExporter", "Tracing"]

TraceExporter = Literal["none", "console", "otlp"]
_PROPAGATOR = TraceContextTextMapPropagator()


def _review_attributes(review: Mapping[str, Any]) -> dict[str, str]:
    kind = review.get("kind") if isinstance(review.get("kind"), Mapping) else {}
    obj = review.get("object") or review.get("oldObject") or {}
    meta = obj.get("metadata") if isinstance(obj, Mapping) and isinstance(obj.get("metadata"), Mapping) else {}
    return {
        "k8s.request.uid": str(review.get("uid") or ""),
        "k8s.kind": str((kind or {}).get("kind", "")),
        "k8s.namespace": str(review.get("namespace") or (meta or {}).get("namespace") or ""),
        "k8s.name": str(review.get("name") or (meta or {}).get("name") or ""),
        "k8s.operation": str(review.get("operation") or ""),
    }


class Tracing:
    """Turns decided reviews into spans.

    Args:
        exporter: ``console`` or ``otlp`` (``none`` is refused: then do not build one).
        endpoint: for ``otlp``, the collector's traces URL.
        service_name: the ``service.name`` resource attribute.
        span_exporter: use this exporter instead (spans are exported synchronously).
        provider: use this tracer provider (its processors and exporters) instead.

    Raises:
        UsageError: ``invalid_trace_exporter``.
    """

    def __init__(
        self,
        exporter: TraceExporter = "console",
        endpoint: str | None = None,
        service_name: str = "kubegate",
        span_exporter: SpanExporter | None = None,
        provider: TracerProvider | None = None,
    ) -> None:
        self._own = provider is None
        if provider is None:
            provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
            if span_exporter is not None:
                provider.add_span_processor(SimpleSpanProcessor(span_exporter))
            elif exporter == "console":
                provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
            elif exporter == "otlp":
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

                otlp = OTLPSpanExporter(endpoint=endpoint or "http://localhost:4318/v1/traces")
                provider.add_span_processor(BatchSpanProcessor(otlp))
            else:
                raise UsageError(f"trace exporter {exporter!r} is not console or otlp", code="invalid_trace_exporter")
        self.provider = provider
        self.tracer = provider.get_tracer("kubegate")

    # ---- the SDK's observer
    def review_decided(self, review: Mapping[str, Any], result: ReviewResult) -> None:
        """``Engine(tracing=...)`` calls this after each review."""
        end_ns = time.time_ns()
        # The review's duration is measured on the performance clock and this call
        # comes a little after it ends, so end - duration can fall after the first
        # policy started: the review span covers its policy spans.
        start_ns = min(end_ns - int(result.duration_ms * 1e6), _first_start(result, end_ns))
        self.review_span(review, result, start_ns=start_ns, end_ns=end_ns)

    def evaluated(self, policy_id: str, input: Any, decision: Decision) -> None:  # noqa: A002 - the OPA term
        """``Engine(tracing=...)`` calls this after each ``evaluate``: one ``kubegate.policy`` span."""
        review = input.get("review") if isinstance(input, Mapping) else None
        self._policy_span(
            decision, _review_attributes(review) if isinstance(review, Mapping) else {}, None, time.time_ns()
        )

    # ---- spans
    def admission_span(
        self,
        review: Mapping[str, Any],
        *,
        start_ns: int,
        end_ns: int,
        decision: str,
        cache: str,
        reason: str,
        result: ReviewResult | None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """The webhook's span for one AdmissionReview, with the review's spans under it
        when it was evaluated (``result``) rather than answered from the cache."""
        parent = _PROPAGATOR.extract(dict(headers)) if headers else None
        attributes = {
            **_review_attributes(review),
            "kubegate.decision": decision,
            "kubegate.cache": cache,
            "kubegate.reason": reason,
        }
        span = self.tracer.start_span(
            "kubegate.admission", context=parent, kind=SpanKind.SERVER, start_time=start_ns, attributes=attributes
        )
        if result is not None:
            duration = int(result.duration_ms * 1e6)
            review_start = max(start_ns, _first_start(result, end_ns - duration))
            self.review_span(
                review,
                result,
                start_ns=review_start,
                end_ns=min(end_ns, review_start + duration),
                parent=trace.set_span_in_context(span),
            )
        span.end(end_time=end_ns)

    def review_span(
        self,
        review: Mapping[str, Any],
        result: ReviewResult,
        *,
        start_ns: int,
        end_ns: int,
        parent: Context | None = None,
    ) -> None:
        """A ``kubegate.review`` span (times in ns since the epoch) and its policy spans."""
        attributes: dict[str, Any] = {
            **_review_attributes(review),
            "kubegate.policy_set_version": result.policy_set_version,
            "kubegate.allowed": result.allowed,
            "kubegate.violations": len(result.violations),
        }
        span = self.tracer.start_span("kubegate.review", context=parent, start_time=start_ns, attributes=attributes)
        context = trace.set_span_in_context(span)
        for decision in result.decisions:
            self._policy_span(decision, {}, context, start_ns)
        span.end(end_time=end_ns)

    def _policy_span(
        self, decision: Decision, attributes: dict[str, str], context: Context | None, default_start: int
    ) -> None:
        started = decision.started_ns or default_start
        span = self.tracer.start_span(
            "kubegate.policy",
            context=context,
            start_time=started,
            attributes={
                **attributes,
                "kubegate.policy.id": decision.policy,
                "kubegate.policy.version": decision.version,
                "kubegate.allowed": decision.allowed,
                "kubegate.violations": len(decision.violations),
            },
        )
        if decision.error is not None:
            span.set_status(Status(StatusCode.ERROR, decision.error))
        span.end(end_time=started + int(decision.duration_ms * 1e6))

    def flush(self, timeout_ms: int = 5000) -> bool:
        """Exports pending spans; ``False`` when the exporter did not finish in time."""
        return bool(self.provider.force_flush(timeout_ms))

    def shutdown(self) -> None:
        """Flushes and stops the exporters (only those this object created)."""
        if self._own:
            self.provider.shutdown()


def _first_start(result: ReviewResult, default: int) -> int:
    starts = [d.started_ns for d in result.decisions if d.started_ns]
    return min(starts) if starts else default
