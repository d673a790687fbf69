"""Object builtins: ``object.get``, ``object.keys``, ``object.remove``,
``object.filter``, ``object.union``, ``object.union_n`` and ``object.subset``.

Follows https://github.com/open-policy-agent/opa/blob/main/v1/topdown/object.go and
https://github.com/open-policy-agent/opa/blob/main/v1/topdown/subset.go.
Nested values are walked with explicit stacks, never by recursion, and the
operands are never modified (results share unchanged sub-values with them).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kubegate.evaluator.builtins._nc_support import OperandError, element_error, guarded, one_of_error
from kubegate.evaluator.builtins.registry import arg_array, arg_object, implements
from kubegate.evaluator.values import UNDEF, Set, equal, hkey, to_key

__all__ = [
    "find",
    "object_filter",
    "object_get",
    "object_keys",
    "object_remove",
    "object_subset",
    "object_union",
    "object_union_n",
]


def find(value: Any, path: Iterable[Any]) -> Any:
    """The value at ``path`` inside ``value`` (OPA's ``Value.Find``), or ``UNDEF``.

    Objects are indexed by key, arrays by integer numbers (a number written with a
    fraction or exponent is no index), sets by their elements; scalars have no
    children.
    """
    cur = value
    for seg in path:
        t = type(cur)
        if t is dict:
            cur = cur.get(to_key(seg), UNDEF)
            if cur is UNDEF:
                return UNDEF
        elif t is list or t is tuple:
            if type(seg) is not int or not 0 <= seg < len(cur):
                return UNDEF
            cur = cur[seg]
        elif t is Set:
            if seg not in cur:
                return UNDEF
            cur = seg
        else:
            return UNDEF
    return cur


@implements("object.get")
@guarded
def object_get(obj: Any, key: Any, default: Any) -> Any:
    """``obj[key]``, or the value at the path ``key`` when it is an array (the
    whole object for ``[]``), else ``default``."""
    o = arg_object(obj, 1)
    t = type(key)
    if t is not list and t is not tuple:
        value = o.get(to_key(key), UNDEF)
        return default if value is UNDEF else value
    if not key:
        return o
    value = find(o, key)
    return default if value is UNDEF else value


@implements("object.keys")
@guarded
def object_keys(obj: Any) -> Set:
    """The set of the keys of ``obj``."""
    return Set.from_keys(frozenset(arg_object(obj, 1)))


def keys_param(value: Any) -> frozenset[Any]:
    """The key forms named by an array, set or object (its keys) operand 2."""
    t = type(value)
    if t is list or t is tuple:
        return frozenset(to_key(v) for v in value)
    if t is Set:
        return value.keys  # type: ignore[no-any-return]
    if t is dict:
        return frozenset(value)
    raise one_of_error(2, value, "object", "set", "array")


@implements("object.remove")
@guarded
def object_remove(obj: Any, keys: Any) -> dict[Any, Any]:
    """``obj`` without the keys named by ``keys`` (an array, set or object)."""
    o = arg_object(obj, 1)
    drop = keys_param(keys)
    return {k: v for k, v in o.items() if k not in drop}


@implements("object.filter")
@guarded
def object_filter(obj: Any, keys: Any) -> dict[Any, Any]:
    """``obj`` with only the keys named by ``keys`` (an array, set or object)."""
    o = arg_object(obj, 1)
    keep = keys_param(keys)
    if len(keep) < len(o):
        return {k: o[k] for k in keep if k in o}
    return {k: v for k, v in o.items() if k in keep}


class _Merger:
    """Merges objects into a result it owns: values of the later object win, and
    keys whose values are objects on both sides are merged in turn."""

    def __init__(self) -> None:
        self.result: dict[Any, Any] = {}
        self._owned: dict[int, dict[Any, Any]] = {id(self.result): self.result}

    def _own(self, d: dict[Any, Any]) -> dict[Any, Any]:
        if id(d) in self._owned:
            return d
        copy = dict(d)
        self._owned[id(copy)] = copy
        return copy

    def merge(self, source: dict[Any, Any]) -> None:
        stack: list[tuple[dict[Any, Any], dict[Any, Any]]] = [(self.result, source)]
        while stack:
            target, src = stack.pop()
            for k, v in src.items():
                cur = target.get(k, UNDEF)
                if type(cur) is dict and type(v) is dict:
                    mine = self._own(cur)
                    target[k] = mine
                    stack.append((mine, v))
                else:
                    target[k] = v


@implements("object.union")
@guarded
def object_union(a: Any, b: Any) -> dict[Any, Any]:
    """``a`` and ``b`` merged: ``b`` wins conflicts, nested objects are merged."""
    x = arg_object(a, 1)
    y = arg_object(b, 2)
    m = _Merger()
    m.merge(x)
    m.merge(y)
    return m.result


@implements("object.union_n")
@guarded
def object_union_n(objects: Any) -> dict[Any, Any]:
    """The objects of an array merged left to right as by ``object.union``."""
    arr = arg_array(objects, 1)
    for o in reversed(arr):
        if type(o) is not dict:
            raise element_error(1, arr, o, "object")
    m = _Merger()
    for o in arr:
        m.merge(o)
    return m.result


def _set_subset(sup: Set, sub: Set) -> bool:
    return sub.keys <= sup.keys


def _array_subset(sup: list[Any] | tuple[Any, ...], sub: list[Any] | tuple[Any, ...]) -> bool:
    """Whether ``sub`` appears contiguously in ``sup`` (Knuth-Morris-Pratt on the
    values' canonical forms, so large arrays stay linear)."""
    n, m = len(sup), len(sub)
    if m > n:
        return False
    if m == 0:
        return True
    pat = [hkey(v) for v in sub]
    fail = [0] * m
    k = 0
    for i in range(1, m):
        while k and pat[i] != pat[k]:
            k = fail[k - 1]
        if pat[i] == pat[k]:
            k += 1
        fail[i] = k
    k = 0
    for v in sup:
        h = hkey(v)
        while k and h != pat[k]:
            k = fail[k - 1]
        if h == pat[k]:
            k += 1
            if k == m:
                return True
    return False


def _array_set_subset(sup: list[Any] | tuple[Any, ...], sub: Set) -> bool:
    """OPA's count of the array elements found in the set, reaching exactly zero
    unmatched elements (so an empty array never covers an empty set)."""
    unmatched = len(sub)
    for e in sup:
        if e in sub:
            unmatched -= 1
        if unmatched == 0:
            return True
    return False


def _is_array(v: Any) -> bool:
    t = type(v)
    return t is list or t is tuple


def _object_subset(sup: dict[Any, Any], sub: dict[Any, Any]) -> bool:
    stack = [(sup, sub)]
    while stack:
        sp, sb = stack.pop()
        for k, sv in sb.items():
            pv = sp.get(k, UNDEF)
            if pv is UNDEF:
                return False
            if equal(sv, pv):
                continue
            if type(pv) is dict and type(sv) is dict:
                stack.append((pv, sv))
            elif type(pv) is Set and type(sv) is Set:
                if not _set_subset(pv, sv):
                    return False
            elif _is_array(pv) and _is_array(sv):
                if not _array_subset(pv, sv):
                    return False
            else:
                return False
    return True


@implements("object.subset")
@guarded
def object_subset(sup: Any, sub: Any) -> bool:
    """Whether ``sub`` is contained in ``sup``: recursively for objects, by
    membership for sets, as a contiguous run for arrays, and a set's elements all
    in an array."""
    if type(sup) is dict and type(sub) is dict:
        return _object_subset(sup, sub)
    if type(sup) is Set and type(sub) is Set:
        return _set_subset(sup, sub)
    if _is_array(sup) and _is_array(sub):
        return _array_subset(sup, sub)
    if _is_array(sup) and type(sub) is Set:
        return _array_set_subset(sup, sub)
    raise OperandError("both arguments object.subset must be of the same type or array and set")
