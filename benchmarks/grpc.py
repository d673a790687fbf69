"""The gRPC gate against the HTTPS webhook, and activation latency seen by a watch client.

Starts ``kubegate grpc`` and ``kubegate serve`` side by side (TLS with a
development certificate, the built-in library plus 20 corpus constraints, as
``benchmarks/webhook_load.py --constraints 20``), then sends unary ``Review``
calls of ``bench-pod`` to one and AdmissionReviews of it to the other at
fixed rates from a bounded asyncio client in this process (open loop: call
*i* is due at ``start + i / rate``; at most ``--concurrency`` in flight, a
call that finds no slot waits and the achieved rate says so). Latency is
from the call's send to its answer; p50/p99 per rate and protocol. Scenarios:
``cached`` (the default decision cache: after the first call, hits) and
``uncached`` (``--cache-ttl 0``: every call evaluated). The HTTPS side is
driven by wrk when it is installed (Debian package ``wrk``, paced as in
``benchmarks/webhook_load.py``), else by httpx from this process (whose own
cost then bounds the HTTPS rate).

Then the activation latency: a ``WatchPolicyStream`` client of a third
server (``--no-builtin``, one policy directory) while one policy file is
rewritten ``--changes`` times; latency is from the write to the Activation
event's arrival (p50/p99; target <= 50 ms per issue 17), and the part of it
from the snapshot swap (``Activation.activated_at``) to the arrival: what the
watch stream adds to the directory source's and the build's time.

This is a benchmark, not a test: it asserts nothing and never runs in CI.
Smoke run (about 10 s): ``python -m benchmarks.grpc --seconds 2 --rates 500 --changes 10 --scenarios cached``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import httpx

from benchmarks.webhook_load import _LUA, CORPUS, corpus_reviews, free_port, run_wrk, subset_constraints
from kubegate.grpc.client import AsyncClient, Client
from kubegate.webhook.certs import CertificateFiles, write_dev_certificates

RULE = 'package bench.watch\n\ndeny contains "change {n}" if {{\n\tinput.review.object.kind == "Pod{n}"\n}}\n'


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, *args], stdout=out, stderr=subprocess.STDOUT)


def start_grpc(certs: CertificateFiles, policies: Sequence[str], extra: Sequence[str], log: Path) -> tuple[Any, int]:
    port = free_port()
    args = ["-m", "kubegate.cli.grpc_cmd", "grpc", "--host", "127.0.0.1", "--port", str(port)]
    args += ["--tls-cert", str(certs.cert), "--tls-key", str(certs.key), "--log-level", "warning"]
    for p in policies:
        args += ["--policies", p]
    process = _start([*args, *extra], log)
    with Client(f"127.0.0.1:{port}", ca_file=str(certs.ca_cert), server_name="localhost") as client:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if client.health(timeout=1) == "SERVING":
                    return process, port
            except Exception:  # not listening yet
                time.sleep(0.2)
    raise RuntimeError(f"kubegate grpc did not become SERVING (see {log})")


def start_https(certs: CertificateFiles, policies: Sequence[str], extra: Sequence[str], log: Path) -> tuple[Any, int]:
    port = free_port()
    args = ["-m", "kubegate", "serve", "--host", "127.0.0.1", "--port", str(port)]
    args += ["--tls-cert", str(certs.cert), "--tls-key", str(certs.key), "--log-level", "warning"]
    for p in policies:
        args += ["--policies", p]
    process = _start([*args, *extra], log)
    deadline = time.monotonic() + 120
    with httpx.Client(verify=str(certs.ca_cert)) as client:
        while time.monotonic() < deadline:
            try:
                if client.get(f"https://127.0.0.1:{port}/readyz").status_code == 200:
                    return process, port
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
    raise RuntimeError(f"kubegate serve did not become ready (see {log})")


async def paced(call: Callable[[], Awaitable[object]], rate: int, seconds: float, concurrency: int) -> dict[str, Any]:
    """Open-loop calls at ``rate`` per second for ``seconds``; latencies in ms."""
    slots = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    errors = 0
    total = int(rate * seconds)
    loop = asyncio.get_running_loop()
    start = loop.time()

    async def one() -> None:
        nonlocal errors
        try:
            sent = time.perf_counter()
            await call()
            latencies.append((time.perf_counter() - sent) * 1000)
        except Exception:
            errors += 1
        finally:
            slots.release()

    tasks = []
    for i in range(total):
        due = start + i / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        await slots.acquire()
        tasks.append(asyncio.create_task(one()))
    await asyncio.gather(*tasks)
    elapsed = loop.time() - start
    return {
        "rate": rate,
        "achieved": round(len(latencies) / elapsed, 1),
        "calls": total,
        "errors": errors,
        "p50_ms": round(percentile(latencies, 0.5), 3),
        "p99_ms": round(percentile(latencies, 0.99), 3),
    }


async def compare(
    certs: CertificateFiles,
    grpc_port: int,
    https_port: int,
    rates: Sequence[int],
    seconds: float,
    concurrency: int,
    workdir: Path,
) -> list[dict[str, Any]]:
    """Each rate on gRPC (this process's asyncio client) then HTTPS (wrk when installed,
    paced as ``benchmarks/webhook_load.py`` does; else httpx from this process)."""
    review = json.loads(next(r for r in corpus_reviews() if '"name": "bench-pod"' in r))
    body = json.dumps(review).encode()
    obj = json.dumps(review["request"]).encode()
    bodies = workdir / "bench-pod.jsonl"
    bodies.write_bytes(body + b"\n")
    script = workdir / "paced.lua"
    script.write_text(_LUA)
    use_wrk = shutil.which("wrk") is not None
    out = []
    async with (
        AsyncClient(f"127.0.0.1:{grpc_port}", ca_file=str(certs.ca_cert), server_name="localhost") as grpc_client,
        httpx.AsyncClient(
            verify=str(certs.ca_cert), limits=httpx.Limits(max_connections=concurrency), timeout=10
        ) as http_client,
    ):

        async def grpc_call() -> object:
            return await grpc_client.review(obj, timeout=10)

        async def https_call() -> object:
            reply = await http_client.post(
                f"https://127.0.0.1:{https_port}/validate", content=body, headers={"content-type": "application/json"}
            )
            reply.raise_for_status()
            return reply

        for rate in rates:
            await paced(grpc_call, min(rate, 50), 0.5, concurrency)  # warm up the channel and the cache
            out.append({"protocol": "grpc", "client": "grpc.aio", **await paced(grpc_call, rate, seconds, concurrency)})
            print(json.dumps(out[-1]), flush=True)
            if use_wrk:
                url = f"https://127.0.0.1:{https_port}"
                connections = max(4, min(64, rate // 10))
                row = await asyncio.to_thread(run_wrk, url, bodies, rate, max(1, round(seconds)), connections, script)
                out.append({"protocol": "https", "client": "wrk", **row})
            else:
                await paced(https_call, min(rate, 50), 0.5, concurrency)
                out.append(
                    {"protocol": "https", "client": "httpx", **await paced(https_call, rate, seconds, concurrency)}
                )
            print(json.dumps(out[-1]), flush=True)
    return out


def activation(certs: CertificateFiles, workdir: Path, changes: int) -> dict[str, Any]:
    policies = workdir / "watched"
    policies.mkdir()
    target = policies / "rule.rego"
    target.write_text(RULE.format(n=0))
    process, port = start_grpc(certs, [str(policies)], ["--no-builtin", "--no-expansion"], workdir / "watch.log")
    latencies: list[float] = []
    delivery: list[float] = []  # from the snapshot swap to the event's arrival: the gate's own part
    try:
        with Client(f"127.0.0.1:{port}", ca_file=str(certs.ca_cert), server_name="localhost") as client:
            watch = client.watch("bench", timeout=changes * 5 + 30)
            events = iter(watch)
            next(events)  # the snapshot
            for n in range(1, changes + 1):
                written = time.perf_counter()
                target.write_text(RULE.format(n=n))
                for event in events:
                    if event.WhichOneof("kind") == "activation":
                        delivery.append((time.time() - event.activation.activated_at) * 1000)
                        break
                latencies.append((time.perf_counter() - written) * 1000)
                time.sleep(0.15)  # past the directory source's settle time: one change per activation
            watch.close()
    finally:
        process.terminate()
        process.wait(20)
    return {
        "changes": changes,
        "p50_ms": round(percentile(latencies, 0.5), 1),
        "p99_ms": round(percentile(latencies, 0.99), 1),
        "max_ms": round(max(latencies), 1),
        "delivery_p50_ms": round(percentile(delivery, 0.5), 2),
        "delivery_p99_ms": round(percentile(delivery, 0.99), 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rates", type=int, nargs="+", default=[500, 1000])
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--changes", type=int, default=100)
    ap.add_argument("--scenarios", nargs="+", default=["cached", "uncached"], choices=["cached", "uncached"])
    ap.add_argument("--activation-only", action="store_true", help="measure the activation latency alone")
    ap.add_argument("--out", type=Path, help="write the results as JSON here")
    args = ap.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="kubegate-grpc-bench-"))
    certs = write_dev_certificates(str(workdir / "certs"), "kubegate", "bench", ["localhost", "127.0.0.1"])
    policies = [str(CORPUS / "templates"), str(subset_constraints(workdir, 20))]
    results: dict[str, Any] = {"rates": args.rates, "seconds": args.seconds, "concurrency": args.concurrency}
    for scenario in [] if args.activation_only else args.scenarios:
        extra = ["--cache-ttl", "0"] if scenario == "uncached" else []
        grpc_server, grpc_port = start_grpc(certs, policies, extra, workdir / f"grpc-{scenario}.log")
        https_server, https_port = start_https(certs, policies, extra, workdir / f"https-{scenario}.log")
        try:
            results[scenario] = asyncio.run(
                compare(certs, grpc_port, https_port, args.rates, args.seconds, args.concurrency, workdir)
            )
        finally:
            for process in (grpc_server, https_server):
                process.terminate()
                process.wait(20)
    results["activation"] = activation(certs, workdir, args.changes)
    print(json.dumps(results["activation"]), flush=True)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
