"""``kubegate grpc``: the gRPC gate on ``grpc.aio``, assembled from the webhook's parts.

:func:`run_gate` builds what ``kubegate serve`` builds (policy builder and
:class:`~kubegate.lifecycle.manager.PolicyManager`, directory or etcd
source, deny list, decision log, :class:`~kubegate.webhook.service.AdmissionService`
with its cache and bounded pool) from the same :class:`~kubegate.webhook.server.ServeConfig`,
and serves on one port:

* ``kubegate.v1.Decisions`` (:mod:`kubegate.grpc.review`),
* ``kubegate.v1.Policies`` (:mod:`kubegate.grpc.watch`),
* ``envoy.service.auth.v3.Authorization`` (:mod:`kubegate.grpc.envoy`),
* ``grpc.health.v1.Health``: ``""`` and each kubegate service are
  ``NOT_SERVING`` until a policy set is active, then ``SERVING``;
  ``NOT_SERVING`` again while shutting down,
* server reflection (``grpc.reflection.v1alpha``) for grpcurl.

TLS from the webhook's certificate files (:mod:`kubegate.grpc.tls`);
``health_addr`` serves the webhook's plain-HTTP ``/healthz``, ``/readyz``
and ``/metrics`` (the gRPC metrics are on the same registry). Messages
larger than ``settings.max_body_bytes`` are refused by gRPC with
``RESOURCE_EXHAUSTED`` before they are read.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from kubegate.engine.backends import make_backend
from kubegate.errors import UsageError
from kubegate.grpc.decide import Decider
from kubegate.grpc.envoy import DEFAULT_RULE, AuthorizationServicer
from kubegate.grpc.interceptor import GateInterceptor
from kubegate.grpc.metrics import GrpcMetrics
from kubegate.grpc.protos import (
    DECISIONS_SERVICE,
    ENVOY_SERVICE,
    POLICIES_SERVICE,
    external_auth_pb2_grpc,
    review_pb2_grpc,
    watch_pb2_grpc,
)
from kubegate.grpc.review import DecisionsServicer
from kubegate.grpc.tls import ReloadingCredentials
from kubegate.grpc.watch import ActivationHub, PoliciesServicer
from kubegate.lifecycle.builder import PolicySetBuilder
from kubegate.lifecycle.etcd import EtcdSource
from kubegate.lifecycle.manager import ApplyOutcome, PolicyManager
from kubegate.policy.documents import iter_input_files, load_file
from kubegate.policy.inventory import Inventory
from kubegate.webhook.app import Readiness, create_probe_app
from kubegate.webhook.denylist import load_deny_list
from kubegate.webhook.logs import configure_logging
from kubegate.webhook.metrics import WebhookMetrics
from kubegate.webhook.pool import default_workers
from kubegate.webhook.server import (
    GIL_SWITCH_INTERVAL_S,
    HeapSettler,
    ServeConfig,
    build_decision_logger,
    load_policies,
    parse_address,
    settle_heap,
)
from kubegate.webhook.service import AdmissionService

__all__ = ["GrpcCompanion", "GrpcConfig", "build_grpc_server", "run_gate", "serve_grpc"]

_log = logging.getLogger("kubegate.grpc")


@dataclass(frozen=True)
class GrpcConfig:
    """What ``kubegate grpc`` is told.

    Attributes:
        serve: policies, TLS files, decision path, decision log... as for
            ``kubegate serve`` (its ``host``/``port`` are not used: see ``host``, ``port``).
        host, port: where the gRPC server listens (port 0: any free port,
            reported to ``on_started``).
        envoy_rule: the query deciding ext_authz ``Check`` calls.
        stream_window: evaluations in flight per ``ReviewStream``.
        watch_buffer: events buffered per ``WatchPolicyStream``.
        watch_slow_after_s: seconds a watch client may leave one event untaken.
    """

    serve: ServeConfig = field(default_factory=lambda: ServeConfig(insecure_http=True))
    host: str = "0.0.0.0"
    port: int = 9443
    envoy_rule: str = DEFAULT_RULE
    stream_window: int = 8
    watch_buffer: int = 256
    watch_slow_after_s: float = 10.0


async def _set_health(health: HealthServicer, serving: bool) -> None:
    status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
    for name in ("", DECISIONS_SERVICE, POLICIES_SERVICE, ENVOY_SERVICE):
        await health.set(name, status)


def build_grpc_server(
    service: AdmissionService, hub: ActivationHub, config: GrpcConfig
) -> tuple[aio.Server, HealthServicer, GrpcMetrics]:
    """The ``grpc.aio`` server with every service added (no port yet), deciding with ``service``.

    Args:
        service: the decision path (``kubegate serve``'s own, to serve beside the webhook).
        hub: the activations (its :meth:`ActivationHub.updated` must be called by the manager).
        config: the gRPC settings (``config.serve`` is not read).
    """
    metrics = GrpcMetrics(service.metrics.registry)
    decider = Decider(service)
    limit = service.settings.max_body_bytes
    server = aio.server(
        interceptors=[GateInterceptor(metrics)],
        options=[("grpc.max_receive_message_length", limit), ("grpc.max_send_message_length", 4 * limit)],
    )
    review_pb2_grpc.add_DecisionsServicer_to_server(DecisionsServicer(decider, limit, config.stream_window), server)
    watch_pb2_grpc.add_PoliciesServicer_to_server(
        PoliciesServicer(decider, hub, metrics, config.watch_buffer, config.watch_slow_after_s), server
    )
    external_auth_pb2_grpc.add_AuthorizationServicer_to_server(
        AuthorizationServicer(decider, config.envoy_rule), server
    )
    health = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    health_name = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
    reflection.enable_server_reflection(
        (DECISIONS_SERVICE, POLICIES_SERVICE, ENVOY_SERVICE, health_name, reflection.SERVICE_NAME), server
    )
    return server, health, metrics


async def serve_grpc(
    service: AdmissionService,
    hub: ActivationHub,
    config: GrpcConfig,
    tls: ServeConfig,
    stop: asyncio.Event,
    on_started: Callable[[int], None] | None = None,
) -> None:
    """Serves ``service`` over gRPC until ``stop`` is set, then drains calls for 5 s.

    Health turns ``SERVING`` once the manager has a policy set (at once if it has one).
    ``service`` is not closed (its owner closes it).

    Args:
        tls: whose ``cert_file``, ``key_file``, ``client_ca_file`` and ``tls`` are used
            (no certificate: plaintext).
        on_started: called with the bound port.

    Raises:
        UsageError: unreadable TLS files.
        UsageError: ``listen_failed`` when the address cannot be bound.
    """
    loop = asyncio.get_running_loop()
    if hub.loop is None:
        hub.loop = loop
    server, health, _ = build_grpc_server(service, hub, config)
    await _set_health(health, service.manager.snapshot is not None)
    pending: set[asyncio.Task[None]] = set()

    def activated(_event: object) -> None:
        task = loop.create_task(_set_health(health, True))
        pending.add(task)
        task.add_done_callback(pending.discard)

    unsubscribe = hub.subscribe(activated)
    address = f"{config.host}:{config.port}"
    try:
        if tls.cert_file and tls.key_file:
            creds = ReloadingCredentials(
                tls.cert_file, tls.key_file, tls.client_ca_file, service.metrics.certificate_reloaded, tls.tls
            )
            port = server.add_secure_port(address, creds.credentials())
        else:
            port = server.add_insecure_port(address)
    except RuntimeError as exc:  # grpc's way of saying the address cannot be bound
        unsubscribe()
        raise UsageError(f"cannot listen on {address}: {exc}", code="listen_failed") from None
    try:
        await server.start()
        _log.info("gRPC gate listening on %s:%d", config.host, port)
        if on_started is not None:
            on_started(port)
        await stop.wait()
    finally:
        unsubscribe()
        await health.enter_graceful_shutdown()
        await server.stop(grace=5)


async def run_gate(
    config: GrpcConfig,
    stop: asyncio.Event,
    on_started: Callable[[int], None] | None = None,
) -> None:
    """``kubegate grpc``: builds the decision path as ``kubegate serve`` does, serves it
    (:func:`serve_grpc`) until ``stop`` is set, then closes it.

    Args:
        config: see :class:`GrpcConfig`.
        stop: set it to stop (SIGTERM/SIGINT handlers set it in ``kubegate grpc``).
        on_started: called with the bound port once the server listens.

    Raises:
        UsageError: bad options, unreadable TLS files.
        KubegateError: unreadable deny list, inventory or decision log directory.
    """
    serve = config.serve
    serve.check()
    configure_logging(serve.log_level)
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    loop = asyncio.get_running_loop()
    deny_list = load_deny_list(serve.deny_list) if serve.deny_list else None
    inventory = Inventory.from_objects([d.obj for f in iter_input_files(serve.inventory) for d in load_file(f)])
    metrics = WebhookMetrics()
    builder = PolicySetBuilder(
        make_backend(serve.backend),
        builtin=serve.builtin,
        expansion=serve.expansion,
        template_engine=serve.template_engine,
        parameters=serve.parameters,
        kubernetes_version=serve.kubernetes_version,
        inventory=inventory,
    )
    hub = ActivationHub(loop)
    settler = HeapSettler()
    first = [True]

    def updated(outcome: ApplyOutcome) -> None:
        metrics.policy_update(outcome)
        hub.updated(outcome)
        if outcome.result in ("applied", "partial"):
            if first[0]:
                first[0] = False
                settle_heap()
            else:
                settler.request()

    manager = PolicyManager(
        builder, strict=serve.strict, on_update=updated, on_suspect=metrics.policy_suspect_changes.inc
    )
    decision_log = (
        build_decision_logger(serve.decision_log, serve.decision_sinks, serve.redaction_config, metrics)
        if serve.decision_log is not None
        else None
    )
    settings = serve.settings
    if settings.workers is None:
        settings = dataclasses.replace(settings, workers=default_workers(serve.backend))
    service = AdmissionService(settings, metrics, manager, deny_list, decision_log)
    tasks: list[asyncio.Task[Any]] = []
    etcd: list[EtcdSource] = []
    probe: uvicorn.Server | None = None
    try:
        if serve.health_addr is not None:
            host, health_port = parse_address(serve.health_addr)
            app = create_probe_app(service, Readiness(serve.max_staleness_s, serve.not_ready_when_stale))
            probe = uvicorn.Server(
                uvicorn.Config(app, host=host, port=health_port, lifespan="off", log_config=None, access_log=False)
            )
            tasks.append(asyncio.create_task(probe.serve()))

        def started(port: int) -> None:
            tasks.append(asyncio.create_task(load_policies(serve, manager, stop, etcd)))
            if on_started is not None:
                on_started(port)

        await serve_grpc(service, hub, config, serve, stop, started)
    finally:
        if probe is not None:
            probe.should_exit = True
        for source in etcd:
            await asyncio.to_thread(source.stop)
        for task in tasks[1 if probe is not None else 0 :]:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        manager.hooks.close()
        await service.close()


class GrpcCompanion:
    """The gRPC gate beside the HTTPS webhook of ``kubegate serve --grpc-port``.

    ``kubegate serve`` builds one decision path; this serves it over gRPC as
    well: the webhook's server calls :meth:`updated` with every policy update
    (the manager's ``on_update``) and runs the instance as a companion,
    ``await companion(service, stop)``, once its decision path exists.

    Args:
        config: the gRPC settings; ``config.serve`` gives the TLS files (the webhook's).
    """

    def __init__(self, config: GrpcConfig) -> None:
        self.config = config
        self.hub = ActivationHub()

    def updated(self, outcome: ApplyOutcome) -> None:
        """A policy update of the webhook's manager (any thread)."""
        self.hub.updated(outcome)

    async def __call__(
        self, service: AdmissionService, stop: asyncio.Event, on_started: Callable[[int], None] | None = None
    ) -> None:
        """Serves ``service`` over gRPC until ``stop`` is set (see :func:`serve_grpc`)."""
        await serve_grpc(service, self.hub, self.config, self.config.serve, stop, on_started)
