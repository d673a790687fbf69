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

Seconds come from this runtime's measured behaviour (shared 2-core VM,
cel-expr-python 0.1.3, best of 3, rough): a node 20-55 ns (charged 50 ns), an
iteration about 95 ns with its condition and step, each list element copied
by an accumulating ``map``/``filter`` step 35-58 ns (charged 80 ns, over
n²/2), string functions 1-5 ns per character (``quote`` 14, ``split`` and
``replace`` up to 65, charged 80), a call into a Python-implemented library
function 2.8-3.3 µs plus up to 1.8 µs per returned list element
(``findAll``), ``matches`` 3.3 µs per call. The conversion of the input into
the activation (about 1 µs per map, once per review) is not included.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

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

__all__ = ["PER_CALL_LIMIT", "Cost", "CostModel", "Sizes", "exceeds", "size_summary"]

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


@dataclass(frozen=True)
class CostModel:
    """The cost formula of one expression: polynomials over :class:`Sizes`."""

    monomials: tuple[tuple[int, int, int], ...]
    units: tuple[float, ...]
    seconds: tuple[float, ...]
    iterations: tuple[float, ...]

    @classmethod
    def of(cls, node: Node) -> CostModel:
        """The model of the expression whose AST is ``node``
        (:func:`kubegate.cel.ast.parse` of the text that is evaluated: with
        kubegate's rewrites and ``cel.bind``-inlined variables)."""
        estimate = _Estimator().node(node, {})
        seconds = estimate.seconds + _Poly.const(T_EVAL)
        keys = sorted(set(estimate.units.terms) | set(seconds.terms) | set(estimate.iterations.terms))
        return cls(
            tuple(keys),
            tuple(estimate.units.terms.get(k, 0.0) for k in keys),
            tuple(seconds.terms.get(k, 0.0) for k in keys),
            tuple(estimate.iterations.terms.get(k, 0.0) for k in keys),
        )

    def bound(self, sizes: Sizes) -> Cost:
        """The cost of one evaluation over an input of ``sizes`` (1.3-1.9 µs measured)."""
        lists, strings, nodes = sizes.lists, sizes.strings, sizes.nodes
        units = seconds = iterations = 0.0
        for (i, j, k), u, s, n in zip(self.monomials, self.units, self.seconds, self.iterations, strict=True):
            m = float(lists**i * strings**j * nodes**k)
            units += u * m
            seconds += s * m
            iterations += n * m
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


# ---------------------------------------------------------------- the formula

T_EVAL = 5e-6  # one evaluation's fixed cost (3.3 us measured for `true`)
T_NODE = 50e-9  # one node evaluated
T_ITER = 50e-9  # one comprehension iteration, besides its nodes
T_COPY = 80e-9  # one list element copied (list `+`, accumulating map/filter steps)
T_CHAR = 5e-9  # one character of a string function implemented by the runtime
T_SPLIT = 80e-9  # one character of split/replace (a new string per piece)
T_CMP = 30e-9  # one element of a deep comparison or of an `in` scan
T_PY_CALL = 4e-6  # a call into a Python-implemented library function
T_PY_CHAR = 10e-9  # one character of its string arguments
T_PY_ELEM = 2e-6  # one element of a list it takes or returns
T_MATCHES = 5e-6  # a `matches` call (the pattern is compiled per call)
T_REGEX_CHAR = 25e-9  # one character scanned by RE2

_Key = tuple[int, int, int]  # exponents of (lists, strings, nodes)


