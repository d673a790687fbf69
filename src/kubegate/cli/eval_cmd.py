"""``kubegate eval``: evaluate a Rego query, as ``opa eval`` does.

Policies and data come from ``-d/--data`` (files or directories, repeatable;
see :mod:`kubegate.evaluator.loading`), the input document from
``-i/--input`` (``-`` for standard input). Modules are read as v0 or v1 by
their syntax unless ``--v0-compatible`` forces v0; the query is v1 syntax.

Output formats follow ``opa eval`` (https://www.openpolicyagent.org/docs/latest/cli/#opa-eval):

``json`` (default)
    ``{"result": [{"expressions": [{"value", "text", "location": {"row", "col"}}],
    "bindings": {...}}]}``; ``bindings`` is left out when the query binds no
    variable and ``result`` when the query is undefined (``{}``). Errors are
    printed on standard output too: ``{"errors": [{"code", "message",
    "location": {"file", "row", "col"}}]}``.
``pretty``
    one value as indented JSON, ``undefined``, or a table with a column per
    variable (and per non-boolean expression); errors on standard error.
``raw``
    the values alone, one result per line, strings unquoted; errors on
    standard error.

Exit status, as ``opa eval``: 2 for any error (bad flags, files, Rego, input,
evaluation errors), 1 when ``--fail`` is given and the result is undefined or
``--fail-defined`` is given and it is defined, otherwise 0. ``print`` output
goes to standard error.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import click

from kubegate.engine.backends import BACKENDS
from kubegate.errors import ErrorList, KubegateError, Location, RegoCompileError, UsageError
from kubegate.evaluator.loading import load_paths, raise_errors, read_document
from kubegate.evaluator.query import ExpressionInfo, PreparedQuery, QueryResult
from kubegate.evaluator.values import UNDEF
from kubegate.rego.parser import parse_body

__all__ = [
    "EVAL_BACKEND",
    "FORMATS",
    "EvalOutput",
    "duration_callback",
    "error_entries",
    "eval_command",
    "evaluate",
    "flatten_errors",
    "parse_duration",
    "render_json",
    "render_pretty",
    "render_raw",
]

EXIT_OK, EXIT_FAIL, EXIT_ERROR = 0, 1, 2
FORMATS = ("json", "pretty", "raw")
EVAL_BACKEND = "compiled"
"""The one backend ``eval`` runs on: kubegate's own evaluator."""
PRETTY_LIMIT = 80
"""Table cells longer than this many characters are cut (``opa eval --pretty-limit``'s default)."""

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_S = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """A time span in seconds from a number (``2.5``) or a Go duration
    (``500ms``, ``1m30s``), the form OPA's ``--timeout`` takes.

    Raises:
        ValueError: not a finite, non-negative duration.
    """
    text = text.strip()
    try:
        seconds = float(text)
    except ValueError:
        pos, seconds = 0, 0.0
        while pos < len(text):
            m = _DURATION_PART.match(text, pos)
            if m is None:
                break
            seconds += float(m.group(1)) * _UNIT_S[m.group(2)]
            pos = m.end()
        if not text or pos != len(text):
            raise ValueError(f"{text!r} is not a duration (seconds, or e.g. 500ms, 5s, 1m30s)") from None
    if not 0 <= seconds < float("inf"):
        raise ValueError(f"{text!r} is not a duration (it must be finite and not negative)")
    return seconds


