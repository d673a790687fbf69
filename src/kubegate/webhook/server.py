"""``kubegate serve``: the webhook application on uvicorn, with TLS and certificate rotation.

uvicorn was chosen over granian by measurement (docs/performance.md, "HTTP
server"): as fast or faster with one worker on this workload, and it serves
from a Python ``ssl.SSLContext`` that kubegate can reload in place, which
certificate rotation without restart needs.

The transport is hardened against hostile clients (header, body, idle and
TLS handshake timeouts, a head size limit, a connection cap:
:mod:`kubegate.webhook.transport`; AEAD-only TLS 1.2+, :mod:`kubegate.webhook.tls`),
and ``/healthz``, ``/readyz`` and ``/metrics`` can be served on a second,
plain-HTTP port (``health_addr``) by a second uvicorn server in the same
event loop, for the kubelet and Prometheus when the admission port requires
client certificates. See docs/reliability.md, "Transport limits".
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import logging
import ssl
import sys
import threading
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

import uvicorn

from kubegate.audit.logger import DecisionLogger, LogSettings
from kubegate.audit.redact import redactor_for
from kubegate.audit.sinks import Sink, SinkError, parse_sink
from kubegate.audit.tracing import TraceExporter, Tracing
from kubegate.dsl.schema import DEFAULT_KUBERNETES_VERSION
from kubegate.engine.backends import BACKENDS, DEFAULT_BACKEND, make_backend
from kubegate.errors import UsageError
from kubegate.images import VerificationCache, Verifier, load_trust_policy
from kubegate.images.prefetch import ImagePrefetcher
from kubegate.lifecycle.builder import PolicySetBuilder
from kubegate.lifecycle.etcd import EtcdSource, EtcdStore
from kubegate.lifecycle.local import DirectorySource
from kubegate.lifecycle.manager import ApplyOutcome, PolicyManager
from kubegate.policy.documents import iter_input_files, load_file
from kubegate.policy.inventory import Inventory
from kubegate.webhook.app import Readiness, create_app, create_probe_app
from kubegate.webhook.denylist import load_deny_list
from kubegate.webhook.logs import configure_logging
from kubegate.webhook.metrics import WebhookMetrics
from kubegate.webhook.pool import default_workers
from kubegate.webhook.service import AdmissionService, WebhookSettings
from kubegate.webhook.tls import CertificateReloader, TlsPolicy, apply_tls_policy, certificate_not_after
from kubegate.webhook.transport import TransportLimits, TransportServer, limited_protocol

__all__ = ["HeapSettler", "ServeConfig", "build_server", "parse_address", "settle_heap"]

_log = logging.getLogger("kubegate.webhook")


@dataclass(frozen=True)
class ServeConfig:
    """Everything ``kubegate serve`` is told.

    Attributes:
        policies: policy directories or files.
        builtin: load the built-in library.
        expansion: add kubegate's built-in ExpansionTemplates, so a workload's
            Pods are reviewed when the workload is admitted.
        template_engine: ``rego`` or ``cel``, for templates with both engines.
        parameters: per policy id, parameter overrides.
        inventory: files or directories of objects for ``data.inventory``
            (Namespaces for ``namespaceSelector``, Services, Ingresses...).
        host, port: where to listen.
        cert_file, key_file: the serving certificate (PEM); required unless
            ``insecure_http``.
        client_ca_file: CA bundle for mutual TLS; clients without a
            certificate it signed are refused during the handshake.
        insecure_http: serve plain HTTP (only behind a TLS-terminating proxy).
        deny_list: a DenyList file (fast-reject rules).
        image_policy: an image trust policy file (docs/images.md): images are
            verified before evaluation when the policy set calls
            ``kubegate.image.verify`` (Secrets it names are read from ``inventory``).
        strict: a policy set with any load error is not served (the server
            stays not ready) instead of serving the policies that loaded.
        kubernetes_version: the API version DSL rules are checked against.
        backend: the Rego backend's name (:data:`~kubegate.engine.backends.BACKENDS`).
        watch: reload when the policy directories (or the etcd prefix) change.
        etcd_url, etcd_prefix: take the policy set from etcd instead of
            directories (``kubegate push`` writes it there).
        max_staleness_s, not_ready_when_stale: see :class:`~kubegate.webhook.app.Readiness`.
        settings: the decision path's tuning.
        log_level: ``debug``, ``info``, ``warning``, ``error``.
        decision_log: where and how decisions are recorded (``None``: not recorded).
        decision_sinks: where records are shipped (``file:PATH``, ``http(s)://…``, ``kafka:HOST:PORT/TOPIC``).
        redaction_config: a redaction config file (default: every built-in detector, no masks).
        trace_exporter: ``none``, ``console`` or ``otlp``; ``trace_endpoint`` for ``otlp``.
        limits: timeouts, head size and connection cap of both ports.
        tls: TLS minimum version and TLS 1.2 cipher suites.
        health_addr: ``HOST:PORT`` (``:PORT`` for every address) of a
            plain-HTTP port serving only ``/healthz``, ``/readyz`` and
            ``/metrics`` (``None``: no such port; they stay on the admission
            port either way).
        companions: started with the server, each awaited as
            ``companion(service, stop)`` with the decision path and the event
            set at shutdown (``--grpc-port``: :class:`kubegate.grpc.server.GrpcCompanion`).
        update_listeners: called with every policy update after the metrics
            (the gRPC gate's activations).
    """

    policies: tuple[str, ...] = ()
    builtin: bool = True
    expansion: bool = True
    template_engine: str = "rego"
    parameters: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    inventory: tuple[str, ...] = ()
    host: str = "0.0.0.0"
    port: int = 8443
    cert_file: str | None = None
    key_file: str | None = None
    client_ca_file: str | None = None
    insecure_http: bool = False
    deny_list: str | None = None
    image_policy: str | None = None
    strict: bool = False
    kubernetes_version: str = DEFAULT_KUBERNETES_VERSION
    backend: str = DEFAULT_BACKEND
    watch: bool = True
    etcd_url: str | None = None
    etcd_prefix: str = "/kubegate/policies/"
    max_staleness_s: float = 60.0
    not_ready_when_stale: bool = False
    settings: WebhookSettings = field(default_factory=WebhookSettings)
    log_level: str = "info"
    decision_log: LogSettings | None = None
    decision_sinks: tuple[str, ...] = ()
    redaction_config: str | None = None
    trace_exporter: TraceExporter = "none"
    trace_endpoint: str | None = None
    limits: TransportLimits = field(default_factory=TransportLimits)
    tls: TlsPolicy = field(default_factory=TlsPolicy)
    health_addr: str | None = None
    companions: tuple[Callable[[AdmissionService, asyncio.Event], Coroutine[Any, Any, None]], ...] = ()
    update_listeners: tuple[Callable[[ApplyOutcome], None], ...] = ()

    def check(self) -> None:
        """Raises :class:`UsageError` for combinations that cannot work."""
        if self.insecure_http:
            if self.cert_file or self.key_file or self.client_ca_file:
                raise UsageError("--insecure-http cannot be combined with --tls-cert, --tls-key or --client-ca")
        elif not (self.cert_file and self.key_file):
            raise UsageError(
                "serving needs --tls-cert and --tls-key (create a development pair with `kubegate cert`), "
                "or --insecure-http to serve plain HTTP behind a TLS-terminating proxy"
            )
        if self.backend not in BACKENDS:
            raise UsageError(f"--backend {self.backend!r}: choose from {', '.join(BACKENDS)}", code="unknown_backend")
        if self.etcd_url and self.policies:
            raise UsageError("--policies and --etcd are two policy sources; use one")
        if self.decision_sinks and self.decision_log is None:
            raise UsageError("--decision-log-sink needs --decision-log DIR (records are shipped from that log)")
        if self.decision_log is not None:
            self.decision_log.check()
        s = self.settings
        workers_ok = s.workers is None or s.workers >= 1
        if not workers_ok or s.queue_size < 0 or s.max_evaluation_time_ms <= 0 or s.cache_ttl_s < 0:
            raise UsageError("--workers must be >= 1, --max-queue >= 0, --max-evaluation-time > 0, --cache-ttl >= 0")
        if not (0 <= s.cache_refresh_window < 1 and 0 <= s.cache_ttl_jitter < 1):
            raise UsageError("--cache-refresh-window and --cache-ttl-jitter must be fractions in [0, 1)")
        self.limits.check()
        try:
            self.tls.check()
        except ValueError as exc:
            raise UsageError(f"--tls-ciphers/--tls-min-version: {exc}") from None
        if self.health_addr is not None:
            host, port = parse_address(self.health_addr)
            wildcard = {"0.0.0.0", "::"}
            if port == self.port != 0 and (host == self.host or host in wildcard or self.host in wildcard):
                raise UsageError(f"--health-addr {self.health_addr} is the admission port")


def parse_address(addr: str) -> tuple[str, int]:
    """``HOST:PORT``, ``:PORT`` (every IPv4 address) or ``[IPv6]:PORT`` as ``(host, port)``.

    Raises:
        UsageError: no port, or a port out of range.
    """
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise UsageError(f"--health-addr {addr!r}: expected HOST:PORT or :PORT")
    host = host.removeprefix("[").removesuffix("]") or "0.0.0.0"
    return host, int(port)


def _load_inventory(paths: tuple[str, ...]) -> list[dict[str, Any]]:
    return [d.obj for f in iter_input_files(paths) for d in load_file(f)]


def build_decision_logger(
    settings: LogSettings, sinks: tuple[str, ...], redaction_config: str | None, metrics: WebhookMetrics
) -> DecisionLogger:
    """The decision logger of a server, counted in ``metrics``.

    Raises:
        KubegateError: a bad sink spelling, redaction config or log directory.
    """
    parsed: list[Sink] = [parse_sink(spec) for spec in sinks]
    redactor = redactor_for(redaction_config)

    def shipped(sink: str, n: int) -> None:
        metrics.decision_log_shipped.labels(sink).inc(n)

    def failed(sink: str, _: SinkError) -> None:
        metrics.decision_log_sink_errors.labels(sink).inc()

    def recorded(counts: dict[str, int]) -> None:
        metrics.decision_logged(settings.mode, counts)

    return DecisionLogger(settings, parsed, redactor, on_record=recorded, on_shipped=shipped, on_sink_error=failed)


#: How long a thread may keep the GIL while another waits for it (``sys.setswitchinterval``).
GIL_SWITCH_INTERVAL_S = 0.0001


def settle_heap() -> None:
    """Collects the garbage left by the policy sets just replaced, then moves every
    object the garbage collector tracks (modules, the policy set in force) into its
    permanent generation, which no collection walks again.

    A full collection walks every tracked object with the GIL held: about 100,000
    after loading, 20-90 ms on the reference machine, measured about once per 20
    requests, the longest pause of the event loop beside evaluations that do not
    hold the GIL long themselves. After this, collections walk only what was
    allocated since. Called once per applied policy set (one full collection
    then): unfreezing first lets it free the cycles of the set replaced (a frozen
    object whose last reference goes is freed anyway).
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


#: Seconds without another applied policy set before :func:`settle_heap` runs.
#: The new set answers first: a full collection holds the GIL for 20-90 ms,
#: and run in the applying thread it delayed every activation by as much
#: (etcd source, 3 replicas: activation p50 240 ms with it, 86 ms deferred);
#: a burst of updates is settled once, after it.
SETTLE_DELAY_S = 2.0


class HeapSettler:
    """Runs :func:`settle_heap` once policy-set updates have been quiet for
    :data:`SETTLE_DELAY_S` seconds, on a timer thread."""

    def __init__(self, delay_s: float = SETTLE_DELAY_S) -> None:
        self.delay_s = delay_s
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def request(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(self.delay_s, settle_heap)
            self._timer.daemon = True
            self._timer.start()


def _image_prefetcher(config: ServeConfig, settings: WebhookSettings) -> ImagePrefetcher:
    """The verifier of ``--image-policy`` (its cache shares ``--redis``).

    Raises:
        KubegateError: the trust policy file (``trust_policy_invalid`` ...).
    """
    assert config.image_policy is not None
    trust = load_trust_policy(config.image_policy, Inventory.from_objects(_load_inventory(config.inventory)).data)
    cache = VerificationCache(redis_url=settings.redis_url)
    verifier = Verifier(trust, cache=cache, workers=settings.image_verification_workers)
    return ImagePrefetcher(verifier, settings.image_verification_timeout_ms, settings.failure_mode)


async def load_policies(
    config: ServeConfig, manager: PolicyManager, stop: asyncio.Event, etcd: list[EtcdSource]
) -> None:
    """Loads the policy set from etcd (and follows it) or from the policy directories (and
    watches them until ``stop``); an etcd source is appended to ``etcd`` for shutdown.
    Shared by the webhook and the gRPC gate."""
    if config.etcd_url:
        source = EtcdSource(manager, EtcdStore(config.etcd_url, config.etcd_prefix))
        etcd.append(source)
        await asyncio.to_thread(source.load)
        if config.watch:
            source.start()
        return
    directories = DirectorySource(manager, config.policies)
    await asyncio.to_thread(directories.load)
    if config.watch and config.policies:
        await directories.watch(stop)


def build_server(config: ServeConfig) -> TransportServer:
    """The configured uvicorn server (call ``.run()`` to serve until SIGTERM/SIGINT).

    With ``health_addr``, the probe port's server runs in the same event loop
    and stops with it (SIGTERM: the admission port drains, then both stop).

    Raises:
        UsageError: see :meth:`ServeConfig.check`.
        KubegateError: unreadable deny list, inventory or certificate files.
    """
    config.check()
    configure_logging(config.log_level)
    # Evaluation threads of the compiled backend hold the GIL while they work;
    # a short switch interval keeps the event loop (time-outs, parsing,
    # answers) responsive beside them (see kubegate.webhook.pool).
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    deny_list = load_deny_list(config.deny_list) if config.deny_list else None
    inventory = Inventory.from_objects(_load_inventory(config.inventory))
    metrics = WebhookMetrics()
    builder = PolicySetBuilder(
        make_backend(config.backend),
        builtin=config.builtin,
        expansion=config.expansion,
        template_engine=config.template_engine,
        parameters=config.parameters,
        kubernetes_version=config.kubernetes_version,
        inventory=inventory,
    )

    settler = HeapSettler()
    first = [True]

    def updated(outcome: ApplyOutcome) -> None:
        metrics.policy_update(outcome)
        for listener in config.update_listeners:
            listener(outcome)
        if outcome.result in ("applied", "partial"):
            if first[0]:
                # The first set is applied before the server is ready: settle now,
                # not 2 s later in the middle of the first requests.
                first[0] = False
                settle_heap()
            else:
                settler.request()

    manager = PolicyManager(
        builder, strict=config.strict, on_update=updated, on_suspect=metrics.policy_suspect_changes.inc
    )
    metrics.policy_suspect_files.set_function(lambda: len(manager.suspects))
    tracing = (
        Tracing(config.trace_exporter, config.trace_endpoint, service_name="kubegate-webhook")
        if config.trace_exporter != "none"
        else None
    )
    decision_log = (
        build_decision_logger(config.decision_log, config.decision_sinks, config.redaction_config, metrics)
        if config.decision_log is not None
        else None
    )
    settings = config.settings
    if settings.workers is None:
        settings = dataclasses.replace(settings, workers=default_workers(config.backend))
    images = _image_prefetcher(config, settings) if config.image_policy else None
    service = AdmissionService(settings, metrics, manager, deny_list, decision_log, tracing, images=images)
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []
    reloader: list[CertificateReloader] = []
    etcd: list[EtcdSource] = []
    servers: list[TransportServer] = []

    async def on_startup() -> None:
        tasks.append(asyncio.create_task(load_policies(config, manager, stop, etcd)))
        for companion in config.companions:
            tasks.append(asyncio.create_task(companion(service, stop)))
        if reloader:
            tasks.append(asyncio.create_task(reloader[0].watch(stop)))

    async def on_shutdown() -> None:
        for server in servers:  # the probe port closes before the service it reports on
            await server.stop_companions()
        stop.set()
        for source in etcd:
            await asyncio.to_thread(source.stop)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        manager.hooks.close()

    readiness = Readiness(config.max_staleness_s, config.not_ready_when_stale)
    app = create_app(service, on_startup, on_shutdown, readiness)
    transport: dict[str, Any] = {
        # httptools pinned: the limits are hooked into its parser callbacks (see transport.py).
        "http": limited_protocol(config.limits),
        "ws": "none",
        "limit_concurrency": config.limits.limit_concurrency,
        "log_config": None,
        "access_log": False,
        "server_header": False,
        "timeout_graceful_shutdown": 10,
    }
    tls = config.tls

    def tls_context(_: uvicorn.Config, default: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
        return apply_tls_policy(default(), tls)

    uv_config = uvicorn.Config(
        app,
        host=config.host,
        port=config.port,
        ssl_certfile=config.cert_file,
        ssl_keyfile=config.key_file,
        ssl_ca_certs=config.client_ca_file,
        ssl_cert_reqs=ssl.CERT_REQUIRED if config.client_ca_file else ssl.CERT_NONE,
        ssl_context_factory=tls_context if config.cert_file else None,
        lifespan="on",
        **transport,
    )
    companions: list[uvicorn.Config] = []
    if config.health_addr is not None:
        health_host, health_port = parse_address(config.health_addr)
        probe_app = create_probe_app(service, readiness)
        companions.append(uvicorn.Config(probe_app, host=health_host, port=health_port, lifespan="off", **transport))
    try:
        uv_config.load()
    except (OSError, ssl.SSLError) as exc:
        if decision_log is not None:
            decision_log.close()
        raise UsageError(f"cannot load the TLS files: {exc}", code="tls_files_invalid") from None
    if uv_config.ssl is not None and config.cert_file and config.key_file:
        reloader.append(
            CertificateReloader(
                uv_config.ssl,
                config.cert_file,
                config.key_file,
                config.client_ca_file,
                on_reload=metrics.certificate_reloaded,
                policy=config.tls,
            )
        )
        metrics.certificate_expiry.set(certificate_not_after(config.cert_file).timestamp())
    server = TransportServer(uv_config, config.limits, companions)
    servers.append(server)
    return server
