"""Glob builtins: ``glob.match`` and ``glob.quote_meta``.

Follows https://github.com/open-policy-agent/opa/blob/main/v1/topdown/glob.go, which uses
https://github.com/gobwas/glob (v1): the pattern is read by a port of that library's lexer
and parser (same tokens, same errors) and translated into an anchored RE2 expression, so
matching takes linear time. The syntax:

* ``*`` any run of characters that are not delimiters, ``**`` any run of characters,
  ``?`` one character that is not a delimiter;
* ``[abc]``, ``[a-z]`` one character of the set or range, ``[!abc]``, ``[!a-z]`` one
  character not in it (delimiters included); a range is ``lo-hi`` alone between the
  brackets, its ends taken verbatim;
* ``{a,b*,}`` alternatives (nested, possibly empty); ``,`` and ``}`` are literal outside
  braces;
* ``\\`` makes the next character literal; a trailing ``\\`` is an error.

``delimiters`` is a list of one-character strings, ``["."]`` when empty, none when null.
Compiled globs are kept in a bounded, thread-safe LRU cache, as OPA keeps a glob cache.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from kubegate.evaluator.builtins._regex_re2 import Cache, GoRegexp, compile_re2, encode
from kubegate.evaluator.builtins.registry import BuiltinError, arg_string, implements
from kubegate.evaluator.values import type_name

__all__ = ["match", "quote_meta", "translate"]

_EOF = ""
(_T_EOF, _T_ERROR, _T_TEXT, _T_ANY, _T_SUPER, _T_SINGLE, _T_NOT, _T_SEPARATOR, _T_RANGE_OPEN, _T_RANGE_CLOSE,
 _T_RANGE_LO, _T_RANGE_HI, _T_RANGE_BETWEEN, _T_TERMS_OPEN, _T_TERMS_CLOSE) = range(15)  # fmt: skip
_TOKEN_NAMES = ("eof", "error", "text", "any", "super", "single", "not", "separator", "range_open", "range_close",
                "range_lo", "range_hi", "range_between", "terms_open", "terms_close")  # fmt: skip
_TEXT_BREAKERS = "?*[{"
_TERMS_BREAKERS = "?*[{},"
_SPECIALS = frozenset("*?\\[]{}")
_CACHE = Cache(100, 8_000_000)


class _OperandError(BuiltinError):
    """An operand error that is not a plain type mismatch (OPA's ``builtins.ErrOperand``)."""

    code = "eval_type_error"


class _SyntaxError(Exception):
    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(reason)
        self.text = f"syntax error at offset {offset}: {reason}"


class _Lexer:
    """A port of gobwas/glob's ``syntax.Lexer``: tokens are produced on demand and, once an
    error happened, every call returns it."""

    __slots__ = ("_data", "_err", "_has_rune", "_last", "_last_size", "_pos", "_terms", "_tokens")

    def __init__(self, data: str) -> None:
        self._data = data
        self._pos = 0
        self._err: str | None = None
        self._tokens: deque[tuple[int, str]] = deque()
        self._terms = 0
        self._last = _EOF
        self._last_size = 0
        self._has_rune = False

    def offset(self) -> int:
        """The byte offset the lexer stopped at."""
        return len(encode(self._data[: self._pos]))

    def next(self) -> tuple[int, str]:
        while True:
            if self._err is not None:
                return _T_ERROR, self._err
            if self._tokens:
                return self._tokens.popleft()
            before = (self._pos, self._has_rune)
            self._fetch_item()
            if not self._tokens and self._err is None and before == (self._pos, self._has_rune):
                raise AssertionError("glob lexer made no progress")  # pragma: no cover - defensive

    def _peek(self) -> tuple[str, int]:
        if self._pos >= len(self._data):
            return _EOF, 0
        return self._data[self._pos], 1

    def _read(self) -> str:
        if self._has_rune:
            self._has_rune = False
            self._pos += self._last_size
            return self._last
        r, size = self._peek()
        self._pos += size
        self._last, self._last_size = r, size
        return r

    def _unread(self) -> None:
        if self._has_rune:
            self._err = "could not unread rune"  # pragma: no cover - unreachable in the lexer
            return  # pragma: no cover
        self._pos -= self._last_size
        self._has_rune = True

    def _fetch_item(self) -> None:
        r = self._read()
        push = self._tokens.append
        if r == _EOF:
            push((_T_EOF, ""))
        elif r == "{":
            self._terms += 1
            push((_T_TERMS_OPEN, r))
        elif r == "," and self._terms > 0:
            push((_T_SEPARATOR, r))
        elif r == "}" and self._terms > 0:
            push((_T_TERMS_CLOSE, r))
            self._terms -= 1
        elif r == "[":
            push((_T_RANGE_OPEN, r))
            self._fetch_range()
        elif r == "?":
            push((_T_SINGLE, r))
        elif r == "*":
            if self._read() == "*":
                push((_T_SUPER, "**"))
            else:
                self._unread()
                push((_T_ANY, r))
        else:
            self._unread()
            self._fetch_text(_TERMS_BREAKERS if self._terms > 0 else _TEXT_BREAKERS)

    def _fetch_range(self) -> None:
        want_hi = want_close = seen_not = False
        push = self._tokens.append
        while True:
            r = self._read()
            if r == _EOF:
                self._err = "unexpected end of input"
                return
            if want_close:
                if r != "]":
                    self._err = "expected close range character"
                else:
                    push((_T_RANGE_CLOSE, r))
                return
            if want_hi:
                push((_T_RANGE_HI, r))
                want_close = True
                continue
            if not seen_not and r == "!":
                push((_T_NOT, r))
                seen_not = True
                continue
            following, size = self._peek()
            if following == "-":
                self._pos += size
                push((_T_RANGE_LO, r))
                push((_T_RANGE_BETWEEN, following))
                want_hi = True
                continue
            self._unread()
            self._fetch_text("]")
            want_close = True

    def _fetch_text(self, breakers: str) -> None:
        data: list[str] = []
        escaped = False
        while True:
            r = self._read()
            if r == _EOF:
                if escaped:
                    self._err = "trailing backslash"
                break
            if not escaped:
                if r == "\\":
                    escaped = True
                    continue
                if r in breakers:
                    self._unread()
                    break
            escaped = False
            data.append(r)
        if data:
            self._tokens.append((_T_TEXT, "".join(data)))


def _char(code: int) -> str:
    ch = chr(code)
    return ch if ch.isascii() and ch.isalnum() else f"\\x{{{code:x}}}"


def _literal(text: str) -> str:
    return "".join(_char(ord(ch)) for ch in text)


def _parse_range(lex: _Lexer) -> str:
    """A character class after its ``[``, as RE2 syntax."""
    negated = False
    low = high = -1
    chars: str | None = None
    while True:
        kind, data = lex.next()
        if kind == _T_EOF:
            raise _SyntaxError(lex.offset(), "unclosed `[`")  # pragma: no cover - the lexer errors first
        if kind == _T_ERROR:
            raise _SyntaxError(lex.offset(), data)
        if kind == _T_NOT:
            negated = True
        elif kind == _T_RANGE_LO:
            low = ord(data)
        elif kind == _T_RANGE_HI:
            high = ord(data)
            if high < low:
                raise _SyntaxError(lex.offset(), "range hi character is less than lo")
        elif kind == _T_TEXT:
            chars = data
        elif kind == _T_RANGE_CLOSE:
            is_range = low >= 0 and high >= 0
            if (chars is not None) == is_range:
                raise _SyntaxError(lex.offset(), "could not parse range")
            head = "[^" if negated else "["
            if is_range:
                return f"{head}{_char(low)}-{_char(high)}]"
            return head + "".join(_char(code) for code in sorted({ord(ch) for ch in chars or ""})) + "]"


Fragment = list[Any]  # RE2 text as nested lists of strings, joined at the end


def _flatten(fragment: Fragment) -> str:
    out: list[str] = []
    stack: list[Any] = [iter(fragment)]
    while stack:
        for part in stack[-1]:
            if type(part) is str:
                out.append(part)
            else:
                stack.append(iter(part))
                break
        else:
            stack.pop()
    return "".join(out)


def translate(pattern: str, delimiters: tuple[str, ...]) -> str:
    """The RE2 expression (to be matched against the whole text) equivalent to the glob
    ``pattern`` with ``delimiters``. Raises :class:`BuiltinError` for an invalid pattern."""
    not_delimiter = "[^" + "".join(_char(ord(d)) for d in delimiters) + "]" if delimiters else "(?s:.)"
    lex = _Lexer(pattern)
    stack: list[Any] = []
    operators: list[tuple[bool, int]] = []  # (is the group's alternatives, stack index)
    try:
        while True:
            kind, data = lex.next()
            if kind == _T_EOF:
                break
            if kind == _T_ERROR:
                raise _SyntaxError(lex.offset(), data)
            if kind == _T_SINGLE:
                stack.append(not_delimiter)
            elif kind == _T_TEXT:
                stack.append(_literal(data))
            elif kind == _T_RANGE_OPEN:
                stack.append(_parse_range(lex))
            elif kind == _T_ANY:
                stack.append(not_delimiter + "*")
            elif kind == _T_SUPER:
                stack.append("(?s:.*)")
            elif kind == _T_TERMS_OPEN:
                operators += ((True, len(stack)), (False, len(stack)))
            elif kind == _T_SEPARATOR:
                _, index = operators.pop()
                stack[index:] = [stack[index:]]
                operators.append((False, len(stack)))
            elif kind == _T_TERMS_CLOSE:
                _, index = operators.pop()
                stack[index:] = [stack[index:]]
                _, index = operators.pop()
                alternatives: list[Any] = ["(?:"]
                for i, alternative in enumerate(stack[index:]):
                    alternatives += ("|", alternative) if i else (alternative,)
                alternatives.append(")")
                stack[index:] = [alternatives]
            else:  # pragma: no cover - the lexer emits no other token here
                raise _SyntaxError(lex.offset(), "unexpected token " + _TOKEN_NAMES[kind])
        if operators:
            raise _SyntaxError(lex.offset(), "unclosed `{`")
    except _SyntaxError as exc:
        raise BuiltinError(exc.text) from None
    return _flatten(stack)


def _compile(pattern: str, delimiters: tuple[str, ...]) -> GoRegexp:
    key = (pattern, delimiters)
    found = _CACHE.get(key)
    if found is None:
        try:
            found = compile_re2(translate(pattern, delimiters))
        except BuiltinError as exc:
            found = exc.message
        _CACHE.put(key, found)
    if type(found) is str:
        raise BuiltinError(found)
    return found  # type: ignore[return-value]


def _delimiters(value: Any) -> tuple[str, ...]:
    """OPA's handling of ``glob.match``'s second operand."""
    if value is None:
        return ()
    if type(value) is not list and type(value) is not tuple:
        raise _OperandError(f"operand 2 must be one of {{array, null}} but got {type_name(value)}")
    for element in value:
        if type(element) is not str:
            raise _OperandError(f"operand 2 must be array of strings but got array containing {type_name(element)}")
        if len(element) != 1:
            raise _OperandError("operand 2 must be array of runes but got array containing string")
    return tuple(value) if value else (".",)


@implements("glob.match")
def match(pattern: Any, delimiters: Any, value: Any) -> bool:
    """Whether ``value`` matches the glob ``pattern``; ``*`` and ``?`` do not cross the
    ``delimiters`` (``["."]`` when empty, none when null)."""
    pattern = arg_string(pattern, 1)
    delims = _delimiters(delimiters)
    text = arg_string(value, 3)
    return _compile(pattern, delims).fullmatch(text)


@implements("glob.quote_meta")
def quote_meta(pattern: Any) -> str:
    """``pattern`` with the glob metacharacters ``* ? \\ [ ] { }`` escaped."""
    text = arg_string(pattern, 1)
    return "".join("\\" + ch if ch in _SPECIALS else ch for ch in text)
