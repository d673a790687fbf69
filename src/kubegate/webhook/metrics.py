"""Prometheus metrics of the webhook (prometheus-client, one registry per server).

Names follow the Prometheus naming guide
(https://prometheus.io/docs/practices/naming/): ``kubegate_`` prefix, base
units (seconds), ``_total`` for counters.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest

from kubegate.webhook.refresh import OUTCOMES as REFRESH_OUTCOMES

__all__ = ["CONTENT_TYPE", "WebhookMetrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Admission latency buckets, in seconds: fine below 10 ms where the targets are.
_ADMISSION_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_POLICY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25)


# Label values taken from requests are bounded: a client sending a new kind per
# request must not grow the registry (and the server's memory) without end.
_MAX_KINDS = 500
_MAX_KIND_CHARS = 63  # a Kubernetes kind is a DNS-1035 label at most; a longer "kind" is a hostile one
_OPERATIONS = frozenset(("CREATE", "UPDATE", "DELETE", "CONNECT", ""))


class WebhookMetrics:
    """Every metric the webhook exports, registered in its own registry."""

    def __init__(self) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]  # no ``_created`` series: they double the exposition for no use here
        self.registry = CollectorRegistry(auto_describe=True)
        self._kinds: set[str] = set()
        r = self.registry
        self.requests = Counter(
            "kubegate_admission_requests",
            "Admission requests answered, by decision (allow, deny), operation and kind.",
            ["decision", "operation", "kind"],
            registry=r,
        )
        self.duration = Histogram(
            "kubegate_admission_duration_seconds",
            "Time from reading an AdmissionReview to answering it.",
            buckets=_ADMISSION_BUCKETS,
            registry=r,
        )
        self.policy_duration = Histogram(
            "kubegate_policy_evaluation_duration_seconds",
            "Evaluation time of one policy on one request.",
            ["policy"],
            buckets=_POLICY_BUCKETS,
            registry=r,
        )
        self.timeouts = Counter(
            "kubegate_admission_timeouts",
            "Requests answered by the failure mode because the time limit passed.",
            registry=r,
        )
        self.rejected = Counter(
            "kubegate_admission_rejected",
            "Requests answered by the failure mode without evaluation, by reason (queue_full, not_ready, error).",
            ["reason"],
            registry=r,
        )
        self.fast_rejects = Counter(
            "kubegate_fast_rejects",
            "Requests denied by the deny list before any policy ran, by rule.",
            ["rule"],
            registry=r,
        )
        self.bad_requests = Counter(
            "kubegate_admission_bad_requests", "Requests refused with 4xx, by error code.", ["code"], registry=r
        )
        self.violations = Counter(
            "kubegate_violations",
            "Violations found, by policy and enforcement action (deny, warn, dryrun).",
            ["policy", "enforcement"],
            registry=r,
        )
        self.policy_errors = Counter(
            "kubegate_policy_evaluation_errors", "Policies that failed to evaluate, by policy.", ["policy"], registry=r
        )
        self.cache_hits = Counter(
            "kubegate_decision_cache_hits",
            "Decisions served from the cache, by tier (memory, redis).",
            ["tier"],
            registry=r,
        )
        self.cache_misses = Counter("kubegate_decision_cache_misses", "Decisions the cache did not hold.", registry=r)
        self.cache_hit_ratio = Gauge(
            "kubegate_decision_cache_hit_ratio", "Cache hits / cache lookups since start.", registry=r
        )
        self.cache_errors = Counter(
            "kubegate_decision_cache_errors", "Failed operations on the shared (Redis) cache.", registry=r
        )
        self.cache_refreshes = Counter(
            "kubegate_decision_cache_refreshes",
            "Background refreshes of cached decisions in their refresh window, by outcome "
            "(ok, shared, failed, skipped, superseded; see kubegate.webhook.refresh).",
            ["outcome"],
            registry=r,
        )
        for outcome in REFRESH_OUTCOMES:  # every outcome exported from the start, at 0
            self.cache_refreshes.labels(outcome)
        self.cache_refreshes_pending = Gauge(
            "kubegate_decision_cache_refreshes_pending",
            "Background refreshes of cached decisions scheduled or running.",
            registry=r,
        )
        self.policies_loaded = Gauge("kubegate_policies_loaded", "Policies in the serving policy set.", registry=r)
        self.policy_load_errors = Gauge(
            "kubegate_policy_load_errors", "Errors reported when the serving policy set was loaded.", registry=r
        )
        self.queue = Gauge("kubegate_evaluation_queue", "Evaluations queued or running.", registry=r)
        self.workers_overdue = Gauge(
            "kubegate_workers_overdue",
            "Evaluation workers still busy on an evaluation whose time limit has passed.",
            registry=r,
        )
        self.reloads = Counter(
            "kubegate_policy_reloads",
            "Policy updates, by result (applied, partial, rejected, unchanged).",
            ["result"],
            registry=r,
        )
        self.activation = Histogram(
            "kubegate_policy_activation_seconds",
            "Time to build and swap in an updated policy set.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=r,
        )
        self.source_stale = Gauge(
            "kubegate_policy_source_stale_seconds", "How long the policy source has been failing (0: fine).", registry=r
        )
        self.policy_set_sequence = Gauge(
            "kubegate_policy_set_sequence", "Sequence number of the policy snapshot in force.", registry=r
        )
        self.canary_decisions = Counter(
            "kubegate_canary_decisions",
            "Decisions of policies under canary rollout, by the version that decided (canary, stable).",
            ["policy", "arm"],
            registry=r,
        )
        self.shadow_evaluations = Counter(
            "kubegate_shadow_evaluations", "Shadow candidate evaluations, by policy.", ["policy"], registry=r
        )
        self.shadow_disagreements = Counter(
            "kubegate_shadow_disagreements",
            "Shadow candidate decisions that differ from the enforced stable decision, by policy.",
            ["policy"],
            registry=r,
        )
        self.certificate_expiry = Gauge(
            "kubegate_serving_certificate_expiry_timestamp_seconds",
            "When the serving certificate in use expires (Unix time).",
            registry=r,
        )
        self.certificate_reloads = Counter(
            "kubegate_serving_certificate_reloads", "Serving certificates reloaded from disk.", registry=r
        )
        self.decision_log_records = Counter(
            "kubegate_decision_log_records",
            "Decision records written, by mode (strict, standard).",
            ["mode"],
            registry=r,
        )
        self.decision_log_redactions = Counter(
            "kubegate_decision_log_redactions",
            "Values redacted from decision records, by rule (a detector or mask:<pointer>).",
            ["rule"],
            registry=r,
        )
        self.decision_log_shipped = Counter(
            "kubegate_decision_log_shipped", "Decision records delivered, by sink.", ["sink"], registry=r
        )
        self.decision_log_sink_errors = Counter(
            "kubegate_decision_log_sink_errors", "Failed deliveries (retried), by sink.", ["sink"], registry=r
        )
        self.decision_log_bytes = Gauge(
            "kubegate_decision_log_bytes", "Size of the decision write-ahead log on disk.", registry=r
        )
        self.decision_log_bound = Gauge(
            "kubegate_decision_log_max_bytes", "Bound of the decision write-ahead log.", registry=r
        )
        self.decision_log_lag = Gauge(
            "kubegate_decision_log_sink_lag_bytes",
            "Bytes of the log a sink has not received yet.",
            ["sink"],
            registry=r,
        )
        self.decision_log_dropped = Counter(
            "kubegate_decision_log_dropped_records",
            "Records deleted unshipped to keep the log under its bound (policy drop_oldest).",
            registry=r,
        )
        self.decision_log_damaged = Gauge(
            "kubegate_decision_log_damaged_bytes",
            "Bytes of the decision log that failed their checksum (kept on disk, not shipped).",
            registry=r,
        )
        self.decision_log_refused = Counter(
            "kubegate_decision_log_refused",
            "Requests denied because their decision record could not be written (log full, policy fail_closed/block).",
            registry=r,
        )
        self._lookups = 0
        self._hits = 0
        self._dropped_seen = 0
        self.policy_suspect_changes = Counter(
            "kubegate_policy_suspect_changes",
            "Changed policy files held back because they lost every rule (likely read while being rewritten).",
            registry=r,
        )
        self.policy_suspect_files = Gauge(
            "kubegate_policy_suspect_files", "Policy files held back at their last good version now.", registry=r
        )

    def admission(self, decision: str, operation: str, kind: str) -> None:
        """Counts one answered request; ``kind`` values past the first 500 seen or
        longer than 63 characters (and operations that are not Kubernetes
        operations) count as ``other``: bounded in number and in bytes."""
        if len(kind) > _MAX_KIND_CHARS:
            kind = "other"
        elif kind not in self._kinds:
            if len(self._kinds) < _MAX_KINDS:
                self._kinds.add(kind)
            else:
                kind = "other"
        self.requests.labels(decision, operation if operation in _OPERATIONS else "other", kind).inc()

    def cache_lookup(self, tier: str | None) -> None:
        """Records a cache lookup: ``tier`` is where it hit, ``None`` for a miss."""
        self._lookups += 1
        if tier is None:
            self.cache_misses.inc()
        else:
            self._hits += 1
            self.cache_hits.labels(tier).inc()
        self.cache_hit_ratio.set(self._hits / self._lookups)

    def policy_update(self, outcome: Any) -> None:
        """Counts a policy update (a :class:`~kubegate.lifecycle.manager.ApplyOutcome`)."""
        self.reloads.labels(outcome.result).inc()
        if outcome.result in ("applied", "partial"):
            self.activation.observe(outcome.duration_ms / 1000)
        snapshot = getattr(outcome, "snapshot", None)
        if snapshot is not None:
            self.policies_loaded.set(len(snapshot.latest.policies))
            self.policy_load_errors.set(len(snapshot.latest.errors))
            self.policy_set_sequence.set(snapshot.sequence)

    def certificate_reloaded(self, not_after: datetime) -> None:
        self.certificate_reloads.inc()
        self.certificate_expiry.set(not_after.timestamp())

    def decision_logged(self, mode: str, redactions: dict[str, int]) -> None:
        """Counts a decision record and what was redacted from it."""
        self.decision_log_records.labels(mode).inc()
        for rule, n in redactions.items():
            self.decision_log_redactions.labels(rule).inc(n)

    def decision_log_state(self, logger: Any) -> None:
        """Refreshes the gauges of a :class:`~kubegate.audit.logger.DecisionLogger` (at scrape time)."""
        wal = logger.wal
        self.decision_log_bytes.set(wal.size_bytes())
        self.decision_log_bound.set(wal.max_bytes)
        self.decision_log_damaged.set(sum(d.size for d in wal.damaged))
        for shipper in logger.shippers:
            self.decision_log_lag.labels(shipper.sink.name).set(wal.pending_bytes(shipper.sink.name))
        if wal.dropped > self._dropped_seen:
            self.decision_log_dropped.inc(wal.dropped - self._dropped_seen)
            self._dropped_seen = wal.dropped

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
