"""A CEL expression compiled once and evaluated many times, with located errors.

Compile errors come from cel-cpp as text (``<input>:LINE:COL: message``, 1-based,
columns in code points; docs/cel-notes.md §1): each becomes a
:class:`CelError` located in the YAML file through the expression's
:class:`EmbeddedCel` (``cel_parse_error`` for syntax errors, ``cel_type_error``
for the others). Evaluation errors come back as error values without a
position; they are located at the expression itself (``cel_eval_error``), as
Kubernetes' ``fieldRef`` does. The runtime's fixed budget of 10,000
comprehension iterations per evaluation is ``cel_cost_exceeded``. What is
evaluated is the text after :mod:`kubegate.cel.rewrite` (cel-go's semantics
for presence tests).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cel_expr_python import cel

from kubegate.cel.ast import Comprehension, Node, children, parse
from kubegate.cel.check import Finding, cross_type_literals, validate
from kubegate.cel.cost import CostModel, Sizes, exceeds
from kubegate.cel.env import LATEST, KubernetesVersion, environment, runtime_environment
from kubegate.cel.library.authz import REQUEST_RESOURCE, REQUEST_RESOURCE_BINDING, rewrite_request_resource
from kubegate.cel.library.format import rewrite_validate
from kubegate.cel.rewrite import presence_tests
from kubegate.errors import KubegateError, Location

__all__ = [
    "CelError",
    "CelProgram",
    "EmbeddedCel",
    "activation",
    "compile_expression",
    "compile_internal",
    "loop_depth",
]

_UNITS_NOT_ENFORCED = 2**62
_NESTED_FLOOR_S = 1.0
_ERROR = re.compile(r"<input>:(-?\d+):(-?\d+): ([^\n]*)")


class CelError(KubegateError):
    """A CEL expression that does not compile or evaluate: ``cel_parse_error``,
    ``cel_type_error``, ``cel_eval_error`` or ``cel_cost_exceeded``."""

    code = "cel_eval_error"


@dataclass(frozen=True)
class EmbeddedCel:
    """A CEL expression written in a YAML file, and how its text maps to the file.

    Attributes:
        text: the expression.
        where: what it is (``spec.validations[0].expression``), for messages.
        file: the YAML file (``""`` when unknown).
        line, column: 1-based position of the YAML scalar (its indicator for a
            block scalar), 0 when unknown.
        style: the scalar's YAML style: ``""`` plain, ``'``, ``"``, ``|``, ``>``.
        indent: the content indentation of a block scalar (spaces).
    """

    text: str
    where: str
    file: str = ""
    line: int = 0
    column: int = 0
    style: str = ""
    indent: int = 0

    def location(self) -> Location | None:
        """Where the expression is written."""
        if not self.file:
            return None
        return Location(self.file, self.line, self.column)

    def locate(self, line: int, column: int) -> Location | None:
        """The file position of ``line``:``column`` (1-based) inside the expression.

        Exact for block scalars, plain and single-quoted one-line scalars (what
        the gatekeeper-library uses); other styles map to the scalar's start
        line with the column shifted as if plain.
        """
        if not self.file or not self.line:
            return self.location()
        if self.style in ("|", ">"):
            return Location(self.file, self.line + line, self.indent + column)
        quote = 1 if self.style in ("'", '"') else 0
        if line == 1 and self.style == "'":
            prefix = self.text.splitlines()[0][: column - 1] if self.text else ""
            column += prefix.count("'")  # each '' in the file is one ' in the text
        return Location(self.file, self.line + line - 1, self.column + quote + column - 1)


@dataclass(frozen=True)
class CelProgram:
    """A compiled expression (thread-safe to evaluate; holds the GIL while it runs)."""

    source: EmbeddedCel
    expression: Any
    env: Any
    text: str = ""
    """The checked text (the user's, with ``dyn()`` around cross-type comparison
    operands when it had some), what kubegate's rewrites start from."""
    cost: CostModel | None = None
    """The expression's cost formula (:mod:`kubegate.cel.cost`)."""
    nested: bool = False
    """Its comprehensions nest (:func:`loop_depth` >= 2): its time estimate is
    looser, and only an estimate over 1 s is refused on."""

    def evaluate(self, bindings: Any, sizes: Sizes | None = None, deadline: float = 0.0) -> Any:
        """Evaluates on an :func:`activation`; returns the result as a Python value.

        Args:
            bindings: the activation.
            sizes: the activation values' :func:`~kubegate.cel.cost.size_summary`;
                when given with a ``deadline``, an evaluation whose estimated
                time passes it is refused before it starts (it could not be
                interrupted).
            deadline: ``time.monotonic()`` by which the review must end (0: none).

        Raises:
            CelError: ``cel_eval_error`` (an error value: a missing key, a
                division by zero, no matching overload...) or
                ``cel_cost_exceeded`` (the time estimate above, or the runtime's
                iteration budget).
        """
        if sizes is not None and self.cost is not None:
            left = deadline - time.monotonic() if deadline else math.inf
            # Only the time is enforced: the bound is an upper estimate from the
            # input's largest list and string, and Kubernetes' per-call limit
            # applies to the *actual* cost, which this runtime cannot measure.
            cost = self.cost.bound(sizes)
            if self.nested and cost.seconds <= _NESTED_FLOOR_S:
                left = math.inf
            reason = exceeds(cost, per_call_limit=_UNITS_NOT_ENFORCED, seconds_left=left)
            if reason is not None:
                raise CelError(f"{self.source.where}: {reason}", self.source.location(), code="cel_cost_exceeded")
        try:
            value = self.expression.eval(bindings)
        except RuntimeError as exc:
            text = str(exc)
            if "budget" in text.lower():
                raise CelError(
                    f"{self.source.where}: evaluation ran past the CEL runtime's budget of 10,000 "
                    f"comprehension iterations ({text.strip()})",
                    self.source.location(),
                    code="cel_cost_exceeded",
                ) from None
            raise CelError(f"{self.source.where}: {text.strip()}", self.source.location()) from None
        if value.type() == cel.Type.ERROR:
            raise CelError(f"{self.source.where}: {value.plain_value()}", self.source.location())
        try:
            return value.plain_value()
        except TypeError as exc:
            raise CelError(f"{self.source.where}: result cannot be read: {exc}", self.source.location()) from None


