"""Kubernetes' quantity library (k8s.io/apiserver ``pkg/cel/library/quantity.go``;
Kubernetes 1.28+, https://kubernetes.io/docs/reference/using-api/cel/#kubernetes-quantity-library):

* ``quantity(string) -> kubernetes.Quantity`` (an error for an invalid string)
  and ``isQuantity(string) -> bool``;
* ``sign(q) -> int``, a global function as Kubernetes declares it
  (``cel.Overload``, so ``q.sign()`` does not compile there either);
* ``q.isGreaterThan(q2)``, ``q.isLessThan(q2)`` -> bool, ``q.compareTo(q2)`` -> -1/0/1;
* ``q.add(q2 | int)``, ``q.sub(q2 | int)`` -> kubernetes.Quantity;
* ``q.asApproximateFloat() -> double``, ``q.asInteger() -> int`` (an error
  unless it is an int64), ``q.isInteger() -> bool``.

Kubernetes defines no ``string(quantity)``, and neither does this module.
Parsing follows ``resource.ParseQuantity`` (k8s.io/apimachinery
``pkg/api/resource/quantity.go``, ``suffix.go``): its scanner, its three error
messages, digits below 10^-9 rounded away from zero, binary-suffixed values
capped at 2^63-1, and a decimal exponent truncated to int32 as Go does.

The value travels as a ``kubernetes.Quantity`` carrier holding the exact
decimal in one canonical text, so the runtime's ``==`` is Kubernetes'
``Quantity.Equal`` (``quantity('1Gi') == quantity('1024Mi')``). Known
differences from Kubernetes:

* ``isInteger``/``asInteger`` follow the documented contract (an integer that
  fits int64), where ``Quantity.AsInt64`` also depends on the internal form
  (``quantity('1000m')``, ``quantity('1.5Gi')``, 19-digit values and sums
  with them are not integers there);
* as read (not run) in k8s.io/apiserver ``pkg/cel/quantity.go``, Kubernetes'
  ``Quantity.Equal`` answers false when the right side comes from ``add``/``sub``
  (a ``*Quantity`` fails its type assertion); here ``==`` is semantic on both sides;
* values are exact up to :data:`DIGITS` significant digits; past that, an error
  (Kubernetes has no bound);
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import MAX_EMAX, MIN_EMIN, ROUND_UP, Context, Decimal, Inexact, InvalidOperation, Overflow
from typing import Any

from cel_expr_python import cel

from kubegate.cel import carriers
from kubegate.cel.overloads import Function, Library, Overload

__all__ = [
    "DIGITS",
    "LIBRARY",
    "QUANTITY",
    "QuantityError",
    "compare",
    "decimal_of",
    "parse_quantity",
    "quantity_carrier",
]

SINCE = (1, 28)
"""The Kubernetes version whose CEL environment has this library (environment/base.go)."""

QUANTITY = "kubernetes.Quantity"
"""The carrier type name."""

DIGITS = 10_000
"""Significant digits a quantity may have here (Kubernetes has no bound)."""

_SPLIT_RE = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
FORMAT_WRONG = f"quantities must match the regular expression '{_SPLIT_RE}'"
NUMERIC = "unable to parse numeric part of quantity"
SUFFIX = "unable to parse quantity's suffix"

_DIGIT = frozenset("0123456789")
_SUFFIX_CHARS = frozenset("eEinumkKMGTP")
_DECIMAL_SUFFIXES = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_INT64_MAX = (1 << 63) - 1
_NANO = Decimal("1E-9")
_EXACT = Context(prec=DIGITS, Emax=MAX_EMAX, Emin=MIN_EMIN, traps=[InvalidOperation, Inexact, Overflow])
_ROUNDING = Context(prec=DIGITS, Emax=MAX_EMAX, Emin=MIN_EMIN, rounding=ROUND_UP, traps=[InvalidOperation])


class QuantityError(ValueError):
    """A string ``resource.ParseQuantity`` rejects; ``str()`` is Kubernetes' message."""


