"""Run kubegate's benchmarks and print a Markdown report.

Usage::

    .venv/bin/python benchmarks/run.py review [--gatekeeper-library PATH] [--rounds N]
    .venv/bin/python benchmarks/run.py webhook [--seconds N] [--constraints corpus|20]
    .venv/bin/python benchmarks/run.py pool
    .venv/bin/python benchmarks/run.py dsl
    .venv/bin/python benchmarks/run.py activation [--changes N]   # needs etcd (Debian etcd-server)
    .venv/bin/python benchmarks/run.py server      # needs: pip install -e '.[bench]'
    .venv/bin/python benchmarks/run.py audit-webhook [--rate 500] [--seconds 15] [--rounds 3]
    .venv/bin/python benchmarks/run.py audit-wal [--seconds 5]

``webhook``, ``audit-webhook`` and ``server`` need wrk (Debian package ``wrk``).

Results are printed and written to ``benchmarks/results/<timestamp>.json``
(not committed); ``docs/performance.md`` records the numbers with the machine
they were measured on. Benchmarks never run as part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import (
    activation,
    audit_log,
    audit_records,
    dsl_compile,
    review_latency,
    server_choice,
    webhook_load,
    worker_pool,
)

RESULTS = Path(__file__).parent / "results"


def machine() -> dict[str, Any]:
    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def report(results: dict[str, Any]) -> str:
    m = results["machine"]
    r = results["review_latency"]
    lines = [
        f"machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}, {m['system']}, {m['date']}",
        "",
        f"policy set: {r['policies']} policies ({r['load_errors']} load errors), loaded in {r['load_ms']} ms "
        f"(backend compile {r['compile_ms']} ms); corpus: {r['objects']} objects x {r['rounds']} rounds",
        "",
        "| measure | p50 ms | p99 ms | max ms | mean ms |",
        "|---|---|---|---|---|",
    ]
    for label, key in (("kubegate review, per object", "kubegate"), ("bare regopy, same policies", "bare")):
        s = r[key]
        lines.append(f"| {label} | {s['p50_ms']} | {s['p99_ms']} | {s['max_ms']} | {s['mean_ms']} |")
    ref = r.get("reference_pod") or {}
    if ref:
        for label, key in (
            (f"bench-pod, {ref['constraints_evaluated']} constraints, kubegate", "kubegate"),
            ("bench-pod, kubegate, parallelism=2", "kubegate_2_threads"),
            ("bench-pod, bare regopy", "bare"),
        ):
            s = ref[key]
            lines.append(f"| {label} | {s['p50_ms']} | {s['p99_ms']} | {s['max_ms']} | {s['mean_ms']} |")
        forty = ref["forty_constraints"]
        for threads in (1, 2):
            s = forty[f"threads_{threads}"]
            lines.append(
                f"| bench-pod, {s['evaluated']} constraints only, {threads} thread(s) "
                f"| {s['p50_ms']} | {s['p99_ms']} | {s['max_ms']} | {s['mean_ms']} |"
            )
    lines += [
        "",
        f"ratio kubegate / bare: mean {r['ratio_mean']}, p50 {r['ratio_p50']}"
        + (f"; bench-pod mean {ref['ratio_mean']}" if ref else ""),
        f"bare results that were not valid JSON: {r['bare_result_parse_errors']}",
    ]
    if ref:
        lines += ["", f"bench-pod, median policy {ref['median_policy_ms']} ms; costliest:"]
        lines += [f"  {ms} ms {pid}" for ms, pid in ref["costliest_policies_ms"]]
    return "\n".join(lines)


def webhook_report(r: dict[str, Any]) -> str:
    lines = [
        f"webhook: {r['policies']} policies, {r['objects']} distinct objects, {r['seconds_per_rate']} s per rate",
        "",
        "| scenario | target rps | achieved rps | p50 ms | p90 ms | p99 ms | max ms | errors | timeouts | queue full |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for scenario in ("uncached", "uncached_search", "cached", "hit", "floor"):
        for row in r.get(scenario, ()):
            errors = row["socket_errors"] + row["non_2xx"]
            lines.append(
                f"| {scenario} | {row['target_rps']} | {row.get('achieved_rps')} | {row.get('p50_ms')} | "
                f"{row.get('p90_ms')} | {row.get('p99_ms')} | {row.get('max_ms')} | {errors} | {row['timeouts']} | "
                f"{row['queue_full']} |"
            )
    if "uncached" in r:
        lines += ["", f"highest uncached rate with p99 < 10 ms: {r['highest_uncached_rate_p99_under_10ms']}"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="benchmark", required=True)
    review = sub.add_parser("review", help="review latency, kubegate vs the bare backend")
    review.add_argument(
        "--gatekeeper-library", type=Path, help="path to a gatekeeper-library checkout to add its templates"
    )
    review.add_argument("--rounds", type=int, default=10, help="passes over the manifest corpus")
    review.add_argument("--reference-rounds", type=int, default=300, help="reviews of the reference Pod")
    hook = sub.add_parser("webhook", help="the admission webhook under fixed request rates")
    hook.add_argument("--seconds", type=int, default=15, help="duration of each rate")
    hook.add_argument("--constraints", choices=["corpus", "20"], default="corpus", help="policy set size")
    hook.add_argument(
        "--scenarios", default="uncached,cached,hit", help="comma-separated subset of uncached, cached, hit"
    )
    sub.add_parser("pool", help="threads vs processes for evaluation")
    sub.add_parser("dsl", help="compiling 200 DSL rules")
    act = sub.add_parser("activation", help="policy change to first decision, file and etcd sources")
    act.add_argument("--changes", type=int, default=120, help="policy changes per source")
    act.add_argument("--rate", type=float, default=50.0, help="background reviews per second per server")
    sub.add_parser("server", help="uvicorn vs granian")
    aw = sub.add_parser("audit-webhook", help="webhook p50/p99 with the strict decision log on vs off")
    aw.add_argument("--rate", type=int, default=500, help="requests per second")
    aw.add_argument("--seconds", type=int, default=15, help="duration of each run")
    aw.add_argument("--rounds", type=int, default=3, help="interleaved rounds of every variant")
    al = sub.add_parser("audit-wal", help="write-ahead log records/s per fsync policy")
    al.add_argument("--seconds", type=float, default=5.0, help="duration of each measurement")
    ar = sub.add_parser("audit-records", help="record sizes before/after manifests; redaction in a thread vs a process")
    ar.add_argument("--rate", type=int, default=500, help="records per second")
    ar.add_argument("--seconds", type=float, default=10.0, help="duration of each run")
    ar.add_argument("--rounds", type=int, default=3, help="interleaved rounds of every variant")
    args = parser.parse_args()
    results: dict[str, Any] = {"machine": machine()}
    if args.benchmark == "review":
        results["review_latency"] = review_latency.run(args.gatekeeper_library, args.rounds, args.reference_rounds)
        text = report(results)
    elif args.benchmark == "webhook":
        results["webhook"] = webhook_load.run(
            seconds=args.seconds, constraints=args.constraints, scenarios=args.scenarios.split(",")
        )
        text = webhook_report(results["webhook"])
    elif args.benchmark == "activation":
        results["activation"] = activation.run(args.changes, args.rate)
        text = json.dumps(results["activation"], indent=2)
    elif args.benchmark == "dsl":
        results["dsl"] = dsl_compile.run()
        text = json.dumps(results["dsl"], indent=2)
    elif args.benchmark == "pool":
        results["pool"] = worker_pool.run()
        text = json.dumps(results["pool"], indent=2)
    elif args.benchmark == "audit-webhook":
        results["audit_webhook"] = audit_log.webhook(args.rate, args.seconds, args.rounds)
        text = json.dumps(results["audit_webhook"]["summary"], indent=2)
    elif args.benchmark == "audit-records":
        results["audit_record_sizes"] = audit_records.sizes()
        results["audit_logger_worker"] = audit_records.worker(args.seconds, args.rate, args.rounds)
        text = json.dumps(
            {"sizes": results["audit_record_sizes"], "worker": results["audit_logger_worker"]["summary"]}, indent=2
        )
    elif args.benchmark == "audit-wal":
        results["audit_wal"] = audit_log.wal(args.seconds)
        text = json.dumps(results["audit_wal"], indent=2)
    else:
        results["server"] = server_choice.run()
        text = json.dumps(results["server"], indent=2)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{args.benchmark}-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps(results, indent=2))
    print(text)
    print(f"\n(raw results: {out})")


if __name__ == "__main__":
    main()
