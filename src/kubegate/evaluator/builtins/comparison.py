"""Comparison builtins as functions: ``equal`` (``==``), ``neq`` (``!=``), ``lt``
(``<``), ``lte`` (``<=``), ``gt`` (``>``) and ``gte`` (``>=``), over values of any
type in OPA's total order (null < boolean < number < string < array < object < set).

Follows https://github.com/open-policy-agent/opa/blob/main/v1/topdown/comparison.go.
"""

from __future__ import annotations

from typing import Any

from kubegate.evaluator.builtins._nc_support import guarded
from kubegate.evaluator.builtins.registry import implements
from kubegate.evaluator.values import compare, equal

__all__ = ["equal_", "gt", "gte", "lt", "lte", "neq"]


@implements("equal")
@guarded
def equal_(x: Any, y: Any) -> bool:
    """``x == y``."""
    return equal(x, y)


@implements("neq")
@guarded
def neq(x: Any, y: Any) -> bool:
    """``x != y``."""
    return not equal(x, y)


@implements("lt")
@guarded
def lt(x: Any, y: Any) -> bool:
    """``x < y``."""
    return compare(x, y) < 0


@implements("lte")
@guarded
def lte(x: Any, y: Any) -> bool:
    """``x <= y``."""
    return compare(x, y) <= 0


@implements("gt")
@guarded
def gt(x: Any, y: Any) -> bool:
    """``x > y``."""
    return compare(x, y) > 0


@implements("gte")
@guarded
def gte(x: Any, y: Any) -> bool:
    """``x >= y``."""
    return compare(x, y) >= 0