def compile_expression(
    source: EmbeddedCel, variables: Sequence[str], version: KubernetesVersion = LATEST
) -> CelProgram:
    """Compiles ``source`` in the environment of Kubernetes ``version`` declaring
    ``variables``, with the checks Kubernetes adds to cel-go's from 1.29
    (:func:`kubegate.cel.check.validate`: homogeneous literals, regex, duration
    and timestamp literals, no ``cel.bind``) and its cross-type numeric
    comparisons (``1 < 1.5``) from 1.28 (k8s.io/apiserver ``pkg/cel/environment/base.go``).

    Raises:
        CelError: ``cel_parse_error`` or ``cel_type_error``, located at the first
            error's position in the YAML file; the others are in ``details["errors"]``.
    """
    env = environment(variables, version=version)
    text, fix = source.text, None
    try:
        compiled = env.compile(text)  # diagnostics in the user's own text
    except RuntimeError as exc:
        fix = cross_type_literals(text, str(exc)) if version >= (1, 28) else None
        if fix is None:
            raise _unchecked_findings(env, source) or _compile_error(source, str(exc)) from None
        text = fix.text
        try:
            compiled = env.compile(text)
        except RuntimeError as again:  # pragma: no cover - the fix only wraps operands in dyn()
            raise _compile_error(source, str(again)) from None
    found = validate(parse(compiled, text), source.text, fix) if version >= (1, 29) else []
    if found:
        raise _finding_error(source, found)
    program = _runtime_program(source, text, variables)
    if program is None:  # pragma: no cover - a rewrite of valid text compiles
        raise CelError(f"{source.where}: kubegate's rewrite does not compile", source.location())
    return program


def compile_internal(source: EmbeddedCel, text: str, variables: Sequence[str]) -> CelProgram | None:
    """Compiles ``text``, generated by kubegate from ``source`` (``cel.bind``
    allowed) whose own text was checked, for evaluation only; ``None`` when it
    does not compile (the caller keeps its general path)."""
    checking = environment(_with_bindings(variables), internal=True)
    try:
        checking.compile(_evaluated(text))
    except RuntimeError:
        return None
    return _runtime_program(source, text, variables)


