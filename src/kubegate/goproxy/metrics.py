"""Prometheus metrics of the Go module proxy (one registry per server; names as
:mod:`kubegate.webhook.metrics` names them: ``kubegate_`` prefix, seconds, ``_total``)."""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from kubegate.webhook.metrics import CONTENT_TYPE

__all__ = ["CONTENT_TYPE", "GoproxyMetrics"]

_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
ENDPOINTS = ("list", "latest", "info", "mod", "zip", "sumdb", "other")


class GoproxyMetrics:
    """``kubegate_goproxy_requests_total{endpoint,result}`` (result: ``ok``,
    ``not_found``, ``gone``, ``blocked``, ``error``), request durations,
    bytes served, vault hits and misses, verdicts, upstream fetches.

    Under ``kubegate goproxy serve --workers N`` (``PROMETHEUS_MULTIPROC_DIR``
    set before prometheus_client was imported) the values live in that
    directory and :meth:`render` sums every worker's."""

    def __init__(self) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "kubegate_goproxy_requests",
            "GOPROXY requests answered, by endpoint and result.",
            ["endpoint", "result"],
            registry=r,
        )
        self.duration = Histogram(
            "kubegate_goproxy_request_duration_seconds",
            "Time to answer a request.",
            ["endpoint"],
            buckets=_BUCKETS,
            registry=r,
        )
        self.bytes = Counter(
            "kubegate_goproxy_response_bytes", "Body bytes served, by endpoint.", ["endpoint"], registry=r
        )
        self.cache = Counter(
            "kubegate_goproxy_cache",
            "Vault lookups: hit (served from storage) or miss (fetched).",
            ["result"],
            registry=r,
        )
        self.verdicts = Counter(
            "kubegate_goproxy_license_verdicts",
            "License verdicts, by verdict and whether they blocked.",
            ["verdict", "blocked"],
            registry=r,
        )
        self.blocked = Counter("kubegate_goproxy_blocked", "Downloads refused by the license policy.", registry=r)
        self.upstream = Counter(
            "kubegate_goproxy_upstream_fetches",
            "Upstream fetches, by result (ok, not_found, error).",
            ["result"],
            registry=r,
        )

    def answered(self, endpoint: str, result: str, seconds: float, size: int) -> None:
        endpoint = endpoint if endpoint in ENDPOINTS else "other"
        self.requests.labels(endpoint, result).inc()
        self.duration.labels(endpoint).observe(seconds)
        if size:
            self.bytes.labels(endpoint).inc(size)

    def render(self) -> bytes:
        """The Prometheus text exposition (every worker's values under ``--workers``)."""
        directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if not directory:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
