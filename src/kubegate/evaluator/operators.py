"""Run-time helpers the planned code calls: indexing, iteration, operators.

These are the hot paths of evaluation; each takes Rego values (see
:mod:`kubegate.evaluator.values`) and returns ``UNDEF`` where Rego is
undefined. Semantics: https://www.openpolicyagent.org/docs/latest/policy-language/#references
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from kubegate.evaluator.values import UNDEF, Key, Set, equal, from_key, items, order_key, to_key

__all__ = [
    "compare_op",
    "contains",
    "enumerate_any",
    "enumerate_value",
    "index",
    "member2",
    "member3",
    "truthy",
    "values_any",
    "values_ordered",
]


def index(v: Any, k: Any) -> Any:
    """``v[k]``, or ``UNDEF``."""
    t = type(v)
    if t is dict:
        tk = type(k)
        if tk is str or tk is int or tk is float or k is None:
            return v.get(k, UNDEF)
        return v.get(Key(k), UNDEF)
    if t is list or t is tuple:
        tk = type(k)
        if tk is int:
            if 0 <= k < len(v):
                return v[k]
            return UNDEF
        if tk is float and k.is_integer():
            i = int(k)
            return v[i] if 0 <= i < len(v) else UNDEF
        return UNDEF
    if t is Set:
        return k if k in v else UNDEF
    return UNDEF


def enumerate_value(v: Any) -> Iterator[tuple[Any, Any]]:
    """``(key, value)`` pairs of a collection in OPA's order; nothing for scalars."""
    t = type(v)
    if t is dict:
        yield from items(v)
    elif t is list or t is tuple:
        yield from enumerate(v)
    elif t is Set:
        for e in v.values():
            yield e, e


def enumerate_any(v: Any) -> Iterator[tuple[Any, Any]]:
    """Like :func:`enumerate_value` in no particular order, where no result
    can depend on it (everywhere but array comprehensions, queries and ``print``)."""
    t = type(v)
    if t is dict:
        for k, x in v.items():
            yield (k.value if type(k) is Key else k), x
    elif t is list or t is tuple:
        yield from enumerate(v)
    elif t is Set:
        for k in v.keys:
            e = k.value if type(k) is Key else k
            yield e, e


def values_any(v: Any) -> Iterable[Any]:
    """The values of a collection in no particular order (see
    :func:`enumerate_any`); nothing for scalars. Arrays come back as they are."""
    t = type(v)
    if t is list or t is tuple:
        return v  # type: ignore[no-any-return]
    if t is dict:
        return v.values()  # type: ignore[no-any-return]
    if t is Set:
        return [k.value if type(k) is Key else k for k in v.keys]
    return ()


def values_ordered(v: Any) -> Iterable[Any]:
    """The values of a collection in OPA's order (see :func:`enumerate_value`)."""
    t = type(v)
    if t is list or t is tuple:
        return v  # type: ignore[no-any-return]
    if t is dict:
        return [x for _, x in items(v)]
    if t is Set:
        return v.values()  # type: ignore[no-any-return]
    return ()


def truthy(v: Any) -> bool:
    """Whether a literal with value ``v`` succeeds (defined and not ``false``)."""
    return v is not UNDEF and v is not False


def contains(collection: Any, value: Any) -> bool:
    """``value in collection`` (values of arrays and objects, elements of sets)."""
    t = type(collection)
    if t is Set:
        return value in collection
    if t is dict:
        return any(equal(x, value) for x in collection.values())
    if t is list or t is tuple:
        tv = type(value)
        if tv is str:
            return value in collection
        return any(equal(x, value) for x in collection)
    return False


def member2(value: Any, collection: Any) -> Any:
    return contains(collection, value)


def member3(key: Any, value: Any, collection: Any) -> Any:
    """``key, value in collection``."""
    v = index(collection, key)
    if type(collection) is Set:
        return v is not UNDEF and equal(key, value)
    return v is not UNDEF and equal(v, value)


def compare_op(op: str, a: Any, b: Any) -> bool:
    """``<``, ``<=``, ``>``, ``>=`` in OPA's total order."""
    ta, tb = type(a), type(b)
    if (ta is int or ta is float) and (tb is int or tb is float):
        ka: Any = a
        kb: Any = b
    elif ta is str and tb is str:
        ka, kb = a, b
    else:
        ka, kb = order_key(a), order_key(b)
    if op == "<":
        return bool(ka < kb)
    if op == "<=":
        return bool(ka <= kb)
    if op == ">":
        return bool(ka > kb)
    return bool(ka >= kb)


def set_key(v: Any) -> Any:
    return to_key(v)


def key_value(k: Any) -> Any:
    return from_key(k)
