"""Go ``regexp/syntax`` details that RE2 does not share, and Go's quoting helpers.

Follows https://github.com/golang/go/blob/master/src/regexp/syntax/parse.go (what Go's parser
rejects), https://github.com/golang/go/blob/master/src/regexp/regexp.go (``QuoteMeta``) and
https://github.com/golang/go/blob/master/src/strconv/quote.go (``Quote``).
"""

from __future__ import annotations

__all__ = ["go_error", "go_quote", "quote_meta", "scan"]

_MAX_HEIGHT = 1000  # Go's maxHeight


def go_error(code: str, expr: str) -> str:
    """Go's ``*syntax.Error`` text."""
    return f"error parsing regexp: {code}: `{expr}`"


_PRINTABLE_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def go_quote(text: str) -> str:
    """Go's ``strconv.Quote`` (``%q``) of ``text``."""
    out = ['"']
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        elif ch in _PRINTABLE_ESCAPES:
            out.append(_PRINTABLE_ESCAPES[ch])
        else:
            code = ord(ch)
            if code < 0x20 or code == 0x7F:
                out.append(f"\\x{code:02x}")
            elif 0xD800 <= code <= 0xDFFF:
                out.append("\\ufffd")  # Go sees an invalid byte sequence as U+FFFD
            elif code < 0x10000:
                out.append(f"\\u{code:04x}")
            else:
                out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


_QUOTED = frozenset("\\.+*?()|[]{}^$")


def quote_meta(text: str) -> str:
    """Go's ``regexp.QuoteMeta``."""
    return "".join("\\" + ch if ch in _QUOTED else ch for ch in text)


def _skip_braces(p: str, i: int) -> int:
    """The index after ``\\p{...}``/``\\x{...}`` starting at ``i`` (the backslash)."""
    if i + 2 < len(p) and p[i + 2] == "{":
        close = p.find("}", i + 3)
        return len(p) if close < 0 else close + 1
    if p[i + 1 : i + 2] == "x":
        return min(i + 4, len(p))
    return min(i + 3 if p[i + 1 : i + 2] in ("p", "P") else i + 2, len(p))


def scan(p: str) -> tuple[str | None, int, list[str]]:
    """What Go rejects and RE2 accepts in ``p`` (``\\C``, capture names that are not ASCII
    word characters, nesting deeper than Go's ``maxHeight``, estimated from groups and
    repetitions) as ``(Go's message or None, where it starts, capture group names in order)``
    (``""`` for an unnamed group). The scan tolerates invalid patterns."""
    n = len(p)
    names: list[str] = []
    estimate = n >= _MAX_HEIGHT
    # frames: [is_capture, branch_items, branch_max, alternatives, alt_max, last]
    stack: list[list[int]] = [[0, 0, 0, 0, 0, 0]]

    def atom(height: int) -> None:
        top = stack[-1]
        top[1] += 1
        top[2] = max(top[2], height)
        top[5] = height

    def end_branch(top: list[int]) -> None:
        height = 1 if top[1] == 0 else top[2] + (1 if top[1] > 1 else 0)  # an empty branch is a node
        top[3] += 1
        top[4] = max(top[4], height)
        top[1] = top[2] = top[5] = 0

    i = 0
    while i < n:
        c = p[i]
        if c == "\\":
            d = p[i + 1] if i + 1 < n else ""
            if d == "C":
                return go_error("invalid escape sequence", "\\C"), i, names
            if d == "Q":
                close = p.find("\\E", i + 2)
                i = n if close < 0 else close + 2
                atom(1)
                continue
            i = _skip_braces(p, i) if d in "pPx" else i + 2
            atom(1)
        elif c == "[":
            j = i + 1
            if j < n and p[j] == "^":
                j += 1
            first = True
            while j < n and (p[j] != "]" or first):
                first = False
                if p.startswith("[:", j) and p.find(":]", j + 2) >= 0:
                    j = p.find(":]", j + 2) + 2
                elif p[j] == "\\":
                    if j + 1 < n and p[j + 1] == "C":
                        return go_error("invalid escape sequence", "\\C"), j, names
                    j = _skip_braces(p, j) if j + 1 < n and p[j + 1] in "pPx" else j + 2
                else:
                    j += 1
            i = j + 1
            atom(1)
        elif c == "(":
            capture = 1
            if p.startswith("(?P<", i) or p.startswith("(?<", i):
                close = p.find(">", i)
                if close < 0:
                    return None, n, names  # invalid for RE2 as well
                name = p[i + (4 if p[i + 2] == "P" else 3) : close]
                if not all(ch.isascii() and (ch.isalnum() or ch == "_") for ch in name):
                    return go_error("invalid named capture", p[i : close + 1]), i, names
                names.append(name)
                i = close + 1
            elif p.startswith("(?", i):
                j = i + 2
                while j < n and p[j] not in ":)":
                    j += 1
                if j < n and p[j] == ")":  # a flag group such as (?i): no group
                    i = j + 1
                    continue
                capture, i = 0, j + 1
            else:
                names.append("")
                i += 1
            stack.append([capture, 0, 0, 0, 0, 0])
        elif c == ")":
            top = stack.pop() if len(stack) > 1 else stack[0]
            end_branch(top)
            atom(top[4] + (1 if top[3] > 1 else 0) + top[0])
            i += 1
        elif c == "|":
            end_branch(stack[-1])
            i += 1
        elif c in "*+?" or (c == "{" and _is_repeat(p, i)):
            top = stack[-1]
            top[5] += 1
            top[2] = max(top[2], top[5])
            i = (p.index("}", i) + 1) if c == "{" else i + 1
            if i < n and p[i] == "?":
                i += 1
        else:
            atom(1)
            i += 1
    end_branch(stack[0])
    if estimate and stack[0][4] + (1 if stack[0][3] > 1 else 0) > _MAX_HEIGHT:
        return go_error("expression nests too deeply", p), n, names
    return None, n, names


def _is_repeat(p: str, i: int) -> bool:
    close = p.find("}", i)
    if close < 0:
        return False
    body = p[i + 1 : close]
    low, _, high = body.partition(",")
    return low.isdigit() and low.isascii() and (high == "" or (high.isdigit() and high.isascii()))
