"""``kubegate goproxy serve``: the proxy on uvicorn, with the webhook's TLS code.

HTTPS uses :func:`kubegate.webhook.tls.apply_tls_policy` (TLS 1.2+, AEAD
suites) and :class:`~kubegate.webhook.tls.CertificateReloader` (rotation
without restart); a client CA bundle turns on mutual TLS
(``CERT_REQUIRED``). Storage is a directory or an S3 bucket
(``s3://bucket/prefix``, :mod:`kubegate.goproxy.s3storage`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette

from kubegate.audit.logger import DecisionLogger, LogSettings
from kubegate.audit.tracing import TraceExporter
from kubegate.errors import UsageError
from kubegate.goproxy.app import SumdbSettings, create_app
from kubegate.goproxy.audit import BUILTIN_POLICY, LicenseGate, build_engine
from kubegate.goproxy.metrics import GoproxyMetrics
from kubegate.goproxy.service import ModuleProxy
from kubegate.goproxy.storage import LocalStorage, Storage
from kubegate.goproxy.tracing import ProxyTracing
from kubegate.goproxy.upstream import Upstream, UpstreamSettings
from kubegate.goproxy.vault import Vault
from kubegate.webhook.tls import CertificateReloader, TlsPolicy, apply_tls_policy

__all__ = [
    "GoproxyConfig",
    "build_app",
    "build_proxy",
    "build_server",
    "open_storage",
    "tls_context",
    "uvicorn_config",
]


@dataclass(frozen=True)
class GoproxyConfig:
    """What ``kubegate goproxy serve`` is given (see ``kubegate goproxy serve --help``)."""

    storage: str = "./goproxy-vault"
    upstreams: tuple[str, ...] = ()
    host: str = "127.0.0.1"
    port: int = 8081
    policies: tuple[str, ...] = ()
    license_policies: tuple[str, ...] = (BUILTIN_POLICY,)
    parameters: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    license_check: bool = True
    decision_log: str | None = None
    decision_log_mode: str = "strict"
    cert_file: str | None = None
    key_file: str | None = None
    client_ca_file: str | None = None
    sumdb_name: str = ""
    sumdb_url: str = ""
    s3_endpoint: str | None = None
    exception_contact: str = ""
    upstream_timeout_s: float = 60.0
    upstream_retries: int = 2
    trace_exporter: TraceExporter = "none"
    trace_endpoint: str | None = None


def open_storage(spec: str, s3_endpoint: str | None = None) -> Storage:
    """A directory path, or ``s3://bucket[/prefix]`` (credentials from the usual AWS variables).

    Raises:
        StorageError: the store cannot be opened.
    """
    if spec.startswith("s3://"):
        from kubegate.goproxy.s3storage import S3Storage

        bucket, _, prefix = spec[len("s3://") :].partition("/")
        return S3Storage(bucket, prefix, endpoint_url=s3_endpoint)
    return LocalStorage(spec)


def build_proxy(
    config: GoproxyConfig,
    decision_log: DecisionLogger | None = None,
    on_fetch: Callable[[str], None] | None = None,
    tracing: ProxyTracing | None = None,
) -> ModuleProxy:
    """The gateway of ``config`` (engine, gate, vault, upstream).

    Raises:
        ErrorList: a policy that does not load; UsageError: an unknown license policy id.
    """
    gate = None
    if config.license_check:
        engine = build_engine(
            config.policies, config.parameters, tracing=tracing.tracing if tracing is not None else None
        )
        kwargs = {"exception_contact": config.exception_contact} if config.exception_contact else {}
        gate = LicenseGate(engine, config.license_policies, decision_log, **kwargs)
    upstream = Upstream(
        UpstreamSettings(config.upstreams, read_timeout_s=config.upstream_timeout_s, retries=config.upstream_retries)
    )
    vault = Vault(open_storage(config.storage, config.s3_endpoint))
    return ModuleProxy(vault, upstream, gate, on_fetch, tracing)


def build_app(
    config: GoproxyConfig,
    decision_log_dir: str | None,
    ssl_context: Callable[[], ssl.SSLContext | None] = lambda: None,
) -> Starlette:
    """The application of one serving process: its gateway, metrics, decision log
    (in ``decision_log_dir``), spans, and the certificate reloader of the context
    ``ssl_context()`` returns once serving starts (``None``: plain HTTP).

    Raises:
        See :func:`build_proxy`; UsageError: ``invalid_trace_exporter``.
    """
    decision_log = (
        DecisionLogger(LogSettings(decision_log_dir, mode=config.decision_log_mode))  # type: ignore[arg-type]
        if decision_log_dir
        else None
    )
    tracing = ProxyTracing(config.trace_exporter, config.trace_endpoint) if config.trace_exporter != "none" else None
    metrics = GoproxyMetrics()
    proxy = build_proxy(config, decision_log, lambda result: metrics.upstream.labels(result).inc(), tracing)
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []

    @contextlib.asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        context = ssl_context()
        if context is not None and config.cert_file and config.key_file:
            reloader = CertificateReloader(context, config.cert_file, config.key_file, config.client_ca_file)
            tasks.append(asyncio.create_task(reloader.watch(stop)))
        try:
            yield
        finally:
            stop.set()
            for task in tasks:
                task.cancel()
            if decision_log is not None:
                decision_log.close()
            if tracing is not None:
                tracing.shutdown()

    sumdb = SumdbSettings(config.sumdb_name, config.sumdb_url)
    return create_app(proxy, metrics, sumdb, lifespan=lifespan, tracing=tracing)


def tls_context(_: uvicorn.Config, default: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
    """uvicorn's ``ssl_context_factory``: its context with the webhook's TLS policy."""
    return apply_tls_policy(default(), TlsPolicy())


def uvicorn_config(config: GoproxyConfig, app: Any, **kwargs: Any) -> uvicorn.Config:
    """The uvicorn settings of ``config`` for ``app`` (an ASGI app or an import string)."""
    return uvicorn.Config(
        app,
        host=config.host,
        port=config.port,
        ssl_certfile=config.cert_file,
        ssl_keyfile=config.key_file,
        ssl_ca_certs=config.client_ca_file,
        ssl_cert_reqs=ssl.CERT_REQUIRED if config.client_ca_file else ssl.CERT_NONE,
        ssl_context_factory=tls_context if config.cert_file else None,
        log_config=None,
        access_log=False,
        server_header=False,
        lifespan="on",
        timeout_graceful_shutdown=10,
        **kwargs,
    )


def build_server(config: GoproxyConfig) -> uvicorn.Server:
    """The configured server of one process (``.run()`` serves until SIGTERM/SIGINT);
    :func:`kubegate.goproxy.workers.serve` runs several.

    Raises:
        UsageError: ``tls_files_invalid``; see :func:`build_app`.
    """
    holder: list[uvicorn.Config] = []
    app = build_app(config, config.decision_log, lambda: holder[0].ssl if holder else None)
    uv_config = uvicorn_config(config, app)
    try:
        uv_config.load()
    except (OSError, ssl.SSLError) as exc:
        raise UsageError(f"cannot load the TLS files: {exc}", code="tls_files_invalid") from None
    holder.append(uv_config)
    return uvicorn.Server(uv_config)