def _split(text: str) -> tuple[bool, bool, str, str, str]:
    """``parseQuantityString``: (positive, has digits, numerator, denominator, suffix)."""
    positive, pos, end = True, 0, len(text)
    if text[0] in "+-":
        positive, pos = text[0] == "+", 1
    zeros = pos
    while pos < end and text[pos] == "0":
        pos += 1
    if pos >= end:
        return positive, True, "0", "", ""
    start = pos
    while pos < end and text[pos] in _DIGIT:
        pos += 1
    num, has_digits = text[start:pos] or "0", pos > zeros
    denom = ""
    if pos < end and text[pos] == ".":
        start = pos = pos + 1
        while pos < end and text[pos] in _DIGIT:
            pos += 1
        denom = text[start:pos]
        has_digits = has_digits or pos > start
    suffix_start = pos
    while pos < end and text[pos] in _SUFFIX_CHARS:
        pos += 1
    if pos < end and text[pos] in "+-":
        pos += 1
    while pos < end and text[pos] in _DIGIT:
        pos += 1
    if pos < end:
        raise QuantityError(FORMAT_WRONG)
    return positive, has_digits, num, denom, text[suffix_start:]


def _suffix(suffix: str) -> tuple[int, int]:
    """``suffixer.interpret``: (base, exponent); a decimal exponent wraps to int32 as Go's ``int32(parsed)``."""
    if suffix in _DECIMAL_SUFFIXES:
        return 10, _DECIMAL_SUFFIXES[suffix]
    if suffix in _BINARY_SUFFIXES:
        return 2, _BINARY_SUFFIXES[suffix]
    body = suffix[1:] if len(suffix) > 1 and suffix[0] in "eE" else ""
    digits = body[1:] if body[:1] in ("+", "-") else body
    if not digits or not set(digits) <= _DIGIT or len(digits.lstrip("0")) > 19:
        raise QuantityError(SUFFIX)
    parsed = int(body[: len(body) - len(digits)] + (digits.lstrip("0") or "0"))  # strconv.ParseInt(body, 10, 64)
    if not -(1 << 63) <= parsed <= _INT64_MAX:
        raise QuantityError(SUFFIX)
    return 10, (parsed + (1 << 31)) % (1 << 32) - (1 << 31)


def parse_quantity(text: str) -> Decimal:
    """The exact value of ``text`` as ``resource.ParseQuantity`` reads it.

    Args:
        text: a quantity such as ``"1.5Gi"``, ``"500m"``, ``"1e3"``.

    Raises:
        QuantityError: Kubernetes' message (``quantities must match the
            regular expression ...``, ``unable to parse quantity's suffix``,
            ``unable to parse numeric part of quantity``), or more than
            :data:`DIGITS` significant digits.
    """
    if not text:
        raise QuantityError(FORMAT_WRONG)
    positive, has_digits, num, denom, suffix = _split(text)
    base, exponent = _suffix(suffix)
    # ParseQuantity's int64 fast path; outside it, inf.Dec.SetString needs a digit.
    if base == 2:
        precision = 15 - len(num) - exponent * 3 // 10 - 1 if not denom else -1
        fast = precision >= 0 and int(num) << exponent <= _INT64_MAX
    else:
        fast = 18 - len(num) - len(denom) >= 0 and exponent - len(denom) >= -9
    if not fast and not has_digits:
        raise QuantityError(NUMERIC)
    sign = "" if positive else "-"
    try:
        if base == 10:
            value = Decimal(f"{sign}{num}{denom}E{exponent - len(denom)}")
        else:
            value = _EXACT.multiply(Decimal(f"{sign}{num}{denom}E{-len(denom)}"), Decimal(1 << exponent))
        if not value.is_zero() and _exponent(value) < -9:
            value = value.quantize(_NANO, context=_ROUNDING)  # inf.RoundUp on the magnitude
        value = value.normalize(_EXACT)
    except (Inexact, InvalidOperation):
        raise QuantityError(f"quantity {text[:40]!r} has more than {DIGITS} significant digits") from None
    if base == 2 and value.copy_abs() > _INT64_MAX:
        value = Decimal(_INT64_MAX).copy_sign(value)  # maxAllowed
    return value


def _exponent(value: Decimal) -> int:
    exponent = value.as_tuple().exponent  # a str only for NaN and infinities, which never get here
    return exponent if isinstance(exponent, int) else 0


def _text(value: Decimal) -> str:
    """The canonical text of a value: one text per number (normalised; fixed
    point unless the exponent is past 30)."""
    if value.is_zero():
        return "0"
    try:
        normal = value.normalize(_EXACT)
    except (Inexact, InvalidOperation):
        raise ValueError(f"quantity arithmetic needs more than {DIGITS} significant digits") from None
    return format(normal, "f") if _exponent(normal) <= 30 else str(normal)


