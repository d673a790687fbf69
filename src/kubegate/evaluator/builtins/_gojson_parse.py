"""An iterative JSON parser with the grammar, limits and error texts of Go's ``encoding/json``
(https://github.com/golang/go/blob/master/src/encoding/json/scanner.go) and OPA's check for
trailing data (https://github.com/open-policy-agent/opa/blob/main/v1/util/json.go).

It is the careful path of :mod:`._gojson`: used when the C ``json`` module refuses a
text (to give Go's message) or nests deeper than Python's stack allows.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from kubegate.evaluator.builtins._gocompat import GoError, go_quote

__all__ = ["MAX_DEPTH", "MAX_NUMBER_DIGITS", "GoParser", "number_from_literal"]

MAX_DEPTH = 10_000
"""Deepest nesting Go's scanner accepts (``exceeded max depth``)."""

MAX_NUMBER_DIGITS = 10_000
"""Longest number literal turned into a value; longer ones are refused (a hostile-input bound)."""

_SURROGATE = re.compile("[\ud800-\udfff]")


def number_from_literal(text: str) -> int | float:
    """The Rego number of a JSON number literal (already validated by the grammar).

    Raises:
        GoError: the literal is over :data:`MAX_NUMBER_DIGITS` characters or cannot be held.
    """
    if len(text) > MAX_NUMBER_DIGITS:
        raise GoError(f"number {text[:20]}... is too long")
    if "." not in text and "e" not in text and "E" not in text:
        if len(text) > 4000:
            return int(Decimal(text))
        return int(text)
    value = float(text)
    if math.isfinite(value) and abs(value) < 2**53:
        return value
    try:
        exact = Decimal(text)
        if exact == exact.to_integral_value() and exact.adjusted() <= MAX_NUMBER_DIGITS:
            return int(exact)  # exact, as OPA's json.Number
    except (InvalidOperation, ValueError, OverflowError):
        pass
    if math.isfinite(value):
        return value
    raise GoError(f"json: cannot represent number {text}")


def _quote_char(c: str) -> str:
    if c == "'":
        return "'\\''"
    if c == '"':
        return "'\"'"
    return "'" + go_quote(c)[1:-1] + "'"


_WS = " \t\r\n"
_HEX = "0123456789abcdefABCDEF"
_UNSET: Any = object()