def duration_callback(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    """Click callback for a ``--timeout`` option: :func:`parse_duration`, or ``None`` when not given."""
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


@dataclass(frozen=True, slots=True)
class EvalOutput:
    """The solutions of a query and its expressions' text and locations."""

    results: list[QueryResult]
    expressions: list[ExpressionInfo]

    @property
    def defined(self) -> bool:
        return bool(self.results)


def evaluate(
    query: str,
    *,
    data_paths: Sequence[str] = (),
    input_path: str | None = None,
    v0_compatible: bool = False,
    strict_builtin_errors: bool = False,
    timeout_s: float | None = None,
    print_sink: Callable[[str], None] | None = None,
) -> EvalOutput:
    """Loads ``data_paths`` and the input, plans the query and evaluates it once.

    Raises:
        KubegateError | ErrorList: loading, parse, compile and evaluation errors,
            located (see :func:`kubegate.evaluator.loading.load_paths`,
            :class:`~kubegate.evaluator.query.PreparedQuery`).
    """
    errors: list[KubegateError] = []
    try:
        loaded = load_paths(data_paths, rego_version="v0" if v0_compatible else None)
    except KubegateError as exc:
        errors.extend(flatten_errors(exc))
    input_doc: Any = UNDEF
    if input_path is not None:
        try:
            input_doc = read_document(input_path)
        except KubegateError as exc:
            errors.append(exc)
    raise_errors(errors)
    program = loaded.program()
    body = parse_body(query)
    if not body:
        raise RegoCompileError("empty query", Location("<query>", 1, 1))
    prepared = PreparedQuery(
        program,
        body,
        query,
        strict_builtin_errors=strict_builtin_errors,
        print_sink=print_sink,
        timeout_s=timeout_s or None,
    )
    return EvalOutput(prepared.eval(input_doc), prepared.expressions)


# ------------------------------------------------------------------ rendering


def _sorted(value: Any) -> Any:
    """``value`` with object keys in order, as Go's JSON encoder writes maps."""
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


def _dumps(value: Any, *, indent: int | None = 2) -> str:
    if indent is None:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return json.dumps(value, ensure_ascii=False, indent=indent)


def render_json(output: EvalOutput) -> str:
    """``opa eval --format json``'s document for ``output``."""
    if not output.defined:
        return "{}"
    rows: list[dict[str, Any]] = []
    for result in output.results:
        expressions: list[dict[str, Any]] = []
        for value, info in zip(result.expressions, output.expressions, strict=True):
            entry: dict[str, Any] = {"value": _sorted(value), "text": info.text}
            if info.location is not None:
                entry["location"] = {"row": info.location.line, "col": info.location.column}
            expressions.append(entry)
        row: dict[str, Any] = {"expressions": expressions}
        if result.bindings:
            row["bindings"] = {k: _sorted(result.bindings[k]) for k in sorted(result.bindings)}
        rows.append(row)
    return _dumps({"result": rows})


def flatten_errors(error: KubegateError) -> list[KubegateError]:
    """The errors inside an :class:`ErrorList`, or the error itself."""
    if isinstance(error, ErrorList):
        return [e for inner in error.errors for e in flatten_errors(inner)]
    return [error]


def _location_entry(location: Location) -> dict[str, Any]:
    return {"file": location.file, "row": location.line, "col": location.column}


def error_entries(error: KubegateError) -> list[dict[str, Any]]:
    """OPA's error objects: ``{"code", "message", "location": {"file", "row", "col"}}``."""
    out: list[dict[str, Any]] = []
    for e in flatten_errors(error):
        entry: dict[str, Any] = {"code": e.code, "message": e.message}
        if e.location is not None:
            entry["location"] = _location_entry(e.location)
        out.append(entry)
    return out


def _width(text: str) -> int:
    return sum(
        0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in text
    )


def _cut(text: str, limit: int) -> str:
    return text[:limit] + "..." if limit > 0 and len(text) > limit else text


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    rows = [list(r) for r in rows]
    widths = [max(_width(h), *(_width(r[i]) for r in rows)) for i, h in enumerate(header)]
    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"

    def centred(text: str, w: int) -> str:
        pad = w - _width(text)
        return " " * (pad // 2) + text + " " * (pad - pad // 2)

    def left(text: str, w: int) -> str:
        return text + " " * (w - _width(text))

    lines = [rule, "| " + " | ".join(centred(h, w) for h, w in zip(header, widths, strict=True)) + " |", rule]
    lines.extend("| " + " | ".join(left(c, w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows)
    lines.append(rule)
    return "\n".join(lines)


def render_pretty(output: EvalOutput, limit: int = PRETTY_LIMIT) -> str:
    """``opa eval --format pretty``: one value as indented JSON, ``undefined``,
    or a table of the variables (and of the non-boolean expressions)."""
    results = output.results
    if not results:
        return "undefined"
    first = results[0]
    single = len(first.expressions) == 1 or all(isinstance(v, bool) for v in first.expressions)
    if len(results) == 1 and not first.bindings and single:
        return _dumps(_sorted(first.expressions[0]))
    names = sorted(first.bindings)
    exprs = [i for i, v in enumerate(first.expressions) if not isinstance(v, bool) or not first.bindings]
    header = [*names, *(output.expressions[i].text for i in exprs)]

    def cell(value: Any) -> str:
        return _cut(_dumps(_sorted(value), indent=None), limit)

    rows = [[*(cell(r.bindings.get(n)) for n in names), *(cell(r.expressions[i]) for i in exprs)] for r in results]
    return _table(header, rows)


def render_raw(output: EvalOutput) -> str:
    """``opa eval --format raw``: per result a line of its expressions' values,
    strings as they are, anything else as compact JSON."""
    lines = []
    for result in output.results:
        parts = [v if isinstance(v, str) else _dumps(_sorted(v), indent=None) for v in result.expressions]
        lines.append(" ".join(parts))
    return "\n".join(lines)


# ------------------------------------------------------------------ command


def _check_backend(backend: str) -> None:
    if backend == EVAL_BACKEND:
        return
    if backend in BACKENDS:
        raise UsageError(
            f"kubegate eval runs on the {EVAL_BACKEND} backend only; {backend!r} is available to "
            "the commands that take --backend (check, verify, serve ...)",
            code="unsupported_backend",
        )
    raise UsageError(
        f"unknown backend {backend!r}: kubegate eval runs on the {EVAL_BACKEND} backend only",
        code="unknown_backend",
    )


def _print_to_stderr(text: str) -> None:
    click.echo(text, err=True)


@click.command("eval")
@click.argument("query")
@click.option(
    "--data",
    "-d",
    "data_paths",
    multiple=True,
    metavar="PATH",
    help="Rego, JSON or YAML file or directory (repeatable; prefix:path roots data at data.prefix).",
)
@click.option("--input", "-i", "input_path", metavar="FILE", help="Input document, JSON or YAML (- for stdin).")
@click.option(
    "--format",
    "-f",
    "output_format",
    type=click.Choice(FORMATS),
    default="json",
    show_default=True,
    help="Output format.",
)
@click.option("--v0-compatible", is_flag=True, help="Read every module as Rego v0 (default: detect per file).")
@click.option("--strict-builtin-errors", is_flag=True, help="Treat the first builtin error as fatal.")
@click.option(
    "--backend",
    default=EVAL_BACKEND,
    show_default=True,
    metavar="NAME",
    help="Rego backend; eval supports compiled (kubegate's own evaluator) only.",
)
@click.option("--fail", is_flag=True, help="Exit 1 when the result is undefined (empty).")
@click.option("--fail-defined", is_flag=True, help="Exit 1 when the result is defined (not empty).")
@click.option(
    "--timeout",
    callback=duration_callback,
    metavar="DURATION",
    help="Time limit: seconds (2.5) or a Go duration (500ms, 1m); default: none.",
)
@click.pass_context
def eval_command(
    ctx: click.Context,
    query: str,
    data_paths: tuple[str, ...],
    input_path: str | None,
    output_format: str,
    v0_compatible: bool,
    strict_builtin_errors: bool,
    backend: str,
    fail: bool,
    fail_defined: bool,
    timeout: float | None,
) -> None:
    """Evaluate a Rego QUERY, as opa eval does.

    Exit status: 0 evaluated, 1 --fail with an undefined result or
    --fail-defined with a defined one, 2 an error (flags, files, Rego, input,
    evaluation).
    """
    if fail and fail_defined:
        raise UsageError("specify --fail or --fail-defined but not both")
    _check_backend(backend)
    try:
        output = evaluate(
            query,
            data_paths=data_paths,
            input_path=input_path,
            v0_compatible=v0_compatible,
            strict_builtin_errors=strict_builtin_errors,
            timeout_s=timeout,
            print_sink=_print_to_stderr,
        )
    except UsageError:
        raise
    except KubegateError as exc:
        if output_format == "json":
            click.echo(_dumps({"errors": error_entries(exc)}))
        else:
            for error in flatten_errors(exc):
                click.echo(f"error: {error}", err=True)
        ctx.exit(EXIT_ERROR)
    if output_format == "json":
        click.echo(render_json(output))
    elif output_format == "pretty":
        click.echo(render_pretty(output))
    else:
        text = render_raw(output)
        if text:
            click.echo(text)
    if (fail and not output.defined) or (fail_defined and output.defined):
        ctx.exit(EXIT_FAIL)
    ctx.exit(EXIT_OK)
