"""``kubegate grpc``: run the gRPC gate (Decisions, Policies watch, Envoy ext_authz; docs/grpc.md).

The same policy sources, decision path and decision log as ``kubegate
serve``, on a gRPC port: ``--tls-cert``/``--tls-key`` (reloaded when they
change), ``--client-ca`` for mutual TLS, ``--insecure-http`` for plaintext
behind a TLS-terminating proxy. ``--health-addr`` serves the webhook's
``/healthz``, ``/readyz`` and ``/metrics`` over plain HTTP. SIGTERM and
SIGINT drain calls (5 s) and stop. See :mod:`kubegate.grpc.server`.
"""

from __future__ import annotations

import asyncio
import signal

import click

from kubegate.cli.audit import decision_log_options, log_settings
from kubegate.cli.inputs import load_parameters
from kubegate.cli.options import backend_option, template_engine_option
from kubegate.dsl.schema import DEFAULT_KUBERNETES_VERSION
from kubegate.grpc.envoy import DEFAULT_RULE
from kubegate.grpc.server import GrpcConfig, run_gate
from kubegate.webhook.server import ServeConfig
from kubegate.webhook.service import WebhookSettings

__all__ = ["grpc_command"]


@click.command("grpc")
@click.option(
    "--policies", "-p", "policy_dirs", multiple=True, type=click.Path(), help="Policy file or directory (repeatable)."
)
@click.option("--no-builtin", is_flag=True, help="Do not load kubegate's built-in compliance library.")
@template_engine_option
@click.option("--no-expansion", is_flag=True, help="Do not review the Pods of workloads (ExpansionTemplates).")
@click.option(
    "--parameters", "parameters_file", type=click.Path(), help="YAML: policy id -> parameters for plain Rego policies."
)
@click.option(
    "--inventory", multiple=True, type=click.Path(), help="Objects for data.inventory: file or directory (repeatable)."
)
@click.option("--host", default="0.0.0.0", show_default=True, help="Address to listen on.")
@click.option("--port", default=9443, show_default=True, type=click.IntRange(0, 65535), help="gRPC port.")
@click.option("--tls-cert", type=click.Path(), help="Serving certificate (PEM, chain first); reloaded when it changes.")
@click.option("--tls-key", type=click.Path(), help="Private key of the serving certificate (PEM).")
@click.option("--client-ca", type=click.Path(), help="CA bundle: require client certificates it signed (mutual TLS).")
@click.option(
    "--insecure-http", "insecure", is_flag=True, help="Serve plaintext gRPC (only behind a TLS-terminating proxy)."
)
@click.option(
    "--health-addr", metavar="HOST:PORT", help="Also serve /healthz, /readyz and /metrics over plain HTTP here."
)
@click.option(
    "--failure-mode",
    type=click.Choice(["deny", "allow"]),
    default="deny",
    show_default=True,
    help="Answer when no policy set is loaded yet or a policy fails to evaluate.",
)
@click.option(
    "--max-evaluation-time",
    default=300.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Time limit per call in ms (the client's deadline applies when shorter).",
)
@click.option("--workers", default=None, type=click.IntRange(min=1), help="Evaluation threads [default: per backend].")
@click.option("--max-queue", default=64, show_default=True, type=click.IntRange(min=0), help="Calls that may wait.")
@click.option(
    "--cache-ttl", default=10.0, show_default=True, type=click.FloatRange(min=0), help="Decision cache TTL (s)."
)
@click.option("--cache-size", default=10_000, show_default=True, type=click.IntRange(min=1), help="Cached decisions.")
@click.option("--redis", "redis_url", help="Shared decision cache, e.g. redis://redis:6379/0.")
@click.option(
    "--max-message-bytes",
    default=3 * 1024 * 1024,
    show_default=True,
    type=click.IntRange(min=1024),
    help="Largest request message; larger ones are refused with RESOURCE_EXHAUSTED.",
)
@click.option("--deny-list", type=click.Path(), help="DenyList file: fast-reject rules checked before any policy.")
@click.option("--strict", is_flag=True, help="Do not serve a policy set with any load error.")
@click.option("--no-watch", is_flag=True, help="Load the policies once; do not reload when they change.")
@click.option("--etcd", "etcd_url", help="Take the policy set from etcd (http://host:2379).")
@click.option("--etcd-prefix", default="/kubegate/policies/", show_default=True, help="etcd key prefix.")
@click.option(
    "--kubernetes-version",
    default=DEFAULT_KUBERNETES_VERSION,
    show_default=True,
    help="Kubernetes version (major.minor).",
)
@click.option(
    "--envoy-rule", default=DEFAULT_RULE, show_default=True, help="Query deciding Envoy ext_authz Check calls."
)
@click.option(
    "--stream-window", default=8, show_default=True, type=click.IntRange(min=1), help="Reviews in flight per stream."
)
@click.option(
    "--watch-buffer", default=256, show_default=True, type=click.IntRange(min=1), help="Events buffered per watch."
)
@click.option(
    "--watch-slow-after",
    default=10.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds a watch client may leave an event unread before its stream is ended (RESOURCE_EXHAUSTED).",
)
@click.option(
    "--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info", show_default=True
)
@decision_log_options
@backend_option
def grpc_command(
    policy_dirs: tuple[str, ...],
    no_builtin: bool,
    template_engine: str,
    no_expansion: bool,
    parameters_file: str | None,
    inventory: tuple[str, ...],
    host: str,
    port: int,
    tls_cert: str | None,
    tls_key: str | None,
    client_ca: str | None,
    insecure: bool,
    health_addr: str | None,
    failure_mode: str,
    max_evaluation_time: float,
    workers: int | None,
    max_queue: int,
    cache_ttl: float,
    cache_size: int,
    redis_url: str | None,
    max_message_bytes: int,
    deny_list: str | None,
    strict: bool,
    no_watch: bool,
    etcd_url: str | None,
    etcd_prefix: str,
    kubernetes_version: str,
    envoy_rule: str,
    stream_window: int,
    watch_buffer: int,
    watch_slow_after: float,
    log_level: str,
    decision_log: str | None,
    decision_log_mode: str,
    decision_log_fsync: str,
    decision_log_fsync_interval: int,
    decision_log_max_bytes: str,
    decision_log_full_policy: str,
    decision_log_sinks: tuple[str, ...],
    redaction_config: str | None,
    backend: str,
) -> None:
    """Run the gRPC gate: kubegate.v1.Decisions, kubegate.v1.Policies, Envoy ext_authz, health, reflection."""
    settings = WebhookSettings(
        failure_mode="allow" if failure_mode == "allow" else "deny",
        max_evaluation_time_ms=max_evaluation_time,
        workers=workers,
        queue_size=max_queue,
        cache_ttl_s=cache_ttl,
        cache_entries=cache_size,
        redis_url=redis_url,
        max_body_bytes=max_message_bytes,
    )
    serve = ServeConfig(
        policies=policy_dirs,
        builtin=not no_builtin,
        expansion=not no_expansion,
        template_engine=template_engine,
        parameters=load_parameters(parameters_file),
        inventory=inventory,
        cert_file=tls_cert,
        key_file=tls_key,
        client_ca_file=client_ca,
        insecure_http=insecure,
        deny_list=deny_list,
        strict=strict,
        watch=not no_watch,
        etcd_url=etcd_url,
        etcd_prefix=etcd_prefix,
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
            path="kubegate/grpc/review",
        ),
        decision_sinks=decision_log_sinks if decision_log_mode != "off" else (),
        redaction_config=redaction_config,
        health_addr=health_addr,
    )
    config = GrpcConfig(
        serve=serve,
        host=host,
        port=port,
        envoy_rule=envoy_rule,
        stream_window=stream_window,
        watch_buffer=watch_buffer,
        watch_slow_after_s=watch_slow_after,
    )
    serve.check()
    asyncio.run(_main(config))


async def _main(config: GrpcConfig) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await run_gate(config, stop)


if __name__ == "__main__":  # ``python -m kubegate.cli.grpc_cmd grpc ...`` (same as ``kubegate grpc ...``)
    import sys

    arguments = sys.argv[1:]
    grpc_command.main(arguments[1:] if arguments[:1] == ["grpc"] else arguments, prog_name="kubegate grpc")
