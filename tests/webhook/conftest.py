"""Real webhook servers on loopback for the tests: `kubegate serve` subprocesses over HTTPS,
real certificates, a real redis-server, a real HTTP client (httpx)."""

from __future__ import annotations

import contextlib
import copy
import itertools
import json
import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from kubegate.audit.manifest import ManifestIndex, is_manifest
from kubegate.webhook.certs import CertificateFiles, write_dev_certificates

HERE = Path(__file__).parent
POLICIES = HERE / "policies"
DENY_LIST = HERE / "deny-list.yaml"
OBJECTS: dict[str, dict[str, Any]] = yaml.safe_load((HERE / "objects.yaml").read_text())
_uids = itertools.count(1)


def obj(name: str) -> dict[str, Any]:
    """A deep copy of a test object from objects.yaml."""
    return copy.deepcopy(OBJECTS[name])


def _resource(kind: str) -> str:
    return {"Pod": "pods", "Deployment": "deployments", "CronJob": "cronjobs", "ConfigMap": "configmaps"}.get(
        kind, kind.lower() + "s"
    )


def admission_review(
    new: dict[str, Any] | None,
    *,
    operation: str = "CREATE",
    old: dict[str, Any] | None = None,
    dry_run: bool = False,
    api_version: str = "admission.k8s.io/v1",
    uid: str | None = None,
    user: str = "alice@example.com",
    kind: dict[str, str] | None = None,
    namespace: str | None = None,
) -> dict[str, Any]:
    """An AdmissionReview as the API server sends it."""
    subject = new or old or {}
    group, _, version = str(subject.get("apiVersion", "v1")).rpartition("/")
    meta = subject.get("metadata", {})
    request: dict[str, Any] = {
        "uid": uid or f"uid-{next(_uids)}",
        "kind": kind or {"group": group, "version": version, "kind": subject.get("kind", "")},
        "resource": {"group": group, "version": version, "resource": _resource(str(subject.get("kind", "")))},
        "operation": operation,
        "userInfo": {"username": user, "groups": ["system:authenticated"]},
        "object": new,
        "oldObject": old,
        "dryRun": dry_run,
        "options": None,
    }
    ns = namespace if namespace is not None else meta.get("namespace")
    if ns:
        request["namespace"] = ns
    if meta.get("name"):
        request["name"] = meta["name"]
    return {"apiVersion": api_version, "kind": "AdmissionReview", "request": request}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Webhook:
    """A running `kubegate serve` process."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path
    ca: Path | None

    def client(self, cert: tuple[str, str] | None = None, timeout: float = 10.0) -> httpx.Client:
        """An HTTP client trusting the test CA, presenting ``cert`` (cert file, key file) if given."""
        verify: ssl.SSLContext | bool = False
        if self.ca is not None:
            verify = ssl.create_default_context(cafile=str(self.ca))
            if cert is not None:
                verify.load_cert_chain(*cert)
        return httpx.Client(base_url=self.url, verify=verify, timeout=timeout)

    def review(self, doc: dict[str, Any], client: httpx.Client | None = None) -> dict[str, Any]:
        """POSTs an AdmissionReview and returns its ``response``."""
        own = client is None
        c = client or self.client()
        try:
            reply = c.post("/validate", json=doc)
        finally:
            if own:
                c.close()
        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert body["apiVersion"] == doc["apiVersion"] and body["kind"] == "AdmissionReview"
        assert body["response"]["uid"] == doc["request"]["uid"]
        return dict(body["response"])

    def metrics(self) -> str:
        with self.client() as c:
            return c.get("/metrics").text

    def logs(self) -> list[str]:
        return self.log.read_text().splitlines()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def metric_value(text: str, name: str, labels: str = "") -> float:
    """The value of one sample in Prometheus text (0 when absent)."""
    wanted = f"{name}{{{labels}}}" if labels else name
    for line in text.splitlines():
        if line.startswith(wanted + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def start_webhook(
    workdir: Path,
    certs: CertificateFiles | None,
    *args: str,
    mtls: bool = False,
    wait_ready: bool = True,
) -> Webhook:
    """Starts `python -m kubegate serve` on a free loopback port and waits until it answers."""
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / f"serve-{port}.log"
    cmd = [sys.executable, "-m", "kubegate", "serve", "--host", "127.0.0.1", "--port", str(port), *args]
    if certs is not None:
        cmd += ["--tls-cert", str(certs.cert), "--tls-key", str(certs.key)]
        if mtls:
            cmd += ["--client-ca", str(certs.ca_cert)]
    else:
        cmd += ["--insecure-http"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with log.open("wb") as out:
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    scheme = "https" if certs is not None else "http"
    hook = Webhook(f"{scheme}://127.0.0.1:{port}", process, log, certs.ca_cert if certs else None)
    cert = (
        (str(certs.client_cert), str(certs.client_key))
        if mtls and certs and certs.client_cert and certs.client_key
        else None
    )
    deadline = time.monotonic() + 60
    path = "/readyz" if wait_ready else "/healthz"
    try:
        _wait(hook, process, log, cert, path, deadline)
    except BaseException:
        hook.stop()
        raise
    return hook


def start_allowing_logged_webhook(workdir: Path, certs: CertificateFiles, *args: str) -> tuple[Webhook, Path]:
    """A server where a wrong code path would admit: ``--failure-mode allow``, the main test
    policies, a strict decision log shipped to a file sink (returned with the server)."""
    sink = workdir / "sink" / "decisions.jsonl"
    hook = start_webhook(
        workdir,
        certs,
        "--policies",
        str(POLICIES / "main"),
        "--failure-mode",
        "allow",
        "--decision-log",
        str(workdir / "wal"),
        "--decision-log-mode",
        "strict",
        "--decision-log-sink",
        f"file:{sink}",
        *args,
    )
    return hook, sink


def _wait(
    hook: Webhook, process: subprocess.Popen[bytes], log: Path, cert: tuple[str, str] | None, path: str, deadline: float
) -> None:
    while True:
        if process.poll() is not None:
            raise AssertionError(f"kubegate serve exited with {process.returncode}:\n{log.read_text()}")
        with contextlib.suppress(httpx.HTTPError), hook.client(cert=cert, timeout=2) as c:
            if c.get(path).status_code == 200:
                return
        if time.monotonic() > deadline:
            raise AssertionError(f"kubegate serve did not become ready:\n{log.read_text()}")
        time.sleep(0.1)


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> CertificateFiles:
    return write_dev_certificates(
        str(tmp_path_factory.mktemp("certs")),
        "kubegate",
        "kubegate-system",
        extra_names=["localhost", "127.0.0.1"],
        days=2,
        client="kube-apiserver",
    )


@pytest.fixture(scope="module")
def webhook(tmp_path_factory: pytest.TempPathFactory, certs: CertificateFiles) -> Iterator[Webhook]:
    """The main test server: built-in library + tests/webhook/policies/main + the deny list."""
    hook = start_webhook(
        tmp_path_factory.mktemp("webhook"),
        certs,
        "--policies",
        str(POLICIES / "main"),
        "--deny-list",
        str(DENY_LIST),
    )
    yield hook
    hook.stop()


def read_jsonl_raw(path: Path) -> list[dict[str, Any]]:
    """Every record of a file sink as written (policy-set manifests included), rotated
    files (``path.<n>``) first, oldest first."""
    rotated = sorted(path.parent.glob(path.name + ".*"), key=lambda p: int(p.suffix[1:]))
    records: list[dict[str, Any]] = []
    for file in [*rotated, path]:
        if file.exists():
            records += [json.loads(line) for line in file.read_text().splitlines() if line]
    return records


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The decision records of a file sink, each policy's version joined from the
    policy-set manifests the sink received (as a SIEM would join them)."""
    index = ManifestIndex()
    decisions = []
    for record in read_jsonl_raw(path):
        if is_manifest(record):
            index.add(record)
        else:
            decisions.append(record)
    return [index.resolve(record) for record in decisions]