@dataclass(frozen=True)
class _Poly:
    """A polynomial with non-negative coefficients over the :class:`Sizes`."""

    terms: dict[_Key, float]

    @staticmethod
    def const(c: float) -> _Poly:
        return _Poly({(0, 0, 0): float(c)} if c else {})

    def __add__(self, other: _Poly) -> _Poly:
        terms = dict(self.terms)
        for k, v in other.terms.items():
            terms[k] = terms.get(k, 0.0) + v
        return _Poly(terms)

    def __mul__(self, other: _Poly | float) -> _Poly:
        if not isinstance(other, _Poly):
            return _Poly({k: v * other for k, v in self.terms.items()} if other else {})
        terms: dict[_Key, float] = {}
        for (a, b, c), v in self.terms.items():
            for (d, e, f), w in other.terms.items():
                k = (a + d, b + e, c + f)
                terms[k] = terms.get(k, 0.0) + v * w
        return _Poly(terms)

    def max(self, other: _Poly) -> _Poly:
        """A bound of both (coefficient-wise maximum: sizes are non-negative)."""
        terms = dict(self.terms)
        for k, v in other.terms.items():
            terms[k] = max(terms.get(k, 0.0), v)
        return _Poly(terms)

    def smaller(self, other: _Poly) -> _Poly:
        """A bound of ``min(self, other)``: either is one; the smaller at typical sizes."""
        return self if self.at(10, 100, 1000) <= other.at(10, 100, 1000) else other

    def at(self, lists: float, strings: float, nodes: float) -> float:
        return sum(v * lists**i * strings**j * nodes**k for (i, j, k), v in self.terms.items())

    def ceil(self, factor: float) -> _Poly:
        """A bound of ``ceil(factor * self)``: exact for a constant."""
        if set(self.terms) <= {(0, 0, 0)}:
            return _Poly.const(math.ceil(factor * self.terms.get((0, 0, 0), 0.0) - 1e-9))
        return self * factor + _Poly.const(1)


_ZERO = _Poly({})
_ONE = _Poly.const(1)
_L, _S, _N = _Poly({(1, 0, 0): 1.0}), _Poly({(0, 1, 0): 1.0}), _Poly({(0, 0, 1): 1.0})


@dataclass(frozen=True)
class _Size:
    """A value's size: ``seq`` as a list or map, ``chars`` as a string (1 for a
    scalar, as cel-go's ``actualSize``); ``elem`` its elements' (or keys' and
    values'), ``None`` for input data."""

    seq: _Poly
    chars: _Poly
    elem: _Size | None = None

    def union(self, other: _Size) -> _Size:
        elem = None if self.elem is None or other.elem is None else self.elem.union(other.elem)
        return _Size(self.seq.max(other.seq), self.chars.max(other.chars), elem)

    @property
    def element(self) -> _Size:
        return _INPUT if self.elem is None else self.elem

    @property
    def either(self) -> _Poly:
        """cel-go's ``actualSize`` when the kind is unknown."""
        return self.seq + self.chars


_INPUT = _Size(_L, _S)
_SCALAR = _Size(_ZERO, _ONE)
_EMPTY = _Size(_ZERO, _ZERO)
_SCALARS = frozenset({"bool", "int", "uint", "double", "null", "string", "bytes", "timestamp", "duration"})
_RUNTIME_FUNCTIONS = frozenset(
    {
        "_+_",
        "_-_",
        "_*_",
        "_/_",
        "_%_",
        "-_",
        "!_",
        "_&&_",
        "_||_",
        "_?_:_",
        "_==_",
        "_!=_",
        "_<_",
        "_<=_",
        "_>_",
        "_>=_",
        "@in",
        "_[_]",
        "_[?_]",
        "_?._",
        "size",
        "matches",
        "contains",
        "startsWith",
        "endsWith",
        "int",
        "uint",
        "double",
        "string",
        "bytes",
        "bool",
        "dyn",
        "type",
        "duration",
        "timestamp",
        "@not_strictly_false",
        "charAt",
        "indexOf",
        "lastIndexOf",
        "lowerAscii",
        "upperAscii",
        "replace",
        "split",
        "substring",
        "trim",
        "join",
        "format",
        "strings.quote",
        "sets.contains",
        "sets.equivalent",
        "sets.intersects",
        "optional.of",
        "optional.none",
        "optional.ofNonZeroValue",
        "value",
        "hasValue",
        "or",
        "orValue",
        "getDate",
        "getDayOfMonth",
        "getDayOfWeek",
        "getDayOfYear",
        "getFullYear",
        "getHours",
        "getMilliseconds",
        "getMinutes",
        "getMonth",
        "getSeconds",
    }
)
"""Functions cel-cpp implements (the others call Python)."""
_TENTH = frozenset(
    {"url", "isURL", "cidr", "isIP", "isCIDR", "quantity", "isQuantity", "semver", "isSemver", "jsonpatch.escapeKey"}
)
"""Library functions costing 0.1 per character of their string argument (``CallCost``)."""
_STRING_RESULTS = frozenset({"jsonpatch.escapeKey"})


