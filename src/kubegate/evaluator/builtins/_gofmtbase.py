"""The formatting half of Go's ``fmt`` (``format.go``): flags, padding and the
text of one integer, string, character or float operand, plus
``(*big.Int).Format``.

Ports https://github.com/golang/go/blob/master/src/fmt/format.go and
https://github.com/golang/go/blob/master/src/math/big/intconv.go; the printer
that drives it is :mod:`._gofmt`.
"""

from __future__ import annotations

from kubegate.evaluator.builtins._gostrconv import (
    can_backquote,
    format_float,
    go_bytes,
    go_is_print,
    go_quote,
    int_text,
    quote_rune,
)

__all__ = ["MAX_OUTPUT", "FormatTooLarge", "GoFormatter"]

_MAX_RUNE = 0x10FFFF
_M64 = (1 << 64) - 1
LDIGITS = "0123456789abcdefx"
UDIGITS = "0123456789ABCDEFX"

#: The longest result (in code points) built here. Go has no limit; this keeps a
#: hostile format such as ``%9999999d`` repeated from exhausting memory.
MAX_OUTPUT = 1 << 24


class FormatTooLarge(Exception):
    """The formatted text would exceed :data:`MAX_OUTPUT`."""


class GoFormatter:
    """Go's ``fmt`` state: an output buffer and the flags of the verb at hand."""

    def __init__(self) -> None:
        self.buf: list[str] = []
        self.size = 0
        self.clearflags()

    def clearflags(self) -> None:
        """Resets flags, width and precision."""
        self.wid = self.prec = 0
        self.wid_present = self.prec_present = False
        self.minus = self.plus = self.sharp = self.space = self.zero = False
        self.plus_v = self.sharp_v = False

    def write(self, s: str) -> None:
        """Appends ``s``.

        Raises:
            FormatTooLarge: the output would exceed :data:`MAX_OUTPUT`.
        """
        self.size += len(s)
        if self.size > MAX_OUTPUT:
            raise FormatTooLarge
        self.buf.append(s)

    def write_padding(self, n: int) -> None:
        """``n`` padding characters (zeros with the ``0`` flag, to the left only)."""
        if n > 0:
            self.write(("0" if self.zero and not self.minus else " ") * n)

    def pad(self, s: str) -> None:
        """``s`` padded to the width."""
        if not self.wid_present or self.wid == 0:
            self.write(s)
            return
        width = self.wid - len(s)
        if not self.minus:
            self.write_padding(width)
            self.write(s)
        else:
            self.write(s)
            self.write_padding(width)

    def fmt_unicode(self, u: int) -> None:
        """``%U``: ``U+0078``, with ``#`` ``U+0078 'x'``."""
        prec = self.prec if self.prec_present and self.prec > 4 else 4
        tail = ""
        if self.sharp and u <= _MAX_RUNE and go_is_print(u):
            tail = " '" + chr(u) + "'"
        digits = format(u, "X")
        s = "U+" + "0" * (prec - len(digits)) + digits + tail
        old, self.zero = self.zero, False
        self.pad(s)
        self.zero = old

    def fmt_integer(self, v: int, base: int, verb: str, digits: str) -> None:
        """An integer in ``base`` with sign, prefix, precision and padding."""
        negative = v < 0
        u = -v if negative else v
        prec = 0
        if self.prec_present:
            prec = self.prec
            if prec == 0 and u == 0:
                old, self.zero = self.zero, False
                self.write_padding(self.wid)
                self.zero = old
                return
        elif self.zero and not self.minus and self.wid_present:
            prec = self.wid
            if negative or self.plus or self.space:
                prec -= 1
        if base == 10:
            s = int_text(u)
        else:
            s = format(u, {2: "b", 8: "o", 16: "x"}[base])
            if digits is UDIGITS:
                s = s.upper()
        if len(s) < prec:
            s = "0" * (prec - len(s)) + s
        if self.sharp:
            if base == 2:
                s = "0b" + s
            elif base == 8 and s[0] != "0":
                s = "0" + s
            elif base == 16:
                s = "0" + digits[16] + s
        if verb == "O":
            s = "0o" + s
        if negative:
            s = "-" + s
        elif self.plus:
            s = "+" + s
        elif self.space:
            s = " " + s
        old, self.zero = self.zero, False
        self.pad(s)
        self.zero = old

    def truncate(self, s: str) -> str:
        """``s`` cut to the precision (in code points)."""
        if self.prec_present:
            return s[: self.prec]
        return s

    def fmt_s(self, s: str) -> None:
        """``%s`` of a string."""
        self.pad(self.truncate(s))

    def fmt_sbx(self, s: str, digits: str) -> None:
        """``%x``/``%X`` of a string's UTF-8 bytes."""
        data = go_bytes(s)
        length = len(data)
        if self.prec_present and self.prec < length:
            length = self.prec
        width = 2 * length
        if width > 0:
            if self.space:
                if self.sharp:
                    width *= 2
                width += length - 1
            elif self.sharp:
                width += 2
        else:
            if self.wid_present:
                self.write_padding(self.wid)
            return
        if self.wid_present and self.wid > width and not self.minus:
            self.write_padding(self.wid - width)
        out = []
        prefix = "0" + digits[16]
        if self.sharp:
            out.append(prefix)
        for i in range(length):
            if self.space and i > 0:
                out.append(" ")
                if self.sharp:
                    out.append(prefix)
            c = data[i]
            out.append(digits[c >> 4] + digits[c & 0xF])
        self.write("".join(out))
        if self.wid_present and self.wid > width and self.minus:
            self.write_padding(self.wid - width)

    def fmt_q(self, s: str) -> None:
        """``%q`` of a string (``#`` backquotes, ``+`` ASCII only)."""
        s = self.truncate(s)
        if self.sharp and can_backquote(s):
            self.pad("`" + s + "`")
            return
        self.pad(go_quote(s, self.plus))

    def fmt_c(self, c: int) -> None:
        """``%c`` of an integer."""
        if c > _MAX_RUNE or 0xD800 <= c <= 0xDFFF:
            c = 0xFFFD
        self.pad(chr(c))

    def fmt_qc(self, c: int) -> None:
        """``%q`` of an integer (a quoted rune)."""
        self.pad(quote_rune(c, self.plus))

    def fmt_float(self, v: float, verb: str, prec: int) -> None:
        """A float in ``verb`` (``prec`` -1 for shortest) with sign, ``#`` and padding."""
        if self.prec_present:
            prec = self.prec
        num = format_float(v, verb, prec)
        if num[0] not in "+-":
            num = "+" + num
        if self.space and num[0] == "+" and not self.plus:
            num = " " + num[1:]
        if num[1] in "IN":
            old, self.zero = self.zero, False
            if num[1] == "N" and not self.space and not self.plus:
                num = num[1:]
            self.pad(num)
            self.zero = old
            return
        if self.sharp and verb != "b":
            num = self._sharp_float(num, verb, prec)
        if self.plus or num[0] != "+":
            if self.zero and not self.minus and self.wid_present and self.wid > len(num):
                self.write(num[0])
                self.write_padding(self.wid - len(num))
                self.write(num[1:])
                return
            self.pad(num)
            return
        self.pad(num[1:])

    @staticmethod
    def _sharp_float(num: str, verb: str, prec: int) -> str:
        digits = 0
        if verb in "vgGx":
            digits = 6 if prec == -1 else prec
        tail = ""
        has_point = saw_nonzero = False
        i = 1
        while i < len(num):
            c = num[i]
            if c == ".":
                has_point = True
            elif c in "pP" or (c in "eE" and verb not in "xX"):
                tail, num = num[i:], num[:i]
                break
            else:
                if c != "0":
                    saw_nonzero = True
                if saw_nonzero:
                    digits -= 1
            i += 1
        if not has_point:
            if len(num) == 2 and num[1] == "0":
                digits -= 1
            num += "."
        if digits > 0:
            num += "0" * digits
        return num + tail

    def big_format(self, x: int, ch: str) -> None:
        """``(*big.Int).Format``."""
        base = {"b": 2, "o": 8, "O": 8, "d": 10, "s": 10, "v": 10, "x": 16, "X": 16}.get(ch)
        if base is None:
            self.write(f"%!{ch}(big.Int={int_text(x)})")
            return
        if x < 0:
            sign = "-"
        elif self.plus or self.plus_v:
            sign = "+"
        elif self.space:
            sign = " "
        else:
            sign = ""
        prefix = ""
        if self.sharp or self.sharp_v:
            prefix = {"b": "0b", "o": "0", "x": "0x", "X": "0X"}.get(ch, "")
        if ch == "O":
            prefix = "0o"
        a = abs(x)
        digits = int_text(a) if base == 10 else format(a, {2: "b", 8: "o", 16: "x"}[base])
        if ch == "X":
            digits = digits.upper()
        left = zeros = right = 0
        if self.prec_present:
            if len(digits) < self.prec:
                zeros = self.prec - len(digits)
            elif digits == "0" and self.prec == 0:
                return
        length = len(sign) + len(prefix) + zeros + len(digits)
        if self.wid_present and length < self.wid:
            d = self.wid - length
            if self.minus:
                right = d
            elif self.zero and not self.prec_present:
                zeros = d
            else:
                left = d
        self.write(" " * left + sign + prefix + "0" * zeros + digits + " " * right)

    def _big_struct(self, x: int) -> str:
        limbs = []
        a = abs(x)
        while a:
            limbs.append(str(a & _M64))
            a >>= 64
        return "&{" + ("true" if x < 0 else "false") + " [" + " ".join(limbs) + "]}"
