"""``regex.globs_match``: whether two regex-style globs match a common non-empty string.

OPA (https://github.com/open-policy-agent/opa/blob/main/v1/topdown/regex.go) calls
``NonEmpty`` of https://github.com/yashtewari/glob-intersection; this module reproduces that
library's semantics, its shortcuts and its error messages included. A glob is anchored at
both ends and knows ``.`` (any character), ``[...]`` sets with ``a-z`` ranges, ``+`` and ``*``
after a token, and ``\\`` escapes.

The library's recursive search is exponential in the number of ``+``/``*`` flags; here it
runs on an explicit stack with memoization (same answers, polynomial time) and a work bound.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from kubegate.evaluator.builtins._regex_syntax import go_quote
from kubegate.evaluator.builtins.registry import BuiltinError

__all__ = ["non_empty"]

_CHAR, _DOT, _SET = 0, 1, 2
_NONE, _PLUS, _STAR = 0, 1, 2
_FLAGS = {"+": _PLUS, "*": _STAR}
_MAX_STEPS = 2_000_000
_INVALID = "the input provided is invalid"

# A token: [type, flag, data]; data is the code point (character) or a tuple of
# (low, high) intervals (set).
Token = list[Any]


class _EndOfInput(Exception):
    pass


def _go_format(template: str, args: list[tuple[str, str]]) -> str:
    """Go's ``fmt.Errorf`` for the few verbs the library uses; ``args`` are
    ``("string", text)`` or ``("*errors.errorString", message)``."""
    out: list[str] = []
    i, n, used = 0, len(template), 0
    while i < n:
        ch = template[i]
        if ch != "%":
            out.append(ch)
            i += 1
            continue
        j = i + 1
        while j < n and template[j] in "+-# 0":
            j += 1
        while j < n and (template[j].isdigit() or template[j] == "."):
            j += 1
        if j >= n:
            out.append("%!(NOVERB)")
            break
        verb = template[j]
        i = j + 1
        if verb == "%":
            out.append("%")
            continue
        if used >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        kind, value = args[used]
        used += 1
        if verb in "svw" and not (verb == "w" and kind == "string"):
            out.append(value)
        elif verb == "q":
            out.append(go_quote(value))
        elif kind == "string":
            out.append(f"%!{verb}(string={value})")
        else:
            out.append(f"&{{%!{verb}(string={value})}}")
    if used < len(args):
        out.append("%!(EXTRA " + ", ".join(f"{kind}={value}" for kind, value in args[used:]) + ")")
    return "".join(out)


def _error(text: list[str], index: int, message: str, *values: str) -> BuiltinError:
    """The library's ``invalidInputMessageErrorf``: the input is formatted into the format."""
    template = f"input:{''.join(text)}, pos:{index}, {message}: %w"
    args = [("string", value) for value in values]
    args.append(("*errors.errorString", _INVALID))
    return BuiltinError(_go_format(template, args))


def _next_rune(text: list[str], index: int) -> tuple[int, str, bool]:
    """``(next index, rune, escaped)``; raises :class:`_EndOfInput` at the end."""
    if index >= len(text):
        raise _EndOfInput
    if text[index] == "\\":
        if index < len(text) - 1:
            return index + 2, text[index + 1], True
        raise _error(text, index, "input ends with a \\ (escape) character")
    return index + 1, text[index], False


def _next_flag(text: list[str], index: int) -> tuple[int, int]:
    try:
        new_index, r, escaped = _next_rune(text, index)
    except _EndOfInput:
        return index, _NONE
    if not escaped and r in _FLAGS:
        return new_index, _FLAGS[r]
    return index, _NONE


