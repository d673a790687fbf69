"""Arithmetic and number builtins: ``plus``, ``minus``, ``mul``, ``div``, ``rem``,
``abs``, ``round``, ``ceil``, ``floor``, ``numbers.range``, ``numbers.range_step``
and ``rand.intn``.

Follows https://github.com/open-policy-agent/opa/blob/main/v1/topdown/arithmetic.go
and https://github.com/open-policy-agent/opa/blob/main/v1/topdown/numbers.go.

Integers stay exact whatever their size (OPA's ``big.Int`` path); any other
operation is computed exactly on the decimals the operands were written as and
rounded once to a float (OPA computes on a 64-bit-mantissa ``big.Float``, so
the two agree up to the last bits of a float). ``minus`` of two sets is their
difference.
"""

from __future__ import annotations

import math
import secrets
from fractions import Fraction
from typing import Any

from kubegate.evaluator.builtins._nc_support import (
    INT64_MAX,
    INT64_MIN,
    OperandError,
    big_int_operand,
    exact,
    guarded,
    int_operand,
    number,
    number_operand,
    safe_type_name,
)
from kubegate.evaluator.builtins.registry import BuiltinContext, BuiltinError, implements
from kubegate.evaluator.values import Set

__all__ = [
    "MAX_RANGE",
    "abs_",
    "ceil",
    "div",
    "floor",
    "minus",
    "mul",
    "numbers_range",
    "numbers_range_step",
    "plus",
    "rand_intn",
    "rem",
    "round_",
]

#: The most numbers ``numbers.range`` and ``numbers.range_step`` produce. OPA stops
#: only when the query is cancelled; an unbounded range would exhaust memory here.
MAX_RANGE = 10_000_000

_SMALL_MIN = -(1 << 31)
_SMALL_MAX = (1 << 31) - 1


def _operands(x: Any, y: Any) -> tuple[int | float, int | float]:
    return number_operand(x, 1), number_operand(y, 2)


@implements("plus")
@guarded
def plus(x: Any, y: Any) -> int | float:
    """``x + y``."""
    a, b = _operands(x, y)
    if type(a) is int and type(b) is int:
        return a + b
    return number(exact(a) + exact(b))


@implements("minus")
@guarded
def minus(x: Any, y: Any) -> Any:
    """``x - y`` for numbers, the difference of two sets."""
    tx, ty = type(x), type(y)
    x_num = tx is int or tx is float
    y_num = ty is int or ty is float
    if x_num and y_num:
        if tx is int and ty is int:
            return x - y
        return number(exact(x) - exact(y))
    if tx is Set and ty is Set:
        return Set.from_keys(x.keys - y.keys)
    if not x_num and tx is not Set:
        raise OperandError(f"operand 1 must be one of {{number, set}} but got {safe_type_name(x)}")
    if y_num:
        raise OperandError("operand 2 must be set but got number")
    raise OperandError(f"operand 2 must be number but got {safe_type_name(y)}")


@implements("mul")
@guarded
def mul(x: Any, y: Any) -> int | float:
    """``x * y``."""
    a, b = _operands(x, y)
    if type(a) is int and type(b) is int:
        return a * b
    return number(exact(a) * exact(b))


@implements("div")
@guarded
def div(x: Any, y: Any) -> int | float:
    """``x / y``: an integer when the divisor divides the dividend, else a float.

    Raises:
        BuiltinError: ``divide by zero``.
    """
    a, b = _operands(x, y)
    if type(a) is int and type(b) is int:
        if b == 0:
            raise BuiltinError("divide by zero")
        if a % b == 0:
            return a // b
        return number(Fraction(a, b))
    qa, qb = exact(a), exact(b)
    if qb == 0:
        raise BuiltinError("divide by zero")
    return number(Fraction(qa) / qb)


def _trunc_rem(a: int, b: int) -> int:
    """Go's ``%``: the remainder takes the sign of the dividend."""
    r = abs(a) % abs(b)
    return -r if a < 0 else r


