"""Aggregate builtins: ``count``, ``sum``, ``product``, ``max``, ``min``, ``sort``
and the deprecated ``all`` and ``any``.

Follows https://github.com/open-policy-agent/opa/blob/main/v1/topdown/aggregates.go.
``sum`` and ``product`` stay exact on integers of any size; with a non-integer
element they are computed exactly and rounded once (see :mod:`.numbers`).
"""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction
from typing import Any

from kubegate.evaluator.builtins._nc_support import element_error, exact, guarded, number, one_of_error
from kubegate.evaluator.builtins.registry import implements
from kubegate.evaluator.values import UNDEF, Set, compare, sorted_values

__all__ = ["all_", "any_", "count", "max_", "min_", "product", "sort", "sum_"]


@implements("count")
@guarded
def count(x: Any) -> int:
    """The number of elements of a collection, or of code points of a string."""
    t = type(x)
    if t is list or t is tuple or t is dict or t is str or t is Set:
        return len(x)
    raise one_of_error(1, x, "array", "object", "set", "string")


def _numbers(x: Any) -> Iterable[Any]:
    t = type(x)
    if t is list or t is tuple:
        return x  # type: ignore[no-any-return]
    if t is Set:
        return x.values()  # type: ignore[no-any-return]
    raise one_of_error(1, x, "set", "array")


def _accumulate(x: Any, start: int, op: str) -> int | float:
    elements = _numbers(x)
    ints_only = True
    acc: int | Fraction = start
    for e in elements:
        te = type(e)
        if te is int:
            acc = acc + e if op == "+" else acc * e
            continue
        if te is not float:
            raise element_error(1, x, e, "number")
        q = exact(e)
        if type(q) is not int:
            ints_only = False
        acc = acc + q if op == "+" else acc * q
    if ints_only:
        assert type(acc) is int
        return acc
    return number(acc)


@implements("sum")
@guarded
def sum_(x: Any) -> int | float:
    """The sum of an array or set of numbers."""
    return _accumulate(x, 0, "+")


@implements("product")
@guarded
def product(x: Any) -> int | float:
    """The product of an array or set of numbers."""
    return _accumulate(x, 1, "*")


def _extreme(x: Any, sign: int) -> Any:
    """The greatest (``sign`` 1) or least (-1) element in OPA's order; the last
    of equal ones for arrays, as OPA's loops keep it."""
    t = type(x)
    if t is list or t is tuple:
        if not x:
            return UNDEF
        best = x[0]
        for e in x:
            if compare(best, e) * sign <= 0:
                best = e
        return best
    if t is Set:
        vals = x.values()
        return (vals[-1] if sign > 0 else vals[0]) if vals else UNDEF
    raise one_of_error(1, x, "set", "array")


@implements("max")
@guarded
def max_(x: Any) -> Any:
    """The greatest element of an array or set (undefined when empty)."""
    return _extreme(x, 1)


@implements("min")
@guarded
def min_(x: Any) -> Any:
    """The least element of an array or set (undefined when empty)."""
    return _extreme(x, -1)


@implements("sort")
@guarded
def sort(x: Any) -> tuple[Any, ...]:
    """The elements of an array or set in OPA's order, as an array."""
    t = type(x)
    if t is list or t is tuple:
        return tuple(sorted_values(x))
    if t is Set:
        return x.values()  # type: ignore[no-any-return]
    raise one_of_error(1, x, "set", "array")


def _is_true(v: Any) -> bool:
    return v is True


@implements("all")
@guarded
def all_(x: Any) -> bool:
    """Deprecated: whether every element of an array or set is ``true``."""
    t = type(x)
    if t is list or t is tuple:
        return all(_is_true(v) for v in x)
    if t is Set:
        return all(_is_true(v) for v in x.values())
    raise one_of_error(1, x, "array", "set")


@implements("any")
@guarded
def any_(x: Any) -> bool:
    """Deprecated: whether some element of an array or set is ``true``."""
    t = type(x)
    if t is list or t is tuple:
        return any(_is_true(v) for v in x)
    if t is Set:
        return True in x
    raise one_of_error(1, x, "array", "set")
