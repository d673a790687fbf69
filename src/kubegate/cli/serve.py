"""``kubegate serve``: run the validating admission webhook.

Loads the built-in library plus ``--policies`` (as ``check`` does) in the
background after the server starts: ``/readyz`` turns 200 once the policy
set is loaded, ``/validate`` answers per ``--failure-mode`` until then.
Serves HTTPS with ``--tls-cert``/``--tls-key`` (reloaded when they change on
disk), optional mutual TLS with ``--client-ca``; plain HTTP only with
``--insecure-http``. ``--health-addr`` adds a plain-HTTP port for
``/healthz``, ``/readyz`` and ``/metrics`` only. The transport limits
(``--header-timeout`` ... ``--max-connections``) and the TLS settings are
described in docs/reliability.md, "Transport limits". See
``kubegate.webhook`` for the decision path.
"""

from __future__ import annotations

import click

from kubegate.cli.audit import decision_log_options, log_settings
from kubegate.cli.inputs import load_parameters
from kubegate.cli.options import backend_option, template_engine_option
from kubegate.dsl.schema import DEFAULT_KUBERNETES_VERSION
from kubegate.grpc.server import GrpcCompanion, GrpcConfig
from kubegate.webhook.server import ServeConfig, build_server
from kubegate.webhook.service import WebhookSettings
from kubegate.webhook.tls import INTERMEDIATE_TLS12_CIPHERS, TlsPolicy
from kubegate.webhook.transport import TransportLimits

__all__ = ["serve"]


