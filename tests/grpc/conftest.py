"""Real gRPC gates for the tests: ``kubegate grpc`` subprocesses on loopback with real
certificates (mutual TLS), real policy files, a real decision log; the real client."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest

from kubegate.grpc.client import Client, Watch
from kubegate.webhook.certs import CertificateFiles, write_dev_certificates
from tests.conftest import free_port

ROOT = Path(__file__).parents[2]
EXAMPLES = ROOT / "examples" / "policies"

ENVOY_POLICY = """package envoy.authz

default allow := false

allow if {
	input.attributes.request.http.method == "GET"
	input.parsed_path[0] == "public"
}

# An object result, as OPA-Envoy reads it.
decision := {"allowed": true, "headers": {"x-user": user}, "response_headers_to_add": {"x-checked": "yes"}} if {
	user := input.attributes.request.http.headers["x-user"]
	input.parsed_body.action == "read"
}

decision := {
	"allowed": false,
	"http_status": 401,
	"body": "who are you?",
	"headers": {"www-authenticate": "Bearer"},
} if {
	not input.attributes.request.http.headers["x-user"]
}
"""

# Seconds of work for an object named "slow"; nothing for any other.
SLOW_POLICY = """package grpctests.slow

deny contains "never" if {
	input.review.object.metadata.name == "slow"
	count([x | some i in numbers.range(1, 3000); some j in numbers.range(1, 3000); x := i * j; x % 7 == 0]) < 0
}
"""


RULE = """package grpctests.watch{n}

deny contains "team label missing ({n})" if {{
	not input.review.object.metadata.labels.team
}}
"""


def next_event(watch: Watch, kind: str, timeout_s: float = 20.0) -> Any:
    """The next event of ``kind`` (others in between are skipped; the call's deadline bounds the wait)."""
    deadline = time.monotonic() + timeout_s
    for event in watch:
        if event.WhichOneof("kind") == kind:
            return getattr(event, kind)
        if time.monotonic() > deadline:
            break
    pytest.fail(f"no {kind} event")


def pod(name: str = "web", image: str = "nginx:1.27", namespace: str = "default", **labels: str) -> dict[str, Any]:
    limits = {"cpu": "100m", "memory": "64Mi"}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
        "spec": {"containers": [{"name": "app", "image": image, "resources": {"limits": limits, "requests": limits}}]},
    }


def deployment(name: str = "api", owner: str | None = "payments-team") -> dict[str, Any]:
    labels = {"owner": owner} if owner else {}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "shop", "labels": labels},
        "spec": {"selector": {"matchLabels": {"app": name}}, "template": pod(name)},
    }


def write_policies(directory: Path) -> Path:
    """examples/policies plus the Envoy and slow policies of these tests."""
    directory.mkdir(parents=True, exist_ok=True)
    for path in EXAMPLES.iterdir():
        if path.is_file():
            shutil.copy(path, directory / path.name)
    (directory / "envoy.rego").write_text(ENVOY_POLICY)
    (directory / "slow.rego").write_text(SLOW_POLICY)
    return directory


@dataclass
class Gate:
    """A ``kubegate grpc`` subprocess."""

    workdir: Path
    certs: CertificateFiles
    args: tuple[str, ...]
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    health_port: int = 0

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def client(self, *, mutual: bool = True, **kwargs: Any) -> Client:
        extra: dict[str, Any] = (
            {"cert_file": str(self.certs.client_cert), "key_file": str(self.certs.client_key)} if mutual else {}
        )
        return Client(self.target, ca_file=str(self.certs.ca_cert), server_name="localhost", **extra, **kwargs)

    def start(self, *, wait: bool = True) -> None:
        command = [
            sys.executable,
            "-m",
            "kubegate.cli.grpc_cmd",
            "grpc",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--tls-cert",
            str(self.certs.cert),
            "--tls-key",
            str(self.certs.key),
            "--client-ca",
            str(self.certs.ca_cert),
            "--log-level",
            "warning",
            *self.args,
        ]
        with (self.workdir / "gate.log").open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        if wait:
            self.wait_serving()

    def wait_serving(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        with self.client() as client:
            while time.monotonic() < deadline:
                assert self.process is not None
                if self.process.poll() is not None:
                    pytest.fail(f"kubegate grpc exited {self.process.returncode}:\n{self.log()}")
                with contextlib.suppress(grpc.RpcError):
                    if client.health(timeout=1) == "SERVING":
                        return
                time.sleep(0.1)
        pytest.fail(f"kubegate grpc did not become SERVING:\n{self.log()}")

    def log(self) -> str:
        path = self.workdir / "gate.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def kill(self) -> None:
        """kill -9."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> CertificateFiles:
    out = tmp_path_factory.mktemp("grpc-certs")
    return write_dev_certificates(str(out), "kubegate", "kubegate", ["localhost", "127.0.0.1"], client="ci-client")


@contextlib.contextmanager
def running_gate(workdir: Path, certs: CertificateFiles, *args: str) -> Iterator[Gate]:
    gate = Gate(workdir, certs, args)
    try:
        gate.start()
        yield gate
    finally:
        gate.stop()


@pytest.fixture(scope="session")
def gate(tmp_path_factory: pytest.TempPathFactory, certs: CertificateFiles) -> Iterator[Gate]:
    """One gate over mutual TLS: built-ins plus the test policies, a short time limit, a decision log."""
    workdir = tmp_path_factory.mktemp("grpc-gate")
    policies = write_policies(workdir / "policies")
    health_port = free_port()
    args: tuple[str, ...] = ("--policies", str(policies), "--max-evaluation-time", "250")
    args += ("--health-addr", f"127.0.0.1:{health_port}")
    args += ("--decision-log", str(workdir / "decisions"))
    with running_gate(workdir, certs, *args) as g:
        g.health_port = health_port
        yield g
