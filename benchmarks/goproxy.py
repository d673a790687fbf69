"""The Go module proxy: cold fetch + license audit, cached zips, a 50-module ``go mod download``, .info/.mod rps.

Everything on loopback: a static upstream GOPROXY (modules generated here,
``tests/goproxy/gomodules.py``), ``kubegate goproxy serve`` as a separate
process (so the load generator does not share its GIL), and:

1. cold fetch + audit: ``ModuleProxy.zip`` of modules not yet in the vault
   (upstream fetch over HTTP, zip checks, h1, store, license detection,
   policy evaluation, decision record), p50/p99 in ms;
2. a cached ``.zip`` served over HTTP (the license policy is evaluated and
   recorded on every download), p50/p99 in ms from sequential requests;
3. ``go mod download`` of a main module requiring 50 modules: cold (empty
   vault and module cache) and warm (vault filled, empty module cache), s;
4. cached ``.info`` and ``.mod`` with ``wrk`` (2 threads, 16 connections,
   and 2 connections for the latency at low concurrency): requests/s and
   p99, for each ``--workers`` count (``serve --workers N`` on the vault
   filled above), next to nginx serving the same files from disk (the floor
   a static file server sets on this machine; as many nginx workers).

This is a benchmark, not a test: it asserts nothing and never runs in CI.
Short run (about 1 min): ``python -m benchmarks.goproxy --seconds 3``.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests
from tests.goproxy.gomodules import GoModule, go_env, run_go, static_proxy, write_app, write_proxy_tree

from kubegate.goproxy.audit import LicenseGate, build_engine
from kubegate.goproxy.service import ModuleProxy
from kubegate.goproxy.storage import LocalStorage
from kubegate.goproxy.upstream import Upstream, UpstreamSettings
from kubegate.goproxy.vault import Vault

LICENSES = ("MIT", "Apache-2.0", "BSD")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)


def modules(n: int) -> list[GoModule]:
    return [GoModule(f"example.test/bench/m{i:03d}", "v1.0.0", license=LICENSES[i % 3]) for i in range(n)]


def cold_audit(upstream: str, tmp: Path, mods: list[GoModule]) -> dict[str, float]:
    proxy = ModuleProxy(
        Vault(LocalStorage(tmp / "cold")), Upstream(UpstreamSettings((upstream,))), LicenseGate(build_engine())
    )
    times = []
    for m in mods:
        start = time.perf_counter()
        proxy.zip(m.path, m.version)
        times.append((time.perf_counter() - start) * 1000)
    return {"p50_ms": pct(times, 0.5), "p99_ms": pct(times, 0.99), "n": len(times)}


def start_server(tmp: Path, upstream: str, workers: int = 1) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    code = "import sys; from kubegate.cli.goproxy_cmd import goproxy; sys.exit(goproxy(sys.argv[1:]))"
    args = [sys.executable, "-c", code, "serve", "--addr", f"127.0.0.1:{port}", "--storage", str(tmp / "vault")]
    args += ["--upstream", upstream, "--decision-log", str(tmp / f"log-{workers}"), "--workers", str(workers)]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            requests.get(f"{url}/healthz", timeout=1)
            break
        except requests.RequestException:
            time.sleep(0.1)
    return process, url


def cached_zip(url: str, m: GoModule, n: int) -> dict[str, float]:
    session = requests.Session()
    target = f"{url}/{m.path}/@v/{m.version}.zip"
    session.get(target, timeout=30)
    times = []
    for _ in range(n):
        start = time.perf_counter()
        session.get(target, timeout=30).raise_for_status()
        times.append((time.perf_counter() - start) * 1000)
    return {"p50_ms": pct(times, 0.5), "p99_ms": pct(times, 0.99), "n": n}


def go_download(tmp: Path, url: str, mods: list[GoModule], label: str) -> float:
    work = tmp / f"go-{label}"
    app = write_app(work / "app", {m.path: m.version for m in mods}, [])
    start = time.perf_counter()
    done = run_go(["mod", "download"], app, go_env(work, f"{url},off"), timeout=600)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return round(elapsed, 2)


def wrk(url: str, seconds: int, connections: int = 16) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    return {"rps": round(rps), "p99_ms": round(float(p99.group(1)) * scale[p99.group(2)], 3) if p99 else -1}


def nginx(root: Path, tmp: Path, workers: int = 1) -> tuple[subprocess.Popen[bytes] | None, str]:
    binary = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if binary is None:
        return None, ""
    port = free_port()
    conf = tmp / "nginx.conf"
    conf.write_text(
        f"worker_processes {workers}; daemon off; pid {tmp}/nginx.pid; error_log {tmp}/nginx.err;\n"
        f"events {{ worker_connections 256; }}\n"
        f"http {{ access_log off; client_body_temp_path {tmp}; proxy_temp_path {tmp}; fastcgi_temp_path {tmp};"
        f" uwsgi_temp_path {tmp}; scgi_temp_path {tmp};"
        f" server {{ listen 127.0.0.1:{port}; root {root}; }} }}\n"
    )
    process = subprocess.Popen(
        [binary, "-c", str(conf), "-p", str(tmp)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    time.sleep(0.5)
    return process, f"http://127.0.0.1:{port}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5, help="wrk duration per target")
    parser.add_argument("--modules", type=int, default=50)
    parser.add_argument("--zip-requests", type=int, default=200)
    parser.add_argument(
        "--workers",
        type=lambda text: [int(x) for x in text.split(",")],
        default=[1, 2],
        help="serve --workers counts to measure .info/.mod at (comma-separated)",
    )
    args = parser.parse_args()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="kubegate-bench-goproxy-") as name:
        tmp = Path(name)
        mods = modules(args.modules)
        write_proxy_tree(tmp / "upstream", mods)
        with static_proxy(tmp / "upstream") as upstream:
            results["cold_fetch_audit"] = cold_audit(upstream, tmp, mods[: min(20, len(mods))])
            server, url = start_server(tmp, upstream)
            try:
                results["go_mod_download_cold_s"] = go_download(tmp, url, mods, "cold")
                results["go_mod_download_warm_s"] = go_download(tmp, url, mods, "warm")
                results["cached_zip"] = cached_zip(url, mods[0], args.zip_requests)
            finally:
                server.terminate()
                server.wait(30)
            m = mods[1]
            for workers in args.workers:
                server, url = start_server(tmp, upstream, workers)
                try:
                    for ext in ("info", "mod"):
                        target = f"{url}/{m.path}/@v/{m.version}.{ext}"
                        requests.get(target, timeout=30).raise_for_status()
                        wrk(target, 1, 16)  # warm-up: every worker started and has read it once
                        for c in (16, 2):
                            results[f"cached_{ext}_w{workers}_c{c}"] = wrk(target, args.seconds, c)
                finally:
                    server.terminate()
                    server.wait(30)
        floor, floor_url = nginx(tmp / "upstream", tmp, max(args.workers))
        if floor is not None:
            try:
                m = mods[1]
                for c in (16, 2):
                    results[f"nginx_info_c{c}"] = wrk(f"{floor_url}/{m.path}/@v/{m.version}.info", args.seconds, c)
            finally:
                floor.terminate()
                floor.wait(10)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
