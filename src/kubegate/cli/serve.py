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

from typing import Any

import click

from kubegate.cli.gate_options import gate_config, gate_options
from kubegate.grpc.server import GrpcCompanion, GrpcConfig
from kubegate.webhook.server import ServeConfig, build_server
from kubegate.webhook.service import WebhookSettings
from kubegate.webhook.tls import INTERMEDIATE_TLS12_CIPHERS, TlsPolicy
from kubegate.webhook.transport import TransportLimits

__all__ = ["serve"]


@click.command("serve")
@gate_options
@click.option("--port", default=8443, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on.")
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
    "--cache-ttl", default=10.0, show_default=True, type=float, help="Decision cache lifetime in seconds (0: off)."
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
@click.option(
    "--max-staleness",
    default=60.0,
    show_default=True,
    type=float,
    help="Seconds of policy-source failure before /readyz reports the policy set stale.",
)
@click.option("--not-ready-when-stale", is_flag=True, help="Answer /readyz with 503 once stale.")
@click.option(
    "--trace-exporter",
    type=click.Choice(["none", "console", "otlp"]),
    default="none",
    show_default=True,
    help="OpenTelemetry spans per request and per policy evaluation.",
)
@click.option("--trace-endpoint", help="OTLP/HTTP traces URL (default http://localhost:4318/v1/traces).")
def serve(
    insecure_http: bool,
    port: int,
    tls_min_version: str,
    tls_ciphers: str,
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
    cache_ttl: float,
    cache_refresh_window: float,
    cache_ttl_jitter: float,
    image_policy: str | None,
    image_verification_timeout: float,
    image_verification_workers: int,
    max_staleness: float,
    not_ready_when_stale: bool,
    trace_exporter: str,
    trace_endpoint: str | None,
    **gate: Any,
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
        queue_size=gate["max_queue"],
        cache_ttl_s=cache_ttl,
        cache_entries=gate["cache_size"],
        cache_refresh_window=cache_refresh_window,
        cache_ttl_jitter=cache_ttl_jitter,
        redis_url=gate["redis_url"],
        image_verification_timeout_ms=image_verification_timeout,
        image_verification_workers=image_verification_workers,
    )
    companion = (
        GrpcCompanion(
            GrpcConfig(
                serve=ServeConfig(
                    cert_file=gate["tls_cert"],
                    key_file=gate["tls_key"],
                    client_ca_file=gate["client_ca"],
                    insecure_http=insecure_http,
                ),
                host=gate["host"],
                port=grpc_port,
            )
        )
        if grpc_port is not None
        else None
    )
    config = ServeConfig(
        **gate_config(gate, record_path="kubegate/admission"),
        port=port,
        insecure_http=insecure_http,
        image_policy=image_policy,
        max_staleness_s=max_staleness,
        not_ready_when_stale=not_ready_when_stale,
        settings=settings,
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
        companions=(companion,) if companion else (),
        update_listeners=(companion.updated,) if companion else (),
    )
    build_server(config).run()