class GoParser:
    """An iterative JSON parser with Go's grammar, limits and error texts."""

    def __init__(self, text: str, build: bool = True) -> None:
        self.s = text
        self.n = len(text)
        self.i = 0
        self.build = build

    def error(self, context: str) -> GoError:
        if self.i >= self.n:
            return GoError("unexpected EOF")
        return GoError(f"invalid character {_quote_char(self.s[self.i])} {context}")

    def skip_ws(self) -> None:
        s, n, i = self.s, self.n, self.i
        while i < n and s[i] in _WS:
            i += 1
        self.i = i

    def parse_document(self) -> Any:
        self.skip_ws()
        if self.i >= self.n:
            raise GoError("EOF")
        value = self.value()
        # util.UnmarshalJSON: anything but whitespace after the value is an error.
        self.skip_ws()
        if self.i < self.n:
            c = self.s[self.i]
            if c in "}],:":
                raise self.error("looking for beginning of value")
            if c in "[{":
                raise GoError(f"error: invalid character '{c}' after top-level value")
            start = self.i
            token = self.value()
            shown = str(token) if c == '"' else self.s[start : self.i]
            raise GoError(f"error: invalid character '{shown}' after top-level value")
        return value

    def parse_valid(self) -> None:
        self.skip_ws()
        self.value()
        self.skip_ws()
        if self.i < self.n:
            raise self.error("after top-level value")

    def value(self) -> Any:
        """One value, iteratively: containers on an explicit stack."""
        stack: list[Any] = []  # [container, pending key] frames
        while True:
            self.skip_ws()
            if self.i >= self.n:
                raise GoError("unexpected EOF")
            c = self.s[self.i]
            if c == "{":
                self.i += 1
                if len(stack) >= MAX_DEPTH:
                    raise GoError("exceeded max depth")
                self.skip_ws()
                if self.i < self.n and self.s[self.i] == "}":
                    self.i += 1
                    result: Any = {}
                else:
                    key = self.object_key()
                    stack.append([{}, key])
                    continue
            elif c == "[":
                self.i += 1
                if len(stack) >= MAX_DEPTH:
                    raise GoError("exceeded max depth")
                self.skip_ws()
                if self.i < self.n and self.s[self.i] == "]":
                    self.i += 1
                    result = []
                else:
                    stack.append([[], _UNSET])
                    continue
            else:
                result = self.scalar()
            # attach result to enclosing containers, closing those that end
            while True:
                if not stack:
                    return result
                frame = stack[-1]
                container = frame[0]
                if type(container) is dict:
                    if self.build:
                        container[frame[1]] = result
                    self.skip_ws()
                    if self.i >= self.n:
                        raise GoError("unexpected EOF")
                    c = self.s[self.i]
                    if c == ",":
                        self.i += 1
                        self.skip_ws()
                        frame[1] = self.object_key()
                        break
                    if c == "}":
                        self.i += 1
                        stack.pop()
                        result = container
                        continue
                    raise self.error("after object key:value pair")
                if self.build:
                    container.append(result)
                self.skip_ws()
                if self.i >= self.n:
                    raise GoError("unexpected EOF")
                c = self.s[self.i]
                if c == ",":
                    self.i += 1
                    break
                if c == "]":
                    self.i += 1
                    stack.pop()
                    result = container
                    continue
                raise self.error("after array element")

    def object_key(self) -> str:
        if self.i >= self.n:
            raise GoError("unexpected EOF")
        if self.s[self.i] != '"':
            raise self.error("looking for beginning of object key string")
        key = self.string()
        self.skip_ws()
        if self.i >= self.n:
            raise GoError("unexpected EOF")
        if self.s[self.i] != ":":
            raise self.error("after object key")
        self.i += 1
        return key

    def scalar(self) -> Any:
        c = self.s[self.i]
        if c == '"':
            return self.string()
        if c == "-" or "0" <= c <= "9":
            return self.number()
        for word, value in (("true", True), ("false", False), ("null", None)):
            if c == word[0]:
                self.i += 1
                for expected in word[1:]:
                    if self.i >= self.n:
                        raise GoError("unexpected EOF")
                    if self.s[self.i] != expected:
                        raise self.error(f"in literal {word} (expecting {_quote_char(expected)})")
                    self.i += 1
                return value
        raise self.error("looking for beginning of value")

    def number(self) -> Any:
        s, n = self.s, self.n
        start = self.i
        if s[self.i] == "-":
            self.i += 1
            if self.i >= n:
                raise GoError("unexpected EOF")
            if not "0" <= s[self.i] <= "9":
                raise self.error("in numeric literal")
        if s[self.i] == "0":
            self.i += 1
        else:
            while self.i < n and "0" <= s[self.i] <= "9":
                self.i += 1
        if self.i < n and s[self.i] == ".":
            self.i += 1
            if self.i >= n:
                raise GoError("unexpected EOF")
            if not "0" <= s[self.i] <= "9":
                raise self.error("after decimal point in numeric literal")
            while self.i < n and "0" <= s[self.i] <= "9":
                self.i += 1
        if self.i < n and s[self.i] in "eE":
            self.i += 1
            if self.i < n and s[self.i] in "+-":
                self.i += 1
            if self.i >= n:
                raise GoError("unexpected EOF")
            if not "0" <= s[self.i] <= "9":
                raise self.error("in exponent of numeric literal")
            while self.i < n and "0" <= s[self.i] <= "9":
                self.i += 1
        if not self.build:
            return None
        return number_from_literal(s[start : self.i])

    def string(self) -> str:
        s, n = self.s, self.n
        self.i += 1
        parts: list[str] = []
        start = self.i
        while True:
            if self.i >= n:
                raise GoError("unexpected EOF")
            c = s[self.i]
            if c == '"':
                parts.append(s[start : self.i])
                self.i += 1
                break
            if c < " ":
                raise self.error("in string literal")
            if c != "\\":
                self.i += 1
                continue
            parts.append(s[start : self.i])
            self.i += 1
            if self.i >= n:
                raise GoError("unexpected EOF")
            e = s[self.i]
            simple = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
            if e in simple:
                parts.append(simple[e])
                self.i += 1
            elif e == "u":
                self.i += 1
                for _ in range(4):
                    if self.i >= n:
                        raise GoError("unexpected EOF")
                    if s[self.i] not in _HEX:
                        raise self.error("in \\u hexadecimal character escape")
                    self.i += 1
                parts.append(chr(int(s[self.i - 4 : self.i], 16)))
            else:
                raise self.error("in string escape code")
            start = self.i
        text = "".join(parts)
        if _SURROGATE.search(text):
            # pairs written as two escapes form one character; lone halves become U+FFFD
            text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        return text
