"""The cost formula of a CEL expression: a walk over its AST
(:mod:`kubegate.cel.ast`), children first, into polynomials over the input's
size summary (:class:`kubegate.cel.cost.Sizes`) of Kubernetes cost units,
seconds of this runtime and comprehension iterations.

Node costs follow cel-go's runtime cost tracker
(``interpreter/runtimecost.go``): an identifier or field selection 1, a
literal 0, a list literal 10, a map 30, a message 40, ``?:`` 0 with the dearer
branch, ``has()`` 0 (``PresenceTestHasCost(false)``); a call adds its own cost
(:func:`kubegate.cel.cost_terms.call_cost`). A comprehension is charged every
iteration (no short-circuit), with an accumulator that grows by its appended
list literals (``map``/``filter``: the average length inside the loop, the
final length after it); ``cel.bind`` once. The seconds add a fixed cost per
evaluation (``T_EVAL``).
"""

from __future__ import annotations

from dataclasses import dataclass

from kubegate.cel.ast import (
    Call,
    Comprehension,
    CreateList,
    CreateMap,
    CreateStruct,
    Ident,
    Literal,
    Node,
    Select,
)
from kubegate.cel.cost_terms import (
    EMPTY,
    INPUT,
    ONE,
    SCALAR,
    T_COPY,
    T_EVAL,
    T_ITER,
    T_NODE,
    ZERO,
    Poly,
    ValueSize,
    call_cost,
)

__all__ = ["Loop", "formula", "loops"]


@dataclass(frozen=True)
class Loop:
    """One comprehension's loop: ``runs`` is how many times its body runs in one
    evaluation (its range's length times its enclosing loops' runs), ``body``
    the seconds of one run, nested comprehensions' loops excluded (they are
    loops of their own). Time = the flat seconds + each loop's ``runs * body``;
    since the runtime stops past 10,000 iterations in all, each ``runs`` may
    be capped there, which keeps a bound over nested comprehensions sound
    without the power of the longest list it would otherwise carry."""

    runs: Poly
    body: Poly


def formula(node: Node) -> tuple[Poly, Poly, Poly]:
    """The ``(units, seconds, iterations)`` polynomials of one evaluation of
    the expression whose AST is ``node`` (seconds include ``T_EVAL``)."""
    estimator = _Estimator()
    estimate = estimator.node(node, {})
    seconds = estimate.seconds + Poly.const(T_EVAL)
    for loop in estimator.loops:
        seconds = seconds + loop.runs * loop.body
    return estimate.units, seconds, estimate.iterations


def loops(node: Node) -> tuple[Poly, list[Loop]]:
    """The seconds of ``node`` outside every loop (``T_EVAL`` included) and its
    loops (:class:`Loop`): :func:`formula`'s seconds are ``flat + sum(runs * body)``."""
    estimator = _Estimator()
    estimate = estimator.node(node, {})
    return estimate.seconds + Poly.const(T_EVAL), estimator.loops


@dataclass(frozen=True)
class _Est:
    units: Poly
    seconds: Poly
    iterations: Poly
    size: ValueSize

    def __add__(self, other: _Est) -> _Est:
        return _Est(
            self.units + other.units, self.seconds + other.seconds, self.iterations + other.iterations, self.size
        )


