"""``units.parse`` and ``units.parse_bytes``: Kubernetes-style quantities.

Follows https://github.com/open-policy-agent/opa/blob/main/v1/topdown/parse_units.go
and https://github.com/open-policy-agent/opa/blob/main/v1/topdown/parse_bytes.go.

``units.parse`` computes exactly (Go's ``big.Rat``): SI suffixes ``m k M G T P E``
(``m`` is the float64 nearest 0.001, as OPA's ``SetFloat64(0.001)``) and binary
ones ``Ki Mi Gi Ti Pi Ei``, case-insensitive after the first letter. An integral
result is an ``int``; any other is rounded to 10 decimals (``FloatString(10)``)
and given as the nearest ``float``.

``units.parse_bytes`` lowercases the string, accepts ``kb``/``k``, ``kib``/``ki``
... ``eib``/``ei`` and computes as OPA's ``big.Float`` (64-bit mantissa,
:class:`~._gostrings.BigFloat`) before truncating to an integer.

Both remove double quotes, refuse spaces and exponents of more than six digits.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from kubegate.evaluator.builtins._gostrings import BigFloat, decimal_parts, go_lower, parse_big_float
from kubegate.evaluator.builtins.registry import BuiltinError, arg_string, implements

__all__ = ["parse", "parse_bytes"]

_MAX_EXPONENT_DIGITS = 6

_KI, _MI, _GI, _TI, _PI, _EI = (1 << (10 * n) for n in range(1, 7))

_UNITS: dict[str, int | Fraction] = {
    "": 1,
    "m": Fraction(0.001),
    "k": 10**3,
    "K": 10**3,
    "ki": _KI,
    "Ki": _KI,
    "M": 10**6,
    "mi": _MI,
    "Mi": _MI,
    "g": 10**9,
    "G": 10**9,
    "gi": _GI,
    "Gi": _GI,
    "t": 10**12,
    "T": 10**12,
    "ti": _TI,
    "Ti": _TI,
    "p": 10**15,
    "P": 10**15,
    "pi": _PI,
    "Pi": _PI,
    "e": 10**18,
    "E": 10**18,
    "ei": _EI,
    "Ei": _EI,
}

_BYTE_UNITS: dict[str, int] = {"": 1}
for _i, _p in enumerate("kmgtpe", start=1):
    _BYTE_UNITS[_p] = _BYTE_UNITS[_p + "b"] = 1000**_i
    _BYTE_UNITS[_p + "i"] = _BYTE_UNITS[_p + "ib"] = 1 << (10 * _i)


class _ExponentTooLarge(Exception):
    pass


def _digit(c: str) -> bool:
    return "0" <= c <= "9"


def _num_and_unit(s: str) -> tuple[str, str]:
    """OPA's ``extractNumAndUnit``: the leading number (digits, ``.``, signs and a
    well-formed exponent) and the rest."""
    n = len(s)
    idx = 0
    while idx < n:
        c = s[idx]
        if not (_digit(c) or c == ".") and c not in "eE+-":
            return (s[:idx], s[idx:]) if idx else ("", s)
        if c in "eE":
            nxt = s[idx + 1] if idx + 1 < n else ""
            if not nxt or not (_digit(nxt) or nxt in "+-"):
                return (s[:idx], s[idx:]) if idx else ("", s)
            if nxt in "+-":
                idx += 1
            end = idx + 1
            while end < n and _digit(s[end]):
                end += 1
            if end - (idx + 1) > _MAX_EXPONENT_DIGITS:
                raise _ExponentTooLarge
        idx += 1
    return s, ""


def _split(name: str, s: str, no_amount: str) -> tuple[str, str]:
    if " " in s:
        raise BuiltinError(f"{name}: spaces not allowed in resource strings")
    try:
        num, unit = _num_and_unit(s)
    except _ExponentTooLarge:
        raise BuiltinError(f"{name}: exponent too large") from None
    if not num:
        raise BuiltinError(f"{name}: {no_amount}")
    return num, unit


def _rat(text: str) -> Fraction | None:
    """``new(big.Rat).SetString(text)`` for a decimal literal, or ``None``."""
    parts = decimal_parts(text)
    if parts is None:
        return None
    neg, mant, d = parts
    if mant == 0:
        return Fraction(0)
    if abs(d) > 1_000_000:
        return None  # Go refuses such exponents
    q = Fraction(mant * 10**d) if d >= 0 else Fraction(mant, 10**-d)
    return -q if neg else q


def _float_string(q: Fraction, prec: int = 10) -> int | float:
    """``Rat.FloatString(prec)`` (halves away from zero) as a Rego number."""
    scale = 10**prec
    mag = abs(q) * scale
    whole, rest = divmod(mag.numerator, mag.denominator)
    if 2 * rest >= mag.denominator:
        whole += 1
    r = Fraction(-whole if q < 0 else whole, scale)
    try:
        return float(r)
    except OverflowError:
        return round(r)


@implements("units.parse")
def parse(value: Any) -> int | float:
    """The amount of a quantity such as ``"100m"``, ``"1.5Gi"`` or ``"2e3k"``."""
    s = arg_string(value, 1).replace('"', "")
    num, unit = _split("units.parse", s, "no amount provided")
    if len(unit) > 1:
        unit = unit[0] + go_lower(unit[1:])
    factor = _UNITS.get(unit)
    if factor is None:
        raise BuiltinError(f"units.parse: unit {unit} not recognized")
    try:
        q = _rat(num)
        if q is None:
            raise BuiltinError("units.parse: could not parse amount to a number")
        q *= factor
    except MemoryError:
        raise BuiltinError("units.parse: out of memory") from None
    if q.denominator == 1:
        return q.numerator
    return _float_string(q)


@implements("units.parse_bytes")
def parse_bytes(value: Any) -> int:
    """The number of bytes of a size such as ``"10KB"``, ``"1.5GiB"`` or ``"100m"`` (megabytes)."""
    s = go_lower(arg_string(value, 1)).replace('"', "")
    num, unit = _split("units.parse_bytes", s, "no byte amount provided")
    factor = _BYTE_UNITS.get(unit)
    if factor is None:
        raise BuiltinError(f"units.parse_bytes: byte unit {unit} not recognized")
    try:
        amount = parse_big_float(num)
        if amount is None:
            raise BuiltinError("units.parse_bytes: could not parse byte amount to a number")
        return amount.mul(BigFloat(False, factor, 0), 64).trunc()
    except MemoryError:
        raise BuiltinError("units.parse_bytes: out of memory") from None
