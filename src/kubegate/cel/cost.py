"""A static, size-aware cost bound for CEL expressions (docs/cel-notes.md §4).

cel-expr-python has no cost tracking and cannot interrupt an evaluation (it
holds the GIL throughout); only a fixed budget of 10,000 comprehension
iterations stops it, and within it ``map``/``filter`` run quadratically (2.3 s
for one ``map`` over 9,999 items). So before each evaluation kubegate bounds
the cost from the expression's AST and the sizes of the input:

* :meth:`CostModel.of` builds, once per compiled expression, polynomials in
  the input's size summary (:class:`Sizes`: the longest list or map ``L``, the
  longest string ``S``, the node count ``N``);
* :func:`size_summary` measures the activation's values once per review;
* :meth:`CostModel.bound` evaluates them: a :class:`Cost` in Kubernetes cost
  units, in seconds of this runtime, and in comprehension iterations;
* :func:`exceeds` says why an evaluation must be refused (``cel_cost_exceeded``).

Kubernetes units follow cel-go's runtime cost tracker
(``interpreter/runtimecost.go``: an identifier or field selection 1, a
literal 0, a list literal 10, a map 30, a message 40, ``&&``/``||``/``?:`` 0,
``has()`` 0 (``PresenceTestHasCost(false)``), most calls 1, string
comparisons, ``startsWith``, ``+`` and ``matches`` by length) and
k8s.io/apiserver ``pkg/cel/library/cost.go`` (``CallCost``: ``split`` and
``replace`` 0.2 per character, ``join`` 0.2 per result character, ``find``
like ``matches``, ``check`` 350,000...), against ``PerCallLimit`` = 1,000,000
(``pkg/apis/cel/config.go``). Divergences: the bound assumes every value has
the largest size found anywhere in the input (an expression over a short list
beside a long one is overestimated, never underestimated), takes every branch
and every iteration (no short-circuit), rounds ``ceil(x)`` up to ``x + 1``
for input sizes, and charges unlisted library functions 1; for the literal
expressions of Kubernetes' ``library/cost_test.go`` it is within one or two
units of Kubernetes' runtime cost (``tests/cel/cases/cost.yaml``).

The formula is :mod:`kubegate.cel.cost_formula`'s walk over the AST, with
the per-function costs and this runtime's time calibration of
:mod:`kubegate.cel.cost_terms`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kubegate.cel.ast import Node
from kubegate.cel.cost_formula import formula, loops
from kubegate.cel.cost_terms import Poly

__all__ = ["ITERATION_BUDGET", "PER_CALL_LIMIT", "Cost", "CostModel", "Sizes", "exceeds", "size_summary"]

PER_CALL_LIMIT = 1_000_000
"""Kubernetes' cost limit of one expression evaluation (``celconfig.PerCallLimit``)."""


@dataclass(frozen=True, slots=True)
class Sizes:
    """An input's size summary: the longest list or map (``lists``), the longest
    string or bytes (``strings``, code points; map keys included) and the number
    of values (``nodes``) in all activation values."""

    lists: int = 0
    strings: int = 0
    nodes: int = 0

    def merged(self, other: Sizes) -> Sizes:
        """The summary of both inputs together."""
        return Sizes(max(self.lists, other.lists), max(self.strings, other.strings), self.nodes + other.nodes)


@dataclass(frozen=True, slots=True)
class Cost:
    """An upper estimate of one evaluation: Kubernetes cost ``units``, this
    runtime's ``seconds``, comprehension ``iterations`` (the runtime's budget is
    10,000)."""

    units: int
    seconds: float
    iterations: int


def size_summary(values: Mapping[str, Any]) -> Sizes:
    """The :class:`Sizes` of ``values`` (an activation's variables: JSON-like
    data; other values count as scalars), in one walk.

    36-42 µs measured for a 10-container Pod with its request (285 values).
    """
    longest_list = longest_string = nodes = 0
    stack: list[Any] = [v for v in values.values() if type(v) in _CONTAINERS or not isinstance(v, _PLAIN)]
    for v in values.values():
        nodes += 1
        if type(v) is str and len(v) > longest_string:
            longest_string = len(v)
    pop, push = stack.pop, stack.append
    while stack:
        value = pop()
        kind = type(value)
        if kind is not dict and kind is not list:
            value = _normalized(value)
            if value is None:
                continue
            if isinstance(value, int):
                longest_string = max(longest_string, value)
                continue
            kind = type(value)
        count = len(value)
        nodes += count
        if count > longest_list:
            longest_list = count
        if kind is dict:
            for key, item in value.items():
                if type(key) is str and len(key) > longest_string:
                    longest_string = len(key)
                t = type(item)
                if t is str:
                    if len(item) > longest_string:
                        longest_string = len(item)
                elif t is dict or t is list or not isinstance(item, _PLAIN):
                    push(item)
        else:
            for item in value:
                t = type(item)
                if t is str:
                    if len(item) > longest_string:
                        longest_string = len(item)
                elif t is dict or t is list or not isinstance(item, _PLAIN):
                    push(item)
    return Sizes(longest_list, longest_string, nodes)


