"""Review latency of kubegate against the bare regopy backend, side by side.

Loads a large policy set (the built-in library, the Gatekeeper-style corpus in
``benchmarks/corpus`` and, when given, the templates and sample constraints of
a gatekeeper-library checkout), reviews every manifest of the corpus many
times, and for each review also evaluates the *same* policies on the *same*
input the way an integrator would with regopy alone: one
input document ``{"review": ..., "parameters": ...}`` converted per policy and
one query of each of the policy's rule entrypoints, on the same normalised
modules (so both do the same evaluation work; the bare path converts input
with kubegate's escaping builder, which is also faster than ``regopy.Input``).
Both run interleaved in one process so machine noise hits them alike; the
report gives per-object p50/p99/max and the ratio.

This is a benchmark, not a test: it asserts nothing and never runs in CI.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import regopy
from regopy import Interpreter, LogLevel
from regopy.rego_shared import rego_bundle_query_entrypoint, rego_free_output, rego_output_string

from kubegate import Engine
from kubegate.engine.engine import build_review
from kubegate.engine.regopy_backend import build_input
from kubegate.policy.documents import iter_input_files, load_file
from kubegate.rego.compat import COMPAT_MODULE_NAME, compat_printed

HERE = Path(__file__).parent
CORPUS = HERE / "corpus"


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of ``values`` (q in [0, 100])."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def summary(samples_ms: Sequence[float]) -> dict[str, float]:
    return {
        "n": len(samples_ms),
        "p50_ms": round(percentile(samples_ms, 50), 4),
        "p99_ms": round(percentile(samples_ms, 99), 4),
        "max_ms": round(max(samples_ms), 4),
        "mean_ms": round(sum(samples_ms) / len(samples_ms), 4),
    }


def gatekeeper_library_paths(root: Path) -> list[str]:
    """Templates and the first sample constraint of each template in a gatekeeper-library checkout."""
    paths: list[str] = []
    for template in sorted((root / "library").rglob("template.yaml")):
        paths.append(str(template))
        samples = sorted((template.parent / "samples").glob("*/constraint.yaml"))
        paths.extend(str(s) for s in samples)
    return paths


class BareBackend:
    """regopy used directly on kubegate's normalised modules, one query per policy."""

    def __init__(self, engine: Engine) -> None:
        catalog = engine.catalog
        interp = Interpreter()
        interp.log_level = LogLevel.NONE
        for module in catalog.modules:
            interp.add_module(module.name, module.printed.text)
        interp.add_module(COMPAT_MODULE_NAME, compat_printed().text)
        interp.add_data({"inventory": dict(engine.prepared.inventory.data)})
        self.entrypoints: dict[str, list[str]] = {}
        for policy in engine.policies:
            self.entrypoints[policy.id] = ["/".join((*policy.package, rule)) for rule in sorted(policy.rules)]
        self.params = {p.id: p.parameters for p in engine.policies}
        self.styles = {p.id: p.input_style for p in engine.policies}
        flat = sorted({e for eps in self.entrypoints.values() for e in eps})
        self.bundle = interp.build(None, flat)
        if not self.bundle.ok():
            raise RuntimeError("the bare backend could not build the bundle")
        self.runner = Interpreter()
        self.runner.log_level = LogLevel.NONE
        self.errors = 0

    def evaluate(self, policy_ids: Sequence[str], review: dict[str, Any]) -> int:
        """Evaluates the policies the way a direct regopy caller would; returns the result count."""
        results = 0
        for pid in policy_ids:
            if self.styles[pid] == "object":
                value: Any = review.get("object")
            else:
                value = {"review": review, "parameters": self.params[pid] or {}}
            self.runner.set_input(build_input(value))
            for entrypoint in self.entrypoints[pid]:
                impl = rego_bundle_query_entrypoint(self.runner._impl, self.bundle._impl, entrypoint)
                text = rego_output_string(impl)
                rego_free_output(impl)
                try:
                    out = json.loads(text) if text != "undefined" else {}
                    results += len(out.get("expressions", [[]])[0]) if isinstance(out, dict) else 0
                except (ValueError, TypeError, IndexError):
                    self.errors += 1
        return results


@dataclass
class Corpus:
    documents: list[dict[str, Any]]
    reference: dict[str, Any] | None


def load_corpus() -> Corpus:
    docs = [d.obj for f in iter_input_files([str(CORPUS / "manifests")]) for d in load_file(f)]
    reference = next((d for d in docs if d.get("kind") == "Pod" and d["metadata"].get("name") == "bench-pod"), None)
    return Corpus(docs, reference)


