"""``kubegate test``: run Rego unit tests, as ``opa test`` does.

Loads every path as ``kubegate eval -d`` does (Rego, JSON and YAML files,
directories recursively; see :mod:`kubegate.evaluator.loading`) and runs the
``test_*`` rules found (``todo_*`` rules are reported as skipped); see
:mod:`kubegate.evaluator.testing` for what passes.

The pretty report follows OPA's (https://www.openpolicyagent.org/docs/latest/policy-testing/):
tests that did not pass (every test with ``-v``), grouped by file, as
``data.pkg.test_name: PASS (1.2ms)`` with their ``print`` output indented
below, then a rule and the counts (``PASS: 3/4``, ``FAIL: 1/4``,
``SKIPPED: ...``, ``ERROR: ...``), then one line ``3 passed, 1 failed`` (with
the skipped and error counts when there are any). ``--format json`` prints an
array with one object per test.

Exit status: 0 when no test failed or raised an error (skipped tests are
fine), 1 when one did, 2 when the files cannot be loaded or compiled or the
flags are wrong. (``opa test`` exits 2 for failing tests and 1 for load
errors; kubegate keeps its own convention: 2 is always an error.)
"""

from __future__ import annotations

import json
from typing import Any

import click

from kubegate.cli.eval_cmd import duration_callback
from kubegate.evaluator.loading import load_paths
from kubegate.evaluator.testing import DEFAULT_TIMEOUT_S, Outcome, TestReport, TestResult, run_tests

__all__ = ["go_duration", "rego_test_command", "render_json", "render_pretty", "summary_line"]

EXIT_OK, EXIT_FAILED = 0, 1
FORMATS = ("pretty", "json")
_COUNTED: tuple[Outcome, ...] = ("pass", "fail", "skip", "error")
_OUTCOME_WORD = {"pass": "PASS", "fail": "FAIL", "error": "ERROR", "skip": "SKIPPED"}
_RULE = "-" * 80


def _trim(digits: str) -> str:
    digits = digits.rstrip("0")
    return f".{digits}" if digits else ""


def go_duration(ms: float) -> str:
    """A duration in milliseconds the way Go's ``time.Duration`` prints it
    (``812ns``, ``1.204ms``, ``2.5s``, ``1m3s``), as OPA's report does."""
    ns = round(ms * 1_000_000)
    if ns == 0:
        return "0s"
    if ns < 1_000:
        return f"{ns}ns"
    if ns < 1_000_000:
        return f"{ns // 1_000}{_trim(f'{ns % 1_000:03d}')}µs"
    if ns < 1_000_000_000:
        return f"{ns // 1_000_000}{_trim(f'{ns % 1_000_000:06d}')}ms"
    seconds, frac = divmod(ns, 1_000_000_000)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    text = f"{seconds}{_trim(f'{frac:09d}')}s"
    if hours:
        return f"{hours}h{minutes}m{text}"
    if minutes:
        return f"{minutes}m{text}"
    return text


def _line(result: TestResult) -> str:
    word = _OUTCOME_WORD[result.outcome]
    if result.outcome == "skip":
        return f"{result.full_name}: {word}"
    return f"{result.full_name}: {word} ({go_duration(result.duration_ms)})"


def summary_line(report: TestReport) -> str:
    """``3 passed, 1 failed`` plus ``, N skipped`` and ``, N errors`` when there are any."""
    parts = [f"{report.count('pass')} passed", f"{report.count('fail')} failed"]
    skipped, errors = report.count("skip"), report.count("error")
    if skipped:
        parts.append(f"{skipped} skipped")
    if errors:
        parts.append(f"{errors} error{'s' if errors != 1 else ''}")
    return ", ".join(parts)


