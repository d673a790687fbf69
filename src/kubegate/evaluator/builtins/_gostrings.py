"""Go library behaviour the string and unit builtins rely on.

* ``strings.ToLower``/``ToUpper``: per code point *simple* case mapping
  (``upper("ß")`` is ``"ß"``; no final-sigma rule in ``lower``), as
  https://github.com/golang/go/blob/master/src/strings/strings.go maps runes with
  ``unicode.ToLower``/``unicode.ToUpper``;
* ``strings.TrimSpace``'s white space (``unicode.IsSpace``);
* ``strings.NewReplacer`` (https://github.com/golang/go/blob/master/src/strings/replace.go):
  at each position the first matching pair wins; an empty old string inserts
  between every *byte*, so it splits multi-byte characters as Go does;
* ``strconv.ParseFloat`` syntax and range errors (https://github.com/golang/go/blob/master/src/strconv/atof.go);
* ``big.Float.SetString`` at the default 64-bit precision and ``big.Float``
  rounding (https://github.com/golang/go/blob/master/src/math/big/floatconv.go).
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from fractions import Fraction
from typing import TypeVar

from kubegate.evaluator.builtins._gofmt import MAX_OUTPUT, go_bytes, go_quote

__all__ = [
    "GO_SPACE",
    "BigFloat",
    "GoParseError",
    "OutputTooLarge",
    "go_lower",
    "go_replace",
    "go_upper",
    "parse_big_float",
    "parse_float",
]

#: ``unicode.IsSpace``: Latin-1 spaces and the White_Space property.
GO_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)


class OutputTooLarge(Exception):
    """A result would exceed :data:`~kubegate.evaluator.builtins._gofmt.MAX_OUTPUT`."""


class GoParseError(Exception):
    """A ``strconv`` error, with Go's message."""


# ------------------------------------------------------------------ case mapping


def _upper_char(c: str) -> str:
    u = c.upper()
    if len(u) == 1:
        return u
    t = c.title()  # the simple upper mapping of e.g. U+1FB3 is its title case
    return t if len(t) == 1 else c


def go_upper(s: str) -> str:
    """``strings.ToUpper``."""
    up = s.upper()
    if len(up) == len(s):
        return up
    return "".join(map(_upper_char, s))


def go_lower(s: str) -> str:
    """``strings.ToLower`` (no final-sigma rule, ``İ`` becomes ``i``)."""
    if s.isascii() or ("\u0130" not in s and "\u03a3" not in s):
        return s.lower()
    return "".join("i" if c == "\u0130" else c.lower() for c in s)


# ------------------------------------------------------------------ strings.Replacer


def go_replace(s: str, pairs: list[tuple[str, str]]) -> str:
    """``strings.NewReplacer(old1, new1, ...).Replace(s)``: earlier pairs win.

    Raises:
        OutputTooLarge: the result would be too long.
    """
    seen: dict[str, str] = {}
    for old, new in pairs:
        seen.setdefault(old, new)
    if not seen:
        return s
    if len(seen) == 1 and "" not in seen:
        ((old, new),) = seen.items()
        n = s.count(old)
        if len(s) + n * (len(new) - len(old)) > MAX_OUTPUT:
            raise OutputTooLarge
        return s.replace(old, new)
    if "" in seen and not s.isascii():
        table = {go_bytes(k): go_bytes(v) for k, v in seen.items()}
        bpattern = re.compile(b"|".join(re.escape(k) for k in table))
        size = [len(s)]

        def brepl(m: re.Match[bytes]) -> bytes:
            return _grow(size, table[m.group()], m)

        return bpattern.sub(brepl, go_bytes(s)).decode("utf-8", "replace")
    pattern = re.compile("|".join(re.escape(k) for k in seen))
    size = [len(s)]

    def repl(m: re.Match[str]) -> str:
        return _grow(size, seen[m.group()], m)

    return pattern.sub(repl, s)


_T = TypeVar("_T", str, bytes)


def _grow(size: list[int], new: _T, m: re.Match[_T]) -> _T:
    size[0] += len(new) - (m.end() - m.start())
    if size[0] > MAX_OUTPUT:
        raise OutputTooLarge
    return new


# ------------------------------------------------------------------ strconv.ParseFloat

_DEC = re.compile(r"[+-]?([0-9_]*)(?:\.([0-9_]*))?(?:[eE][+-]?[0-9][0-9_]*)?\Z")
_HEX = re.compile(r"[+-]?0[xX]([0-9a-fA-F_]*)(?:\.([0-9a-fA-F_]*))?[pP][+-]?[0-9][0-9_]*\Z")
_INTLIKE = re.compile(r"[+-]?[0-9]+\Z")


def _underscore_ok(s: str) -> bool:
    saw = "^"
    i = 0
    if s[:1] in ("+", "-"):
        s = s[1:]
    hexa = False
    if len(s) >= 2 and s[0] == "0" and s[1] in "bBoOxX":
        i, saw, hexa = 2, "0", s[1] in "xX"
    while i < len(s):
        c = s[i]
        if "0" <= c <= "9" or (hexa and c in "abcdefABCDEF"):
            saw = "0"
        elif c == "_":
            if saw != "0":
                return False
            saw = "_"
        elif saw == "_":
            return False
        else:
            saw = "!"
        i += 1
    return saw != "_"