_CONTAINERS = (dict, list)
_PLAIN = (str, int, float, bool, type(None))


def _normalized(value: Any) -> Any:
    """``value`` as a dict or list, its length if it is bytes, or ``None`` (a scalar)."""
    if isinstance(value, (bytes, bytearray)):
        return len(value)
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (list, tuple)):
        return list(value)
    return None


ITERATION_BUDGET = 10_000
"""Comprehension iterations the runtime allows one evaluation (docs/cel-notes.md §4)."""

_Terms = tuple[tuple[tuple[int, int, int], float], ...]


def _terms(poly: Poly) -> _Terms:
    return tuple(sorted((k, v) for k, v in poly.terms.items() if v))


def _at(terms: _Terms, lists: int, strings: int, nodes: int) -> float:
    return sum(v * float(lists**i * strings**j * nodes**k) for (i, j, k), v in terms)


@dataclass(frozen=True)
class CostModel:
    """The cost formula of one expression: polynomials over :class:`Sizes`.

    Attributes:
        monomials, units, seconds, iterations: the polynomials of units, seconds
            and iterations, coefficients per monomial ``(lists, strings, nodes)``.
        flat: the seconds outside every loop.
        loops: per comprehension ``(runs, body)`` (:class:`kubegate.cel.cost_formula.Loop`);
            with ``flat`` they give a second time bound, each loop's runs
            capped at :data:`ITERATION_BUDGET`, which the runtime never passes.
    """

    monomials: tuple[tuple[int, int, int], ...]
    units: tuple[float, ...]
    seconds: tuple[float, ...]
    iterations: tuple[float, ...]
    flat: _Terms = ()
    loops: tuple[tuple[_Terms, _Terms], ...] = ()

    @classmethod
    def of(cls, node: Node) -> CostModel:
        """The model of the expression whose AST is ``node``
        (:func:`kubegate.cel.ast.parse` of the text that is evaluated: with
        kubegate's rewrites and ``cel.bind``-inlined variables)."""
        units, seconds, iterations = formula(node)
        flat, found = loops(node)
        keys = sorted(set(units.terms) | set(seconds.terms) | set(iterations.terms))
        return cls(
            tuple(keys),
            tuple(units.terms.get(k, 0.0) for k in keys),
            tuple(seconds.terms.get(k, 0.0) for k in keys),
            tuple(iterations.terms.get(k, 0.0) for k in keys),
            _terms(flat),
            tuple((_terms(loop.runs), _terms(loop.body)) for loop in found),
        )

    def bound(self, sizes: Sizes) -> Cost:
        """The cost of one evaluation over an input of ``sizes`` (a few µs).

        The time is the smaller of two bounds: the polynomial, and the flat
        seconds plus each loop's body times its runs capped at the iteration
        budget (a nested comprehension's runs grow as a power of the longest
        list, but the runtime stops at 10,000 iterations in all)."""
        lists, strings, nodes = sizes.lists, sizes.strings, sizes.nodes
        units = seconds = iterations = 0.0
        for (i, j, k), u, s, n in zip(self.monomials, self.units, self.seconds, self.iterations, strict=True):
            m = float(lists**i * strings**j * nodes**k)
            units += u * m
            seconds += s * m
            iterations += n * m
        if self.loops:
            capped = _at(self.flat, lists, strings, nodes)
            for runs, body in self.loops:
                capped += min(_at(runs, lists, strings, nodes), ITERATION_BUDGET) * _at(body, lists, strings, nodes)
            seconds = min(seconds, capped)
        return Cost(_ceil(units), seconds, _ceil(iterations))


def _ceil(x: float) -> int:
    return math.ceil(x - 1e-9) if x < 1e18 else 10**18


def exceeds(cost: Cost, *, per_call_limit: int = PER_CALL_LIMIT, seconds_left: float = math.inf) -> str | None:
    """Why an evaluation of ``cost`` must not start, or ``None``.

    Args:
        cost: from :meth:`CostModel.bound`.
        per_call_limit: Kubernetes' limit in cost units (``PerCallLimit``).
        seconds_left: the time left before the review's deadline.

    Returns:
        A message for ``cel_cost_exceeded`` when the estimated units exceed the
        limit (Kubernetes would cancel the evaluation: "actual cost limit
        exceeded") or the estimated time exceeds what is left (this runtime
        cannot interrupt an evaluation).
    """
    if cost.units > per_call_limit:
        return (
            f"estimated cost {cost.units} exceeds the per-expression limit of {per_call_limit} "
            "(Kubernetes cancels such an evaluation: actual cost limit exceeded)"
        )
    if cost.seconds > seconds_left:
        return (
            f"estimated evaluation time {cost.seconds:.3g} s exceeds the {max(seconds_left, 0.0):.3g} s left "
            "before the deadline (a CEL evaluation cannot be interrupted)"
        )
    return None
