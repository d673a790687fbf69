"""Load on the admission webhook: fixed request rates over HTTPS on loopback.

Starts ``kubegate serve`` (TLS with a development certificate, the built-in
library plus Gatekeeper-style constraints from ``benchmarks/corpus``), then
drives it with wrk (Debian package ``wrk``) at fixed rates. wrk's Lua
``delay()`` paces requests on a global schedule (LuaJIT FFI clock), so each
run aims at an exact rate; the report gives the rate achieved next to the
rate asked for. Every request is a real AdmissionReview (``CREATE``) built
from the corpus manifests (Pods, Deployments, StatefulSets, DaemonSets,
Jobs, CronJobs, Services, Ingresses, ConfigMaps, Namespaces...), in a fixed
shuffled order.

Scenarios:

* ``uncached``: the decision cache off (``--cache-ttl 0``): every request is evaluated;
* ``cached``: the cache on (default TTL 10 s) with the same mix: after the
  first pass over the 61 distinct objects every request is a hit, which is
  what a GitOps re-apply looks like;
* ``hit``: one object repeated with a TTL longer than the run: the cache-hit path alone;
* ``floor``: the same requests to a trivial Starlette app on the same uvicorn
  and TLS (answers "allowed" without kubegate): what the HTTP stack and this
  machine cost at each rate, the floor under the hit path.

Errors are wrk's socket errors and non-2xx answers; time-outs and refusals
(full queue) come from the server's own metrics, scraped before and after.
This is a benchmark, not a test: it asserts nothing and never runs in CI.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from kubegate.policy.documents import iter_input_files, load_file
from kubegate.webhook.certs import write_dev_certificates

HERE = Path(__file__).parent
CORPUS = HERE / "corpus"

_LUA = r"""
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } timespec;
int clock_gettime(int clk_id, timespec *tp);
]]
local ts = ffi.new("timespec")
local function now_ms()
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local bodies = {}
local interval = 0
local next_send = nil
local i = 0

