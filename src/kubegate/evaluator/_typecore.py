"""The data model behind :mod:`kubegate.evaluator.types` (import from there).

:class:`Type`, its constants and constructors, OPA's order of types
(``types.Compare``), unions (``types.Or``) and OPA's text of a type
(``Type.String``), following
https://github.com/open-policy-agent/opa/blob/main/v1/types/types.go.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from kubegate.evaluator.values import from_key, order_key, to_key

__all__ = [
    "ANY",
    "BOOLEAN",
    "KINDS",
    "NULL",
    "NUMBER",
    "STRING",
    "Kind",
    "Type",
    "any_of",
    "array_of",
    "array_static",
    "compare_types",
    "contains",
    "describe",
    "is_top",
    "object_of",
    "object_static",
    "or_",
    "set_of",
]

Kind = Literal["any", "null", "boolean", "number", "string", "array", "set", "object"]
KINDS: frozenset[str] = frozenset({"any", "null", "boolean", "number", "string", "array", "set", "object"})

# Beyond this depth of a type, comparing gives up (only a hand-built type can
# be this deep: declared types have depth 5 at most).
_GUARD = 100

# OPA's types.Compare orders kinds so (typeOrder in v1/types/types.go).
_ORDER = {"null": 0, "boolean": 1, "number": 2, "string": 3, "array": 4, "object": 5, "set": 6, "any": 7}
_SCALARS = frozenset({"null", "boolean", "number", "string"})


@dataclass(frozen=True, slots=True, repr=False)
class Type:
    """A type of Rego values (see :mod:`kubegate.evaluator.types` for the fields of each kind).

    Build types with the constants and constructors; a ``Type``
    built directly is normalised (alternatives and properties sorted as OPA
    sorts them, a set's missing element type made ``any``).

    Raises:
        ValueError: ``kind`` is not one of :data:`KINDS`.
    """

    kind: Kind
    of: tuple[Type, ...] = ()
    static: tuple[Type, ...] = ()
    dynamic: Type | None = None
    element: Type | None = None
    properties: tuple[tuple[Any, Type], ...] = field(default=())
    dynamic_key: Type | None = None
    dynamic_value: Type | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown type kind {self.kind!r}")
        if self.kind == "any" and len(self.of) > 1:
            object.__setattr__(self, "of", _sorted_types(self.of))
        elif self.kind == "set" and self.element is None:
            object.__setattr__(self, "element", ANY)
        elif self.kind == "object":
            if self.properties:
                props = tuple((to_key(from_key(k)), t) for k, t in self.properties)
                object.__setattr__(self, "properties", tuple(sorted(props, key=lambda p: order_key(from_key(p[0])))))
            if (self.dynamic_key is None) != (self.dynamic_value is None):
                object.__setattr__(self, "dynamic_key", self.dynamic_key or ANY)
                object.__setattr__(self, "dynamic_value", self.dynamic_value or ANY)

    def __repr__(self) -> str:
        return f"Type({describe(self)})"


def _sorted_types(types: tuple[Type, ...]) -> tuple[Type, ...]:
    out: list[Type] = []
    for t in types:  # insertion sort: alternatives are few, and compare_types is not a key function
        i = len(out)
        while i > 0 and compare_types(out[i - 1], t) > 0:
            i -= 1
        out.insert(i, t)
    return tuple(out)


ANY = Type("any")
NULL = Type("null")
BOOLEAN = Type("boolean")
NUMBER = Type("number")
STRING = Type("string")


def any_of(*types: Type) -> Type:
    """The union of ``types`` (OPA's ``types.NewAny``: sorted, not deduplicated);
    ``any_of()`` is :data:`ANY`."""
    return Type("any", of=tuple(types)) if types else ANY


def array_of(element: Type) -> Type:
    """``array[element]``: an array of any length whose items have type ``element``."""
    return Type("array", dynamic=element)


def array_static(*items: Type, dynamic: Type | None = None) -> Type:
    """``array<items...>``: an array of exactly these item types (then any number
    of ``dynamic`` items, when given)."""
    return Type("array", static=tuple(items), dynamic=dynamic)


def set_of(element: Type) -> Type:
    """``set[element]``."""
    return Type("set", element=element)


def object_of(key: Type, value: Type) -> Type:
    """``object[key: value]``: an object of any keys of type ``key``."""
    return Type("object", dynamic_key=key, dynamic_value=value)


def object_static(
    properties: Mapping[Any, Type] | Iterable[tuple[Any, Type]], dynamic: tuple[Type, Type] | None = None
) -> Type:
    """``object<k: t, ...>``: an object with these keys (Rego values: ``"a"``,
    ``1``, ``True`` -- give pairs when Python would merge ``1`` and ``True``),
    and with any further keys of type ``dynamic[0]`` and values of type
    ``dynamic[1]`` when ``dynamic`` is given."""
    key, value = dynamic if dynamic is not None else (None, None)
    pairs = tuple(properties.items()) if isinstance(properties, Mapping) else tuple(properties)
    return Type("object", properties=pairs, dynamic_key=key, dynamic_value=value)


def is_top(t: Type | None) -> bool:
    """Whether ``t`` is :data:`ANY` (any value at all)."""
    return t is not None and t.kind == "any" and not t.of


# ---------------------------------------------------------------- comparing


def compare_types(a: Type | None, b: Type | None) -> int:
    """-1, 0 or 1: OPA's total order of types (``types.Compare``); ``None``, an
    unknown type, comes first."""
    return _compare(a, b, 0)


def _compare(a: Type | None, b: Type | None, depth: int) -> int:
    if a is b or depth > _GUARD:
        return 0
    x = -1 if a is None else _ORDER[a.kind]
    y = -1 if b is None else _ORDER[b.kind]
    if x != y:
        return -1 if x < y else 1
    if a is None or b is None or a.kind in _SCALARS:
        return 0
    d = depth + 1
    if a.kind == "array":
        if (a.dynamic is None) != (b.dynamic is None):
            return 1 if a.dynamic is not None else -1
        if a.dynamic is not None and (c := _compare(a.dynamic, b.dynamic, d)):
            return c
        return _compare_lists(a.static, b.static, d)
    if a.kind == "object":
        if (a.dynamic_key is None) != (b.dynamic_key is None):
            return 1 if a.dynamic_key is not None else -1
        if a.dynamic_key is not None:
            if c := _compare(a.dynamic_key, b.dynamic_key, d):
                return c
            if c := _compare(a.dynamic_value, b.dynamic_value, d):
                return c
        for (ka, ta), (kb, tb) in zip(a.properties, b.properties, strict=False):
            oa, ob = order_key(from_key(ka)), order_key(from_key(kb))
            if oa != ob:
                return -1 if oa < ob else 1
            if c := _compare(ta, tb, d):
                return c
        na, nb = len(a.properties), len(b.properties)
        return -1 if na < nb else (1 if na > nb else 0)
    if a.kind == "set":
        return _compare(a.element, b.element, d)
    return _compare_lists(a.of, b.of, d)  # any


def _compare_lists(a: tuple[Type, ...], b: tuple[Type, ...], depth: int) -> int:
    for x, y in zip(a, b, strict=False):
        if c := _compare(x, y, depth):
            return c
    return -1 if len(a) < len(b) else (1 if len(a) > len(b) else 0)


def contains(a: Type, b: Type) -> bool:
    """OPA's ``types.Contains``: ``a`` is ``any`` (or a union with ``b`` in it), or equals ``b``."""
    if a.kind == "any":
        return not a.of or any(compare_types(t, b) == 0 for t in a.of)
    return compare_types(a, b) == 0


# ---------------------------------------------------------------- combining


def or_(a: Type | None, b: Type | None) -> Type | None:
    """The union of ``a`` and ``b`` (OPA's ``types.Or``): the more general one
    when one contains the other, ``None`` only when both are."""
    if a is None:
        return b
    if b is None:
        return a
    if a.kind == "any":
        return _merge_any(a, b)
    if b.kind == "any":
        return _merge_any(b, a)
    if compare_types(a, b) == 0:
        return a
    return any_of(a, b)


def _merge_any(t: Type, other: Type) -> Type:
    if other.kind == "any":
        if not t.of:
            return t
        if not other.of:
            return other
        merged = list(t.of)
        for alt in other.of:
            if all(compare_types(m, alt) != 0 for m in merged):
                merged.append(alt)
        return Type("any", of=tuple(merged))
    if contains(t, other):
        return t
    return Type("any", of=(*t.of, other))


# ---------------------------------------------------------------- printing


def _key_text(key: Any) -> str:
    """A static property key as Go's ``%v`` prints OPA's JSON form of it."""
    v = from_key(key)
    t = type(v)
    if t is str:
        return str(v)
    if t is bool:
        return "true" if v else "false"
    if v is None:
        return "<nil>"
    if t is float and v.is_integer() and abs(v) < 1e21:
        return str(int(v))
    if t is int or t is float:
        return repr(v)
    return "<composite>"


def describe(t: Type | None) -> str:
    """OPA's text of ``t`` (``types.Type.String``), as in type errors:
    ``string``, ``any``, ``any<number, string>``, ``array[any]``,
    ``array<number, string>``, ``set[string]``, ``object[string: any]``,
    ``object<a: string>``, ``object<a: string>[string: any]``; ``???`` for ``None``."""
    out: list[str] = []
    stack: list[Type | str | None] = [t]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
            continue
        if item is None:
            out.append("???")
            continue
        kind = item.kind
        parts: list[Type | str | None] = []
        if kind in _SCALARS:
            parts.append(kind)
        elif kind == "any":
            parts.append("any")
            if item.of:
                parts.append("<")
                for i, alt in enumerate(item.of):
                    if i:
                        parts.append(", ")
                    parts.append(alt)
                parts.append(">")
        elif kind == "array":
            parts.append("array")
            if item.static:
                parts.append("<")
                for i, it in enumerate(item.static):
                    if i:
                        parts.append(", ")
                    parts.append(it)
                parts.append(">")
            if item.dynamic is not None:
                parts += ["[", item.dynamic, "]"]
        elif kind == "set":
            parts += ["set[", item.element, "]"]
        else:
            parts.append("object")
            if item.properties:
                parts.append("<")
                for i, (k, v) in enumerate(item.properties):
                    parts += [", " if i else "", _key_text(k) + ": ", v]
                parts.append(">")
            if item.dynamic_key is not None:
                parts += ["[", item.dynamic_key, ": ", item.dynamic_value, "]"]
        stack.extend(reversed(parts))
    return "".join(out)
