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
from typing import Any

import click

from kubegate.cli.gate_options import gate_config, gate_options
from kubegate.grpc.envoy import DEFAULT_RULE
from kubegate.grpc.server import GrpcConfig, run_gate
from kubegate.webhook.server import ServeConfig
from kubegate.webhook.service import WebhookSettings

__all__ = ["grpc_command"]


@click.command("grpc")
@gate_options
@click.option("--port", default=9443, show_default=True, type=click.IntRange(0, 65535), help="gRPC port.")
@click.option(
    "--insecure-http", "insecure", is_flag=True, help="Serve plaintext gRPC (only behind a TLS-terminating proxy)."
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
@click.option(
    "--cache-ttl", default=10.0, show_default=True, type=click.FloatRange(min=0), help="Decision cache TTL (s)."
)
@click.option(
    "--max-message-bytes",
    default=3 * 1024 * 1024,
    show_default=True,
    type=click.IntRange(min=1024),
    help="Largest request message; larger ones are refused with RESOURCE_EXHAUSTED.",
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
def grpc_command(
    port: int,
    insecure: bool,
    failure_mode: str,
    max_evaluation_time: float,
    workers: int | None,
    cache_ttl: float,
    max_message_bytes: int,
    envoy_rule: str,
    stream_window: int,
    watch_buffer: int,
    watch_slow_after: float,
    **gate: Any,
) -> None:
    """Run the gRPC gate: kubegate.v1.Decisions, kubegate.v1.Policies, Envoy ext_authz, health, reflection."""
    settings = WebhookSettings(
        failure_mode="allow" if failure_mode == "allow" else "deny",
        max_evaluation_time_ms=max_evaluation_time,
        workers=workers,
        queue_size=gate["max_queue"],
        cache_ttl_s=cache_ttl,
        cache_entries=gate["cache_size"],
        redis_url=gate["redis_url"],
        max_body_bytes=max_message_bytes,
    )
    serve = ServeConfig(
        **gate_config(gate, record_path="kubegate/grpc/review"),
        insecure_http=insecure,
        settings=settings,
    )
    config = GrpcConfig(
        serve=serve,
        host=gate["host"],
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