@dataclass(frozen=True)
class _Est:
    units: _Poly
    seconds: _Poly
    iterations: _Poly
    size: _Size

    def __add__(self, other: _Est) -> _Est:
        return _Est(
            self.units + other.units, self.seconds + other.seconds, self.iterations + other.iterations, self.size
        )


def _scalar_typed(node: Node) -> bool:
    return isinstance(node, Literal) or (node.type is not None and node.type.kind in _SCALARS)


class _Estimator:
    """Builds the :class:`_Est` of a node, children first (scope: variable sizes)."""

    def node(self, n: Node, scope: dict[str, _Size]) -> _Est:
        if isinstance(n, Literal):
            size = _Size(_ZERO, _Poly.const(len(n.value))) if n.kind in ("string", "bytes") else _SCALAR
            return _Est(_ZERO, _Poly.const(T_NODE), _ZERO, size)
        if isinstance(n, Ident):
            return _Est(_ONE, _Poly.const(T_NODE), _ZERO, scope.get(n.name, _INPUT))
        if isinstance(n, Select):
            operand = self.node(n.operand, scope)
            if n.test_only:
                return _Est(operand.units, operand.seconds + _Poly.const(T_NODE), operand.iterations, _SCALAR)
            return _Est(
                operand.units + _ONE, operand.seconds + _Poly.const(T_NODE), operand.iterations, operand.size.element
            )
        if isinstance(n, Call):
            return self.call(n, scope)
        if isinstance(n, (CreateList, CreateMap, CreateStruct)):
            parts = [self.node(c, scope) for c in _parts(n)]
            total = _Est(_ZERO, _ZERO, _ZERO, _EMPTY)
            for part in parts:
                total = total + part
            elem = parts[0].size if parts else _EMPTY
            for part in parts[1:]:
                elem = elem.union(part.size)
            base, count = (10, len(n.elements)) if isinstance(n, CreateList) else (30, len(parts) // 2)
            if isinstance(n, CreateStruct):
                return _Est(
                    total.units + _Poly.const(40), total.seconds + _Poly.const(T_NODE), total.iterations, _SCALAR
                )
            seconds = total.seconds + _Poly.const(T_NODE + T_COPY * count)
            return _Est(
                total.units + _Poly.const(base), seconds, total.iterations, _Size(_Poly.const(count), _ZERO, elem)
            )
        if isinstance(n, Comprehension):
            return self.comprehension(n, scope)
        return _Est(_ZERO, _Poly.const(T_NODE), _ZERO, _INPUT)

    def comprehension(self, n: Comprehension, scope: dict[str, _Size]) -> _Est:
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
            final = _Size(init.size.seq + count * float(growth), _ZERO, init.size.element.union(added))
            during = _Size(init.size.seq + count * (growth / 2), _ZERO, final.elem)  # the average length
        else:
            final = during = init.size
        cond = self.node(n.loop_condition, {**loop, n.accu_var: during})
        step = self.node(n.loop_step, {**loop, n.accu_var: during})
        result = self.node(n.result, {**scope, n.accu_var: final})
        per = cond + step
        return _Est(
            rng.units + init.units + count * per.units + result.units,
            rng.seconds + init.seconds + count * (per.seconds + _Poly.const(T_ITER)) + result.seconds,
            rng.iterations + init.iterations + count * (per.iterations + _ONE) + result.iterations,
            final if appended else result.size,
        )

    def call(self, n: Call, scope: dict[str, _Size]) -> _Est:
        nodes = ([n.target] if n.target is not None else []) + list(n.args)
        parts = [self.node(x, scope) for x in nodes]
        fn = n.function
        if fn == "_?_:_" and len(parts) == 3:
            cond, yes, no = parts
            return _Est(
                cond.units + yes.units.max(no.units),
                cond.seconds + yes.seconds.max(no.seconds) + _Poly.const(T_NODE),
                cond.iterations + yes.iterations.max(no.iterations),
                yes.size.union(no.size),
            )
        total = _Est(_ZERO, _Poly.const(T_NODE), _ZERO, _SCALAR)
        for part in parts:
            total = total + part
        units, seconds, size = _function(n, nodes, [p.size for p in parts])
        return _Est(total.units + units, total.seconds + seconds, total.iterations, size)


def _parts(n: CreateList | CreateMap | CreateStruct) -> list[Node]:
    if isinstance(n, CreateList):
        return list(n.elements)
    if isinstance(n, CreateMap):
        return [x for e in n.entries for x in (e.key, e.value)]
    return [f.value for f in n.fields]


def _traversal(node: Node, size: _Size) -> _Poly:
    """cel-go's ``traversalCost`` of a list: 1 per scalar, 0.1 per character of a string."""
    kind = node.type.params[0].kind if node.type is not None and node.type.kind == "list" and node.type.params else ""
    if kind in ("string", "bytes"):
        return size.seq * size.element.chars * 0.1
    if kind in _SCALARS:
        return size.seq
    return size.seq + size.seq * size.element.chars * 0.1


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


def _function(n: Call, nodes: list[Node], sizes: list[_Size]) -> tuple[_Poly, _Poly, _Size]:
    """The call's own (units, seconds, result size), arguments excluded
    (``sizes[0]`` is the target of a member call)."""
    fn, ids = n.function, n.overloads
    first = sizes[0] if sizes else _SCALAR
    second = sizes[1] if len(sizes) > 1 else _SCALAR
    seconds = _ZERO
    if fn not in _RUNTIME_FUNCTIONS or (fn in ("indexOf", "lastIndexOf") and any("list" in i for i in ids)):
        seconds = _Poly.const(T_PY_CALL)  # a Python-implemented library function
        for s in sizes:
            seconds = seconds + s.chars * T_PY_CHAR + s.seq * T_PY_ELEM
    if fn in ("_&&_", "_||_"):
        return _ZERO, seconds, _SCALAR
    if fn == "dyn":
        return _ONE, seconds, first
    if fn in ("_==_", "_!=_", "_<_", "_<=_", "_>_", "_>=_"):
        least = first.either.smaller(second.either)
        scalar = any(_scalar_typed(x) for x in nodes)
        seconds = first.chars.smaller(second.chars) * T_CHAR if scalar else _N * T_CMP
        return least.ceil(0.1), seconds, _SCALAR
    if fn == "@in":
        units = second.seq if any(i.startswith("in_list") for i in ids) or not ids else _ZERO
        scan = second.seq * T_CMP + (second.seq * first.chars * T_CHAR if _scalar_typed(nodes[0]) else _N * T_CMP)
        return units.max(_ONE), scan, _SCALAR
    if fn == "_+_":
        units, time, size = _ONE, _ZERO, first.union(second)
        if not ids or any(i in ("add_string", "add_bytes") for i in ids):
            chars = first.chars + second.chars
            units, time, size = chars.ceil(0.1), chars * T_CHAR, _Size(size.seq, chars, size.elem)
        if not ids or "add_list" in ids:
            seq = first.seq + second.seq
            elem = first.element.union(second.element)
            units, time, size = units.max(_ONE), time + seq * T_COPY, _Size(seq, size.chars, elem)
        return units, time, size
    if fn in ("_[_]", "_[?_]", "_?._"):
        return _ONE, seconds, first.element
    if fn == "size":
        return _ONE, first.chars * T_CHAR, _SCALAR
    if fn in ("matches", "find", "findAll"):
        text, pattern = first, second  # target and pattern, or matches(text, pattern)
        units = (text.chars + _ONE).ceil(0.1) * pattern.chars.ceil(0.25)
        scan = _Poly.const(T_MATCHES) + text.chars * T_REGEX_CHAR
        if fn == "find":
            return units, seconds + scan, _Size(_ZERO, text.chars)
        if fn == "findAll":
            pieces = text.chars + _ONE
            return units, seconds + scan + pieces * T_PY_ELEM, _Size(pieces, _ZERO, _Size(_ZERO, text.chars))
        return units, scan, _SCALAR
    if fn == "contains":
        return first.chars.ceil(0.1) * second.chars.ceil(0.1), (first.chars + second.chars) * T_CHAR, _SCALAR
    if fn in ("startsWith", "endsWith"):
        return first.chars.ceil(0.1), second.chars * T_CHAR, _SCALAR
    if fn in ("lowerAscii", "upperAscii", "trim", "substring"):
        return first.chars.ceil(0.1), first.chars * T_CHAR, _Size(_ZERO, first.chars)
    if fn == "charAt":
        return _ONE, _ZERO, _SCALAR
    if fn in ("indexOf", "lastIndexOf", "isSorted", "sum", "max", "min"):
        if any(i.startswith("string_") for i in ids) and n.target is not None:
            return first.chars.ceil(0.1), first.chars * T_CHAR, _SCALAR
        return _traversal(nodes[0], first).ceil(1.0), seconds, first.element if fn in ("max", "min", "sum") else _SCALAR
    if fn == "split":
        pieces = first.chars + _ONE
        return first.chars.ceil(0.2), first.chars * T_SPLIT, _Size(pieces, _ZERO, _Size(_ZERO, first.chars))
    if fn == "replace":
        third = sizes[2] if len(sizes) > 2 else _SCALAR
        out = (first.chars + _ONE) * third.chars + first.chars
        return first.chars.ceil(0.2), first.chars * T_SPLIT + out * T_CHAR, _Size(_ZERO, out)
    if fn == "join":
        out = first.seq * first.element.chars + (first.seq * second.chars if len(sizes) > 1 else _ZERO)
        return out.ceil(0.2), out * T_CHAR + first.seq * T_NODE, _Size(_ZERO, out)
    if fn == "format":
        out = first.chars + second.seq * (second.element.chars + _Poly.const(32))
        return first.chars.ceil(0.1), out * T_CHAR + second.seq * T_NODE, _Size(_ZERO, out)
    if fn == "strings.quote":
        return first.chars.ceil(0.1), first.chars * (4 * T_CHAR), _Size(_ZERO, first.chars * 2.0 + _Poly.const(2))
    if fn in ("sets.contains", "sets.intersects", "sets.equivalent"):
        pairs = first.seq * second.seq * (2.0 if fn == "sets.equivalent" else 1.0)
        return pairs + _ONE, pairs * T_CMP, _SCALAR
    if fn in _TENTH or (fn == "ip" and "cidr_ip" not in ids):
        arg = sizes[-1] if sizes else _SCALAR
        return arg.chars.ceil(0.1), seconds, _Size(_ZERO, arg.chars) if fn in _STRING_RESULTS else _SCALAR
    if fn in ("containsIP", "containsCIDR"):
        units = _Poly.const(1 if fn == "containsIP" else 3)
        return (units + second.chars.ceil(0.1) if any("string" in i for i in ids) else units), seconds, _SCALAR
    if fn == "validate":  # format.<name>().validate(s): a regex of at most 136 characters (34 units)
        return (second.chars + _ONE).ceil(0.1) * 34.0, seconds + second.chars * T_REGEX_CHAR, _INPUT
    if fn == "bytes" or (fn == "string" and any("bytes" in i for i in ids)):
        source = nodes[0] if nodes else None
        if fn == "bytes" and isinstance(source, Literal) and source.kind == "string":
            out = _Poly.const(len(source.value.encode()))
        else:
            out = first.chars * 4.0  # UTF-8
        return first.chars.ceil(0.1), first.chars * T_CHAR, _Size(_ZERO, out)
    if fn == "ip.isCanonical":
        return first.chars.ceil(0.2), seconds, _SCALAR
    if fn == "check":
        return _Poly.const(350_000), seconds, _SCALAR
    if fn in ("fieldSelector", "labelSelector"):
        return _Poly.const(10) + second.chars.ceil(0.5) * 50.0 + second.chars.ceil(0.1), seconds, first
    if fn == "string":
        return _ONE, first.chars * T_CHAR, _Size(_ZERO, first.chars + _Poly.const(24))
    result = _SCALAR
    if n.type is not None and n.type.kind in ("list", "map", "dyn", "string", "bytes"):
        chars = _Poly.const(32)
        for s in sizes:
            chars = chars + s.chars
        result = _Size(_L.max(first.seq), chars, None)
    return _ONE, seconds, result
