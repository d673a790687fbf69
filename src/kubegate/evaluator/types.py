"""Types of Rego values, for declaring builtins and type-checking their calls.

Follows OPA's type language, https://github.com/open-policy-agent/opa/blob/main/v1/types/types.go,
and the checker's unification of types, ``unifies`` in
https://github.com/open-policy-agent/opa/blob/main/v1/ast/check.go.

A :class:`Type` is a frozen dataclass whose ``kind`` is one of

=========  ===================================================================
kind       fields used
=========  ===================================================================
any        ``of``: the alternatives, sorted as OPA sorts them; ``()`` is any value
null       -
boolean    -
number     -
string     -
array      ``static``: item types by position; ``dynamic``: the type of every
           further item (``None``: no further items)
set        ``element``: the element type
object     ``properties``: ``(key, type)`` pairs of the static properties, keys as
           :func:`~kubegate.evaluator.values.to_key` forms, sorted in OPA's
           order; ``dynamic_key`` / ``dynamic_value``: the type of every other
           key and its value (both ``None``: no other keys)
=========  ===================================================================

:func:`describe` prints a type as OPA prints it in type errors (``any<number,
string>``, ``array[any]``, ``object<a: string>[string: any]``).
:func:`compatible` is OPA's ``unifies``: whether an argument whose type is known
only statically may be passed where a declared type is expected (``any`` unifies
with everything, a union when one alternative does). :func:`accepts` is the same
question for a ground value, element by element, as OPA's ``unify1`` checks
constant arguments: use it for constant operands (``concat(",", {1, "a"})`` is a
type error, although ``set[any<number, string>]`` unifies with ``set[string]``).

Every function here is recursive only along the structure of a *type*, and
:func:`type_of` cuts types of deeply nested constants at :data:`TYPE_OF_DEPTH`
(deeper parts are typed ``any``), so no value makes them recurse without bound.
"""

from __future__ import annotations

from typing import Any

from kubegate.evaluator._typecore import (
    ANY,
    BOOLEAN,
    KINDS,
    NULL,
    NUMBER,
    STRING,
    Kind,
    Type,
    any_of,
    array_of,
    array_static,
    compare_types,
    contains,
    describe,
    is_top,
    object_of,
    object_static,
    or_,
    set_of,
)
from kubegate.evaluator.values import Key, Set, from_key, to_key

__all__ = [
    "ANY",
    "BOOLEAN",
    "KINDS",
    "NULL",
    "NUMBER",
    "STRING",
    "TYPE_OF_DEPTH",
    "Kind",
    "Type",
    "accepts",
    "any_of",
    "array_of",
    "array_static",
    "compare_types",
    "compatible",
    "describe",
    "keys_of",
    "object_of",
    "object_static",
    "or_",
    "select",
    "set_of",
    "type_of",
    "values_of",
]

#: How deep :func:`type_of` types a constant; deeper parts are typed ``any``.
TYPE_OF_DEPTH = 32

# Beyond this depth of a type the checks give up and answer leniently (only a
# hand-built type can be this deep: declared types have depth 5 at most).
_GUARD = 100
_SCALARS = frozenset({"null", "boolean", "number", "string"})


def select(t: Type, key: Any) -> Type | None:
    """The type of ``t[key]`` for a constant ``key`` (OPA's ``types.Select``), or
    ``None`` when ``t`` has no such element."""
    if t.kind == "array":
        if type(key) is int:
            pos = key
        elif type(key) is float and key.is_integer():
            pos = int(key)
        else:
            return None
        if pos < 0:
            return None
        return t.static[pos] if pos < len(t.static) else t.dynamic
    if t.kind == "object":
        return _select_property(t, key)
    if t.kind == "set":
        assert t.element is not None
        kt = type_of(key)
        if compare_types(t.element, kt) == 0:
            return t.element
        if t.element.kind == "any" and contains(t.element, kt):
            return kt
        return None
    if t.kind == "any":
        if not t.of:
            return ANY
        out: Type | None = None
        for alt in t.of:
            out = or_(select(alt, key), out)
        return out
    return None


