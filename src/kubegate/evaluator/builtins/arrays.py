"""Array builtins: ``array.concat``, ``array.slice``, ``array.reverse`` and
``array.flatten``.

Follows https://github.com/open-policy-agent/opa/blob/main/v1/topdown/array.go.
"""

from __future__ import annotations

from typing import Any

from kubegate.evaluator.builtins._nc_support import guarded, int_operand
from kubegate.evaluator.builtins.registry import arg_array, implements

__all__ = ["array_concat", "array_flatten", "array_reverse", "array_slice"]


@implements("array.concat")
@guarded
def array_concat(x: Any, y: Any) -> tuple[Any, ...]:
    """The elements of ``x`` followed by those of ``y``."""
    a = arg_array(x, 1)
    b = arg_array(y, 2)
    return tuple(a) + tuple(b)


@implements("array.slice")
@guarded
def array_slice(x: Any, start: Any, stop: Any) -> tuple[Any, ...]:
    """``x[start:stop]``, both indexes clamped into the array (never an error for
    out-of-range indexes; ``start > stop`` gives the empty array)."""
    arr = arg_array(x, 1)
    i = int_operand(start, 2)
    j = int_operand(stop, 3)
    n = len(arr)
    j = 0 if j < 0 else min(j, n)
    i = 0 if i < 0 else min(i, j)
    return tuple(arr[i:j])


@implements("array.reverse")
@guarded
def array_reverse(x: Any) -> tuple[Any, ...]:
    """The elements of ``x`` in reverse order."""
    return tuple(reversed(arg_array(x, 1)))


@implements("array.flatten")
@guarded
def array_flatten(x: Any) -> tuple[Any, ...]:
    """``x`` with its array elements spliced in, one level deep."""
    out: list[Any] = []
    for e in arg_array(x, 1):
        t = type(e)
        if t is list or t is tuple:
            out.extend(e)
        else:
            out.append(e)
    return tuple(out)