def parse_float(s: str) -> int | float:
    """``strconv.ParseFloat(s, 64)`` as a Rego number: an ``int`` for an integer
    literal, else the float. ``inf``, ``nan`` and the like are left to the caller.

    Raises:
        GoParseError: ``strconv.ParseFloat: parsing "x": invalid syntax`` or
            ``... value out of range``.
    """
    m = _DEC.match(s)
    hexa = False
    if m is None or not re.search("[0-9]", (m.group(1) or "") + (m.group(2) or "")):
        m = _HEX.match(s)
        hexa = True
        if m is None or not re.search("[0-9a-fA-F]", (m.group(1) or "") + (m.group(2) or "")):
            raise GoParseError(f"strconv.ParseFloat: parsing {go_quote(s)}: invalid syntax")
    if "_" in s and not _underscore_ok(s):
        raise GoParseError(f"strconv.ParseFloat: parsing {go_quote(s)}: invalid syntax")
    clean = s.replace("_", "")
    try:
        f = float.fromhex(clean) if hexa else float(clean)
    except OverflowError:
        f = math.inf
    if math.isinf(f):
        raise GoParseError(f"strconv.ParseFloat: parsing {go_quote(s)}: value out of range")
    if not hexa and _INTLIKE.match(clean):
        return int(clean)
    return f


# ------------------------------------------------------------------ big.Float


class BigFloat:
    """A finite binary float ``(-1)**neg * mant * 2**exp`` (``mant`` >= 0)."""

    __slots__ = ("exp", "mant", "neg")

    def __init__(self, neg: bool, mant: int, exp: int) -> None:
        self.neg, self.mant, self.exp = neg, mant, exp

    def rounded(self, prec: int) -> BigFloat:
        """Rounded to ``prec`` bits, to nearest even (``big.ToNearestEven``)."""
        mant, exp = self.mant, self.exp
        n = mant.bit_length()
        if n <= prec:
            return self
        shift = n - prec
        q = mant >> shift
        rem = mant & ((1 << shift) - 1)
        half = 1 << (shift - 1)
        if rem > half or (rem == half and q & 1):
            q += 1
            if q.bit_length() > prec:
                q >>= 1
                shift += 1
        return BigFloat(self.neg, q, exp + shift)

    def mul(self, other: BigFloat, prec: int) -> BigFloat:
        """``z.Mul(x, y)`` with ``z`` of precision ``prec``."""
        return BigFloat(self.neg != other.neg, self.mant * other.mant, self.exp + other.exp).rounded(prec)

    def quo(self, other: BigFloat, prec: int) -> BigFloat:
        """``z.Quo(x, y)``, correctly rounded to ``prec`` bits (``other`` non-zero)."""
        if self.mant == 0:
            return BigFloat(self.neg != other.neg, 0, 0)
        s = max(0, prec + 2 + other.mant.bit_length() - self.mant.bit_length())
        q, r = divmod(self.mant << s, other.mant)
        return BigFloat(self.neg != other.neg, (q << 1) | (1 if r else 0), self.exp - other.exp - s - 1).rounded(prec)

    def trunc(self) -> int:
        """``z.Int(nil)``: the integer part, truncated toward zero."""
        v = self.mant << self.exp if self.exp >= 0 else self.mant >> -self.exp
        return -v if self.neg else v

    def fraction(self) -> Fraction:
        """The exact value."""
        v = Fraction(self.mant) * (Fraction(2) ** self.exp)
        return -v if self.neg else v


_FLOAT_TEXT = re.compile(r"([+-]?)([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]+))?\Z")


def _pow5(n: int) -> BigFloat:
    """``(*big.Float).pow5`` on a 128-bit float, as ``Float.scan`` calls it."""
    if n <= 27:
        return BigFloat(False, 5**n, 0)
    z = BigFloat(False, 5**27, 0)
    n -= 27
    f = BigFloat(False, 5, 0)
    while n > 0:
        if n & 1:
            z = z.mul(f, 128)
        f = f.mul(f, 192)
        n >>= 1
    return z


def decimal_parts(text: str) -> tuple[bool, int, int] | None:
    """The sign, integer mantissa and power of ten of a decimal literal
    (``[+-]digits[.digits][e[+-]digits]``, at least one digit), or ``None``."""
    m = _FLOAT_TEXT.match(text)
    if m is None:
        return None
    sign, ipart, fpart, exp = m.group(1), m.group(2), m.group(3) or "", m.group(4)
    digits = ipart + fpart
    if not digits:
        return None
    mant = int(Decimal(digits)) if len(digits) > 4000 else int(digits)
    return sign == "-", mant, (int(exp) if exp else 0) - len(fpart)


def parse_big_float(text: str) -> BigFloat | None:
    """``new(big.Float).SetString(text)`` (64-bit precision) for a decimal
    literal, or ``None`` when Go would refuse it."""
    parts = decimal_parts(text)
    if parts is None:
        return None
    neg, mant, d = parts
    if mant == 0:
        return BigFloat(neg, 0, 0)
    z = BigFloat(neg, mant, d)  # mant * 10**d == mant * 2**d * 5**d
    if d == 0:
        return z.rounded(64)
    if d < 0:
        return z.quo(_pow5(-d), 64)
    return z.mul(_pow5(d), 64)