function init(args)
  for line in io.lines(args[1]) do bodies[#bodies + 1] = line end
  interval = 1000 / tonumber(args[2])
end

function request()
  i = i + 1
  return wrk.format("POST", "/validate", {["Content-Type"] = "application/json"}, bodies[(i - 1) % #bodies + 1])
end

function delay()
  local now = now_ms()
  if next_send == nil then next_send = now end
  next_send = next_send + interval
  local wait = next_send - now
  if wait < 0 then return 0 end
  return wait
end
"""


# A minimal ASGI app that answers every AdmissionReview with "allowed": the HTTP floor.
ECHO_APP = """
import json
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

async def validate(request: Request) -> Response:
    doc = json.loads(await request.body())
    out = {"apiVersion": doc["apiVersion"], "kind": "AdmissionReview",
           "response": {"uid": doc["request"]["uid"], "allowed": True}}
    return Response(json.dumps(out), media_type="application/json")

app = Starlette(routes=[Route("/validate", validate, methods=["POST"])])
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def corpus_reviews(seed: int = 7) -> list[str]:
    """One AdmissionReview JSON line per corpus manifest, shuffled with a fixed seed."""
    docs = [d.obj for f in iter_input_files([str(CORPUS / "manifests")]) for d in load_file(f)]
    lines = []
    for n, obj in enumerate(docs):
        group, _, version = str(obj.get("apiVersion", "v1")).rpartition("/")
        meta = obj.get("metadata", {})
        request: dict[str, Any] = {
            "uid": f"bench-{n}",
            "kind": {"group": group, "version": version, "kind": obj.get("kind", "")},
            "resource": {"group": group, "version": version, "resource": str(obj.get("kind", "")).lower() + "s"},
            "operation": "CREATE",
            "userInfo": {"username": "system:serviceaccount:argocd:argocd-application-controller"},
            "object": obj,
            "oldObject": None,
            "dryRun": False,
        }
        if meta.get("namespace"):
            request["namespace"] = meta["namespace"]
        if meta.get("name"):
            request["name"] = meta["name"]
        lines.append(json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}))
    random.Random(seed).shuffle(lines)
    return lines


class Server:
    """A ``kubegate serve`` subprocess over HTTPS."""

    def __init__(self, workdir: Path, policies: Sequence[str], extra: Sequence[str]) -> None:
        certs = write_dev_certificates(
            str(workdir / "certs"), "kubegate", "bench", extra_names=["127.0.0.1"], force=True
        )
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.context = ssl.create_default_context(cafile=str(certs.ca_cert))
        args = [sys.executable, "-m", "kubegate", "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        args += ["--tls-cert", str(certs.cert), "--tls-key", str(certs.key)]
        for p in policies:
            args += ["--policies", p]
        args += list(extra)
        self.log = (workdir / f"serve-{self.port}.log").open("wb")
        self.process = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while True:
            try:
                if self.get("/readyz").startswith('{"ready":true'):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError("kubegate serve did not become ready")
            time.sleep(0.2)
        self.readyz = json.loads(self.get("/readyz"))

    @classmethod
    def echo(cls, workdir: Path) -> Server:
        """The HTTP floor: the same TLS, uvicorn and Starlette, no kubegate."""
        self = cls.__new__(cls)
        certs = write_dev_certificates(
            str(workdir / "certs"), "kubegate", "bench", extra_names=["127.0.0.1"], force=True
        )
        (workdir / "echo_app.py").write_text(ECHO_APP)
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.context = ssl.create_default_context(cafile=str(certs.ca_cert))
        uvicorn = Path(sys.executable).parent / "uvicorn"
        args = [str(uvicorn), "echo_app:app", "--host", "127.0.0.1", "--port", str(self.port), "--no-access-log"]
        args += ["--ssl-keyfile", str(certs.key), "--ssl-certfile", str(certs.cert), "--log-level", "warning"]
        self.log = (workdir / f"echo-{self.port}.log").open("wb")
        self.process = subprocess.Popen(args, cwd=workdir, stdout=self.log, stderr=subprocess.STDOUT)
        time.sleep(2)
        self.readyz = {}
        return self

    def get(self, path: str) -> str:
        with urllib.request.urlopen(self.url + path, context=self.context, timeout=10) as reply:
            return str(reply.read().decode())

    def counters(self) -> dict[str, float]:
        """Sums of the server counters the report needs (zeros for the echo floor)."""
        if not self.readyz:
            return dict.fromkeys(("timeouts", "queue_full", "errors", "hits", "requests"), 0.0)
        wanted = {
            "timeouts": "kubegate_admission_timeouts_total",
            "queue_full": 'kubegate_admission_rejected_total{reason="queue_full"}',
            "errors": 'kubegate_admission_rejected_total{reason="error"}',
            "hits": "kubegate_decision_cache_hits_total",
        }
        out = dict.fromkeys(wanted, 0.0)
        for line in self.get("/metrics").splitlines():
            for key, prefix in wanted.items():
                if line.startswith(prefix):
                    out[key] += float(line.rsplit(" ", 1)[1])
        out["requests"] = sum(
            float(line.rsplit(" ", 1)[1])
            for line in self.get("/metrics").splitlines()
            if line.startswith("kubegate_admission_requests_total{")
        )
        return out

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    found = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not found:
        raise ValueError(f"unexpected wrk latency {text!r}")
    return float(found.group(1)) * _UNITS[found.group(2)]


def run_wrk(url: str, bodies: Path, rate: int, seconds: int, connections: int, script: Path) -> dict[str, Any]:
    """One paced wrk run; returns achieved rate, latency percentiles (ms) and errors."""
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s", "-s", str(script)]
    out = subprocess.run(
        [*cmd, url + "/validate", "--", str(bodies), str(rate)], capture_output=True, text=True, check=True
    ).stdout
    result: dict[str, Any] = {"target_rps": rate}
    for line in out.splitlines():
        parts = line.split()
        if line.strip().startswith(("50%", "75%", "90%", "99%")):
            result[f"p{parts[0].rstrip('%')}_ms"] = round(_ms(parts[1]), 3)
        elif parts[:1] == ["Latency"] and parts[1] != "Distribution":
            result["mean_ms"] = round(_ms(parts[1]), 3)
            result["max_ms"] = round(_ms(parts[3]), 3)
        elif line.startswith("Requests/sec:"):
            result["achieved_rps"] = round(float(parts[1]), 1)
        elif "requests in" in line:
            result["requests"] = int(parts[0])
        elif line.strip().startswith("Socket errors"):
            result["socket_errors"] = sum(int(x) for x in re.findall(r"\d+", line))
        elif line.strip().startswith("Non-2xx"):
            result["non_2xx"] = int(parts[-1])
    result.setdefault("socket_errors", 0)
    result.setdefault("non_2xx", 0)
    return result


def scenario(server: Server, bodies: Path, script: Path, rates: Sequence[int], seconds: int) -> list[dict[str, Any]]:
    rows = []
    for rate in rates:
        before = server.counters()
        row = run_wrk(server.url, bodies, rate, seconds, connections=max(4, min(64, rate // 10)), script=script)
        after = server.counters()
        for key in ("timeouts", "queue_full", "errors", "hits", "requests"):
            row[key] = int(after[key] - before[key])
        rows.append(row)
        time.sleep(1)
    return rows


def subset_constraints(workdir: Path, count: int) -> Path:
    """A file with ``count`` corpus constraints, taken round-robin over the templates."""
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for f in iter_input_files([str(CORPUS / "constraints")]):
        for d in load_file(f):
            by_kind.setdefault(str(d.obj["kind"]), []).append(d.obj)
    chosen: list[dict[str, Any]] = []
    while len(chosen) < count and any(by_kind.values()):
        for kind in sorted(by_kind):
            if by_kind[kind] and len(chosen) < count:
                chosen.append(by_kind[kind].pop(0))
    path = workdir / f"constraints-{count}.yaml"
    path.write_text(yaml.safe_dump_all(chosen, sort_keys=False))
    return path


def run(
    rates: Sequence[int] = (100, 500, 1000),
    seconds: int = 15,
    search_rates: Sequence[int] = (10, 20, 30, 40, 50, 60, 80, 100, 150, 200),
    constraints: str = "corpus",
    scenarios: Sequence[str] = ("uncached", "cached", "hit"),
    backend: str | None = None,
    workers: int | None = None,
) -> dict[str, Any]:
    """Runs every scenario (on ``backend``: the server's default when ``None``;
    ``workers`` evaluation threads, the server's default when ``None``);
    returns JSON-compatible results."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian package wrk)")
    workdir = Path(tempfile.mkdtemp(prefix="kubegate-load-"))
    script = workdir / "paced.lua"
    script.write_text(_LUA)
    reviews = corpus_reviews()
    mix = workdir / "mix.jsonl"
    mix.write_text("\n".join(reviews) + "\n")
    pod = next(r for r in reviews if '"name": "bench-pod"' in r)
    single = workdir / "single.jsonl"
    single.write_text(pod + "\n")
    policies = [str(CORPUS / "templates"), str(CORPUS / "constraints")]
    if constraints != "corpus":
        policies = [str(CORPUS / "templates"), str(subset_constraints(workdir, int(constraints)))]
    results: dict[str, Any] = {
        "objects": len(reviews),
        "seconds_per_rate": seconds,
        "backend": backend or "default",
        "workers": workers or "default",
    }

    if "uncached" in scenarios:
        chosen = ["--backend", backend] if backend else []
        if workers is not None:
            chosen += ["--workers", str(workers)]
        uncached = Server(workdir, policies, ["--cache-ttl", "0", "--log-level", "info", *chosen])
        try:
            results["policies"] = uncached.readyz["policies"]
            results["uncached"] = scenario(uncached, mix, script, rates, seconds)
            results["uncached_search"] = scenario(uncached, mix, script, search_rates, seconds)
        finally:
            uncached.stop()
        highest = [
            r["target_rps"]
            for r in results["uncached_search"]
            if r.get("p99_ms", 1e9) < 10 and r["achieved_rps"] >= 0.95 * r["target_rps"]
        ]
        results["highest_uncached_rate_p99_under_10ms"] = max(highest) if highest else None
    if "cached" in scenarios:
        # The default TTL (10 s): entries expire during a run and are evaluated again.
        cached = Server(workdir, policies, ["--log-level", "info"])
        try:
            results["policies"] = cached.readyz["policies"]
            scenario(cached, mix, script, [50], 3)  # fill the cache once
            results["cached"] = scenario(cached, mix, script, rates, seconds)
        finally:
            cached.stop()
    if "hit" in scenarios:
        # The hit path alone: a TTL longer than the run, so nothing is evaluated during it.
        hits = Server(workdir, policies, ["--log-level", "info", "--cache-ttl", "3600"])
        try:
            results["policies"] = hits.readyz["policies"]
            scenario(hits, single, script, [10], 2)
            results["hit"] = scenario(hits, single, script, rates, seconds)
        finally:
            hits.stop()
        floor = Server.echo(workdir)
        try:
            results["floor"] = scenario(floor, single, script, rates, seconds)
        finally:
            floor.stop()
    results["workdir"] = str(workdir)
    return results