def _select_property(t: Type, key: Any) -> Type | None:
    k = to_key(key)
    for pk, pt in t.properties:
        if pk == k:
            return pt
    if t.dynamic_key is not None and contains(t.dynamic_key, type_of(key)):
        return t.dynamic_value
    return None


def keys_of(t: Type) -> Type | None:
    """The type of the keys of ``t`` (OPA's ``types.Keys``): numbers for arrays,
    the element type for sets, the key types for objects."""
    if t.kind == "array":
        return NUMBER
    if t.kind == "set":
        return t.element
    if t.kind == "object":
        out: Type | None = None
        for k, _ in t.properties:
            out = or_(out, type_of(from_key(k)))
        return or_(out, t.dynamic_key) if t.dynamic_key is not None else out
    if t.kind == "any":
        if not t.of:
            return ANY
        acc: Type | None = None
        for alt in t.of:
            acc = or_(keys_of(alt), acc)
        return acc
    return None


def values_of(t: Type) -> Type | None:
    """The type of the values of ``t`` (OPA's ``types.Values``): items of arrays,
    elements of sets, property values of objects."""
    if t.kind == "array":
        out: Type | None = None
        for item in t.static:
            out = or_(out, item)
        return or_(out, t.dynamic)
    if t.kind == "set":
        return t.element
    if t.kind == "object":
        acc: Type | None = None
        for _, v in t.properties:
            acc = or_(acc, v)
        return or_(acc, t.dynamic_value) if t.dynamic_value is not None else acc
    if t.kind == "any":
        if not t.of:
            return ANY
        res: Type | None = None
        for alt in t.of:
            res = or_(values_of(alt), res)
        return res
    return None


# ---------------------------------------------------------------- typing constants


def type_of(value: Any) -> Type:
    """The type OPA's checker gives a constant (``TypeEnv.GetByValue``):
    ``[1, "a"]`` is ``array<number, string>``, ``[]`` is ``array[any]``,
    ``{"a": 1}`` is ``object<a: number>``, ``{}`` is ``object[any: any]``,
    ``{1, "a"}`` is ``set[any<number, string>]``, ``set()`` is ``set[any]``.

    Parts nested deeper than :data:`TYPE_OF_DEPTH` are typed ``any``. Object
    keys that are arrays, objects or sets make a dynamic property (OPA makes
    them static ones, printed in Go's syntax).

    Raises:
        TypeError: ``value`` is not a Rego value.
    """
    return _type_of(value, 0)


def _type_of(value: Any, depth: int) -> Type:
    t = type(value)
    if t is str:
        return STRING
    if t is bool:
        return BOOLEAN
    if t is int or t is float:
        return NUMBER
    if value is None:
        return NULL
    if depth >= TYPE_OF_DEPTH:
        if t is list or t is tuple or t is dict or t is Set:
            return ANY
        raise TypeError(f"not a Rego value: {t.__name__}")
    d = depth + 1
    if t is list or t is tuple:
        if not value:
            return array_of(ANY)
        return Type("array", static=tuple(_type_of(v, d) for v in value))
    if t is dict:
        if not value:
            return object_of(ANY, ANY)
        props: list[tuple[Any, Type]] = []
        dkey: Type | None = None
        dval: Type | None = None
        for k, v in value.items():
            if type(k) is Key and type(k.value) is not bool:
                dkey = or_(dkey, _type_of(k.value, d))
                dval = or_(dval, _type_of(v, d))
            else:
                props.append((k, _type_of(v, d)))
        return Type("object", properties=tuple(props), dynamic_key=dkey, dynamic_value=dval)
    if t is Set:
        elem: Type | None = None
        for k in value.keys:
            elem = or_(elem, _type_of(from_key(k), d))
        return set_of(elem if elem is not None else ANY)
    raise TypeError(f"not a Rego value: {t.__name__}")


# ---------------------------------------------------------------- checking


