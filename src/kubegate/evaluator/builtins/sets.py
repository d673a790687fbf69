"""Set builtins: ``and`` (``&``), ``or`` (``|``), ``intersection``, ``union`` and
the deprecated ``set_diff``. (``minus`` of two sets lives in :mod:`.numbers`.)

Follows https://github.com/open-policy-agent/opa/blob/main/v1/topdown/sets.go and
https://github.com/open-policy-agent/opa/blob/main/v1/topdown/binary.go.
"""

from __future__ import annotations

from typing import Any

from kubegate.evaluator.builtins._nc_support import guarded
from kubegate.evaluator.builtins.registry import arg_set, implements
from kubegate.evaluator.values import Set

__all__ = ["and_", "intersection", "or_", "set_diff", "union"]


@implements("and")
@guarded
def and_(x: Any, y: Any) -> Set:
    """``x & y``: the elements in both sets."""
    return Set.from_keys(arg_set(x, 1).keys & arg_set(y, 2).keys)


@implements("or")
@guarded
def or_(x: Any, y: Any) -> Set:
    """``x | y``: the elements in either set."""
    return Set.from_keys(arg_set(x, 1).keys | arg_set(y, 2).keys)


@implements("set_diff")
@guarded
def set_diff(x: Any, y: Any) -> Set:
    """Deprecated ``x - y`` on sets."""
    return Set.from_keys(arg_set(x, 1).keys - arg_set(y, 2).keys)


@implements("intersection")
@guarded
def intersection(xs: Any) -> Set:
    """The elements common to every set of a set of sets (empty for no sets)."""
    outer = arg_set(xs, 1)
    result: frozenset[Any] | None = None
    for s in outer.values():
        keys = arg_set(s, 1).keys
        result = keys if result is None else result & keys
    return Set.from_keys(result if result is not None else frozenset())


@implements("union")
@guarded
def union(xs: Any) -> Set:
    """The elements of any set of a set of sets."""
    outer = arg_set(xs, 1)
    result: set[Any] = set()
    for s in outer.values():
        result.update(arg_set(s, 1).keys)
    return Set.from_keys(frozenset(result))
