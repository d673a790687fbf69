"""Shared helpers of the number and collection builtins (``numbers``, ``bits``,
``aggregates``, ``arrays``, ``sets``, ``comparison``, ``typecheck``,
``objects``, ``jsonpath``, ``schemas``, ``graphs``).

They follow OPA's operand helpers in
https://github.com/open-policy-agent/opa/blob/main/v1/topdown/builtins/builtins.go:
every error made with ``builtins.NewOperandErr`` (``ErrOperand``) is reported
by OPA as ``eval_type_error``, whatever its wording, so :class:`OperandError`
carries that code.

Numbers: OPA keeps a number as the decimal text it was written with and
computes on exact integers (``big.Int``) when the operands are integral, on
``big.Float`` otherwise. Here a number is a Python ``int`` (exact) or
``float``; :func:`exact` recovers the decimal a float was written as (its
shortest ``repr``) as an ``int`` or a :class:`~fractions.Fraction`, and
:func:`number` turns an exact result back into a Rego number: an ``int`` when
integral, else the nearest ``float``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction
from typing import Any, TypeVar

from kubegate.evaluator.builtins.registry import BuiltinError, HaltError, guard_error
from kubegate.evaluator.values import Set, type_name

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "OperandError",
    "big_int_operand",
    "element_error",
    "exact",
    "guarded",
    "int_operand",
    "is_integral",
    "is_set",
    "number",
    "number_operand",
    "one_of_error",
    "safe_type_name",
]

INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1

F = TypeVar("F", bound=Callable[..., Any])


class OperandError(BuiltinError):
    """An operand error with OPA's own wording (``builtins.NewOperandErr``): always
    ``eval_type_error``, as OPA reports every ``builtins.ErrOperand``."""

    code = "eval_type_error"


def safe_type_name(value: Any) -> str:
    """OPA's ``ast.ValueName`` of ``value`` (``"unknown"`` for a non-Rego value)."""
    try:
        return type_name(value)
    except TypeError:
        return "unknown"


def one_of_error(position: int, value: Any, *expected: str) -> OperandError:
    """``operand 1 must be one of {array, set} but got number`` (``NewOperandTypeErr``
    with several expected types)."""
    if len(expected) == 1:
        return OperandError(f"operand {position} must be {expected[0]} but got {safe_type_name(value)}")
    joined = ", ".join(expected)
    return OperandError(f"operand {position} must be one of {{{joined}}} but got {safe_type_name(value)}")


def element_error(position: int, composite: Any, element: Any, expected: str) -> OperandError:
    """``operand 1 must be array of numbers but got array containing string``
    (``NewOperandElementErr``)."""
    kind = safe_type_name(composite)
    return OperandError(
        f"operand {position} must be {kind} of {expected}s but got {kind} containing {safe_type_name(element)}"
    )


def number_operand(value: Any, position: int) -> int | float:
    """A number operand (``builtins.NumberOperand``); booleans are not numbers."""
    t = type(value)
    if t is int or t is float:
        return value  # type: ignore[no-any-return]
    raise OperandError(f"operand {position} must be number but got {safe_type_name(value)}")


def int_operand(value: Any, position: int) -> int:
    """An operand that must be a machine integer (``builtins.IntOperand``).

    OPA parses the number's text as a 64-bit integer, so a number written with a
    fraction or an exponent (a Python ``float``) or one outside int64 is refused.
    """
    t = type(value)
    if t is not int and t is not float:
        raise OperandError(f"operand {position} must be number but got {safe_type_name(value)}")
    if t is float or not (INT64_MIN <= value <= INT64_MAX):
        raise OperandError(f"operand {position} must be integer number but got floating-point number")
    return value  # type: ignore[no-any-return]


def big_int_operand(value: Any, position: int) -> int:
    """An operand that must be an integer of any size (``builtins.BigIntOperand``);
    integral floats (``4.0``, ``1e3``) are accepted."""
    t = type(value)
    if t is not int and t is not float:
        raise OperandError(f"operand {position} must be integer but got {safe_type_name(value)}")
    q = exact(value)
    if not isinstance(q, int):
        raise OperandError(f"operand {position} must be integer number but got floating-point number")
    return q


def exact(value: int | float) -> int | Fraction:
    """The exact value of a number as OPA sees its decimal text: ints as they are,
    floats by their shortest round-tripping decimal (``0.1`` is 1/10, ``1e30`` is
    10**30). Integral results come back as ``int``.

    Raises:
        BuiltinError: ``value`` is infinite or NaN (no Rego number is).
    """
    if type(value) is int:
        return value
    f = float(value)
    if not math.isfinite(f):
        raise BuiltinError("illegal value")
    if f.is_integer() and -9007199254740992.0 <= f <= 9007199254740992.0:
        return int(f)
    return _exact_float(f)


@functools.lru_cache(maxsize=4096)
def _exact_float(f: float) -> int | Fraction:
    """The decimal value of a finite, non-small-integral float (cached: policies
    reuse the same constants, such as the ``0.001`` of ``m`` quantities)."""
    q = Fraction(Decimal(repr(f)))
    if q.denominator == 1:
        return q.numerator
    return q


def is_integral(value: int | float) -> bool:
    """Whether the number is an integer (``builtins.NumberToInt`` succeeds)."""
    if type(value) is int:
        return True
    f = float(value)
    return math.isfinite(f) and f.is_integer()


def number(q: int | Fraction) -> int | float:
    """A Rego number for an exact result: ``int`` when integral, else the nearest
    ``float`` (a result too large for a float is rounded to an ``int``)."""
    if type(q) is int:
        return q
    assert isinstance(q, Fraction)
    if q.denominator == 1:
        return q.numerator
    try:
        return float(q)
    except OverflowError:
        return round(q)


def guarded(fn: F) -> F:
    """Turns any stray Python exception of an implementation into a
    :class:`BuiltinError`, so hostile operands (deep values, huge numbers) never
    crash the evaluator."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (BuiltinError, HaltError):
            raise
        except Exception as exc:
            err = guard_error(exc)
            if err is None:
                raise
            raise err from None

    # The evaluator's call path applies guard_error itself and calls fn directly.
    wrapper.__kubegate_unguarded__ = fn  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


def is_set(value: Any) -> bool:
    """Whether ``value`` is a Rego set."""
    return type(value) is Set
