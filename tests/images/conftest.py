"""Real OCI registries on loopback (Debian's docker-registry, distribution 2.8): plain HTTP,
htpasswd basic auth, and TLS with a test CA; a real redis-server; trust policy files."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from kubegate.webhook.certs import write_dev_certificates
from tests.conftest import free_port
from tests.images.signer import Pusher, Signer


@dataclass
class Registry:
    """A running docker-registry: ``host`` (127.0.0.1:port), ``pusher``, and its auth/TLS facts."""

    host: str
    process: subprocess.Popen[bytes]
    pusher: Pusher
    user: str | None = None
    password: str | None = None
    ca_file: str | None = None

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


def _start_registry(
    workdir: Path, *, htpasswd: Path | None = None, tls: tuple[Path, Path] | None = None, ca: str | None = None
) -> tuple[str, subprocess.Popen[bytes]]:
    binary = shutil.which("docker-registry")
    if binary is None:
        pytest.fail("docker-registry is not installed; `make system-deps` installs it (Debian package docker-registry)")
    port = free_port()
    lines = [
        "version: 0.1",
        "log:",
        "  level: error",
        "storage:",
        "  filesystem:",
        f"    rootdirectory: {workdir / 'data'}",
        "  delete:",
        "    enabled: true",
        "http:",
        f"  addr: 127.0.0.1:{port}",
    ]
    if tls is not None:
        lines += ["  tls:", f"    certificate: {tls[0]}", f"    key: {tls[1]}"]
    if htpasswd is not None:
        lines += ["auth:", "  htpasswd:", "    realm: kubegate-test", f"    path: {htpasswd}"]
    config = workdir / "config.yml"
    config.write_text("\n".join(lines) + "\n")
    with (workdir / "registry.log").open("ab") as log:
        process = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=log)
    scheme = "https" if tls else "http"
    deadline = time.monotonic() + 30
    while True:
        with contextlib.suppress(requests.RequestException):
            answer = requests.get(f"{scheme}://127.0.0.1:{port}/v2/", timeout=2, verify=ca or True)
            if answer.status_code in (200, 401):
                break
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            pytest.fail(f"docker-registry did not start: {(workdir / 'registry.log').read_text()[-2000:]}")
        time.sleep(0.05)
    return f"127.0.0.1:{port}", process


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """A plain-HTTP registry without auth."""
    host, process = _start_registry(tmp_path_factory.mktemp("registry"))
    server = Registry(host, process, Pusher(host))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def auth_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """A plain-HTTP registry with htpasswd (bcrypt) basic auth; user ``ci``."""
    htpasswd = shutil.which("htpasswd")
    if htpasswd is None:
        pytest.fail("htpasswd is not installed; `make system-deps` installs it (Debian package apache2-utils)")
    workdir = tmp_path_factory.mktemp("auth-registry")
    password = "s3cret-pass"
    subprocess.run([htpasswd, "-Bbc", str(workdir / "htpasswd"), "ci", password], check=True, capture_output=True)
    host, process = _start_registry(workdir, htpasswd=workdir / "htpasswd")
    server = Registry(host, process, Pusher(host, user="ci", password=password), "ci", password)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def tls_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """A registry over TLS with a certificate from a test CA (``ca_file``)."""
    workdir = tmp_path_factory.mktemp("tls-registry")
    certs = write_dev_certificates(str(workdir / "certs"), "registry", "test", extra_names=["127.0.0.1", "localhost"])
    host, process = _start_registry(workdir, tls=(certs.cert, certs.key), ca=str(certs.ca_cert))
    server = Registry(host, process, Pusher(host, tls_ca=str(certs.ca_cert)), ca_file=str(certs.ca_cert))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def release_key() -> Signer:
    return Signer.generate("ecdsa")


@pytest.fixture(scope="session")
def other_key() -> Signer:
    return Signer.generate("ecdsa")


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections (kernel backlog) but never answers: a hung registry."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield int(sock.getsockname()[1])
