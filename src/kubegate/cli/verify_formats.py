"""``kubegate verify`` results for CI systems: TAP, GitHub annotations, SARIF.

Each takes the :class:`~kubegate.cli.suites.CaseResult` list of a run
(JUnit XML is :func:`kubegate.cli.ci_formats.render_verify_junit`). A case
that could not run (a template that does not load) is a failed case with its
message, as in the text output; skipped cases are TAP ``# SKIP``, absent from
GitHub and SARIF. Every format ends in (or carries) the same verdict: PASSED
only when no selected case failed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from kubegate.cli.ci_formats import tap_yaml_block, workflow_command
from kubegate.cli.report import SARIF_SCHEMA
from kubegate.cli.suites import CaseResult

__all__ = ["render_verify_github", "render_verify_sarif", "render_verify_tap", "verify_summary"]


def verify_summary(results: Sequence[CaseResult]) -> tuple[int, int, int]:
    """``(passed, failed, skipped)`` over the results."""
    skipped = sum(1 for r in results if r.skipped)
    passed = sum(1 for r in results if r.passed and not r.skipped)
    return passed, len(results) - passed - skipped, skipped


def _verdict(results: Sequence[CaseResult]) -> str:
    passed, failed, skipped = verify_summary(results)
    tail = f", {skipped} skipped" if skipped else ""
    return f"{passed} passed, {failed} failed{tail} -- {'FAILED' if failed else 'PASSED'}"


def render_verify_tap(results: Sequence[CaseResult]) -> str:
    """TAP version 14: one test point per case (``not ok`` with the message as
    YAML diagnostics, ``# SKIP`` for skipped cases)."""
    lines = ["TAP version 14", f"1..{len(results)}"]
    for n, r in enumerate(results, 1):
        if r.skipped:
            lines.append(f"ok {n} - {r.label} # SKIP")
        elif r.passed:
            lines.append(f"ok {n} - {r.label}")
        else:
            lines.append(f"not ok {n} - {r.label}")
            lines += tap_yaml_block({"message": r.message or "failed", "durationMs": r.duration_ms})
    lines.append(f"# {_verdict(results)}")
    return "\n".join(lines)


def render_verify_github(results: Sequence[CaseResult]) -> str:
    """GitHub Actions workflow commands: an ``::error`` on the suite file per
    failed case, then a summary line."""
    lines = [
        workflow_command("error", f"{r.label}: {r.message or 'failed'}", file=r.suite, title="kubegate verify")
        for r in results
        if not r.passed and not r.skipped
    ]
    lines.append(f"kubegate verify: {_verdict(results)}")
    return "\n".join(lines)


def render_verify_sarif(results: Sequence[CaseResult], tool_version: str) -> str:
    """SARIF 2.1.0: a result per failed case (rule: the suite's test), located
    at the suite file; ``executionSuccessful`` is false when any case failed."""
    failed = [r for r in results if not r.passed and not r.skipped]
    tests = sorted({r.test for r in results})
    index = {t: i for i, t in enumerate(tests)}
    sarif_results: list[dict[str, Any]] = [
        {
            "ruleId": r.test,
            "ruleIndex": index[r.test],
            "level": "error",
            "message": {"text": f"{r.label}: {r.message or 'failed'}"},
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": r.suite}}}],
            "properties": {"case": r.case, "durationMs": r.duration_ms},
        }
        for r in failed
    ]
    sarif = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "kubegate verify",
                        "version": tool_version,
                        "informationUri": "https://github.com/kubegate/kubegate",
                        "rules": [{"id": t, "shortDescription": {"text": f"suite test {t}"}} for t in tests],
                    }
                },
                "invocations": [{"executionSuccessful": not failed}],
                "results": sarif_results,
            }
        ],
    }
    return json.dumps(sarif, indent=2)
