"""Runs OPA's conformance test cases against kubegate's evaluator and reports the pass rate.

Usage::

    .venv/bin/python benchmarks/opa_conformance.py DIR [--backend NAME] [--failures FILE] [--json FILE]
        [--timeout SECONDS] [--filter TEXT] [--run-skipped] [--quiet]

``DIR`` holds case files in OPA's format (``v1/test/cases/testdata/<v0|v1>/<family>/*.yaml`` of
the OPA repository, mirrored below ``DIR``: ``DIR/v1/aggregates/...``, ``DIR/v0/...``), or is
one such file. Cases under a ``v0`` directory are Rego v0, the rest v1. Every case runs in this
process with a timeout; how each is judged is described in ``tests/evaluator/opa_cases.py``.

Prints one line per family (passed, failed, skipped) and the total, ``N/M passed (P %)``.
``--failures FILE`` writes every failed case with the reason and the diff (expected vs got);
``--json FILE`` writes the summary and every outcome. Exit status 0 after a run (whatever the
pass rate), 2 when ``DIR`` has no cases or kubegate's query API cannot be imported.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.evaluator.opa_cases import (
    CaseOutcome,
    Summary,
    default_prepare,
    load_dir,
    load_error_outcomes,
    run_cases,
    summarize,
)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description="Run OPA's conformance cases against kubegate.")
    ap.add_argument("dir", type=Path, help="directory of OPA case files (or one file)")
    ap.add_argument("--backend", default=None, help="evaluator backend passed to prepare_query (default: its default)")
    ap.add_argument("--failures", type=Path, default=None, help="write failed cases, reasons and diffs to FILE")
    ap.add_argument("--json", type=Path, default=None, help="write the summary and all outcomes as JSON to FILE")
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds per case (default 10; 0: none)")
    ap.add_argument("--filter", default=None, help="only cases whose family, file or note contains TEXT")
    ap.add_argument("--run-skipped", action="store_true", help="also run cases marked `skip`")
    ap.add_argument("--quiet", action="store_true", help="print only the total")
    return ap.parse_args(argv)


def format_failures(outcomes: list[CaseOutcome]) -> str:
    """The failed cases as text: one block per case with reason and diff."""
    blocks = []
    for o in outcomes:
        if o.status != "fail":
            continue
        head = f"=== {o.family} :: {o.note}"
        lines = [head, f"file: {o.file}" + (f" (case {o.case.index})" if o.case is not None else "")]
        if o.case is not None:
            lines.append(f"rego: {o.case.rego_version}   query: {o.case.query}")
        lines.append(f"reason: {o.reason}")
        if o.diff:
            lines.append(o.diff)
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + ("\n" if blocks else "")


def format_summary(summary: Summary) -> str:
    """Per-family lines and the total line."""
    width = max((len(name) for name in summary.families), default=10)
    lines = [f"{'family':<{width}}  {'pass':>5} {'fail':>5} {'skip':>5}"]
    for name, c in sorted(summary.families.items()):
        mark = "" if c.failed == 0 else "  <"
        lines.append(f"{name:<{width}}  {c.passed:>5} {c.failed:>5} {c.skipped:>5}{mark}")
    lines.append("")
    lines.append(f"total: {summary.total_line()}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    if not args.dir.exists():
        print(f"opa_conformance: {args.dir} does not exist", file=sys.stderr)
        return 2
    try:
        prepare = default_prepare()
    except ImportError as exc:
        print(f"opa_conformance: kubegate's query API is not available: {exc}", file=sys.stderr)
        return 2
    loaded = load_dir(args.dir)
    cases = loaded.cases
    errors = loaded.errors
    if args.filter:
        needle = args.filter
        cases = [c for c in cases if needle in c.family or needle in c.file.name or needle in c.note]
        errors = [e for e in errors if needle in e.family or needle in e.file.name]
    if not cases and not errors:
        print(f"opa_conformance: no cases under {args.dir}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    outcomes = load_error_outcomes(errors)
    outcomes += run_cases(
        cases, prepare=prepare, backend=args.backend, timeout=args.timeout, run_skipped=args.run_skipped
    )
    elapsed = time.perf_counter() - start
    summary = summarize(outcomes)
    files = len({o.file for o in outcomes})
    if args.quiet:
        print(summary.total_line())
    else:
        print(format_summary(summary))
        print(f"({len(outcomes)} cases in {files} files, {len(summary.families)} families, {elapsed:.1f} s)")
    if args.failures is not None:
        args.failures.write_text(format_failures(outcomes), encoding="utf-8")
    if args.json is not None:
        doc: dict[str, Any] = {
            "dir": str(args.dir),
            "backend": args.backend,
            "seconds": round(elapsed, 3),
            "summary": summary.to_dict(),
            "outcomes": [o.to_dict() for o in outcomes],
        }
        args.json.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