@click.command("serve")
@click.option(
    "--policies", "-p", "policy_dirs", multiple=True, type=click.Path(), help="Policy file or directory (repeatable)."
)
@click.option("--no-builtin", is_flag=True, help="Do not load kubegate's built-in compliance library.")
@template_engine_option
@click.option(
    "--no-expansion",
    is_flag=True,
    help="Do not review the Pods and Jobs of admitted workloads with kubegate's built-in ExpansionTemplates.",
)
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
    "--tls-min-version",
    type=click.Choice(["1.2", "1.3"]),
    default="1.2",
    show_default=True,
    help="Oldest TLS version accepted.",
)
@click.option(
    "--tls-ciphers",
    default=INTERMEDIATE_TLS12_CIPHERS,
    show_default="Mozilla intermediate: ECDHE/DHE with AES-GCM or ChaCha20-Poly1305",
    help="TLS 1.2 cipher suites (OpenSSL cipher string); TLS 1.3 suites are all AEAD and fixed.",
)
@click.option(
    "--health-addr",
    metavar="HOST:PORT",
    help="Also serve /healthz, /readyz and /metrics (only those) over plain HTTP here, e.g. :9090. Default: off.",
)
@click.option(
    "--grpc-port",
    type=click.IntRange(0, 65535),
    help="Also serve the gRPC gate (docs/grpc.md) on this port: the same decision path and TLS files. Default: off.",
)
@click.option(
    "--header-timeout",
    default=10.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds for a whole request head to arrive (from connection start or the previous response); else 408.",
)
@click.option(
    "--body-timeout",
    default=30.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds for a whole request body to arrive after its head; else 408.",
)
@click.option(
    "--idle-timeout",
    default=5.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds a connection may send nothing (new or kept alive) before it is closed.",
)
@click.option(
    "--tls-handshake-timeout",
    default=10.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds for the TLS handshake (and the closing handshake).",
)
@click.option(
    "--max-connections",
    default=1000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Open connections per port; one more is answered 503 and closed at once.",
)
@click.option(
    "--max-header-bytes",
    default=16 * 1024,
    show_default=True,
    type=click.IntRange(min=1024),
    help="Largest request head (request line and headers), in bytes; larger gets 431.",
)
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
@click.option(
    "--workers",
    default=None,
    type=click.IntRange(min=1),
    help="Evaluation threads [default: 1 with the compiled backend, which holds the GIL; 2 with regopy].",
)
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
@click.option(
    "--cache-refresh-window",
    default=0.2,
    show_default=True,
    type=click.FloatRange(0, 1, max_open=True),
    help="Last fraction of a cached decision's lifetime in which a hit re-evaluates it in the background (0: off).",
)
@click.option(
    "--cache-ttl-jitter",
    default=0.1,
    show_default=True,
    type=click.FloatRange(0, 1, max_open=True),
    help="Each cached decision lives the TTL times 1 +/- up to this fraction, at random (0: exact).",
)
@click.option("--redis", "redis_url", help="Shared decision cache, e.g. redis://redis:6379/0.")
@click.option(
    "--image-policy",
    type=click.Path(),
    help="Image trust policy file (docs/images.md): verify images before evaluation for kubegate.image.verify.",
)
@click.option(
    "--image-verification-timeout",
    default=2000.0,
    show_default=True,
    type=click.FloatRange(0, min_open=True),
    help="Milliseconds one request's image verifications may take; past it the failure mode applies to them.",
)
@click.option(
    "--image-verification-workers",
    default=4,
    show_default=True,
    type=click.IntRange(1),
    help="Threads verifying images (apart from the evaluation workers).",
)
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
    help="Kubernetes version (major.minor) for DSL rules and the CEL environment.",
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
@backend_option
def serve(
    policy_dirs: tuple[str, ...],
    no_builtin: bool,
    no_expansion: bool,
    template_engine: str,
    parameters_file: str | None,
    inventory: tuple[str, ...],
    host: str,
    port: int,
    tls_cert: str | None,
    tls_key: str | None,
    client_ca: str | None,
    insecure_http: bool,
    tls_min_version: str,
    tls_ciphers: str,
    health_addr: str | None,
    grpc_port: int | None,
    header_timeout: float,
    body_timeout: float,
    idle_timeout: float,
    tls_handshake_timeout: float,
    max_connections: int,
    max_header_bytes: int,
    failure_mode: str,
    max_evaluation_time: float,
    workers: int | None,
    max_queue: int,
    cache_ttl: float,
    cache_size: int,
    cache_refresh_window: float,
    cache_ttl_jitter: float,
    redis_url: str | None,
    image_policy: str | None,
    image_verification_timeout: float,
    image_verification_workers: int,
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
    backend: str,
) -> None:
    """Run the validating admission webhook (POST /validate, /healthz, /readyz, /metrics).

    Slow or idle clients are closed by the --*-timeout options, connections
    beyond --max-connections are refused at once; --health-addr serves the
    probes and metrics over plain HTTP for the kubelet and Prometheus when
    --client-ca requires client certificates on the admission port.

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
        cache_refresh_window=cache_refresh_window,
        cache_ttl_jitter=cache_ttl_jitter,
        redis_url=redis_url,
        image_verification_timeout_ms=image_verification_timeout,
        image_verification_workers=image_verification_workers,
    )
    companion = (
        GrpcCompanion(
            GrpcConfig(
                serve=ServeConfig(
                    cert_file=tls_cert, key_file=tls_key, client_ca_file=client_ca, insecure_http=insecure_http
                ),
                host=host,
                port=grpc_port,
            )
        )
        if grpc_port is not None
        else None
    )
    config = ServeConfig(
        policies=policy_dirs,
        builtin=not no_builtin,
        expansion=not no_expansion,
        template_engine=template_engine,
        parameters=load_parameters(parameters_file),
        inventory=inventory,
        host=host,
        port=port,
        cert_file=tls_cert,
        key_file=tls_key,
        client_ca_file=client_ca,
        insecure_http=insecure_http,
        deny_list=deny_list,
        image_policy=image_policy,
        strict=strict,
        watch=not no_watch,
        etcd_url=etcd_url,
        etcd_prefix=etcd_prefix,
        max_staleness_s=max_staleness,
        not_ready_when_stale=not_ready_when_stale,
        kubernetes_version=kubernetes_version,
        backend=backend,
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
        limits=TransportLimits(
            header_timeout_s=header_timeout,
            body_timeout_s=body_timeout,
            idle_timeout_s=idle_timeout,
            handshake_timeout_s=tls_handshake_timeout,
            max_connections=max_connections,
            max_header_bytes=max_header_bytes,
        ),
        tls=TlsPolicy(ciphers=tls_ciphers, min_version="1.3" if tls_min_version == "1.3" else "1.2"),
        health_addr=health_addr,
        companions=(companion,) if companion else (),
        update_listeners=(companion.updated,) if companion else (),
    )
    build_server(config).run()
