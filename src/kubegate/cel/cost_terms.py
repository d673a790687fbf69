"""The terms of the CEL cost formula (:mod:`kubegate.cel.cost_formula`):
polynomials over an input's size summary, the size of a value, this runtime's
time calibration and each function's own cost.

* :class:`Poly`: a polynomial with non-negative coefficients in the longest
  list or map ``L``, the longest string ``S`` and the node count ``N``
  (:class:`kubegate.cel.cost.Sizes`);
* :class:`ValueSize`: a value's size as polynomials (as a list or map, as a
  string, and its elements'), cel-go's ``SizeEstimate``/``actualSize``;
* :func:`call_cost`: a call's own cost in Kubernetes units and seconds and the
  size of its result, arguments excluded. Units follow cel-go's runtime cost
  tracker (``interpreter/runtimecost.go``: most calls 1, string comparisons,
  ``startsWith``, ``+`` and ``matches`` by length, ``&&``/``||`` 0) and
  k8s.io/apiserver ``pkg/cel/library/cost.go`` (``CallCost``: ``split`` and
  ``replace`` 0.2 per character, ``join`` 0.2 per result character, ``find``
  like ``matches``, ``check`` 350,000...); unlisted library functions cost 1.

Seconds (the ``T_*`` constants) come from this runtime's measured behaviour
(shared 2-core VM, cel-expr-python 0.1.3, best of 3, rough): a node 20-55 ns
(charged 50 ns), an iteration about 95 ns with its condition and step, each
list element copied by an accumulating ``map``/``filter`` step 35-58 ns
(charged 80 ns, over n²/2), string functions 1-5 ns per character (``quote``
14, ``split`` and ``replace`` up to 65, charged 80), a call into a
Python-implemented library function 2.8-3.3 µs plus up to 1.8 µs per returned
list element (``findAll``), ``matches`` 3.3 µs per call. The conversion of
the input into the activation (about 1 µs per map, once per review) is not
included.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from kubegate.cel.ast import Call, Literal, Node

__all__ = [
    "EMPTY",
    "INPUT",
    "ONE",
    "SCALAR",
    "T_COPY",
    "T_EVAL",
    "T_ITER",
    "T_NODE",
    "ZERO",
    "Poly",
    "ValueSize",
    "call_cost",
]

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
class Poly:
    """A polynomial with non-negative coefficients over the :class:`~kubegate.cel.cost.Sizes`."""

    terms: dict[_Key, float]

    @staticmethod
    def const(c: float) -> Poly:
        return Poly({(0, 0, 0): float(c)} if c else {})

    def __add__(self, other: Poly) -> Poly:
        terms = dict(self.terms)
        for k, v in other.terms.items():
            terms[k] = terms.get(k, 0.0) + v
        return Poly(terms)

    def __mul__(self, other: Poly | float) -> Poly:
        if not isinstance(other, Poly):
            return Poly({k: v * other for k, v in self.terms.items()} if other else {})
        terms: dict[_Key, float] = {}
        for (a, b, c), v in self.terms.items():
            for (d, e, f), w in other.terms.items():
                k = (a + d, b + e, c + f)
                terms[k] = terms.get(k, 0.0) + v * w
        return Poly(terms)

    def max(self, other: Poly) -> Poly:
        """A bound of both (coefficient-wise maximum: sizes are non-negative)."""
        terms = dict(self.terms)
        for k, v in other.terms.items():
            terms[k] = max(terms.get(k, 0.0), v)
        return Poly(terms)

    def smaller(self, other: Poly) -> Poly:
        """A bound of ``min(self, other)``: either is one; the smaller at typical sizes."""
        return self if self.at(10, 100, 1000) <= other.at(10, 100, 1000) else other

    def at(self, lists: float, strings: float, nodes: float) -> float:
        return sum(v * lists**i * strings**j * nodes**k for (i, j, k), v in self.terms.items())

    def ceil(self, factor: float) -> Poly:
        """A bound of ``ceil(factor * self)``: exact for a constant."""
        if set(self.terms) <= {(0, 0, 0)}:
            return Poly.const(math.ceil(factor * self.terms.get((0, 0, 0), 0.0) - 1e-9))
        return self * factor + Poly.const(1)


ZERO = Poly({})
ONE = Poly.const(1)
_L, _S, _N = Poly({(1, 0, 0): 1.0}), Poly({(0, 1, 0): 1.0}), Poly({(0, 0, 1): 1.0})


@dataclass(frozen=True)
class ValueSize:
    """A value's size: ``seq`` as a list or map, ``chars`` as a string (1 for a
    scalar, as cel-go's ``actualSize``); ``elem`` its elements' (or keys' and
    values'), ``None`` for input data."""

    seq: Poly
    chars: Poly
    elem: ValueSize | None = None

    def union(self, other: ValueSize) -> ValueSize:
        elem = None if self.elem is None or other.elem is None else self.elem.union(other.elem)
        return ValueSize(self.seq.max(other.seq), self.chars.max(other.chars), elem)

    @property
    def element(self) -> ValueSize:
        return INPUT if self.elem is None else self.elem

    @property
    def either(self) -> Poly:
        """cel-go's ``actualSize`` when the kind is unknown."""
        return self.seq + self.chars


INPUT = ValueSize(_L, _S)
SCALAR = ValueSize(ZERO, ONE)
EMPTY = ValueSize(ZERO, ZERO)
_SCALARS = frozenset({"bool", "int", "uint", "double", "null", "string", "bytes", "timestamp", "duration"})
_RUNTIME_FUNCTIONS = frozenset(
    {
        *("_+_", "_-_", "_*_", "_/_", "_%_", "-_", "!_", "_&&_", "_||_", "_?_:_", "_==_", "_!=_", "_<_", "_<=_"),
        *("_>_", "_>=_", "@in", "_[_]", "_[?_]", "_?._", "@not_strictly_false"),
        *("size", "matches", "contains", "startsWith", "endsWith", "int", "uint", "double", "string", "bytes"),
        *("bool", "dyn", "type", "duration", "timestamp", "charAt", "indexOf", "lastIndexOf", "lowerAscii"),
        *("upperAscii", "replace", "split", "substring", "trim", "join", "format", "strings.quote"),
        *("sets.contains", "sets.equivalent", "sets.intersects", "optional.of", "optional.none"),
        *("optional.ofNonZeroValue", "value", "hasValue", "or", "orValue"),
        *("getDate", "getDayOfMonth", "getDayOfWeek", "getDayOfYear", "getFullYear", "getHours"),
        *("getMilliseconds", "getMinutes", "getMonth", "getSeconds"),
    }
)
"""Functions cel-cpp implements (the others call Python)."""
_TENTH = frozenset(
    {"url", "isURL", "cidr", "isIP", "isCIDR", "quantity", "isQuantity", "semver", "isSemver", "jsonpatch.escapeKey"}
)
"""Library functions costing 0.1 per character of their string argument (``CallCost``)."""
_STRING_RESULTS = frozenset({"jsonpatch.escapeKey"})


def _scalar_typed(node: Node) -> bool:
    return isinstance(node, Literal) or (node.type is not None and node.type.kind in _SCALARS)


def _traversal(node: Node, size: ValueSize) -> Poly:
    """cel-go's ``traversalCost`` of a list: 1 per scalar, 0.1 per character of a string."""
    kind = node.type.params[0].kind if node.type is not None and node.type.kind == "list" and node.type.params else ""
    if kind in ("string", "bytes"):
        return size.seq * size.element.chars * 0.1
    if kind in _SCALARS:
        return size.seq
    return size.seq + size.seq * size.element.chars * 0.1


def call_cost(n: Call, nodes: list[Node], sizes: list[ValueSize]) -> tuple[Poly, Poly, ValueSize]:
    """The call's own (units, seconds, result size), arguments excluded
    (``sizes[0]`` is the target of a member call)."""
    fn, ids = n.function, n.overloads
    first = sizes[0] if sizes else SCALAR
    second = sizes[1] if len(sizes) > 1 else SCALAR
    seconds = ZERO
    if fn not in _RUNTIME_FUNCTIONS or (fn in ("indexOf", "lastIndexOf") and any("list" in i for i in ids)):
        seconds = Poly.const(T_PY_CALL)  # a Python-implemented library function
        for s in sizes:
            seconds = seconds + s.chars * T_PY_CHAR + s.seq * T_PY_ELEM
    if fn in ("_&&_", "_||_"):
        return ZERO, seconds, SCALAR
    if fn == "dyn":
        return ONE, seconds, first
    if fn in ("_==_", "_!=_", "_<_", "_<=_", "_>_", "_>=_"):
        least = first.either.smaller(second.either)
        scalar = any(_scalar_typed(x) for x in nodes)
        seconds = first.chars.smaller(second.chars) * T_CHAR if scalar else _N * T_CMP
        return least.ceil(0.1), seconds, SCALAR
    if fn == "@in":
        units = second.seq if any(i.startswith("in_list") for i in ids) or not ids else ZERO
        scan = second.seq * T_CMP + (second.seq * first.chars * T_CHAR if _scalar_typed(nodes[0]) else _N * T_CMP)
        return units.max(ONE), scan, SCALAR
    if fn == "_+_":
        units, time, size = ONE, ZERO, first.union(second)
        if not ids or any(i in ("add_string", "add_bytes") for i in ids):
            chars = first.chars + second.chars
            units, time, size = chars.ceil(0.1), chars * T_CHAR, ValueSize(size.seq, chars, size.elem)
        if not ids or "add_list" in ids:
            seq = first.seq + second.seq
            elem = first.element.union(second.element)
            units, time, size = units.max(ONE), time + seq * T_COPY, ValueSize(seq, size.chars, elem)
        return units, time, size
    if fn in ("_[_]", "_[?_]", "_?._"):
        return ONE, seconds, first.element
    if fn == "size":
        return ONE, first.chars * T_CHAR, SCALAR
    if fn in ("matches", "find", "findAll"):
        text, pattern = first, second  # target and pattern, or matches(text, pattern)
        units = (text.chars + ONE).ceil(0.1) * pattern.chars.ceil(0.25)
        scan = Poly.const(T_MATCHES) + text.chars * T_REGEX_CHAR
        if fn == "find":
            return units, seconds + scan, ValueSize(ZERO, text.chars)
        if fn == "findAll":
            pieces = text.chars + ONE
            return units, seconds + scan + pieces * T_PY_ELEM, ValueSize(pieces, ZERO, ValueSize(ZERO, text.chars))
        return units, scan, SCALAR
    if fn == "contains":
        return first.chars.ceil(0.1) * second.chars.ceil(0.1), (first.chars + second.chars) * T_CHAR, SCALAR
    if fn in ("startsWith", "endsWith"):
        return first.chars.ceil(0.1), second.chars * T_CHAR, SCALAR
    if fn in ("lowerAscii", "upperAscii", "trim", "substring"):
        return first.chars.ceil(0.1), first.chars * T_CHAR, ValueSize(ZERO, first.chars)
    if fn == "charAt":
        return ONE, ZERO, SCALAR
    if fn in ("indexOf", "lastIndexOf", "isSorted", "sum", "max", "min"):
        if any(i.startswith("string_") for i in ids) and n.target is not None:
            return first.chars.ceil(0.1), first.chars * T_CHAR, SCALAR
        return _traversal(nodes[0], first).ceil(1.0), seconds, first.element if fn in ("max", "min", "sum") else SCALAR
    if fn == "split":
        pieces = first.chars + ONE
        return first.chars.ceil(0.2), first.chars * T_SPLIT, ValueSize(pieces, ZERO, ValueSize(ZERO, first.chars))
    if fn == "replace":
        third = sizes[2] if len(sizes) > 2 else SCALAR
        out = (first.chars + ONE) * third.chars + first.chars
        return first.chars.ceil(0.2), first.chars * T_SPLIT + out * T_CHAR, ValueSize(ZERO, out)
    if fn == "join":
        out = first.seq * first.element.chars + (first.seq * second.chars if len(sizes) > 1 else ZERO)
        return out.ceil(0.2), out * T_CHAR + first.seq * T_NODE, ValueSize(ZERO, out)
    if fn == "format":
        out = first.chars + second.seq * (second.element.chars + Poly.const(32))
        return first.chars.ceil(0.1), out * T_CHAR + second.seq * T_NODE, ValueSize(ZERO, out)
    if fn == "strings.quote":
        return first.chars.ceil(0.1), first.chars * (4 * T_CHAR), ValueSize(ZERO, first.chars * 2.0 + Poly.const(2))
    if fn in ("sets.contains", "sets.intersects", "sets.equivalent"):
        pairs = first.seq * second.seq * (2.0 if fn == "sets.equivalent" else 1.0)
        return pairs + ONE, pairs * T_CMP, SCALAR
    if fn in _TENTH or (fn == "ip" and "cidr_ip" not in ids):
        arg = sizes[-1] if sizes else SCALAR
        return arg.chars.ceil(0.1), seconds, ValueSize(ZERO, arg.chars) if fn in _STRING_RESULTS else SCALAR
    if fn in ("containsIP", "containsCIDR"):
        units = Poly.const(1 if fn == "containsIP" else 3)
        return (units + second.chars.ceil(0.1) if any("string" in i for i in ids) else units), seconds, SCALAR
    if fn == "validate":  # format.<name>().validate(s): a regex of at most 136 characters (34 units)
        return (second.chars + ONE).ceil(0.1) * 34.0, seconds + second.chars * T_REGEX_CHAR, INPUT
    if fn == "bytes" or (fn == "string" and any("bytes" in i for i in ids)):
        source = nodes[0] if nodes else None
        if fn == "bytes" and isinstance(source, Literal) and source.kind == "string":
            out = Poly.const(len(source.value.encode()))
        else:
            out = first.chars * 4.0  # UTF-8
        return first.chars.ceil(0.1), first.chars * T_CHAR, ValueSize(ZERO, out)
    if fn == "ip.isCanonical":
        return first.chars.ceil(0.2), seconds, SCALAR
    if fn == "check":
        return Poly.const(350_000), seconds, SCALAR
    if fn in ("fieldSelector", "labelSelector"):
        return Poly.const(10) + second.chars.ceil(0.5) * 50.0 + second.chars.ceil(0.1), seconds, first
    if fn == "string":
        return ONE, first.chars * T_CHAR, ValueSize(ZERO, first.chars + Poly.const(24))
    result = SCALAR
    if n.type is not None and n.type.kind in ("list", "map", "dyn", "string", "bytes"):
        chars = Poly.const(32)
        for s in sizes:
            chars = chars + s.chars
        result = ValueSize(_L.max(first.seq), chars, None)
    return ONE, seconds, result
