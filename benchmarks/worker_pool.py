"""Threads or processes for evaluation? Throughput and dispatch cost on this machine.

Reviews every corpus manifest (built-in library + benchmarks/corpus policies)
``passes`` times:

* serially on the calling thread (the baseline);
* on a ``ThreadPoolExecutor`` with 1, 2 and 3 threads sharing one Engine
  (regopy releases the GIL inside rego-cpp; the compiled evaluator holds it);
* on a ``ProcessPoolExecutor`` with 2 processes, each with its own Engine
  (the review dict is pickled over a pipe, as a process-based webhook would).

Also measures the round trip of a trivial task through each pool (dispatch
overhead per request). Every configuration runs in the same process, one
after another, so their ratios are comparable. Asserts nothing.

Usage: ``.venv/bin/python benchmarks/worker_pool.py [--backend compiled|regopy] [--passes N]``
"""

from __future__ import annotations

import time
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from kubegate import Engine
from kubegate.engine.engine import build_review
from kubegate.policy.documents import iter_input_files, load_file

CORPUS = Path(__file__).parent / "corpus"
_engine: Engine | None = None


def _init(backend: str = "compiled") -> None:
    global _engine
    _engine = Engine([str(CORPUS / "templates"), str(CORPUS / "constraints")], backend=backend)


def _review(review: dict[str, Any]) -> int:
    assert _engine is not None
    return len(_engine.prepared.review(review).violations)


def _echo(value: Any) -> Any:
    return value


def _round_trip_ms(pool: Executor, payload: Any, n: int = 300) -> dict[str, float]:
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        pool.submit(_echo, payload).result()
        samples.append((time.perf_counter() - t) * 1000)
    samples.sort()
    return {"p50_ms": round(samples[n // 2], 4), "p99_ms": round(samples[int(n * 0.99) - 1], 4)}


def run(passes: int = 3, backend: str = "compiled") -> dict[str, Any]:
    _init(backend)
    docs = [d.obj for f in iter_input_files([str(CORPUS / "manifests")]) for d in load_file(f)]
    reviews = [build_review(d) for d in docs] * passes
    results: dict[str, Any] = {"backend": backend, "reviews": len(reviews)}
    t = time.perf_counter()
    for r in reviews:
        _review(r)
    results["serial_s"] = round(time.perf_counter() - t, 3)
    for n in (1, 2, 3):
        with ThreadPoolExecutor(n) as pool:
            t = time.perf_counter()
            list(pool.map(_review, reviews))
            results[f"threads_{n}_s"] = round(time.perf_counter() - t, 3)
            if n == 2:
                results["threads_round_trip"] = _round_trip_ms(pool, reviews[0])
    with ProcessPoolExecutor(2, initializer=_init, initargs=(backend,)) as pool:
        list(pool.map(_review, reviews[:4]))  # both workers have built their engine
        t = time.perf_counter()
        list(pool.map(_review, reviews, chunksize=1))
        results["processes_2_s"] = round(time.perf_counter() - t, 3)
        results["processes_round_trip"] = _round_trip_ms(pool, reviews[0])
    base = results["serial_s"]
    results["speedup"] = {
        key.removesuffix("_s"): round(base / value, 2)
        for key, value in results.items()
        if key.endswith("_s") and key != "serial_s"
    }
    return results


if __name__ == "__main__":
    import argparse
    import json
    import sys

    sys.path.insert(0, str(Path(__file__).parent.parent))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", default="compiled", choices=("compiled", "regopy"))
    ap.add_argument("--passes", type=int, default=3)
    args = ap.parse_args()
    print(json.dumps(run(args.passes, args.backend), indent=2))
