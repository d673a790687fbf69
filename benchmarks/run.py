"""Run kubegate's benchmarks and print a Markdown report.

Usage::

    .venv/bin/python benchmarks/run.py [--gatekeeper-library PATH] [--rounds N]

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

from benchmarks import review_latency

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--gatekeeper-library", type=Path, help="path to a gatekeeper-library checkout to add its templates"
    )
    parser.add_argument("--rounds", type=int, default=10, help="passes over the manifest corpus")
    parser.add_argument("--reference-rounds", type=int, default=300, help="reviews of the reference Pod")
    args = parser.parse_args()
    results = {
        "machine": machine(),
        "review_latency": review_latency.run(args.gatekeeper_library, args.rounds, args.reference_rounds),
    }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps(results, indent=2))
    print(report(results))
    print(f"\n(raw results: {out})")


if __name__ == "__main__":
    main()
