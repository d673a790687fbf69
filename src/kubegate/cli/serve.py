"""``kubegate serve``: run the validating admission webhook.

Loads the built-in library plus ``--policies`` (as ``check`` does) in the
background after the server starts: ``/readyz`` turns 200 once the policy
set is loaded, ``/validate`` answers per ``--failure-mode`` until then.
Serves HTTPS with ``--tls-cert``/``--tls-key`` (reloaded when they change on
disk), optional mutual TLS with ``--client-ca``; plain HTTP only with
``--insecure-http``. See ``kubegate.webhook`` for the decision path.
"""

from __future__ import annotations

import click

from kubegate.cli.audit import decision_log_options, log_settings
from kubegate.cli.check import load_parameters
from kubegate.dsl.schema import DEFAULT_KUBERNETES_VERSION
from kubegate.webhook.server import ServeConfig, build_server
from kubegate.webhook.service import WebhookSettings

__all__ = ["serve"]


@click.command("serve")
@click.option(
    "--policies", "-p", "policy_dirs", multiple=True, type=click.Path(), help="Policy file or directory (repeatable)."
)
@click.option("--no-builtin", is_flag=True, help="Do not load kubegate's built-in compliance library.")
@click.option(
    "--parameters", "parameters_file", type=click.Path(), help="YAML: policy id -> parameters for plain Rego policies."
)
@click.option(
    "--inventory", multiple=True, type=click.Path(), help="Objects for data.inventory: file or directory (repeatable)."
)
@click.option("--host", default="0.0.0.0", show_default=True, help="Address to listen on.")
@click.option("--port", default=8443, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on.")
@click.option("--tls-cert", type=click.Path(), help="Serving certificate (PEM, chain first); reloaded when it changes.")
@click.option("--tls-key", type=click.Path(), help="Private key of the serving certificate (PEM).")
@click.option("--client-ca", type=click.Path(), help="CA bundle: require client certificates it signed (mutual TLS).")
@click.option("--insecure-http", is_flag=True, help="Serve plain HTTP (only behind a TLS-terminating proxy).")
@click.option(
    "--failure-mode",
    type=click.Choice(["deny", "allow"]),
    default="deny",
    show_default=True,
    help="Answer when policies cannot decide in time (time limit, full queue, errors, not loaded).",
)
@click.option(
    "--max-evaluation-time", default=300.0, show_default=True, type=float, help="Time limit per request, in ms."
)
@click.option("--workers", default=2, show_default=True, type=click.IntRange(min=1), help="Evaluation threads.")
@click.option(
    "--max-queue",
    default=64,
    show_default=True,
    type=click.IntRange(min=0),
    help="Requests that may wait for a worker.",
)
@click.option(
    "--cache-ttl", default=10.0, show_default=True, type=float, help="Decision cache lifetime in seconds (0: off)."
)
@click.option(
    "--cache-size", default=10_000, show_default=True, type=click.IntRange(min=1), help="Decisions kept in memory."
)
@click.option("--redis", "redis_url", help="Shared decision cache, e.g. redis://redis:6379/0.")
@click.option("--deny-list", type=click.Path(), help="DenyList file: fast-reject rules checked before any policy.")
@click.option("--strict", is_flag=True, help="Do not serve a policy set with any load error (stay not ready).")
@click.option("--no-watch", is_flag=True, help="Load the policies once; do not reload when they change.")
@click.option(
    "--etcd", "etcd_url", help="Take the policy set from etcd (http://host:2379), as written by kubegate push."
)
@click.option("--etcd-prefix", default="/kubegate/policies/", show_default=True, help="etcd key prefix.")
@click.option(
    "--max-staleness",
    default=60.0,
    show_default=True,
    type=float,
    help="Seconds of policy-source failure before /readyz reports the policy set stale.",
)
@click.option("--not-ready-when-stale", is_flag=True, help="Answer /readyz with 503 once stale.")
@click.option(
    "--kubernetes-version",
    default=DEFAULT_KUBERNETES_VERSION,
    show_default=True,
    help="Kubernetes API version (major.minor) DSL rules are checked against.",
)
@click.option(
    "--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info", show_default=True
)
@decision_log_options
@click.option(
    "--trace-exporter",
    type=click.Choice(["none", "console", "otlp"]),
    default="none",
    show_default=True,
    help="OpenTelemetry spans per request and per policy evaluation.",
)
@click.option("--trace-endpoint", help="OTLP/HTTP traces URL (default http://localhost:4318/v1/traces).")
def serve(
    policy_dirs: tuple[str, ...],
    no_builtin: bool,
    parameters_file: str | None,
    inventory: tuple[str, ...],
    host: str,
    port: int,
    tls_cert: str | None,
    tls_key: str | None,
    client_ca: str | None,
    insecure_http: bool,
    failure_mode: str,
    max_evaluation_time: float,
    workers: int,
    max_queue: int,
    cache_ttl: float,
    cache_size: int,
    redis_url: str | None,
    deny_list: str | None,
    strict: bool,
    no_watch: bool,
    etcd_url: str | None,
    etcd_prefix: str,
    max_staleness: float,
    not_ready_when_stale: bool,
    kubernetes_version: str,
    log_level: str,
    decision_log: str | None,
    decision_log_mode: str,
    decision_log_fsync: str,
    decision_log_fsync_interval: int,
    decision_log_max_bytes: str,
    decision_log_full_policy: str,
    decision_log_sinks: tuple[str, ...],
    redaction_config: str | None,
    trace_exporter: str,
    trace_endpoint: str | None,
) -> None:
    """Run the validating admission webhook (POST /validate, /healthz, /readyz, /metrics).

    With --decision-log DIR every decision is recorded (redacted) in a
    crash-safe write-ahead log before it is answered, and shipped to the
    --decision-log-sink destinations; see docs/audit.md.
    """
    settings = WebhookSettings(
        failure_mode="allow" if failure_mode == "allow" else "deny",
        max_evaluation_time_ms=max_evaluation_time,
        workers=workers,
        queue_size=max_queue,
        cache_ttl_s=cache_ttl,
        cache_entries=cache_size,
        redis_url=redis_url,
    )
    config = ServeConfig(
        policies=policy_dirs,
        builtin=not no_builtin,
        parameters=load_parameters(parameters_file),
        inventory=inventory,
        host=host,
        port=port,
        cert_file=tls_cert,
        key_file=tls_key,
        client_ca_file=client_ca,
        insecure_http=insecure_http,
        deny_list=deny_list,
        strict=strict,
        watch=not no_watch,
        etcd_url=etcd_url,
        etcd_prefix=etcd_prefix,
        max_staleness_s=max_staleness,
        not_ready_when_stale=not_ready_when_stale,
        kubernetes_version=kubernetes_version,
        settings=settings,
        log_level=log_level,
        decision_log=log_settings(
            decision_log,
            decision_log_mode,
            decision_log_fsync,
            decision_log_fsync_interval,
            decision_log_max_bytes,
            decision_log_full_policy,
            path="kubegate/admission",
        ),
        decision_sinks=decision_log_sinks if decision_log_mode != "off" else (),
        redaction_config=redaction_config,
        trace_exporter="console" if trace_exporter == "console" else "otlp" if trace_exporter == "otlp" else "none",
        trace_endpoint=trace_endpoint,
    )
    build_server(config).run()
