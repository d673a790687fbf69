"""Go's ``strconv`` text: quoting and float formatting, as ``fmt`` uses them.

Ports https://github.com/golang/go/blob/master/src/strconv/quote.go
(``Quote``, ``QuoteToASCII``, ``QuoteRune``, ``CanBackquote``, ``IsPrint``) and
https://github.com/golang/go/blob/master/src/strconv/ftoa.go (``FormatFloat`` with
``'e' 'E' 'f' 'g' 'G' 'b' 'x' 'X'``, shortest or fixed precision, for 64-bit
floats). Digits come from Python's correctly rounded conversions, which agree
with Go's (shortest round-tripping digits, ties to even on exact values).
"""

from __future__ import annotations

import math
import re
import struct
import unicodedata
from decimal import Decimal

__all__ = ["can_backquote", "format_float", "go_bytes", "go_is_print", "go_quote", "int_text", "quote_rune"]

_M64 = (1 << 64) - 1
_MAX_RUNE = 0x10FFFF
_LDIGITS = "0123456789abcdefx"
_UDIGITS = "0123456789ABCDEFX"


def int_text(n: int) -> str:
    """The decimal text of an integer of any size (Python's ``str`` refuses huge ones)."""
    if n.bit_length() < 13000:
        return str(n)
    return str(Decimal(n))