def forty_constraints(matched: Sequence[str], corpus: Corpus, rounds: int) -> dict[str, Any]:
    """The issue's reference point: the bench Pod against exactly 40 constraints.

    Takes the first 40 corpus constraints (by id) that select the Pod and
    builds an engine with only those (no built-ins); reports 1 and 2 threads.
    """
    docs = [
        d.obj for f in iter_input_files([str(CORPUS / "templates"), str(CORPUS / "constraints")]) for d in load_file(f)
    ]
    ours = {f"{d.get('kind')}/{d.get('metadata', {}).get('name')}" for d in docs}
    chosen = sorted(pid for pid in matched if pid in ours)[:40]
    keep = [
        d
        for d in docs
        if d.get("kind") == "ConstraintTemplate" or f"{d.get('kind')}/{d.get('metadata', {}).get('name')}" in chosen
    ]
    inventory = [d for d in corpus.documents if d.get("metadata", {}).get("name")]
    assert corpus.reference is not None
    review = build_review(corpus.reference)
    out: dict[str, Any] = {"constraints": len(chosen)}
    for threads in (1, 2):
        engine = Engine(objects=keep, builtin=False, inventory=inventory, parallelism=threads)
        evaluated = len(engine.prepared.review(review).decisions)
        samples: list[float] = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            engine.prepared.review(review, engine._executor, threads)
            samples.append((time.perf_counter() - t0) * 1000)
        engine.close()
        out[f"threads_{threads}"] = {**summary(samples), "evaluated": evaluated}
    return out


def run(gatekeeper_library: Path | None, rounds: int, reference_rounds: int) -> dict[str, Any]:
    """Runs the benchmark and returns the results as a JSON-compatible dict."""
    policy_paths = [str(CORPUS / "templates"), str(CORPUS / "constraints")]
    if gatekeeper_library is not None:
        policy_paths += gatekeeper_library_paths(gatekeeper_library)
    corpus = load_corpus()

    start = time.perf_counter()
    engine = Engine(policy_paths, inventory=[d for d in corpus.documents if d.get("metadata", {}).get("name")])
    load_ms = (time.perf_counter() - start) * 1000
    bare = BareBackend(engine)

    kubegate_ms: list[float] = []
    bare_ms: list[float] = []
    per_object: list[dict[str, Any]] = []
    reviews = [build_review(d) for d in corpus.documents]
    for _ in range(rounds):
        for doc, review in zip(corpus.documents, reviews, strict=True):
            t0 = time.perf_counter()
            result = engine.prepared.review(review)
            t1 = time.perf_counter()
            bare.evaluate([d.policy for d in result.decisions], review)
            t2 = time.perf_counter()
            kubegate_ms.append((t1 - t0) * 1000)
            bare_ms.append((t2 - t1) * 1000)
            if len(per_object) < len(corpus.documents):
                per_object.append(
                    {"kind": doc.get("kind"), "name": doc["metadata"].get("name"), "policies": len(result.decisions)}
                )

    reference: dict[str, Any] = {}
    if corpus.reference is not None:
        review = build_review(corpus.reference)
        matched = [d.policy for d in engine.prepared.review(review).decisions]
        k_ref: list[float] = []
        b_ref: list[float] = []
        for _ in range(reference_rounds):
            t0 = time.perf_counter()
            engine.prepared.review(review)
            t1 = time.perf_counter()
            bare.evaluate(matched, review)
            t2 = time.perf_counter()
            k_ref.append((t1 - t0) * 1000)
            b_ref.append((t2 - t1) * 1000)
        parallel_engine = Engine(
            policy_paths, inventory=[d for d in corpus.documents if d.get("metadata", {}).get("name")], parallelism=2
        )
        p_ref: list[float] = []
        for _ in range(reference_rounds):
            t0 = time.perf_counter()
            parallel_engine.prepared.review(review, parallel_engine._executor, 2)
            p_ref.append((time.perf_counter() - t0) * 1000)
        parallel_engine.close()
        forty = forty_constraints(matched, corpus, reference_rounds)
        costs = sorted(((d.duration_ms, d.policy) for d in engine.prepared.review(review).decisions), reverse=True)
        reference = {
            "constraints_evaluated": len(matched),
            "kubegate": summary(k_ref),
            "kubegate_2_threads": summary(p_ref),
            "forty_constraints": forty,
            "bare": summary(b_ref),
            "ratio_mean": round(sum(k_ref) / sum(b_ref), 3),
            "costliest_policies_ms": [[round(ms, 3), pid] for ms, pid in costs[:8]],
            "cheapest_policies_ms": [[round(ms, 3), pid] for ms, pid in costs[-5:]],
            "median_policy_ms": round(percentile([c[0] for c in costs], 50), 3),
        }

    return {
        "policies": len(engine.policies),
        "load_errors": len(engine.errors),
        "objects": len(corpus.documents),
        "rounds": rounds,
        "load_ms": round(load_ms, 1),
        "compile_ms": round(engine.prepared.compile_ms, 1),
        "kubegate": summary(kubegate_ms),
        "bare": summary(bare_ms),
        "ratio_mean": round(sum(kubegate_ms) / sum(bare_ms), 3),
        "ratio_p50": round(percentile(kubegate_ms, 50) / percentile(bare_ms, 50), 3),
        "bare_result_parse_errors": bare.errors,
        "reference_pod": reference,
        "regopy": regopy.__version__,
    }
