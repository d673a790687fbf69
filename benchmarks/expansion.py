"""What expansion costs: reviewing workloads with and without their generated Pods.

Two engines on the same policies (the built-in library, the corpus templates
and constraints in ``benchmarks/corpus``, plus a gatekeeper-library checkout's
templates and first sample constraints when given): one with kubegate's
built-in ExpansionTemplates (the default), one with ``expansion=False``. Every
workload of ``benchmarks/corpus/manifests`` (Deployments, StatefulSets,
DaemonSets, Jobs, CronJobs) is reviewed by both, interleaved, so machine noise
hits them alike; the report gives p50/p99 per review and the ratio, and how
many more violations the expanded reviews found (Pod constraints that now see
the workloads' Pods). A third series reviews the workload and then each
generated object by hand (expansion off): what expansion costs beyond the
reviews it adds.

This is a benchmark, not a test: it asserts nothing and never runs in CI.
Usage: ``python -m benchmarks.expansion [--gatekeeper-library DIR] [--rounds N] [--backend NAME]``
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.review_latency import CORPUS, gatekeeper_library_paths, summary
from kubegate import Engine
from kubegate.policy.documents import iter_input_files, load_file
from kubegate.policy.expansion import ExpansionSystem, builtin_expansion_templates

WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "ReplicationController"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gatekeeper-library", type=Path)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--backend", default="compiled")
    args = parser.parse_args()
    policies = [str(CORPUS / "templates"), str(CORPUS / "constraints")]
    if args.gatekeeper_library:
        policies += gatekeeper_library_paths(args.gatekeeper_library)
    workloads = [
        d.obj for f in iter_input_files([str(CORPUS / "manifests")]) for d in load_file(f) if d.kind in WORKLOAD_KINDS
    ]
    system = ExpansionSystem(builtin_expansion_templates())
    pods = [[r.obj for r in system.expand(w)] for w in workloads]
    generated = sum(len(p) for p in pods)
    on = Engine(policies, backend=args.backend)
    off = Engine(policies, backend=args.backend, expansion=False)
    found = {"on": 0, "off": 0}
    for obj in workloads:  # warm-up, and the violation counts
        found["on"] += len(on.review(obj).violations)
        found["off"] += len(off.review(obj).violations)
    times: dict[str, list[float]] = {"on": [], "off": [], "off_plus_pods": []}
    for _ in range(args.rounds):
        for obj, made in zip(workloads, pods, strict=True):
            for name, engine in (("on", on), ("off", off)):
                start = time.perf_counter()
                engine.review(obj)
                times[name].append((time.perf_counter() - start) * 1000)
            # the same work by hand: the workload, then each generated object on its own
            start = time.perf_counter()
            off.review(obj)
            for pod in made:
                off.review(pod)
            times["off_plus_pods"].append((time.perf_counter() - start) * 1000)
    on_s, off_s, by_hand = summary(times["on"]), summary(times["off"]), summary(times["off_plus_pods"])
    print(
        json.dumps(
            {
                "machine": f"{platform.node()} {platform.machine()} {platform.python_version()}",
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "backend": args.backend,
                "policies": len(on.policies),
                "workloads": len(workloads),
                "generated_objects": generated,
                "violations": found,
                "expansion_on": on_s,
                "expansion_off": off_s,
                "workload_then_pods_by_hand": by_hand,
                "ratio_p50": round(on_s["p50_ms"] / off_s["p50_ms"], 2),
                "ratio_p99": round(on_s["p99_ms"] / off_s["p99_ms"], 2),
                "ratio_p50_vs_by_hand": round(on_s["p50_ms"] / by_hand["p50_ms"], 2),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
