"""Fixtures shared by several test packages: a real etcd server and a real redis-server on loopback."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.ports import free_port, owns_listener


@dataclass
class EtcdServer:
    """A real etcd (Debian package etcd-server) in a temporary data directory."""

    url: str
    data_dir: Path
    client_port: int
    peer_port: int
    process: subprocess.Popen[bytes] | None = None
    log: Any = None

    def start(self) -> None:
        binary = shutil.which("etcd")
        if binary is None:
            pytest.fail("etcd is not installed; `make test` installs it (Debian package etcd-server)")
        if self.log is None:
            self.log = (self.data_dir.parent / "etcd.log").open("ab")
        log = self.log
        self.process = subprocess.Popen(
            [
                binary,
                "--name",
                "kubegate-test",
                "--data-dir",
                str(self.data_dir),
                "--listen-client-urls",
                self.url,
                "--advertise-client-urls",
                self.url,
                "--listen-peer-urls",
                f"http://127.0.0.1:{self.peer_port}",
                "--initial-advertise-peer-urls",
                f"http://127.0.0.1:{self.peer_port}",
                "--initial-cluster",
                f"kubegate-test=http://127.0.0.1:{self.peer_port}",
            ],
            stdout=log,
            stderr=log,
        )
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(requests.RequestException):
                # Its own process must listen: another etcd may have taken the port meanwhile.
                if requests.get(self.url + "/version", timeout=1).ok and owns_listener(
                    self.process.pid, self.client_port
                ):
                    return
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise AssertionError("etcd did not start")
            time.sleep(0.05)

    def kill(self) -> None:
        """kill -9, as a crash would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def close(self) -> None:
        self.kill()
        if self.log is not None:
            self.log.close()
            self.log = None

    def compact(self) -> int:
        """Compacts etcd's history up to the current revision; returns it."""
        import base64

        key = base64.b64encode(b"\0").decode()
        reply = requests.post(self.url + "/v3/kv/range", json={"key": key, "range_end": key}, timeout=5).json()
        revision = int(reply["header"]["revision"])
        requests.post(
            self.url + "/v3/kv/compaction", json={"revision": revision, "physical": True}, timeout=5
        ).raise_for_status()
        return revision


@pytest.fixture
def etcd_server(tmp_path: Path) -> Iterator[EtcdServer]:
    server = EtcdServer("", tmp_path / "etcd-data", free_port(), free_port())
    server.url = f"http://127.0.0.1:{server.client_port}"
    server.start()
    yield server
    server.close()


@dataclass
class RedisServer:
    url: str
    process: subprocess.Popen[bytes]


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A real redis-server on loopback (installed by `make test` from Debian's redis-server)."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed; `make test` installs it (Debian package redis-server)")
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            if s.recv(16).startswith(b"+PONG") and owns_listener(process.pid, port):
                break
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            pytest.fail("redis-server did not start")
        time.sleep(0.05)
    yield RedisServer(f"redis://127.0.0.1:{port}/0", process)
    process.terminate()
    process.wait(10)
