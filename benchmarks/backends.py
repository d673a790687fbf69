"""The compiled backend (kubegate's own evaluator) against regopy, side by side.

Measures, interleaved in one process so machine noise hits both alike:

* loading and compiling the benchmark policy set (built-ins + corpus, 75
  policies; the gatekeeper-library templates too with ``--gatekeeper-library``);
* reviewing every corpus manifest (per-object p50/p99/mean, ratio of means);
* the reference point: ``bench-pod`` against exactly 40 constraints, one thread.

Usage::

    .venv/bin/python benchmarks/backends.py [--rounds N] [--reference-rounds N]
        [--gatekeeper-library PATH] [--json FILE]

This is a benchmark, not a test: it asserts nothing and never runs in CI.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent.parent))

from benchmarks.review_latency import CORPUS, gatekeeper_library_paths, load_corpus, summary
from kubegate import Engine
from kubegate.engine.inputs import build_review
from kubegate.policy.documents import iter_input_files, load_file

BACKENDS = ("regopy", "compiled")


def _load(paths: list[str], inventory: list[dict[str, Any]], rounds: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for backend in BACKENDS:
        samples = []
        for _ in range(rounds):
            gc.collect()
            t0 = time.perf_counter()
            engine = Engine(paths, inventory=inventory, backend=backend)
            samples.append((time.perf_counter() - t0) * 1000)
            policies = len(engine.prepared.policies)
            errors = len(engine.errors)
            engine.close()
        out[backend] = {**summary(samples), "policies": policies, "errors": errors}
    return out


def _corpus(
    paths: list[str], inventory: list[dict[str, Any]], docs: list[dict[str, Any]], rounds: int
) -> dict[str, Any]:
    engines = {b: Engine(paths, inventory=inventory, backend=b) for b in BACKENDS}
    reviews = [build_review(d) for d in docs]
    samples: dict[str, list[float]] = {b: [] for b in BACKENDS}
    disagreements = 0
    for _ in range(rounds):
        for review in reviews:
            answers = {}
            for b in BACKENDS:
                t0 = time.perf_counter()
                result = engines[b].prepared.review(review)
                samples[b].append((time.perf_counter() - t0) * 1000)
                answers[b] = sorted((d.policy, v.message) for d in result.decisions for v in d.violations)
            disagreements += answers["regopy"] != answers["compiled"]
    for e in engines.values():
        e.close()
    out: dict[str, Any] = {b: summary(samples[b]) for b in BACKENDS}
    out["objects"] = len(docs)
    out["disagreeing_reviews"] = disagreements
    out["ratio_mean_regopy_over_compiled"] = round(out["regopy"]["mean_ms"] / out["compiled"]["mean_ms"], 1)
    return out


def _forty(inventory: list[dict[str, Any]], reference: dict[str, Any], rounds: int) -> dict[str, Any]:
    docs = [
        d.obj for f in iter_input_files([str(CORPUS / "templates"), str(CORPUS / "constraints")]) for d in load_file(f)
    ]
    review = build_review(reference)
    probe = Engine(objects=docs, builtin=False, inventory=inventory, backend="regopy")
    matched = sorted(d.policy for d in probe.prepared.review(review).decisions)[:40]
    probe.close()
    keep = [
        d
        for d in docs
        if d.get("kind") == "ConstraintTemplate" or f"{d.get('kind')}/{d.get('metadata', {}).get('name')}" in matched
    ]
    engines = {b: Engine(objects=keep, builtin=False, inventory=inventory, backend=b) for b in BACKENDS}
    for b in BACKENDS:  # warm-up: first calls compile regular expressions and fill caches
        for _ in range(5):
            engines[b].prepared.review(review)
    samples: dict[str, list[float]] = {b: [] for b in BACKENDS}
    for _ in range(rounds):
        for b in BACKENDS:
            t0 = time.perf_counter()
            engines[b].prepared.review(review)
            samples[b].append((time.perf_counter() - t0) * 1000)
    out: dict[str, Any] = {"constraints": len(matched)}
    for b in BACKENDS:
        out[b] = {**summary(samples[b]), "evaluated": len(engines[b].prepared.review(review).decisions)}
    out["ratio_p99_regopy_over_compiled"] = round(out["regopy"]["p99_ms"] / out["compiled"]["p99_ms"], 1)
    # The compiled backend on its own (interleaving puts a 100 ms rego-cpp call,
    # and its effect on the CPU caches, between any two compiled reviews).
    gc.collect()
    alone = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        engines["compiled"].prepared.review(review)
        alone.append((time.perf_counter() - t0) * 1000)
    out["compiled_alone"] = summary(alone)
    for e in engines.values():
        e.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5, help="rounds over the corpus manifests")
    ap.add_argument("--reference-rounds", type=int, default=300, help="reviews of bench-pod per backend")
    ap.add_argument("--load-rounds", type=int, default=3)
    ap.add_argument("--gatekeeper-library", type=Path)
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    corpus = load_corpus()
    inventory = [d for d in corpus.documents if d.get("metadata", {}).get("name")]
    paths = [str(CORPUS / "templates"), str(CORPUS / "constraints")]
    if args.gatekeeper_library is not None:
        paths += gatekeeper_library_paths(args.gatekeeper_library)
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {platform.processor() or ''} python {platform.python_version()}",
        "load": _load(paths, inventory, args.load_rounds),
        "corpus": _corpus(paths, inventory, corpus.documents, args.rounds),
    }
    if corpus.reference is not None:
        results["bench_pod_40"] = _forty(inventory, corpus.reference, args.reference_rounds)
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
