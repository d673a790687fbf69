"""The AST of a compiled CEL expression, decoded from ``Expression.serialize()``.

cel-expr-python has no AST API, but ``Expression.serialize()`` returns a
``google.protobuf.Any`` holding a ``cel.expr.CheckedExpr`` (a ``ParsedExpr``
for ``compile(..., disable_check=True)``; docs/cel-notes.md §4). It is decoded
with a hand-declared descriptor of the field numbers of cel-spec's
``proto/cel/expr/syntax.proto`` and ``checked.proto``
(https://github.com/google/cel-spec; :mod:`kubegate.cel.ast_proto`), into
frozen dataclasses:

* :class:`Ident`, :class:`Select` (``test_only`` for ``has()``),
  :class:`Call` (``function``, ``target``, ``args``, the checker's
  ``overloads``), :class:`Literal`, :class:`CreateList`,
  :class:`CreateStruct` (a message literal), :class:`CreateMap` and
  :class:`Comprehension` (macros are expanded: ``all``, ``map``,
  ``cel.bind``...; the accumulator is ``@result``).
* Every node keeps its ``offset`` in the text (code points, from
  ``source_info.positions``) and the matching 1-based ``line`` and ``col``
  (``0`` when the runtime recorded no position), and the checker's
  :class:`CelType` (``None`` in a parsed-only AST). A call is positioned at
  its ``(`` or operator, a select at its ``.``, as in cel-go.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from kubegate.cel.ast_proto import CONSTANT_KINDS, PRIMITIVES, WELL_KNOWN, unpack

__all__ = [
    "Call",
    "CelType",
    "Comprehension",
    "CreateList",
    "CreateMap",
    "CreateStruct",
    "Ident",
    "Literal",
    "MapEntry",
    "Node",
    "Select",
    "StructField",
    "children",
    "parse",
    "walk",
]

ACCUMULATOR = "@result"
"""The accumulator variable of cel-cpp's macro expansions."""


@dataclass(frozen=True, slots=True)
class CelType:
    """A type from the checker: ``kind`` is ``dyn``, ``null``, ``bool``, ``int``,
    ``uint``, ``double``, ``string``, ``bytes``, ``any``, ``timestamp``,
    ``duration``, ``list``, ``map``, ``wrapper``, ``message``, ``type_param``,
    ``type``, ``function``, ``abstract`` or ``error``; ``name`` is the message,
    type parameter or abstract type name; ``params`` the type parameters."""

    kind: str
    name: str = ""
    params: tuple[CelType, ...] = ()

    def __str__(self) -> str:
        """cel-go's ``FormatCelType`` (``list(int)``, ``map(string, dyn)``)."""
        inner = ", ".join(str(p) for p in self.params)
        if self.kind in ("list", "map", "type", "wrapper"):
            return f"{self.kind}({inner})" if self.params else self.kind
        if self.kind == "abstract":
            return f"{self.name}({inner})"
        if self.kind in ("message", "type_param"):
            return self.name
        if self.kind == "error":
            return "!error!"
        if self.kind == "function":
            return f"({', '.join(str(p) for p in self.params[1:])}) -> {self.params[0]}"
        return self.kind


@dataclass(frozen=True, slots=True, kw_only=True)
class Node:
    """An expression node: its id, position and checked type."""

    id: int
    offset: int = -1
    line: int = 0
    col: int = 0
    type: CelType | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Literal(Node):
    """A constant: ``kind`` is ``null``, ``bool``, ``int``, ``uint``, ``double``,
    ``string`` or ``bytes``; ``value`` the Python value."""

    kind: str
    value: Any


