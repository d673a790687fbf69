"""The membership builtins behind the ``in`` operator: ``internal.member_2``
(``x in xs``) and ``internal.member_3`` (``k, v in xs``).

Follows ``builtinMember`` and ``builtinMemberWithKey`` in
https://github.com/open-policy-agent/opa/blob/main/v1/topdown/aggregates.go.
Neither ever fails: a collection of the wrong type simply has no members.
"""

from __future__ import annotations

from typing import Any

from kubegate.evaluator.builtins._nc_support import guarded
from kubegate.evaluator.builtins.registry import implements
from kubegate.evaluator.values import UNDEF, Set, equal, to_key

__all__ = ["member_2", "member_3"]


@implements("internal.member_2")
@guarded
def member_2(x: Any, collection: Any) -> bool:
    """Whether ``x`` is an element of a set, an element of an array or a value of an object."""
    t = type(collection)
    if t is Set:
        return x in collection
    if t is list or t is tuple:
        return any(equal(x, e) for e in collection)
    if t is dict:
        return any(equal(x, v) for v in collection.values())
    return False


@implements("internal.member_3")
@guarded
def member_3(key: Any, value: Any, collection: Any) -> bool:
    """Whether ``collection[key]`` is ``value`` (for a set: ``key`` is an element and equals ``value``)."""
    t = type(collection)
    if t is Set:
        return key in collection and equal(key, value)
    if t is list or t is tuple:
        if type(key) is not int or not 0 <= key < len(collection):
            return False
        return equal(value, collection[key])
    if t is dict:
        found = collection.get(to_key(key), UNDEF)
        return found is not UNDEF and equal(value, found)
    return False
