"""Prometheus metrics of the gRPC gate, on the webhook's registry (one ``/metrics``).

Names follow the Prometheus naming guide
(https://prometheus.io/docs/practices/naming/) and the labels of
grpc-ecosystem's go-grpc-prometheus where they overlap (``method``, ``code``
as the status code's name: ``OK``, ``INVALID_ARGUMENT``...).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["GrpcMetrics"]

# Seconds; as the admission histogram's: fine below 10 ms where the targets are.
_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class GrpcMetrics:
    """The gate's metrics, registered in ``registry`` (the webhook's :class:`WebhookMetrics` registry).

    Method labels are the full method names the server registers
    (``/kubegate.v1.Decisions/Review``), a bounded set: unknown methods are
    answered ``UNIMPLEMENTED`` by grpc before any interceptor counts them.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "kubegate_grpc_requests",
            "gRPC calls finished, by full method name and status code.",
            ["method", "code"],
            registry=registry,
        )
        self.duration = Histogram(
            "kubegate_grpc_request_duration_seconds",
            "Time from a gRPC call's start to its status (a stream's whole life for streams).",
            ["method"],
            buckets=_BUCKETS,
            registry=registry,
        )
        self.stream_items = Counter(
            "kubegate_grpc_stream_messages",
            "Messages sent on server streams, by method.",
            ["method"],
            registry=registry,
        )
        self.watchers = Gauge(
            "kubegate_grpc_watch_streams",
            "WatchPolicyStream streams open now.",
            registry=registry,
        )
        self.slow_consumers = Counter(
            "kubegate_grpc_watch_slow_consumers",
            "WatchPolicyStream streams ended because their client did not read fast enough.",
            registry=registry,
        )

    def finished(self, method: str, code: str, seconds: float) -> None:
        """Counts one finished call (``code``: a ``grpc.StatusCode`` name)."""
        self.requests.labels(method, code).inc()
        self.duration.labels(method).observe(seconds)