@dataclass(frozen=True, slots=True, kw_only=True)
class Ident(Node):
    """A name (a variable, a comprehension variable, ``@result``)."""

    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Select(Node):
    """``operand.field``; ``has(operand.field)`` when ``test_only``."""

    operand: Node
    field: str
    test_only: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Call(Node):
    """A function or operator call (``_+_``, ``_[_]``, ``size``...); ``target``
    for a member call; ``overloads`` the overload ids the checker kept."""

    function: str
    target: Node | None = None
    args: tuple[Node, ...] = ()
    overloads: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateList(Node):
    """``[a, b, ?c]``: ``optional`` holds the indices of ``?`` elements."""

    elements: tuple[Node, ...] = ()
    optional: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class MapEntry:
    """``key: value`` of a map literal (``?key: value`` when ``optional``)."""

    id: int
    key: Node
    value: Node
    optional: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateMap(Node):
    """``{k: v, ...}``."""

    entries: tuple[MapEntry, ...] = ()


@dataclass(frozen=True, slots=True)
class StructField:
    """``field: value`` of a message literal."""

    id: int
    name: str
    value: Node
    optional: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateStruct(Node):
    """A message literal ``Name{field: value}``."""

    message_name: str
    fields: tuple[StructField, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Comprehension(Node):
    """An expanded macro: ``iter_var`` (and ``iter_var2``) over ``iter_range``,
    ``accu_var`` from ``accu_init``, while ``loop_condition``, ``loop_step``,
    then ``result``."""

    iter_var: str
    iter_range: Node
    accu_var: str
    accu_init: Node
    loop_condition: Node
    loop_step: Node
    result: Node
    iter_var2: str = ""

    @property
    def is_bind(self) -> bool:
        """Whether this is ``cel.bind(accu_var, accu_init, result)`` (cel-go's
        ``isBind``: an empty range, a ``false`` condition, a named accumulator)."""
        return (
            isinstance(self.iter_range, CreateList)
            and not self.iter_range.elements
            and isinstance(self.loop_condition, Literal)
            and self.loop_condition.value is False
            and self.accu_var != ACCUMULATOR
        )


def children(node: Node) -> tuple[Node, ...]:
    """The direct subexpressions of ``node``, in evaluation order."""
    if isinstance(node, Select):
        return (node.operand,)
    if isinstance(node, Call):
        return ((node.target,) if node.target is not None else ()) + node.args
    if isinstance(node, CreateList):
        return node.elements
    if isinstance(node, CreateMap):
        return tuple(part for entry in node.entries for part in (entry.key, entry.value))
    if isinstance(node, CreateStruct):
        return tuple(f.value for f in node.fields)
    if isinstance(node, Comprehension):
        return (node.iter_range, node.accu_init, node.loop_condition, node.loop_step, node.result)
    return ()


def walk(node: Node) -> Iterator[Node]:
    """Every node of the tree under ``node`` (itself first), depth first."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(children(current)))


# ---------------------------------------------------------------- decoding


def _type(t: Any) -> CelType:
    kind = t.WhichOneof("type_kind")
    if kind == "primitive":
        return CelType(PRIMITIVES.get(t.primitive, "dyn"))
    if kind == "wrapper":
        return CelType("wrapper", params=(CelType(PRIMITIVES.get(t.wrapper, "dyn")),))
    if kind == "well_known":
        return CelType(WELL_KNOWN.get(t.well_known, "dyn"))
    if kind == "list_type":
        return CelType("list", params=(_type(t.list_type.elem_type),))
    if kind == "map_type":
        return CelType("map", params=(_type(t.map_type.key_type), _type(t.map_type.value_type)))
    if kind == "message_type":
        return CelType("message", t.message_type)
    if kind == "type_param":
        return CelType("type_param", t.type_param)
    if kind == "type":
        return CelType("type", params=(_type(t.type),) if t.type.WhichOneof("type_kind") else ())
    if kind == "abstract_type":
        return CelType("abstract", t.abstract_type.name, tuple(_type(p) for p in t.abstract_type.parameter_types))
    if kind == "function":
        fn = t.function
        return CelType("function", params=(_type(fn.result_type), *(_type(a) for a in fn.arg_types)))
    return CelType(kind or "dyn")  # dyn, null, error


@dataclass
class _Decoder:
    positions: dict[int, int]
    line_starts: list[int]
    types: dict[int, CelType] = field(default_factory=dict)
    overloads: dict[int, tuple[str, ...]] = field(default_factory=dict)

    def where(self, expr_id: int) -> dict[str, Any]:
        offset = self.positions.get(expr_id, -1)
        if offset < 0:
            return {"id": expr_id, "type": self.types.get(expr_id)}
        line = bisect.bisect_right(self.line_starts, offset)
        col = offset - self.line_starts[line - 1] + 1
        return {"id": expr_id, "offset": offset, "line": line, "col": col, "type": self.types.get(expr_id)}

    def node(self, e: Any) -> Node:
        at = self.where(e.id)
        kind = e.WhichOneof("expr_kind")
        if kind == "const_expr":
            which = e.const_expr.WhichOneof("constant_kind") or "null_value"
            value = None if which == "null_value" else getattr(e.const_expr, which)
            return Literal(kind=CONSTANT_KINDS[which], value=value, **at)
        if kind == "ident_expr":
            return Ident(name=e.ident_expr.name, **at)
        if kind == "select_expr":
            sel = e.select_expr
            return Select(operand=self.node(sel.operand), field=sel.field, test_only=sel.test_only, **at)
        if kind == "call_expr":
            call = e.call_expr
            target = self.node(call.target) if call.HasField("target") else None
            args = tuple(self.node(a) for a in call.args)
            return Call(function=call.function, target=target, args=args, overloads=self.overloads.get(e.id, ()), **at)
        if kind == "list_expr":
            elements = tuple(self.node(x) for x in e.list_expr.elements)
            return CreateList(elements=elements, optional=tuple(e.list_expr.optional_indices), **at)
        if kind == "struct_expr":
            st = e.struct_expr
            if st.message_name:
                fields = tuple(StructField(x.id, x.field_key, self.node(x.value), x.optional_entry) for x in st.entries)
                return CreateStruct(message_name=st.message_name, fields=fields, **at)
            entries = tuple(
                MapEntry(x.id, self.node(x.map_key), self.node(x.value), x.optional_entry) for x in st.entries
            )
            return CreateMap(entries=entries, **at)
        if kind == "comprehension_expr":
            c = e.comprehension_expr
            return Comprehension(
                iter_var=c.iter_var,
                iter_var2=c.iter_var2,
                iter_range=self.node(c.iter_range),
                accu_var=c.accu_var,
                accu_init=self.node(c.accu_init),
                loop_condition=self.node(c.loop_condition),
                loop_step=self.node(c.loop_step),
                result=self.node(c.result),
                **at,
            )
        raise ValueError(f"CEL AST node {e.id} has no expression kind")


def parse(expression: Any, text: str) -> Node:
    """The AST of ``expression`` (a ``cel.Expression`` compiled from ``text``).

    Args:
        expression: what ``env.compile(text)`` returned (checked: nodes carry
            types and call overloads) or ``env.compile(text, disable_check=True)``
            (parsed only).
        text: the compiled text, for the line starts when the runtime gave none.

    Raises:
        ValueError: the serialized form is not a CEL ``CheckedExpr``/``ParsedExpr``.
    """
    decoded = unpack(expression.serialize())
    info = decoded.source_info
    starts = [0, *info.line_offsets] if info.line_offsets else _line_starts(text)
    decoder = _Decoder({p.key: p.value for p in info.positions}, starts)
    if hasattr(decoded, "type_map"):
        decoder.types = {t.key: _type(t.value) for t in decoded.type_map}
        decoder.overloads = {r.key: tuple(r.value.overload_id) for r in decoded.reference_map}
    return decoder.node(decoded.expr)


def _line_starts(text: str) -> list[int]:
    starts = [0]
    for i, ch in enumerate(text):
        if ch == "\n":
            starts.append(i + 1)
    return starts