def render_pretty(report: TestReport, *, verbose: bool = False) -> str:
    """OPA's pretty report, then kubegate's summary line."""
    out: list[str] = []
    last_file: str | None = None
    dirty = False
    for result in report.results:
        if not verbose and result.passed:
            continue
        file = result.location.file if result.location is not None else None
        if file is not None and file != last_file:
            if last_file is not None:
                out.append("")
            out.append(f"{file}:")
            last_file = file
        dirty = True
        out.append(_line(result))
        out.extend(f"  {name}: FAIL" for name in result.failed_cases)
        if result.output.strip():
            out.append("")
            out.extend(f"  {line}" for line in result.output.strip().splitlines())
            out.append("")
        if result.outcome == "error":
            where = f"{result.error_location}: " if result.error_location is not None else ""
            out.append(f"  {where}{result.code}: {result.message}")
    if dirty:
        out.append(_RULE)
    total = len(report.results)
    for outcome in _COUNTED:
        n = report.count(outcome)
        if n:
            out.append(f"{_OUTCOME_WORD[outcome]}: {n}/{total}")
    out.append(summary_line(report))
    return "\n".join(out)


def _result_entry(result: TestResult) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    if result.location is not None:
        loc = result.location
        entry["location"] = {"file": loc.file, "row": loc.line, "col": loc.column}
    entry["package"] = result.package
    entry["name"] = result.name
    entry["outcome"] = result.outcome
    if result.outcome == "fail":
        entry["fail"] = True
    if result.outcome == "error":
        error: dict[str, Any] = {"code": result.code, "message": result.message}
        if result.error_location is not None:
            loc = result.error_location
            error["location"] = {"file": loc.file, "row": loc.line, "col": loc.column}
        entry["error"] = error
    if result.outcome == "skip":
        entry["skip"] = True
    if result.message and result.outcome != "error":
        entry["message"] = result.message
    if result.failed_cases:
        entry["failed_cases"] = list(result.failed_cases)
    entry["duration"] = round(result.duration_ms * 1_000_000)
    if result.output:
        entry["output"] = result.output
    return entry


def render_json(report: TestReport) -> str:
    """An array with one object per test: OPA's fields (``location``,
    ``package``, ``name``, ``fail``, ``error``, ``skip``, ``duration`` in
    nanoseconds, ``output``, here as text) plus ``outcome`` and ``message``."""
    return json.dumps([_result_entry(r) for r in report.results], indent=2, ensure_ascii=False)


@click.command("test")
@click.argument("paths", nargs=-1, required=True)
@click.option("--verbose", "-v", is_flag=True, help="List every test with its time and print output.")
@click.option("--run", "-r", "run_regex", metavar="REGEX", help="Run only tests whose data.pkg.name matches REGEX.")
@click.option(
    "--format",
    "-f",
    "output_format",
    type=click.Choice(FORMATS),
    default="pretty",
    show_default=True,
    help="Report format.",
)
@click.option(
    "--timeout",
    callback=duration_callback,
    metavar="DURATION",
    help=f"Time limit of each test: seconds or a Go duration (500ms, 1m); default {DEFAULT_TIMEOUT_S:g}s.",
)
@click.option("--v0-compatible", is_flag=True, help="Read every module as Rego v0 (default: detect per file).")
@click.pass_context
def rego_test_command(
    ctx: click.Context,
    paths: tuple[str, ...],
    verbose: bool,
    run_regex: str | None,
    output_format: str,
    timeout: float | None,
    v0_compatible: bool,
) -> None:
    """Run the Rego tests (rules named test_*) under PATHS, as opa test does.

    Exit status: 0 all tests passed (skipped todo_* tests allowed), 1 a test
    failed or raised an error, 2 the files could not be loaded or compiled.
    """
    loaded = load_paths(paths, rego_version="v0" if v0_compatible else None)
    report = run_tests(
        loaded.modules,
        loaded.data,
        run=run_regex,
        timeout_s=timeout or DEFAULT_TIMEOUT_S,
    )
    if output_format == "json":
        click.echo(render_json(report))
    else:
        click.echo(render_pretty(report, verbose=verbose))
    if not report.results:
        what = f" matching {run_regex!r}" if run_regex else ""
        click.echo(f"warning: no tests{what} found (tests are rules named test_*)", err=True)
    ctx.exit(EXIT_OK if report.ok else EXIT_FAILED)
