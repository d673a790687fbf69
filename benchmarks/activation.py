"""Activation latency: from a policy change to the first review decided by the new version.

Two sources, each with the webhook under load (``--cache-ttl 0``, so every
review is evaluated with the snapshot in force):

* **file**: one ``kubegate serve`` (HTTPS, built-in library loaded) watching a
  directory; each change atomically replaces ``markers.kgr`` (two rules whose
  messages carry the change number ``n``);
* **etcd**: a real etcd and three ``kubegate serve --etcd`` replicas; each
  change is one push (one etcd transaction) of the same file.

Background threads review Pods continuously on every server; a probe thread
per server reviews back to back after each change until the server answers
with ``n``. Activation latency = time of that answer minus the time the
write (or push) started; for etcd, the slowest of the three replicas. Every
answer of every thread is checked: a non-200 answer or an exception is a
failed review; an answer whose two messages carry different change numbers
mixed two versions. Asserts nothing.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import requests

from kubegate.lifecycle.etcd import EtcdStore
from kubegate.webhook.certs import write_dev_certificates

MARKERS = (
    'RULE marker_a ON Pod WHEN kind == "Pod" THEN DENY("a {n}")\n'
    'RULE marker_b ON Pod WHEN kind == "Pod" THEN DENY("b {n}")\n'
)
_NUMBER = re.compile(r"\[marker_(a|b)\] (a|b) (\d+)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _review(uid: str) -> bytes:
    container = {"name": "c", "image": "i", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "load", "namespace": "bench"}}
    pod["spec"] = {"containers": [container]}
    request = {
        "uid": uid,
        "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"},
        "operation": "CREATE",
        "namespace": "bench",
        "name": "load",
        "userInfo": {"username": "bench"},
        "object": pod,
    }
    return json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}).encode()


class Server:
    def __init__(self, workdir: Path, certs: Any, args: list[str]) -> None:
        self.port = _free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.ca = str(certs.ca_cert)
        self.context = ssl.create_default_context(cafile=self.ca)
        cmd = [sys.executable, "-m", "kubegate", "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        cmd += ["--tls-cert", str(certs.cert), "--tls-key", str(certs.key)]
        cmd += ["--cache-ttl", "0", "--log-level", "warning"]
        self.log = (workdir / f"serve-{self.port}.log").open("wb")
        self.process = subprocess.Popen(cmd + args, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(self.url + "/readyz", context=self.context, timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError("server did not start")
            time.sleep(0.1)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


class Checker:
    """Reviews in a loop; records failures and mixed answers; remembers the highest change number seen."""

    def __init__(self, server: Server, name: str) -> None:
        self.server = server
        self.session = requests.Session()
        self.session.trust_env = False  # REQUESTS_CA_BUNDLE would override the test CA
        self.name = name
        self.requests = 0
        self.failed = 0
        self.mixed = 0
        self.highest = -1

    def once(self, uid: str) -> int | None:
        self.requests += 1
        try:
            reply = self.session.post(
                self.server.url + "/validate",
                data=_review(uid),
                timeout=5,
                headers={"Content-Type": "application/json"},
                verify=self.server.ca,
            )
        except requests.RequestException:
            self.failed += 1
            return None
        if reply.status_code != 200:
            self.failed += 1
            return None
        message = reply.json()["response"].get("status", {}).get("message", "")
        numbers = {int(m.group(3)) for m in _NUMBER.finditer(message)}
        if len(numbers) != 1:
            self.mixed += 1 if len(numbers) > 1 else 0
            self.failed += 1 if not numbers else 0
            return None
        n = numbers.pop()
        self.highest = max(self.highest, n)
        return n


def _load(checker: Checker, stop: threading.Event, rate: float) -> None:
    i = 0
    while not stop.is_set():
        i += 1
        checker.once(f"{checker.name}-{i}")
        if rate:
            stop.wait(1 / rate)


def _measure(servers: list[Server], change: Any, changes: int, rate: float) -> dict[str, Any]:
    stop = threading.Event()
    load = [Checker(s, f"load{k}") for k, s in enumerate(servers)]
    threads = [threading.Thread(target=_load, args=(c, stop, rate), daemon=True) for c in load]
    for t in threads:
        t.start()
    probes = [Checker(s, f"probe{k}") for k, s in enumerate(servers)]
    latencies: list[float] = []
    per_server: list[list[float]] = [[] for _ in servers]
    try:
        for n in range(1, changes + 1):
            time.sleep(random.uniform(0.05, 0.15))
            start = time.perf_counter()
            change(n)
            seen = [False] * len(servers)
            done_at = [0.0] * len(servers)
            uid = 0
            while not all(seen):
                for k, probe in enumerate(probes):
                    if seen[k]:
                        continue
                    uid += 1
                    if probe.once(f"p{n}-{uid}") == n:
                        seen[k] = True
                        done_at[k] = time.perf_counter()
                if time.perf_counter() - start > 30:
                    raise RuntimeError(f"change {n} was not served within 30 s")
            for k, t in enumerate(done_at):
                per_server[k].append((t - start) * 1000)
            latencies.append((max(done_at) - start) * 1000)
    finally:
        stop.set()
        for t in threads:
            t.join()
    checkers = load + probes
    return {
        "changes": changes,
        "activation_ms": _summary(latencies),
        "per_server_p99_ms": [_summary(v)["p99"] for v in per_server],
        "reviews": sum(c.requests for c in checkers),
        "failed_reviews": sum(c.failed for c in checkers),
        "mixed_reviews": sum(c.mixed for c in checkers),
    }


def _summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]  # noqa: E731
    return {
        "p50": round(pick(50), 2),
        "p90": round(pick(90), 2),
        "p99": round(pick(99), 2),
        "max": round(ordered[-1], 2),
    }


def run(changes: int = 120, rate: float = 50.0) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="kubegate-activation-"))
    certs = write_dev_certificates(str(work / "certs"), "kubegate", "bench", extra_names=["127.0.0.1"])
    results: dict[str, Any] = {}

    policies = work / "policies"
    policies.mkdir()
    target = policies / "markers.kgr"
    target.write_text(MARKERS.format(n=0))
    server = Server(work, certs, ["-p", str(policies)])

    def write(n: int) -> None:
        tmp = policies / ".markers.kgr.tmp"
        tmp.write_text(MARKERS.format(n=n))
        os.replace(tmp, target)

    try:
        results["file"] = _measure([server], write, changes, rate)
    finally:
        server.stop()

    etcd_binary = shutil.which("etcd")
    if etcd_binary is None:
        results["etcd"] = "etcd not installed (Debian package etcd-server)"
        return results
    client, peer = _free_port(), _free_port()
    etcd_url = f"http://127.0.0.1:{client}"
    etcd_log = (work / "etcd.log").open("wb")
    etcd = subprocess.Popen(
        [
            etcd_binary,
            "--data-dir",
            str(work / "etcd"),
            "--listen-client-urls",
            etcd_url,
            "--advertise-client-urls",
            etcd_url,
            "--listen-peer-urls",
            f"http://127.0.0.1:{peer}",
            "--initial-advertise-peer-urls",
            f"http://127.0.0.1:{peer}",
            "--initial-cluster",
            f"default=http://127.0.0.1:{peer}",
        ],
        stdout=etcd_log,
        stderr=etcd_log,
    )
    replicas: list[Server] = []
    try:
        time.sleep(1.5)
        store = EtcdStore(etcd_url)
        store.push({"markers.kgr": MARKERS.format(n=0)}, {})
        replicas = [Server(work, certs, ["--etcd", etcd_url]) for _ in range(3)]
        results["etcd_3_replicas"] = _measure(
            replicas, lambda n: store.push({"markers.kgr": MARKERS.format(n=n)}, {}), changes, rate
        )
    finally:
        for r in replicas:
            r.stop()
        etcd.terminate()
        etcd.wait(20)
        etcd_log.close()
    return results
