"""Kubernetes' lists library (k8s.io/apiserver ``pkg/cel/library/lists.go``):

* ``l.isSorted() -> bool``: whether the list is in ascending order;
* ``l.sum() -> T``: the sum of the elements (``0`` for an empty list);
* ``l.min() -> T`` / ``l.max() -> T``: the smallest / largest element (an
  error on an empty list);
* ``l.indexOf(x) -> int`` / ``l.lastIndexOf(x) -> int``: the first / last
  position of ``x``, ``-1`` when absent.

The runtime cannot return a type parameter from Python (docs/cel-notes.md §3),
so ``sum``/``min``/``max`` are declared to return ``dyn``: a value of the list's
element type at run time, checked only then.
"""

from __future__ import annotations

import itertools
from typing import Any

from cel_expr_python import cel

__all__ = ["extension"]

SINCE = (1, 0)
"""The Kubernetes version whose CEL environment has this library (environment/base.go)."""


def _comparable(items: list[Any]) -> list[Any]:
    kinds = {type(x) for x in items}
    numeric = kinds <= {int, float}
    if (len(kinds) > 1 and not numeric) or any(isinstance(x, (list, dict)) for x in items):
        raise TypeError("list elements are not comparable")
    return items


def is_sorted(items: list[Any]) -> bool:
    """Whether ``items`` is in ascending order."""
    _comparable(items)
    return all(a <= b for a, b in itertools.pairwise(items))


def total(items: list[Any]) -> Any:
    """The sum (``0`` for an empty list)."""
    if any(isinstance(x, bool) or not isinstance(x, (int, float)) for x in items):
        raise TypeError("sum needs a list of numbers")
    return sum(items)


def smallest(items: list[Any]) -> Any:
    """The smallest element; an error on an empty list."""
    if not items:
        raise ValueError("min called on empty list")
    return min(_comparable(items))


def largest(items: list[Any]) -> Any:
    """The largest element; an error on an empty list."""
    if not items:
        raise ValueError("max called on empty list")
    return max(_comparable(items))


def index_of(items: list[Any], value: Any) -> int:
    """The first position of ``value`` (same type and value), ``-1`` when absent."""
    return next((i for i, x in enumerate(items) if x == value and type(x) is type(value)), -1)


def last_index_of(items: list[Any], value: Any) -> int:
    """The last position of ``value``, ``-1`` when absent."""
    found = [i for i, x in enumerate(items) if x == value and type(x) is type(value)]
    return found[-1] if found else -1


def extension() -> object:
    """The library as a ``CelExtension``."""
    t = cel.Type
    dyn_list = t.List(t.DYN)

    def member(name: str, overload: str, result: Any, params: list[Any], impl: Any) -> Any:
        return cel.FunctionDecl(name, [cel.Overload(overload, result, params, is_member=True, impl=impl)])

    return cel.CelExtension(
        "kubernetes.lists",
        [
            member("isSorted", "list_is_sorted", t.BOOL, [dyn_list], is_sorted),
            member("sum", "list_sum", t.DYN, [dyn_list], total),
            member("min", "list_min", t.DYN, [dyn_list], smallest),
            member("max", "list_max", t.DYN, [dyn_list], largest),
            member("indexOf", "list_index_of", t.INT, [dyn_list, t.DYN], index_of),
            member("lastIndexOf", "list_last_index_of", t.INT, [dyn_list, t.DYN], last_index_of),
        ],
    )
