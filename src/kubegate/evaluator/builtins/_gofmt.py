"""Go's ``fmt.Sprintf``, as the ``sprintf`` builtin and template ``printf`` call it.

A port of the parts of https://github.com/golang/go/blob/master/src/fmt/print.go
(``doPrintf``: flags, ``[n]`` argument indexes, ``*`` width and precision, the
``%!verb(type=value)``, ``%!v(MISSING)``, ``%!v(BADINDEX)``, ``%!(NOVERB)``,
``%!(BADWIDTH)``, ``%!(BADPREC)`` and ``%!(EXTRA type=value)`` notes, the choice
of verb by operand type). The text of each operand is :mod:`._gofmtbase`'s
(``format.go``), its digits :mod:`._gostrconv`'s (``strconv``).

Operands are Python values standing for the Go values OPA passes: ``int`` is
an ``int64`` when it fits, else a ``*big.Int``; ``float`` is a ``float64``;
``str`` a ``string``; :class:`JsonNumber` a ``json.Number``; :class:`GoInt` an
``int`` (a template constant); ``bool``, ``None`` (``nil``), ``list`` and
``dict`` the values ``encoding/json`` decodes into ``any``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kubegate.evaluator.builtins._gofmtbase import LDIGITS, MAX_OUTPUT, UDIGITS, FormatTooLarge, GoFormatter
from kubegate.evaluator.builtins._gostrconv import go_bytes, go_is_print, go_quote, int_text

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "MAX_OUTPUT",
    "FormatTooLarge",
    "GoInt",
    "JsonNumber",
    "go_bytes",
    "go_is_print",
    "go_quote",
    "go_type_name",
    "int_text",
    "sprintf",
]

INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1
_M64 = (1 << 64) - 1


class JsonNumber(str):
    """A ``json.Number``: a string kind with a ``String`` method."""

    __slots__ = ()


class GoInt(int):
    """A Go ``int`` (as opposed to the ``int64`` OPA passes for numbers)."""

    __slots__ = ()


class _NoArg:
    pass


_NOARG: Any = _NoArg()


def go_type_name(arg: Any) -> str:
    """The Go type ``%T`` prints for an operand."""
    t = type(arg)
    if t is bool:
        return "bool"
    if t is GoInt:
        return "int"
    if t is int:
        return "int64" if INT64_MIN <= arg <= INT64_MAX else "*big.Int"
    if t is float:
        return "float64"
    if t is JsonNumber:
        return "json.Number"
    if t is str:
        return "string"
    if t is list or t is tuple:
        return "[]interface {}"
    if t is dict:
        return "map[string]interface {}"
    return "interface {}"


def _parsenum(s: str, start: int, end: int) -> tuple[int, bool, int]:
    if start >= end:
        return 0, False, end
    num, isnum, i = 0, False, start
    while i < end and "0" <= s[i] <= "9":
        if num > 1_000_000:
            return 0, False, end
        num = num * 10 + ord(s[i]) - 48
        isnum = True
        i += 1
    return num, isnum, i


class _Printer(GoFormatter):
    """Go's ``pp`` for one ``Sprintf`` call."""

    def __init__(self) -> None:
        super().__init__()
        self.arg: Any = _NOARG
        self.value: Any = _NOARG
        self.reordered = False
        self.good_arg_num = True
        self.erroring = False

    def bad_verb(self, verb: str) -> None:
        """``%!verb(type=value)`` for a verb the operand does not take."""
        self.erroring = True
        self.write("%!" + verb + "(")
        if self.arg is not _NOARG and self.arg is not None:
            self.write(go_type_name(self.arg) + "=")
            self.print_arg(self.arg, "v")
        elif self.value is not _NOARG:
            self.write(go_type_name(self.value) + "=")
            self.print_value(self.value, "v", 0)
        else:
            self.write("<nil>")
        self.write(")")
        self.erroring = False

    def fmt_bool(self, v: bool, verb: str) -> None:
        """A ``bool`` operand (``%t``, ``%v``)."""
        if verb in "tv":
            self.pad("true" if v else "false")
        else:
            self.bad_verb(verb)

    def pp_integer(self, v: int, verb: str) -> None:
        """An ``int64`` operand, by verb."""
        if verb in "vd":
            self.fmt_integer(v, 10, verb, LDIGITS)
        elif verb == "b":
            self.fmt_integer(v, 2, verb, LDIGITS)
        elif verb in "oO":
            self.fmt_integer(v, 8, verb, LDIGITS)
        elif verb == "x":
            self.fmt_integer(v, 16, verb, LDIGITS)
        elif verb == "X":
            self.fmt_integer(v, 16, verb, UDIGITS)
        elif verb == "c":
            self.fmt_c(v & _M64)
        elif verb == "q":
            self.fmt_qc(v & _M64)
        elif verb == "U":
            self.fmt_unicode(v & _M64)
        else:
            self.bad_verb(verb)

    def pp_float(self, v: float, verb: str) -> None:
        """A ``float64`` operand, by verb (``%v`` is ``%g``)."""
        if verb == "v":
            self.fmt_float(v, "g", -1)
        elif verb in "bgGxX":
            self.fmt_float(v, verb, -1)
        elif verb in "feE":
            self.fmt_float(v, verb, 6)
        elif verb == "F":
            self.fmt_float(v, "f", 6)
        else:
            self.bad_verb(verb)

    def fmt_string(self, v: str, verb: str) -> None:
        """A ``string`` operand, by verb."""
        if verb == "v":
            if self.sharp_v:
                self.fmt_q(v)
            else:
                self.fmt_s(v)
        elif verb == "s":
            self.fmt_s(v)
        elif verb == "x":
            self.fmt_sbx(v, LDIGITS)
        elif verb == "X":
            self.fmt_sbx(v, UDIGITS)
        elif verb == "q":
            self.fmt_q(v)
        else:
            self.bad_verb(verb)

    def handle_methods(self, arg: Any, verb: str) -> bool:
        """Formatter (``*big.Int``) and Stringer (``json.Number``) handling."""
        if self.erroring:
            return False
        if verb == "w":
            self.bad_verb(verb)
            return True
        if type(arg) is int:
            self.big_format(arg, verb)
            return True
        if not self.sharp_v and verb in "vsxXq":
            self.fmt_string(str(arg), verb)
            return True
        return False

    def print_arg(self, arg: Any, verb: str) -> None:
        """One operand under the current flags (Go's ``printArg``)."""
        self.arg = arg
        self.value = _NOARG
        if arg is None:
            if verb in "Tv":
                self.pad("<nil>")
            else:
                self.bad_verb(verb)
            return
        if verb == "T":
            self.fmt_s(go_type_name(arg))
            return
        t = type(arg)
        big = t is int and not INT64_MIN <= arg <= INT64_MAX
        if verb == "p":
            if big:
                self.write("0x" + format(id(arg) & _M64, "x"))
            else:
                self.bad_verb(verb)
            return
        if t is bool:
            self.fmt_bool(arg, verb)
        elif t is float:
            self.pp_float(arg, verb)
        elif t is int or t is GoInt:
            if not big:
                self.pp_integer(int(arg), verb)
            elif not self.handle_methods(arg, verb):
                self.write(self._big_struct(arg))
        elif t is str:
            self.fmt_string(arg, verb)
        elif t is JsonNumber:
            if not self.handle_methods(arg, verb):
                self.print_value(arg, verb, 0)
        else:
            self.print_value(arg, verb, 0)

    def print_value(self, value: Any, verb: str, depth: int) -> None:
        """A composite or nested value (Go's ``printValue``)."""
        if depth > 0 and value is not None and self.handle_methods_value(value, verb):
            return
        self.arg = _NOARG
        self.value = value
        t = type(value)
        if value is None:
            self.write("interface {}(nil)" if self.sharp_v else "<nil>")
        elif t is bool:
            self.fmt_bool(value, verb)
        elif t is float:
            self.pp_float(value, verb)
        elif t is int or t is GoInt:
            self.pp_integer(int(value), verb)
        elif t is str or t is JsonNumber:
            self.fmt_string(str(value), verb)
        elif t is list or t is tuple:
            if self.sharp_v:
                self.write("[]interface {}{")
                sep = ", "
            else:
                self.write("[")
                sep = " "
            for i, elem in enumerate(value):
                if i:
                    self.write(sep)
                self.print_value(elem, verb, depth + 1)
            self.write("}" if self.sharp_v else "]")
        elif t is dict:
            self.write("map[string]interface {}{" if self.sharp_v else "map[")
            for i, key in enumerate(sorted(value)):
                if i:
                    self.write(", " if self.sharp_v else " ")
                self.print_value(key, verb, depth + 1)
                self.write(":")
                self.print_value(value[key], verb, depth + 1)
            self.write("}" if self.sharp_v else "]")
        else:
            self.write("?" + go_type_name(value) + "?")

    def handle_methods_value(self, value: Any, verb: str) -> bool:
        """Formatter and Stringer handling for a nested value."""
        t = type(value)
        if t is JsonNumber or (t is int and not INT64_MIN <= value <= INT64_MAX):
            self.arg = value
            return self.handle_methods(value, verb)
        return False

    def int_from_arg(self, a: Sequence[Any], arg_num: int) -> tuple[int, bool, int]:
        """A ``*`` width or precision operand: its value, whether it is an int, the next operand."""
        num, is_int, new = 0, False, arg_num
        if arg_num < len(a):
            x = a[arg_num]
            if (type(x) is int or type(x) is GoInt) and INT64_MIN <= x <= INT64_MAX:
                num, is_int = int(x), True
            new = arg_num + 1
            if num > 1_000_000 or num < -1_000_000:
                num, is_int = 0, False
        return num, is_int, new

    def arg_number(self, arg_num: int, fmt: str, i: int, num_args: int) -> tuple[int, int, bool]:
        """An explicit ``[n]`` operand index: the operand, the format position, whether one was given."""
        if len(fmt) <= i or fmt[i] != "[":
            return arg_num, i, False
        self.reordered = True
        index, wid, ok = 0, 1, False
        if len(fmt) - i >= 3:
            close = fmt.find("]", i + 1)
            if close >= 0:
                wid = close - i + 1
                width, isnum, newi = _parsenum(fmt, i + 1, close)
                if isnum and newi == close:
                    index, ok = width - 1, True
        if ok and 0 <= index < num_args:
            return index, i + wid, True
        self.good_arg_num = False
        return arg_num, i + wid, ok

    def do_printf(self, fmt: str, a: Sequence[Any]) -> None:
        """Formats ``fmt`` with the operands ``a`` into the buffer."""
        end = len(fmt)
        arg_num = 0
        after_index = False
        self.reordered = False
        i = 0
        while i < end:
            self.good_arg_num = True
            lasti = i
            j = fmt.find("%", i)
            i = end if j < 0 else j
            if i > lasti:
                self.write(fmt[lasti:i])
            if i >= end:
                break
            i += 1
            self.clearflags()
            simple = False
            while i < end:
                c = fmt[i]
                if c == "#":
                    self.sharp = True
                elif c == "0":
                    self.zero = True
                elif c == "+":
                    self.plus = True
                elif c == "-":
                    self.minus = True
                elif c == " ":
                    self.space = True
                else:
                    if "a" <= c <= "z" and arg_num < len(a):
                        if c in "vw":
                            self.sharp_v, self.sharp = self.sharp, False
                            self.plus_v, self.plus = self.plus, False
                        self.print_arg(a[arg_num], c)
                        arg_num += 1
                        i += 1
                        simple = True
                    break
                i += 1
            if simple:
                continue

            arg_num, i, after_index = self.arg_number(arg_num, fmt, i, len(a))
            if i < end and fmt[i] == "*":
                i += 1
                self.wid, self.wid_present, arg_num = self.int_from_arg(a, arg_num)
                if not self.wid_present:
                    self.write("%!(BADWIDTH)")
                if self.wid < 0:
                    self.wid = -self.wid
                    self.minus = True
                    self.zero = False
                after_index = False
            else:
                self.wid, self.wid_present, i = _parsenum(fmt, i, end)
                if after_index and self.wid_present:
                    self.good_arg_num = False

            if i + 1 < end and fmt[i] == ".":
                i += 1
                if after_index:
                    self.good_arg_num = False
                arg_num, i, after_index = self.arg_number(arg_num, fmt, i, len(a))
                if i < end and fmt[i] == "*":
                    i += 1
                    self.prec, self.prec_present, arg_num = self.int_from_arg(a, arg_num)
                    if self.prec < 0:
                        self.prec, self.prec_present = 0, False
                    if not self.prec_present:
                        self.write("%!(BADPREC)")
                    after_index = False
                else:
                    self.prec, self.prec_present, i = _parsenum(fmt, i, end)
                    if not self.prec_present:
                        self.prec, self.prec_present = 0, True

            if not after_index:
                arg_num, i, after_index = self.arg_number(arg_num, fmt, i, len(a))

            if i >= end:
                self.write("%!(NOVERB)")
                break

            verb = fmt[i]
            i += 1
            if verb == "%":
                self.write("%")
            elif not self.good_arg_num:
                self.write("%!" + verb + "(BADINDEX)")
            elif arg_num >= len(a):
                self.write("%!" + verb + "(MISSING)")
            else:
                if verb in "vw":
                    self.sharp_v, self.sharp = self.sharp, False
                    self.plus_v, self.plus = self.plus, False
                self.print_arg(a[arg_num], verb)
                arg_num += 1

        if not self.reordered and arg_num < len(a):
            self.clearflags()
            self.write("%!(EXTRA ")
            for k, arg in enumerate(a[arg_num:]):
                if k:
                    self.write(", ")
                if arg is None:
                    self.write("<nil>")
                else:
                    self.write(go_type_name(arg) + "=")
                    self.print_arg(arg, "v")
            self.write(")")


def sprintf(fmt: str, args: Sequence[Any]) -> str:
    """``fmt.Sprintf(fmt, args...)``.

    Raises:
        FormatTooLarge: the result would exceed :data:`MAX_OUTPUT` code points.
    """
    p = _Printer()
    p.do_printf(fmt, args)
    return "".join(p.buf)
