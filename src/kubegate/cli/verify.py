"""``kubegate verify``: run Gatekeeper test suites (``gator verify`` format).

Prints one line per failing case and ends with ``N passed, N failed``; exit
status 0 only when every case passed (2 when no suite could be read).
"""

from __future__ import annotations

import json

import click

from kubegate.cli.options import backend_option
from kubegate.cli.suites import find_suites, run_suites
from kubegate.engine.backends import make_backend

__all__ = ["verify"]


@click.command("verify")
@click.argument("paths", nargs=-1, required=True)
@click.option("--verbose", "-v", is_flag=True, help="Also print passing and skipped cases.")
@click.option("--output", "-o", type=click.Choice(["text", "json"]), default="text", show_default=True)
@backend_option
@click.pass_context
def verify(ctx: click.Context, paths: tuple[str, ...], verbose: bool, output: str, backend: str) -> None:
    """Run Gatekeeper suite.yaml test suites found in PATHS (files or directories)."""
    suites = find_suites(paths)
    passed = failed = skipped = 0
    records = []
    for result in run_suites(suites, make_backend(backend)):
        records.append(result)
        if result.skipped:
            skipped += 1
            if verbose and output == "text":
                click.echo(f"SKIP {result.label}")
        elif result.passed:
            passed += 1
            if verbose and output == "text":
                click.echo(f"ok   {result.label}")
        else:
            failed += 1
            if output == "text":
                click.echo(f"FAIL {result.label}: {result.message}")
    if output == "json":
        click.echo(
            json.dumps(
                {
                    "results": [
                        {
                            "suite": r.suite,
                            "test": r.test,
                            "case": r.case,
                            "passed": r.passed,
                            "skipped": r.skipped,
                            "message": r.message,
                        }
                        for r in records
                    ],
                    "summary": {"passed": passed, "failed": failed, "skipped": skipped},
                },
                indent=2,
            )
        )
    else:
        tail = f", {skipped} skipped" if skipped else ""
        click.echo(f"{passed} passed, {failed} failed{tail}")
    ctx.exit(0 if failed == 0 else 1)