@implements("rem")
@guarded
def rem(x: Any, y: Any) -> int:
    """``x % y`` on integers (integral floats such as ``4.0`` included).

    Raises:
        BuiltinError: ``modulo by zero``, ``modulo on floating-point number``.
    """
    a, b = _operands(x, y)
    qa, qb = exact(a), exact(b)
    if type(qa) is not int or type(qb) is not int:
        raise BuiltinError("modulo on floating-point number")
    if qb == 0:
        raise BuiltinError("modulo by zero")
    return _trunc_rem(qa, qb)


@implements("abs")
@guarded
def abs_(x: Any) -> int | float:
    """The absolute value of ``x``."""
    n = number_operand(x, 1)
    if type(n) is int:
        return -n if n < 0 else n
    q = exact(n)
    return number(-q if q < 0 else q)


def _round_half_away(q: int | Fraction) -> int:
    if type(q) is int:
        return q
    if q < 0:
        return -math.floor(-q + Fraction(1, 2))
    return math.floor(q + Fraction(1, 2))


@implements("round")
@guarded
def round_(x: Any) -> int:
    """``x`` rounded to the nearest integer, halves away from zero (``round(-2.5)`` is -3)."""
    n = number_operand(x, 1)
    if type(n) is int:
        return n
    return _round_half_away(exact(n))


@implements("ceil")
@guarded
def ceil(x: Any) -> int:
    """The least integer not below ``x``."""
    n = number_operand(x, 1)
    if type(n) is int:
        return n
    return math.ceil(exact(n))


@implements("floor")
@guarded
def floor(x: Any) -> int:
    """The greatest integer not above ``x``."""
    n = number_operand(x, 1)
    if type(n) is int:
        return n
    return math.floor(exact(n))


def _range(name: str, start: int, stop: int, step: int) -> tuple[int, ...]:
    count = abs(stop - start) // step + 1
    if count > MAX_RANGE:
        raise BuiltinError(f"{name}: range of {count} numbers is larger than the limit of {MAX_RANGE}")
    if start <= stop:
        return tuple(range(start, stop + 1, step))
    return tuple(range(start, stop - 1, -step))


@implements("numbers.range")
@guarded
def numbers_range(x: Any, y: Any) -> tuple[int, ...]:
    """The integers from ``x`` to ``y`` inclusive, counting down when ``x > y``."""
    start = big_int_operand(x, 1)
    stop = big_int_operand(y, 2)
    return _range("numbers.range", start, stop, 1)


@implements("numbers.range_step")
@guarded
def numbers_range_step(x: Any, y: Any, step: Any) -> tuple[int, ...]:
    """The integers from ``x`` towards ``y`` (inclusive when reached) ``step`` apart.

    Raises:
        BuiltinError: ``numbers.range_step: step must be a positive integer``.
    """
    start = big_int_operand(x, 1)
    stop = big_int_operand(y, 2)
    n = big_int_operand(step, 3)
    if n <= 0:
        raise BuiltinError("numbers.range_step: step must be a positive integer")
    return _range("numbers.range_step", start, stop, n)


@implements("rand.intn", context=True)
@guarded
def rand_intn(ctx: BuiltinContext, s: Any, n: Any) -> int:
    """A random integer in ``[0, |n|)``, the same for the same ``(s, n)`` within a query."""
    if type(s) is not str:
        raise OperandError(f"operand 1 must be string but got {safe_type_name(s)}")
    bound = int_operand(n, 2)
    if bound == 0:
        return 0
    bound = abs(bound)
    if not (INT64_MIN <= bound <= INT64_MAX):  # abs(INT64_MIN)
        raise OperandError("operand 2 must be integer number but got floating-point number")
    key = ("rand.intn", s, bound)
    cached = ctx.cache.get(key)
    if type(cached) is int:
        return cached
    result = secrets.randbelow(bound)
    ctx.cache[key] = result
    return result