def go_bytes(text: str) -> bytes:
    """The UTF-8 bytes Go holds for ``text`` (a lone surrogate, which Go's JSON
    decoder turns into U+FFFD, becomes U+FFFD)."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return re.sub("[\ud800-\udfff]", "\ufffd", text).encode("utf-8")


def go_is_print(cp: int) -> bool:
    """``strconv.IsPrint``: letters, marks, numbers, punctuation, symbols and the ASCII space."""
    if cp < 0x80:
        return 0x20 <= cp < 0x7F
    if 0xD800 <= cp <= 0xDFFF or cp > _MAX_RUNE:
        return False
    return unicodedata.category(chr(cp))[0] in "LMNPS"


_ESCAPES = {7: "\\a", 8: "\\b", 12: "\\f", 10: "\\n", 13: "\\r", 9: "\\t", 11: "\\v"}
_PLAIN = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*\Z")


def _escape_rune(cp: int) -> str:
    esc = _ESCAPES.get(cp)
    if esc is not None:
        return esc
    if cp < 0x20 or cp == 0x7F:
        return f"\\x{cp:02x}"
    if cp < 0x10000:
        return f"\\u{cp:04x}"
    return f"\\U{cp:08x}"


def _quote_with(text: str, quote: str, ascii_only: bool) -> str:
    out = [quote]
    for ch in text:
        cp = ord(ch)
        if 0xD800 <= cp <= 0xDFFF:
            ch, cp = "\ufffd", 0xFFFD
        if ch == quote or ch == "\\":
            out.append("\\" + ch)
        elif (cp < 0x80 or not ascii_only) and go_is_print(cp):
            out.append(ch)
        else:
            out.append(_escape_rune(cp))
    out.append(quote)
    return "".join(out)


def go_quote(text: str, ascii_only: bool = False) -> str:
    """``strconv.Quote`` (``QuoteToASCII`` with ``ascii_only``)."""
    if _PLAIN.match(text):
        return '"' + text + '"'
    return _quote_with(text, '"', ascii_only)


def quote_rune(cp: int, ascii_only: bool) -> str:
    """``strconv.QuoteRune`` (``QuoteRuneToASCII`` with ``ascii_only``)."""
    if cp > _MAX_RUNE or 0xD800 <= cp <= 0xDFFF:
        cp = 0xFFFD
    return _quote_with(chr(cp), "'", ascii_only)


def can_backquote(text: str) -> bool:
    """``strconv.CanBackquote``."""
    for ch in text:
        cp = ord(ch)
        if cp == 0xFEFF:
            return False
        if cp < 0x80 and ((cp < 0x20 and cp != 9) or ch == "`" or cp == 0x7F):
            return False
    return True


# ------------------------------------------------------------------ strconv floats


def _float_bits(v: float) -> tuple[int, int]:
    """The mantissa (implicit bit included) and unbiased exponent of ``v``, as ftoa.go."""
    bits = struct.unpack(">Q", struct.pack(">d", v))[0]
    exp = (bits >> 52) & 0x7FF
    mant = bits & ((1 << 52) - 1)
    if exp == 0:
        exp += 1
    else:
        mant |= 1 << 52
    return mant, exp - 1023


def _shortest_digits(a: float) -> tuple[str, int]:
    """The shortest digits of ``a >= 0`` and the decimal point position (0.ddd x 10**dp)."""
    if a == 0:
        return "", 0
    mant, _, exp = repr(a).partition("e")
    ipart, _, frac = mant.partition(".")
    digits = ipart + frac
    dp = len(ipart) + (int(exp) if exp else 0)
    stripped = digits.lstrip("0")
    dp -= len(digits) - len(stripped)
    return stripped.rstrip("0"), dp


def _fixed_digits(a: float, n: int) -> tuple[str, int]:
    """``a >= 0`` correctly rounded to ``n >= 1`` significant digits (trailing zeros trimmed)."""
    if a == 0:
        return "", 0
    mant, _, exp = format(a, f".{n - 1}e").partition("e")
    return mant.replace(".", "").rstrip("0"), int(exp) + 1


def _fmt_e(neg: bool, digits: str, dp: int, prec: int, fmt: str) -> str:
    out = ["-" if neg else "", digits[0] if digits else "0"]
    if prec > 0:
        frac = digits[1 : prec + 1]
        out.append("." + frac + "0" * (prec - len(frac)))
    exp = dp - 1 if digits else 0
    sign = "-" if exp < 0 else "+"
    out.append(f"{fmt}{sign}{abs(exp):02d}")
    return "".join(out)


def _fmt_f(neg: bool, digits: str, dp: int, prec: int) -> str:
    out = ["-" if neg else ""]
    if dp > 0:
        ipart = digits[:dp]
        out.append(ipart + "0" * (dp - len(ipart)))
    else:
        out.append("0")
    if prec > 0:
        frac = [digits[dp + i] if 0 <= dp + i < len(digits) else "0" for i in range(prec)]
        out.append("." + "".join(frac))
    return "".join(out)


def _fmt_b(neg: bool, v: float) -> str:
    mant, exp = _float_bits(v)
    e = exp - 52
    return f"{'-' if neg else ''}{mant}p{'+' if e >= 0 else ''}{e}"


def _fmt_x(neg: bool, v: float, prec: int, fmt: str) -> str:
    mant, exp = _float_bits(v)
    if mant == 0:
        exp = 0
    mant <<= 60 - 52
    while mant != 0 and mant & (1 << 60) == 0:
        mant <<= 1
        exp -= 1
    if 0 <= prec < 15:
        shift = prec * 4
        extra = (mant << shift) & ((1 << 60) - 1)
        mant >>= 60 - shift
        if extra | (mant & 1) > 1 << 59:
            mant += 1
        mant <<= 60 - shift
        if mant & (1 << 61):
            mant >>= 1
            exp += 1
    digits = _UDIGITS if fmt == "X" else _LDIGITS
    out = ["-" if neg else "", "0", fmt, str((mant >> 60) & 1)]
    mant = (mant << 4) & _M64
    if prec < 0 and mant != 0:
        out.append(".")
        while mant != 0:
            out.append(digits[(mant >> 60) & 15])
            mant = (mant << 4) & _M64
    elif prec > 0:
        out.append(".")
        for _ in range(prec):
            out.append(digits[(mant >> 60) & 15])
            mant = (mant << 4) & _M64
    out.append("P" if fmt == "X" else "p")
    out.append("-" if exp < 0 else "+")
    out.append(f"{abs(exp):02d}")
    return "".join(out)


def format_float(v: float, fmt: str, prec: int) -> str:
    """``strconv.FormatFloat(v, fmt, prec, 64)`` for ``fmt`` in ``eEfgGbxX``."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    neg = math.copysign(1.0, v) < 0
    a = abs(v)
    if fmt == "b":
        return _fmt_b(neg, a)
    if fmt in "xX":
        return _fmt_x(neg, a, prec, fmt)
    shortest = prec < 0
    if fmt == "f":
        if not shortest:
            return ("-" if neg else "") + format(a, f".{prec}f")
        digits, dp = _shortest_digits(a)
        return _fmt_f(neg, digits, dp, max(len(digits) - dp, 0))
    if fmt in "eE":
        if shortest:
            digits, dp = _shortest_digits(a)
            prec = max(len(digits) - 1, 0)
        else:
            digits, dp = _fixed_digits(a, prec + 1)
        return _fmt_e(neg, digits, dp, prec, fmt)
    # 'g', 'G'
    if shortest:
        digits, dp = _shortest_digits(a)
        prec = len(digits)
    else:
        if prec == 0:
            prec = 1
        digits, dp = _fixed_digits(a, prec)
    nd = len(digits)
    eprec = prec
    if eprec > nd and nd >= dp:
        eprec = nd
    if shortest:
        eprec = 6
    exp = dp - 1
    if exp < -4 or exp >= eprec:
        prec = min(prec, nd)
        return _fmt_e(neg, digits, dp, prec - 1, "e" if fmt == "g" else "E")
    if prec > dp:
        prec = nd
    return _fmt_f(neg, digits, dp, max(prec - dp, 0))
