"""Differential check: a template's CEL and its Rego reach the same verdict.

For every gatekeeper-library template with both Rego and K8sNativeValidation
code, each sample constraint is loaded twice (``--engine rego`` and
``--engine cel``) and every object of the template's samples plus the
benchmark corpus (benchmarks/corpus/manifests) is reviewed by both; the two
must agree on the verdict: allowed or not, violating or not. Violation counts
and messages are counted apart, not required to match: library templates'
Rego often reports one violation per container where their CEL aggregates
them into one message, and a CEL validation without a message reports
Kubernetes' default ``failed expression: ...``.

This is a measurement, not a test: it never runs in CI. Usage:
``python -m benchmarks.cel_differential --gatekeeper-library DIR``
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.review_latency import CORPUS
from kubegate import Engine
from kubegate.policy.documents import iter_input_files, load_file


def sample_objects(constraint: Path) -> list[dict[str, Any]]:
    """The objects of a gatekeeper-library sample beside its ``constraint.yaml``
    (AdmissionReviews left out: they are reviewed as objects elsewhere)."""
    return [
        d.obj
        for f in sorted(constraint.parent.glob("*.yaml"))
        if f.name != "constraint.yaml"
        for d in load_file(str(f))
        if d.kind != "AdmissionReview"
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gatekeeper-library", type=Path, required=True)
    args = parser.parse_args()
    corpus = [d.obj for f in iter_input_files([str(CORPUS / "manifests")]) for d in load_file(f)]
    counts: Counter[str] = Counter()
    disagreements: list[dict[str, Any]] = []
    for template in sorted((args.gatekeeper_library / "library").glob("**/template.yaml")):
        text = template.read_text()
        if "K8sNativeValidation" not in text or "engine: Rego" not in text:
            continue
        for constraint in sorted(template.parent.glob("samples/*/constraint.yaml")):
            paths = [str(template), str(constraint)]
            rego = Engine(paths, builtin=False, expansion=False)
            cel = Engine(paths, builtin=False, expansion=False, template_engine="cel")
            if rego.errors or cel.errors:
                counts["not loaded"] += 1
                continue
            for obj in [*sample_objects(constraint), *corpus]:
                try:
                    a, b = rego.review(obj), cel.review(obj)
                except Exception as exc:  # counted and shown, never hidden
                    counts["review failed"] += 1
                    disagreements.append({"constraint": str(constraint), "error": str(exc)[:200]})
                    continue
                counts["reviews"] += 1
                same = a.allowed == b.allowed and bool(a.violations) == bool(b.violations)
                counts["same verdict" if same else "different verdict"] += 1
                if same and len(a.violations) != len(b.violations):
                    counts["same verdict, other violation count"] += 1  # per container vs aggregated
                if not same:
                    disagreements.append(
                        {
                            "constraint": str(constraint.relative_to(args.gatekeeper_library)),
                            "object": f"{obj.get('kind')}/{(obj.get('metadata') or {}).get('name')}",
                            "rego": [v.message for v in a.violations],
                            "cel": [v.message for v in b.violations],
                        }
                    )
    print(json.dumps({"counts": dict(counts), "disagreements": disagreements[:30]}, indent=2))


if __name__ == "__main__":
    main()
