"""How far the CEL cost bound is above the real evaluation time.

kubegate refuses a CEL evaluation before it starts when its estimated time
(:mod:`kubegate.cel.cost`) exceeds what is left of the review's deadline
(the runtime cannot be interrupted). The estimate is an upper bound over the
input's largest list and string, so it can refuse an evaluation that would have
been fast. This measures the margin on real policies: every expression of
every gatekeeper-library template with CEL, on its sample objects and the
benchmark corpus (benchmarks/corpus/manifests), reporting the estimated
seconds against the measured ones (max, p99), how many estimates pass the
webhook's default 300 ms limit, and how many evaluations the refusal rule of
:mod:`kubegate.cel.program` would refuse at the start of a review under it.

A measurement, not a test: it never runs in CI. Usage:
``python -m benchmarks.cel_cost_bound --gatekeeper-library DIR``
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from benchmarks.cel_differential import sample_objects
from benchmarks.review_latency import CORPUS
from kubegate import Engine
from kubegate.cel import program as cel_program
from kubegate.policy.documents import iter_input_files, load_file

DEFAULT_LIMIT_S = 0.300
NESTED_FLOOR_S = 1.0  # kubegate.cel.program: a nested expression is refused only past 1 s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gatekeeper-library", type=Path, required=True)
    args = parser.parse_args()
    corpus = [d.obj for f in iter_input_files([str(CORPUS / "manifests")]) for d in load_file(f)]
    samples: list[tuple[float, float, str, bool]] = []  # (estimated s, measured s, expression, nested)
    original = cel_program.CelProgram.evaluate

    def measured(self: Any, bindings: Any, sizes: Any = None, deadline: float = 0.0) -> Any:
        start = time.perf_counter()
        try:
            return original(self, bindings, sizes, deadline)
        finally:
            elapsed = time.perf_counter() - start
            if sizes is not None and self.cost is not None:
                estimate = self.cost.bound(sizes).seconds
                samples.append((estimate, elapsed, self.source.text.strip()[:80], self.nested))

    cel_program.CelProgram.evaluate = measured  # type: ignore[method-assign]
    for template in sorted((args.gatekeeper_library / "library").glob("**/template.yaml")):
        if "K8sNativeValidation" not in template.read_text():
            continue
        for constraint in sorted(template.parent.glob("samples/*/constraint.yaml")):
            engine = Engine([str(template), str(constraint)], builtin=False, expansion=False, template_engine="cel")
            if engine.errors:
                continue
            for obj in [*sample_objects(constraint), *corpus]:
                engine.review(obj)
    estimated = sorted(s[0] for s in samples)
    actual = sorted(s[1] for s in samples)
    ratios = sorted(s[0] / max(s[1], 1e-9) for s in samples)
    worst = max(samples, key=lambda s: s[0])

    def pct(values: list[float], p: float) -> float:
        return values[min(len(values) - 1, int(len(values) * p))]

    print(
        json.dumps(
            {
                "evaluations": len(samples),
                "estimated_s": {"p50": pct(estimated, 0.5), "p99": pct(estimated, 0.99), "max": estimated[-1]},
                "measured_s": {"p50": pct(actual, 0.5), "p99": pct(actual, 0.99), "max": actual[-1]},
                "estimate_over_measured": {"p50": pct(ratios, 0.5), "p99": pct(ratios, 0.99), "max": ratios[-1]},
                "over_300ms": sum(1 for e in estimated if e > DEFAULT_LIMIT_S),
                "nested": sum(1 for x in samples if x[3]),
                "refused_under_300ms": sum(
                    1 for e, _, _, nested in samples if e > DEFAULT_LIMIT_S and (not nested or e > NESTED_FLOOR_S)
                ),
                "largest_estimate": {"estimated_s": worst[0], "measured_s": worst[1], "expression": worst[2]},
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