def quantity_carrier(value: Decimal) -> Any:
    """A ``kubernetes.Quantity`` carrier holding ``value``."""
    return carriers.carrier(QUANTITY, _text(value))


def decimal_of(message: Any) -> Decimal:
    """The value a ``kubernetes.Quantity`` carrier holds.

    Raises:
        TypeError: ``message`` is not a quantity carrier (a mismatched ``dyn`` argument).
        ValueError: a hand-built carrier whose text is not a number.
    """
    if not carriers.is_carrier(message, QUANTITY):
        raise TypeError(f"expected {QUANTITY}, got {type(message).__name__}")
    try:
        value = Decimal(carriers.canonical(message))
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite():
        raise ValueError(f"not a quantity: {carriers.canonical(message)!r}")
    return value


def _int(value: Decimal) -> int | None:
    if value != value.to_integral_value() or not -(1 << 63) <= value <= _INT64_MAX:
        return None
    return int(value)


def _arith(left: Any, right: Any, sign: int) -> Any:
    other = Decimal(right) if type(right) is int else decimal_of(right)
    try:
        return quantity_carrier(_EXACT.add(decimal_of(left), other if sign > 0 else other.copy_negate()))
    except (Inexact, InvalidOperation):
        raise ValueError(f"quantity arithmetic needs more than {DIGITS} significant digits") from None


def compare(left: Any, right: Any) -> int:
    """``Quantity.Cmp``: -1, 0 or 1."""
    a, b = decimal_of(left), decimal_of(right)
    return (a > b) - (a < b)


def _as_integer(message: Any) -> int:
    value = _int(decimal_of(message))
    if value is None:
        raise ValueError("cannot convert value to integer")
    return value


def _is_quantity(text: str) -> bool:
    try:
        parse_quantity(text)
    except QuantityError:
        return False
    return True


def _sign(message: Any) -> int:
    value = decimal_of(message)
    return 0 if value.is_zero() else (1 if value > 0 else -1)


def _member(overload: str, result: Any, params: tuple[Any, ...], impl: Callable[..., Any]) -> Overload:
    return Overload(overload, result, (QUANTITY, *params), impl, True)


def _compared(name: str, overload: str, result: Any, test: Callable[[int], Any]) -> Function:
    return Function(name, (_member(overload, result, (QUANTITY,), lambda a, b: test(compare(a, b))),))


_T = cel.Type
LIBRARY = Library(
    "kubernetes.quantity",
    (
        Function(
            "quantity",
            (Overload("string_to_quantity", QUANTITY, (_T.STRING,), lambda s: quantity_carrier(parse_quantity(s))),),
        ),
        Function("isQuantity", (Overload("is_quantity_string", _T.BOOL, (_T.STRING,), _is_quantity),)),
        Function("sign", (Overload("quantity_sign", _T.INT, (QUANTITY,), _sign),)),
        _compared("isGreaterThan", "quantity_is_greater_than", _T.BOOL, lambda c: c == 1),
        _compared("isLessThan", "quantity_is_less_than", _T.BOOL, lambda c: c == -1),
        _compared("compareTo", "quantity_compare_to", _T.INT, lambda c: c),
        Function("asApproximateFloat", (_member("quantity_get_float", _T.DOUBLE, (), lambda m: float(decimal_of(m))),)),
        Function("asInteger", (_member("quantity_get_int", _T.INT, (), _as_integer),)),
        Function(
            "isInteger", (_member("quantity_is_integer", _T.BOOL, (), lambda m: _int(decimal_of(m)) is not None),)
        ),
        Function(
            "add",
            (
                _member("quantity_add", QUANTITY, (QUANTITY,), lambda a, b: _arith(a, b, 1)),
                _member("quantity_add_int", QUANTITY, (_T.INT,), lambda a, b: _arith(a, b, 1)),
            ),
        ),
        Function(
            "sub",
            (
                _member("quantity_sub", QUANTITY, (QUANTITY,), lambda a, b: _arith(a, b, -1)),
                _member("quantity_sub_int", QUANTITY, (_T.INT,), lambda a, b: _arith(a, b, -1)),
            ),
        ),
    ),
)
"""The library (Kubernetes' overload ids; :mod:`kubegate.cel.overloads`)."""