def _intervals(points: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    merged: list[tuple[int, int]] = []
    for low, high in sorted(points):
        if merged and low <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return tuple(merged)


def _next_set(text: list[str], index: int) -> tuple[int, Token]:
    points: list[tuple[int, int]] = []
    prev, prev_exists = 0, False
    new_index = index
    try:
        new_index, r, escaped = _next_rune(text, index)
        while True:
            if escaped:
                points.append((ord(r), ord(r)))
                prev, prev_exists = ord(r), True
            elif r == "-":
                if not prev_exists:
                    raise _error(text, new_index, "range character '-' must be preceded by a Unicode character")
                if new_index >= len(text) - 1:
                    raise _error(text, new_index, "range character '-' must be followed by a Unicode character")
                new_index, r, escaped = _next_rune(text, new_index)
                if not escaped and r in "]-":
                    raise _error(text, new_index, "range character '-' cannot be followed by a special symbol")
                if ord(r) < prev:
                    raise _error(
                        text, new_index, "range is out of order: '%s' comes before '%s' in Unicode", r, chr(prev)
                    )
                points.append((prev, ord(r)))
                prev_exists = False
            elif r == "]":
                return new_index, [_SET, _NONE, _intervals(points)]
            else:
                points.append((ord(r), ord(r)))
                prev, prev_exists = ord(r), True
            new_index, r, escaped = _next_rune(text, new_index)
    except _EndOfInput:
        raise _error(text, new_index, "found [ without matching ]") from None


def _tokenize(glob: str) -> list[Token]:
    text = list(glob)
    tokens: list[Token] = []
    index = 0
    while True:
        try:
            index, r, escaped = _next_rune(text, index)
        except _EndOfInput:
            return tokens
        token: Token
        if escaped:
            token = [_CHAR, _NONE, ord(r)]
        elif r == ".":
            token = [_DOT, _NONE, None]
        elif r == "]":
            raise _error(text, index, "set-close ']' with no preceding '['")
        elif r == "[":
            index, token = _next_set(text, index)
        elif r in _FLAGS:
            raise _error(text, index, "flag '%s' must be preceded by a non-flag", r)
        else:
            token = [_CHAR, _NONE, ord(r)]
        index, token[1] = _next_flag(text, index)
        tokens.append(token)


def _simplify(tokens: list[Token]) -> list[Token]:
    """Merges runs of equal flagged tokens (``t+t*`` is ``t+``)."""
    simple: list[Token] = []
    for token in tokens:
        if simple and token[1] != _NONE and simple[-1][1] != _NONE and _equal(token, simple[-1]):
            simple[-1][1] = _PLUS if _PLUS in (token[1], simple[-1][1]) else _STAR
        else:
            simple.append(token)
    return simple


def _equal(a: Token, b: Token) -> bool:
    return bool(a[0] == b[0] and (a[0] == _DOT or a[2] == b[2]))


def _in_set(code: int, intervals: tuple[tuple[int, int], ...]) -> bool:
    return any(low <= code <= high for low, high in intervals)


def _match(a: Token, b: Token) -> bool:
    """Whether two tokens can match a common character, flags ignored (``.`` matches any set,
    even an empty one, as in the library)."""
    if a[0] > b[0]:
        a, b = b, a
    if a[0] == _CHAR:
        if b[0] == _CHAR:
            return bool(a[2] == b[2])
        return b[0] == _DOT or _in_set(a[2], b[2])
    if a[0] == _DOT:
        return True
    return any(low1 <= high2 and low2 <= high1 for low1, high1 in a[2] for low2, high2 in b[2])


def _trim(g1: list[Token], g2: list[Token]) -> tuple[list[Token], list[Token]] | None:
    """The library's ``trimGlobs``: drops matching unflagged prefixes and suffixes."""
    left = 0
    while left < len(g1) and left < len(g2) and g1[left][1] == _NONE and g2[left][1] == _NONE:
        if not _match(g1[left], g2[left]):
            return None
        left += 1
    if left > 0:
        left -= 1
    r1, r2 = len(g1) - 1, len(g2) - 1
    while r1 >= 0 and r1 >= left and r2 >= 0 and r2 >= left and g1[r1][1] == _NONE and g2[r2][1] == _NONE:
        if not _match(g1[r1], g2[r2]):
            return None
        r1, r2 = r1 - 1, r2 - 1
    if r1 < len(g1) - 1:
        r1, r2 = r1 + 1, r2 + 1
    return g1[left : r1 + 1], g2[left : r2 + 1]


# A call: (function, side, i, j); side 0 is (g1[i:], g2[j:]), side 1 is (g2[i:], g1[j:]).
_NORMAL, _PLUS_CALL, _STAR_CALL = 0, 1, 2
Call = tuple[int, int, int, int]


def _intersect(g1: list[Token], g2: list[Token]) -> bool:
    sides = ((g1, g2), (g2, g1))

    def normal(side: int, i: int, j: int) -> Generator[Call, bool, bool]:
        x, y = sides[side]
        while i < len(x) and j < len(y):
            if x[i][1] == _NONE and y[j][1] == _NONE:
                if not _match(x[i], y[j]):
                    return False
                i, j = i + 1, j + 1
                continue
            if x[i][1] != _NONE:
                return (yield (_PLUS_CALL if x[i][1] == _PLUS else _STAR_CALL, side, i, j))
            return (yield (_PLUS_CALL if y[j][1] == _PLUS else _STAR_CALL, 1 - side, j, i))
        return i == len(x) and j == len(y)

    def plus(side: int, i: int, j: int) -> Generator[Call, bool, bool]:
        x, y = sides[side]
        if not _match(x[i], y[j]):
            return False
        if (yield (_STAR_CALL, side, i, j + 1)):
            return True
        return y[j][1] != _NONE and (yield (_NORMAL, side, i + 1, j))

    def star(side: int, i: int, j: int) -> Generator[Call, bool, bool]:
        x, y = sides[side]
        star_token = x[i]
        next_token = x[i + 1] if i + 1 < len(x) else None
        for k in range(j, len(y)):
            token = y[k]
            if next_token is not None and _match(token, next_token) and (yield (_NORMAL, side, i + 1, k)):
                return True
            if not _match(token, star_token):
                return False
        return next_token is None

    functions = (normal, plus, star)
    memo: dict[Call, bool] = {}
    root: Call = (_NORMAL, 0, 0, 0)
    stack: list[tuple[Call, Generator[Call, bool, bool]]] = [(root, normal(0, 0, 0))]
    value: Any = None
    steps = 0
    while True:
        steps += 1
        if steps > _MAX_STEPS:
            raise BuiltinError("regex.globs_match: globs too complex")
        call, frame = stack[-1]
        try:
            sub = frame.send(value)
        except StopIteration as stop:
            stack.pop()
            memo[call] = bool(stop.value)
            if not stack:
                return memo[call]
            value = memo[call]
            continue
        if sub in memo:
            value = memo[sub]
        else:
            value = None
            stack.append((sub, functions[sub[0]](sub[1], sub[2], sub[3])))


def non_empty(glob1: str, glob2: str) -> bool:
    """The library's ``NonEmpty``: whether the globs' intersection matches a non-empty
    set of non-empty strings. Raises :class:`BuiltinError` for an invalid glob."""
    g1 = _simplify(_tokenize(glob1))
    g2 = _simplify(_tokenize(glob2))
    trimmed = _trim(g1, g2)
    if trimmed is None:
        return False
    return _intersect(*trimmed)
