"""``kubegate verify``: run Gatekeeper test suites (``gator verify`` format).

Prints one line per failing case and ends with ``N passed, N failed``
(``-v``: every case, with its time in ms); ``-o json``, ``junit``, ``tap``,
``github`` (workflow annotations) and ``sarif`` for CI
(:mod:`kubegate.cli.verify_formats`).
``--run REGEX`` keeps the cases whose ``suite-path test/case`` label matches
(Python ``re.search``, like ``opa test --run``). Exit status 0 only when every
selected case passed (2 when no suite could be read).
"""

from __future__ import annotations

import json
import re

import click

from kubegate.cli.ci_formats import render_verify_junit
from kubegate.cli.options import backend_option, template_engine_option
from kubegate.cli.suites import CaseResult, find_suites, run_suites
from kubegate.cli.verify_formats import render_verify_github, render_verify_sarif, render_verify_tap
from kubegate.engine.backends import make_backend
from kubegate.errors import UsageError

__all__ = ["verify"]


def _selector(pattern: str | None) -> re.Pattern[str] | None:
    if pattern is None:
        return None
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise UsageError(f"--run {pattern!r}: {exc}", code="invalid_run_pattern") from None


def _json(records: list[CaseResult], passed: int, failed: int, skipped: int) -> str:
    return json.dumps(
        {
            "results": [
                {
                    "suite": r.suite,
                    "test": r.test,
                    "case": r.case,
                    "passed": r.passed,
                    "skipped": r.skipped,
                    "message": r.message,
                    "durationMs": r.duration_ms,
                }
                for r in records
            ],
            "summary": {"passed": passed, "failed": failed, "skipped": skipped},
        },
        indent=2,
    )


@click.command("verify")
@click.argument("paths", nargs=-1, required=True)
@click.option("--verbose", "-v", is_flag=True, help="Also print passing and skipped cases, with their times.")
@click.option(
    "--output",
    "-o",
    type=click.Choice(["text", "json", "junit", "tap", "github", "sarif"]),
    default="text",
    show_default=True,
)
@click.option("--run", "run_pattern", metavar="REGEX", help="Only cases whose 'suite test/case' label matches.")
@template_engine_option
@backend_option
@click.pass_context
def verify(
    ctx: click.Context,
    paths: tuple[str, ...],
    verbose: bool,
    output: str,
    run_pattern: str | None,
    template_engine: str,
    backend: str,
) -> None:
    """Run Gatekeeper suite.yaml test suites found in PATHS (files or directories)."""
    pattern = _selector(run_pattern)
    suites = find_suites(paths)
    passed = failed = skipped = 0
    records = []
    selected = (lambda label: pattern.search(label) is not None) if pattern is not None else (lambda label: True)
    for result in run_suites(suites, make_backend(backend), selected, template_engine):
        records.append(result)
        timing = f" ({result.duration_ms:.1f} ms)" if verbose else ""
        if result.skipped:
            skipped += 1
            if verbose and output == "text":
                click.echo(f"SKIP {result.label}")
        elif result.passed:
            passed += 1
            if verbose and output == "text":
                click.echo(f"ok   {result.label}{timing}")
        else:
            failed += 1
            if output == "text":
                click.echo(f"FAIL {result.label}{timing}: {result.message}")
    if output == "json":
        click.echo(_json(records, passed, failed, skipped))
    elif output == "junit":
        click.echo(render_verify_junit(records), nl=False)
    elif output == "tap":
        click.echo(render_verify_tap(records))
    elif output == "github":
        click.echo(render_verify_github(records))
    elif output == "sarif":
        version = ctx.obj.get("version", "") if isinstance(ctx.obj, dict) else ""
        click.echo(render_verify_sarif(records, version))
    else:
        tail = f", {skipped} skipped" if skipped else ""
        click.echo(f"{passed} passed, {failed} failed{tail}")
    ctx.exit(0 if failed == 0 else 1)