def _runtime_program(source: EmbeddedCel, text: str, variables: Sequence[str]) -> CelProgram | None:
    runtime = runtime_environment(variables)
    evaluated = _evaluated(text)
    try:
        expression = runtime.compile(evaluated, disable_check=True)
    except RuntimeError:
        return None
    node = parse(expression, evaluated)
    return CelProgram(source, expression, runtime, text, CostModel.of(node), loop_depth(node) >= 2)


def loop_depth(node: Node) -> int:
    """How deeply ``node``'s comprehensions nest (a comprehension inside another's
    loop; ``cel.bind`` does not loop, and a range, initial value or result is
    outside its comprehension's loop).

    The time bound uses the input's longest list and string for every loop,
    so beyond one level it overestimates real policies, even with each loop's
    runs capped at the runtime's 10,000-iteration budget (up to 2,900 times on
    the gatekeeper-library, where the largest nested estimate was 0.39 s for
    0.26 ms of work; benchmarks/cel_cost_bound.py). So a nested expression is
    refused only when its estimate also passes :data:`_NESTED_FLOOR_S` (1 s):
    a review may overrun its deadline by at most one such expression.
    """
    if isinstance(node, Comprehension) and not node.is_bind:
        outside = max(loop_depth(n) for n in (node.iter_range, node.accu_init, node.result))
        return max(outside, 1 + max(loop_depth(node.loop_condition), loop_depth(node.loop_step)))
    return max((loop_depth(child) for child in children(node)), default=0)


def _unchecked_findings(env: Any, source: EmbeddedCel) -> CelError | None:
    """A clearer error than the checker's for what :func:`validate` finds on the
    parsed text (``undeclared reference to 'cel'`` for a user's ``cel.bind``)."""
    try:
        found = validate(parse(env.compile(source.text, disable_check=True), source.text), source.text)
    except RuntimeError:
        return None
    return _finding_error(source, found) if found else None


def _finding_error(source: EmbeddedCel, found: Sequence[Finding]) -> CelError:
    first, others = found[0], [f"{f.line}:{f.col}: {f.message}" for f in found[1:]]
    return CelError(
        f"{source.where}: {first.message}",
        source.locate(first.line, first.col),
        code=first.code,
        details={"errors": others} if others else None,
    )


def _evaluated(text: str) -> str:
    """What is evaluated for checked ``text``: cel-go's presence tests, and the
    library calls the runtime cannot take as written (``format``'s optionals,
    the qualified ``authorizer.requestResource``)."""
    return presence_tests(rewrite_request_resource(rewrite_validate(text)))


def _with_bindings(variables: Sequence[str]) -> list[str]:
    """``variables`` and the names the rewrites read them from."""
    return [*variables, REQUEST_RESOURCE_BINDING] if REQUEST_RESOURCE in variables else list(variables)


def _is_limit(message: str) -> bool:
    """Whether a compile error is one of cel-cpp's nesting limits (a parse error)."""
    return "when parsing" in message or "recursion limit" in message


def _compile_error(source: EmbeddedCel, text: str) -> CelError:
    found = _ERROR.findall(text)
    if not found:  # a limit of the parser or planner (nesting), reported without a position
        code = "cel_parse_error" if _is_limit(text) else "cel_type_error"
        return CelError(f"{source.where}: {text.strip()}", source.location(), code=code)
    line, column, message = found[0]
    code = "cel_parse_error" if message.startswith("Syntax error") or _is_limit(message) else "cel_type_error"
    others = [f"{ln}:{col}: {msg}" for ln, col, msg in found[1:]]
    located = int(line) > 0 and int(column) > 0  # cel-cpp gives -1:-1 for limits (nesting depth)
    return CelError(
        f"{source.where}: {message}",
        source.locate(int(line), int(column)) if located else source.location(),
        code=code,
        details={"errors": others} if others else None,
    )


def activation(program: CelProgram, values: Mapping[str, Any]) -> Any:
    """An activation of ``program``'s environment holding ``values`` (converted
    lazily and cached: share one per review; docs/cel-notes.md §5)."""
    return program.env.Activation(dict(values))