def accepts(t: Type, value: Any) -> bool:
    """Whether the ground ``value`` has type ``t``, as OPA's checker decides for a
    constant argument (``unify1``): arrays item by item (as long as the static
    items unless there is a dynamic part), objects key by key (a key is a static
    property or of the dynamic key type), sets element by element, a union when
    one alternative accepts. Never raises; a non-Rego value is not accepted."""
    return _accepts(t, value, 0)


def _accepts(t: Type, value: Any, depth: int) -> bool:
    if depth > _GUARD:
        return True
    kind = t.kind
    if kind == "any":
        if not t.of:
            return True
        return any(_accepts(alt, value, depth + 1) for alt in t.of)
    vt = type(value)
    if kind == "string":
        return vt is str
    if kind == "number":
        return vt is int or vt is float
    if kind == "boolean":
        return vt is bool
    if kind == "null":
        return value is None
    d = depth + 1
    if kind == "array":
        if vt is not list and vt is not tuple:
            return False
        n = len(t.static)
        if t.dynamic is None:
            if len(value) != n:
                return False
        elif is_top(t.dynamic) and len(value) >= n:
            return all(_accepts(it, v, d) for it, v in zip(t.static, value, strict=False))
        for i, v in enumerate(value):
            it = t.static[i] if i < n else t.dynamic
            if it is None or not _accepts(it, v, d):
                return False
        return True
    if kind == "set":
        if vt is not Set:
            return False
        elem = t.element
        if elem is None or is_top(elem):
            return True
        return all(_accepts(elem, from_key(k), d) for k in value.keys)
    # object
    if vt is not dict:
        return False
    if t.dynamic_key is None and len(value) != len(t.properties):
        return False
    if not t.properties and is_top(t.dynamic_key) and is_top(t.dynamic_value):
        return True
    props = dict(t.properties)
    for k, v in value.items():
        pt = props.get(k)
        if pt is None:
            if t.dynamic_key is None or t.dynamic_value is None:
                return False
            if not is_top(t.dynamic_key) and not _accepts(t.dynamic_key, from_key(k), d):
                return False
            pt = t.dynamic_value
        if not _accepts(pt, v, d):
            return False
    return True


def compatible(declared: Type, actual: Type) -> bool:
    """Whether an argument of type ``actual`` may be passed where ``declared`` is
    expected: OPA's ``unifies`` (symmetric). ``any`` unifies with every type, a
    union when one of its alternatives does; arrays and objects unify when their
    static parts unify both ways and their dynamic parts do; sets when their
    element types do."""
    return _unifies(actual, declared, 0)


def _unifies(a: Type | None, b: Type | None, depth: int) -> bool:
    if a is None or b is None:
        return False
    if depth > _GUARD:
        return True
    d = depth + 1
    if a.kind == "any" and _unifies_any(a, b, d):
        return True
    if b.kind == "any" and _unifies_any(b, a, d):
        return True
    if a.kind == "any" or b.kind == "any" or a.kind != b.kind:
        return False
    if a.kind in _SCALARS:
        return True
    if a.kind == "array":
        if not _unifies_array_static(a, b, d) or not _unifies_array_static(b, a, d):
            return False
        return a.dynamic is None or b.dynamic is None or _unifies(a.dynamic, b.dynamic, d)
    if a.kind == "object":
        if not _unifies_object_static(a, b, d) or not _unifies_object_static(b, a, d):
            return False
        return a.dynamic_value is None or b.dynamic_value is None or _unifies(a.dynamic_value, b.dynamic_value, d)
    return _unifies(a.element, b.element, d)  # set


def _unifies_any(a: Type, b: Type, depth: int) -> bool:
    return not a.of or any(_unifies(alt, b, depth) for alt in a.of)


def _unifies_array_static(a: Type, b: Type, depth: int) -> bool:
    for i, item in enumerate(a.static):
        other = b.static[i] if i < len(b.static) else b.dynamic
        if not _unifies(item, other, depth):
            return False
    return True


def _unifies_object_static(a: Type, b: Type, depth: int) -> bool:
    return all(_unifies(v, _select_property(b, from_key(k)), depth) for k, v in a.properties)