class _Estimator:
    """Builds the :class:`_Est` of a node, children first (scope: variable sizes).
    An estimate's ``seconds`` leave out loop bodies: each comprehension's loop
    is recorded in :attr:`loops` with how often it runs (:class:`Loop`)."""

    def __init__(self) -> None:
        self.loops: list[Loop] = []
        self.runs: Poly = ONE  # how often the node being estimated runs per evaluation

    def node(self, n: Node, scope: dict[str, ValueSize]) -> _Est:
        if isinstance(n, Literal):
            size = ValueSize(ZERO, Poly.const(len(n.value))) if n.kind in ("string", "bytes") else SCALAR
            return _Est(ZERO, Poly.const(T_NODE), ZERO, size)
        if isinstance(n, Ident):
            return _Est(ONE, Poly.const(T_NODE), ZERO, scope.get(n.name, INPUT))
        if isinstance(n, Select):
            operand = self.node(n.operand, scope)
            if n.test_only:
                return _Est(operand.units, operand.seconds + Poly.const(T_NODE), operand.iterations, SCALAR)
            return _Est(
                operand.units + ONE, operand.seconds + Poly.const(T_NODE), operand.iterations, operand.size.element
            )
        if isinstance(n, Call):
            return self.call(n, scope)
        if isinstance(n, (CreateList, CreateMap, CreateStruct)):
            parts = [self.node(c, scope) for c in _parts(n)]
            total = _Est(ZERO, ZERO, ZERO, EMPTY)
            for part in parts:
                total = total + part
            elem = parts[0].size if parts else EMPTY
            for part in parts[1:]:
                elem = elem.union(part.size)
            base, count = (10, len(n.elements)) if isinstance(n, CreateList) else (30, len(parts) // 2)
            if isinstance(n, CreateStruct):
                return _Est(total.units + Poly.const(40), total.seconds + Poly.const(T_NODE), total.iterations, SCALAR)
            seconds = total.seconds + Poly.const(T_NODE + T_COPY * count)
            return _Est(
                total.units + Poly.const(base), seconds, total.iterations, ValueSize(Poly.const(count), ZERO, elem)
            )
        if isinstance(n, Comprehension):
            return self.comprehension(n, scope)
        return _Est(ZERO, Poly.const(T_NODE), ZERO, INPUT)

    def comprehension(self, n: Comprehension, scope: dict[str, ValueSize]) -> _Est:
        init = self.node(n.accu_init, scope)
        if n.is_bind:  # cel.bind: evaluated lazily, at most once
            result = self.node(n.result, {**scope, n.accu_var: init.size})
            return _Est(
                init.units + result.units,
                init.seconds + result.seconds,
                init.iterations + result.iterations,
                result.size,
            )
        rng = self.node(n.iter_range, scope)
        count, elem = rng.size.seq, rng.size.element
        loop = {**scope, n.iter_var: elem} if not n.iter_var2 else {**scope, n.iter_var: elem, n.iter_var2: elem}
        appended = [c for c in _accumulations(n.loop_step, n.accu_var)]
        if appended and isinstance(n.accu_init, CreateList):
            growth = max(len(c.elements) for c in appended)
            added = self.node(appended[0], loop).size.element
            for c in appended[1:]:
                added = added.union(self.node(c, loop).size.element)
            final = ValueSize(init.size.seq + count * float(growth), ZERO, init.size.element.union(added))
            during = ValueSize(init.size.seq + count * (growth / 2), ZERO, final.elem)  # the average length
        else:
            final = during = init.size
        outer = self.runs
        self.runs = outer * count
        try:
            cond = self.node(n.loop_condition, {**loop, n.accu_var: during})
            step = self.node(n.loop_step, {**loop, n.accu_var: during})
        finally:
            self.runs = outer
        result = self.node(n.result, {**scope, n.accu_var: final})
        per = cond + step
        self.loops.append(Loop(outer * count, per.seconds + Poly.const(T_ITER)))
        return _Est(
            rng.units + init.units + count * per.units + result.units,
            rng.seconds + init.seconds + result.seconds,  # the loop's seconds are in self.loops
            rng.iterations + init.iterations + count * (per.iterations + ONE) + result.iterations,
            final if appended else result.size,
        )

    def call(self, n: Call, scope: dict[str, ValueSize]) -> _Est:
        nodes = ([n.target] if n.target is not None else []) + list(n.args)
        parts = [self.node(x, scope) for x in nodes]
        fn = n.function
        if fn == "_?_:_" and len(parts) == 3:
            cond, yes, no = parts
            return _Est(
                cond.units + yes.units.max(no.units),
                cond.seconds + yes.seconds.max(no.seconds) + Poly.const(T_NODE),
                cond.iterations + yes.iterations.max(no.iterations),
                yes.size.union(no.size),
            )
        total = _Est(ZERO, Poly.const(T_NODE), ZERO, SCALAR)
        for part in parts:
            total = total + part
        units, seconds, size = call_cost(n, nodes, [p.size for p in parts])
        return _Est(total.units + units, total.seconds + seconds, total.iterations, size)


def _parts(n: CreateList | CreateMap | CreateStruct) -> list[Node]:
    if isinstance(n, CreateList):
        return list(n.elements)
    if isinstance(n, CreateMap):
        return [x for e in n.entries for x in (e.key, e.value)]
    return [f.value for f in n.fields]


def _accumulations(step: Node, accu: str) -> list[CreateList]:
    """The list literals ``step`` appends to the accumulator (``@result + [x]``)."""
    found = []
    stack = [step]
    while stack:
        x = stack.pop()
        if not isinstance(x, Call):
            continue
        added = x.args[1] if x.function == "_+_" and len(x.args) == 2 else None
        if isinstance(added, CreateList) and isinstance(x.args[0], Ident) and x.args[0].name == accu:
            found.append(added)
        stack.extend(x.args)
    return found
