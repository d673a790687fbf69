"""The query API: :func:`prepare_query` and :class:`PreparedQuery`, like OPA's
``rego.PrepareForEval`` and ``ResultSet``
(https://pkg.go.dev/github.com/open-policy-agent/opa/v1/rego#Rego.PrepareForEval).

The query and modules are parsed and planned once; :meth:`PreparedQuery.eval`
evaluates them for an input, reading ``input`` and ``data`` in place. As in
OPA's ``rego`` package, each query expression that is not an assignment or
unification has its value captured in :attr:`QueryResult.expressions`; with
one expression the value may be ``false``, with several every expression
must succeed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from kubegate.errors import EvaluationError, KubegateError, Location, RegoCompileError, UsageError
from kubegate.evaluator.context import Context, PrintSink
from kubegate.evaluator.planner import Planner, chain
from kubegate.evaluator.program import ModuleInfo, Program
from kubegate.evaluator.scope import declared_names
from kubegate.evaluator.values import UNDEF, to_json
from kubegate.rego import ast
from kubegate.rego.parser import parse_body, parse_module

__all__ = ["PreparedQuery", "QueryResult", "prepare_query"]


@dataclass(frozen=True, slots=True)
class QueryResult:
    """One solution of a query.

    Attributes:
        bindings: query variable -> value (JSON-compatible; sets as sorted lists).
        expressions: the values of the query's expressions, in order (``True``
            for assignments and unifications).
    """

    bindings: dict[str, Any]
    expressions: list[Any]


@dataclass(frozen=True, slots=True)
class ExpressionInfo:
    """Text and location of one query expression (for ``opa eval``-style output)."""

    text: str
    location: Location | None


class PreparedQuery:
    """A planned query over planned modules; immutable and thread-safe.

    Use :func:`prepare_query` to build one.
    """

    def __init__(
        self,
        program: Program,
        body: ast.Body,
        source: str,
        *,
        strict_builtin_errors: bool = False,
        print_sink: PrintSink | None = None,
        timeout_s: float | None = None,
    ) -> None:
        self.program = program
        self.strict = strict_builtin_errors
        self.print_sink = print_sink
        self.timeout_s = timeout_s
        info = ModuleInfo(package=(), file="<query>")
        p = Planner(program, info)
        p.ordered = True
        p.prepare_scope(list(body), declared_names(body))
        capture: list[int] = []
        for _ in body:
            capture.append(p.scope.fresh("$capture"))
        steps = p.steps(body, query=True, capture=capture)
        if len(body) > 1:
            steps = [*steps, *(_truthy_check(s) for s in capture)]
        self._runner = chain(steps)
        self._size = p.layout.size
        self._vars = {name: slot for name, slot in p.scope.vars.items() if not name.startswith("$")}
        self._capture = capture
        texts = _expr_texts(body, source)
        self.expressions = [ExpressionInfo(text, lit.loc) for text, lit in zip(texts, body, strict=True)]

    def eval(
        self,
        input: Any = UNDEF,  # noqa: A002 - OPA's name
        *,
        data: Mapping[str, Any] | None = None,
        timeout_s: float | None = None,
    ) -> list[QueryResult]:
        """Evaluates the query.

        Args:
            input: the ``input`` document (read in place, never mutated); omit
                it for an undefined input.
            data: a base document replacing the prepared one for this call.
            timeout_s: a time limit in seconds (``eval_cancel_error`` past it).

        Returns:
            One :class:`QueryResult` per solution; empty when undefined.

        Raises:
            EvaluationError: ``eval_conflict_error``, ``eval_type_error``,
                ``eval_builtin_error`` (strict), ``eval_cancel_error``, or
                ``eval_error`` for values nested too deeply to evaluate.
        """
        ctx = Context(
            input,
            data if data is not None else self.program.data,
            strict=self.strict,
            timeout_s=timeout_s if timeout_s is not None else self.timeout_s,
            print_sink=self.print_sink,
        )
        f: list[Any] = [UNDEF] * self._size
        f[0] = ctx
        out: list[QueryResult] = []
        try:
            for _ in self._runner(f):
                bindings = {n: to_json(f[s]) for n, s in self._vars.items() if f[s] is not UNDEF}
                exprs = [to_json(f[s]) if f[s] is not UNDEF else True for s in self._capture]
                out.append(QueryResult(bindings, exprs))
        except RecursionError:
            raise EvaluationError("value nested too deeply to evaluate", None, code="eval_error") from None
        return out


def _truthy_check(slot: int) -> Any:
    from kubegate.evaluator.planner import Step

    return Step(lambda f: f[slot] is not False, False)


def _expr_texts(body: ast.Body, source: str) -> list[str]:
    """Each expression's source text: from its start to the next one's (or the end)."""
    lines = source.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))

    def offset(lit: ast.Literal) -> int | None:
        loc = lit.loc
        if loc is None or not loc.line or loc.line > len(lines):
            return None
        return starts[loc.line - 1] + max(loc.column - 1, 0)

    offsets = [offset(lit) for lit in body]
    out = []
    for i, start in enumerate(offsets):
        if start is None:
            out.append("")
            continue
        end = next((o for o in offsets[i + 1 :] if o is not None), len(source))
        out.append(source[start:end].strip().rstrip(";").strip())
    return out


def prepare_query(
    query: str,
    *,
    modules: Mapping[str, str] | None = None,
    data: Mapping[str, Any] | None = None,
    rego_version: Literal["v0", "v1"] = "v1",
    strict_builtin_errors: bool = False,
    backend: str | None = None,
    print_sink: PrintSink | None = None,
    timeout_s: float | None = None,
) -> PreparedQuery:
    """Parses and plans ``query`` over ``modules`` (file name -> Rego text).

    Args:
        query: a Rego query (``data.x.allow``, ``x := input.a; x > 1``).
        modules: Rego modules by file name.
        data: the base document (read in place).
        rego_version: syntax of the modules and query: ``"v1"`` (default) or ``"v0"``.
        strict_builtin_errors: raise builtin errors instead of undefined.
        backend: ``None`` or ``"compiled"`` (kubegate's evaluator); ``"regopy"``
            is available through :class:`kubegate.Engine` only.
        print_sink: where ``print`` output goes (default: standard error).
        timeout_s: default time limit of each evaluation, in seconds.

    Raises:
        RegoParseError: ``rego_parse_error`` with file:line:col.
        RegoCompileError: ``rego_compile_error``, ``rego_type_error``,
            ``rego_unsafe_var_error``, ``rego_recursion_error``.
        UsageError: an unknown backend.
    """
    if backend not in (None, "compiled"):
        raise UsageError(f"prepare_query supports the compiled backend only, not {backend!r}")
    parsed = [parse_module(text, name, rego_version) for name, text in (modules or {}).items()]
    program = Program(parsed, dict(data) if data is not None else {})
    body = parse_body(query) if rego_version == "v1" else _parse_query_v0(query)
    if not body:
        raise RegoCompileError("empty query", Location("<query>", 1, 1))
    return PreparedQuery(
        program, body, query, strict_builtin_errors=strict_builtin_errors, print_sink=print_sink, timeout_s=timeout_s
    )


def _parse_query_v0(query: str) -> ast.Body:
    return parse_body(query)


def modules_from(sources: Sequence[tuple[str, str]], rego_version: str = "v1") -> list[ast.Module]:
    return [parse_module(text, name, rego_version) for name, text in sources]  # type: ignore[arg-type]


_ = KubegateError
