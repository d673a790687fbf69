"""Go's ``strconv`` as the encoding builtins need it: ``strconv.Quote`` and the float
formats ``'e'``, ``'f'``, ``'g'`` with the shortest round-trip digits, and the float64
rule of ``encoding/json`` (https://github.com/golang/go/blob/master/src/strconv/ftoa.go,
https://github.com/golang/go/blob/master/src/encoding/json/encode.go).
"""

from __future__ import annotations

import math
import re
import struct
from decimal import Decimal

__all__ = ["format_float_e", "format_float_g", "format_float_json", "go_quote"]


def go_quote(text: str) -> str:
    """``strconv.Quote``: a double-quoted Go string literal."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch.isprintable() and not 0xD800 <= code <= 0xDFFF:
            out.append(ch)
        elif ch in "\a\b\f\n\r\t\v":
            out.append({"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}[ch])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif 0xD800 <= code <= 0xDFFF:
            out.append("\\ufffd")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def _shortest(value: float) -> tuple[str, int]:
    """The shortest round-trip decimal digits of ``abs(value)`` and the position of
    the decimal point (``0.d1d2...`` times ``10**point``), as Go's ``strconv`` finds them."""
    if value == 0:
        return "0", 1
    _, digits, exponent = Decimal(repr(abs(value))).as_tuple()
    text = "".join(map(str, digits)).rstrip("0") or "0"
    trailing = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    point = len(text) + int(exponent) + trailing
    return text, point


def _shortest32(value: float) -> tuple[str, int]:
    """Shortest digits that round-trip through float32 (``FormatFloat(f, 'g', -1, 32)``)."""
    if value == 0:
        return "0", 1
    target = struct.unpack("f", struct.pack("f", value))[0]
    for precision in range(1, 10):
        candidate = float(f"{abs(target):.{precision - 1}e}")
        if struct.unpack("f", struct.pack("f", candidate))[0] == abs(target):
            return _shortest(candidate)
    return _shortest(abs(target))


def _fmt_e(neg: bool, digits: str, point: int) -> str:
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    exp = point - 1 if digits != "0" else 0
    sign = "-" if exp < 0 else "+"
    return ("-" if neg else "") + f"{mantissa}e{sign}{abs(exp):02d}"


def _fmt_f(neg: bool, digits: str, point: int) -> str:
    if point <= 0:
        text = "0." + "0" * (-point) + digits
    elif point >= len(digits):
        text = digits + "0" * (point - len(digits))
    else:
        text = digits[:point] + "." + digits[point:]
    return ("-" if neg else "") + text


def format_float_e(value: float) -> str:
    """``strconv.FormatFloat(f, 'e', -1, 64)``."""
    digits, point = _shortest(value)
    return _fmt_e(math.copysign(1.0, value) < 0, digits, point)


def format_float_g(value: float, bits: int = 64) -> str:
    """``strconv.FormatFloat(f, 'g', -1, bits)`` (``+Inf``, ``-Inf``, ``NaN`` for non-finite values)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    digits, point = _shortest32(value) if bits == 32 else _shortest(value)
    neg = math.copysign(1.0, value) < 0
    exp = point - 1
    # Go's shortest %g switches to %e below 1e-4 and from 1e6 ("eprec = 6").
    if exp < -4 or exp >= 6:
        return _fmt_e(neg, digits, point)
    return _fmt_f(neg, digits, point)


def format_float_json(value: float) -> str:
    """How ``encoding/json`` writes a float64: ``'f'`` unless the magnitude is below 1e-6
    or at least 1e21, then ``'e'`` with a one-digit negative exponent kept short (``1e-7``)."""
    if not math.isfinite(value):
        raise ValueError(f"json: unsupported value: {format_float_g(value)}")
    digits, point = _shortest(value)
    neg = math.copysign(1.0, value) < 0
    magnitude = abs(value)
    if magnitude != 0 and (magnitude < 1e-6 or magnitude >= 1e21):
        text = _fmt_e(neg, digits, point)
        match = re.search(r"e-0(\d)$", text)
        if match:
            text = text[: match.start()] + "e-" + match.group(1)
        return text
    return _fmt_f(neg, digits, point)
