"""``kubegate goproxy serve --workers N``: several serving processes on one socket.

One Python process answered cached ``.info`` at 2,500 requests/s with a p99
of 56 ms at 16 connections (queueing behind one GIL, docs/goproxy.md
"Performance"). With ``N > 1`` the parent binds the socket once and
uvicorn's supervisor (:class:`uvicorn.supervisors.Multiprocess`, the code
behind ``uvicorn --workers``) spawns ``N`` workers that accept on it,
health-checks them and replaces one that dies or hangs; SIGTERM/SIGINT stop
all of them (each finishes its requests, up to 10 s), SIGHUP replaces them
one by one. The parent checks the configuration first (policies compile,
TLS files load, storage opens), so a mistake is one error message rather
than N failing workers.

What the workers share and what they do not:

* the vault: a directory or an S3 bucket (atomic writes, conditional
  creates), so a version one worker fetched is served by all; yanks and pins
  apply within ``state_ttl_s`` (1 s) in every worker, as between replicas;
* metrics: prometheus_client's multiprocess mode
  (https://prometheus.github.io/client_python/multiprocess/): each worker
  writes its counters to files in a directory the parent creates and
  removes; ``/metrics`` from any worker sums them all;
* decision logs: a write-ahead log has one writer, so with ``--decision-log
  DIR`` each worker writes ``DIR/worker-K`` (K from 0: the first slot whose
  lock file ``DIR/worker-K.lock`` no worker holds, so a replacement takes
  over the slot of the worker it replaces); ``kubegate audit query`` reads
  each;
* the license engine, caches and single-flight locks are per worker (two
  workers may fetch one new version at the same moment; both store the same
  content-addressed blobs).

The configuration reaches the spawned workers as JSON in the environment
variable ``KUBEGATE_GOPROXY_CONFIG``.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import shutil
import ssl
import tempfile
from pathlib import Path
from typing import IO, Any

from starlette.applications import Starlette
from uvicorn.supervisors import Multiprocess

from kubegate.errors import UsageError
from kubegate.goproxy.audit import build_engine
from kubegate.goproxy.server import GoproxyConfig, build_app, build_server, open_storage, tls_context, uvicorn_config

__all__ = ["CONFIG_ENV", "claim_slot", "default_workers", "serve", "worker_app"]

CONFIG_ENV = "KUBEGATE_GOPROXY_CONFIG"
METRICS_ENV = "PROMETHEUS_MULTIPROC_DIR"
_TUPLES = ("upstreams", "policies", "license_policies")
_held: list[IO[bytes]] = []  # the worker's slot lock, held for its lifetime
_contexts: list[ssl.SSLContext] = []


def default_workers(cpu_max: Path = Path("/sys/fs/cgroup/cpu.max")) -> int:
    """Workers when ``--workers`` is not given: the CPUs this process may run on, at most
    its cgroup v2 CPU quota rounded up (``cpu.max`` ``"<quota> <period>"``: a pod's CPU
    limit; https://docs.kernel.org/admin-guide/cgroup-v2.html#cpu-interface-files)."""
    cpus = len(os.sched_getaffinity(0))
    try:
        quota, _, period = cpu_max.read_text().partition(" ")
        if quota != "max" and int(period) > 0:
            cpus = min(cpus, -(-int(quota) // int(period)))
    except (OSError, ValueError):
        pass
    return max(1, cpus)


def claim_slot(directory: str) -> tuple[str, IO[bytes]]:
    """``directory/worker-K`` for the lowest K whose lock file no open handle holds
    (created), and the locked handle: the slot is this caller's until it is closed
    (or the process ends).

    Raises:
        UsageError: ``decision_log_unwritable``.
    """
    root = Path(directory)
    try:
        root.mkdir(parents=True, exist_ok=True)
        for index in range(4096):
            handle = (root / f"worker-{index}.lock").open("ab")
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            slot = root / f"worker-{index}"
            slot.mkdir(exist_ok=True)
            return str(slot), handle
    except OSError as exc:
        raise UsageError(f"decision log {directory}: {exc}", code="decision_log_unwritable") from None
    raise UsageError(f"decision log {directory}: no free worker slot", code="decision_log_unwritable")


def _encode(config: GoproxyConfig) -> str:
    return json.dumps(dataclasses.asdict(config))


def _decode(text: str) -> GoproxyConfig:
    data: dict[str, Any] = json.loads(text)
    for name in _TUPLES:
        data[name] = tuple(data[name])
    return GoproxyConfig(**data)


def _tls_context(config: Any, default: Any) -> ssl.SSLContext:
    """The workers' ``ssl_context_factory``: the webhook's TLS policy, the context kept for the reloader."""
    context = tls_context(config, default)
    _contexts.append(context)
    return context


def worker_app() -> Starlette:
    """The application of one worker (uvicorn's factory, in the spawned process).

    Raises:
        UsageError: ``KUBEGATE_GOPROXY_CONFIG`` is not set.
    """
    text = os.environ.get(CONFIG_ENV)
    if not text:
        raise UsageError(f"{CONFIG_ENV} is not set (workers are started by kubegate goproxy serve)")
    config = _decode(text)
    log_dir = None
    if config.decision_log:
        log_dir, handle = claim_slot(config.decision_log)
        _held.append(handle)
    return build_app(config, log_dir, lambda: _contexts[-1] if _contexts else None)


def _check(config: GoproxyConfig) -> None:
    """What every worker would fail on, raised once in the parent."""
    if config.cert_file and config.key_file:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            context.load_cert_chain(config.cert_file, config.key_file)
            if config.client_ca_file:
                context.load_verify_locations(config.client_ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise UsageError(f"cannot load the TLS files: {exc}", code="tls_files_invalid") from None
    open_storage(config.storage, config.s3_endpoint)
    if config.license_check:
        build_engine(config.policies, config.parameters)
    if config.decision_log:
        Path(config.decision_log).mkdir(parents=True, exist_ok=True)


def serve(config: GoproxyConfig, workers: int) -> None:
    """Serves ``config`` with ``workers`` processes (1: in this process) until SIGTERM/SIGINT.

    Raises:
        UsageError: ``workers`` below 1, ``tls_files_invalid``; ErrorList: a policy that does not load.
    """
    if workers < 1:
        raise UsageError("--workers must be at least 1", code="invalid_workers")
    if workers == 1:
        build_server(config).run()
        return
    _check(config)
    metrics_dir = tempfile.mkdtemp(prefix="kubegate-goproxy-metrics-")
    saved = {name: os.environ.get(name) for name in (CONFIG_ENV, METRICS_ENV)}
    os.environ[CONFIG_ENV] = _encode(config)
    os.environ[METRICS_ENV] = metrics_dir
    try:
        uv_config = uvicorn_config(config, "kubegate.goproxy.workers:worker_app", factory=True, workers=workers)
        if config.cert_file:
            uv_config.ssl_context_factory = _tls_context
        socket = uv_config.bind_socket()
        try:
            Multiprocess(uv_config, sockets=[socket]).run()
        finally:
            socket.close()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        shutil.rmtree(metrics_dir, ignore_errors=True)
