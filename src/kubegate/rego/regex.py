"""Rewrite RE2 inline flags that rego-cpp's regex engine does not support.

OPA's regex builtins use Go's RE2 syntax, where a pattern may start with
flags such as ``(?i)`` (case-insensitive) or ``(?s)`` (``.`` matches
newlines). rego-cpp rejects them and the builtin is undefined, so a policy
using ``regex.match("(?i)^latest$", tag)`` silently never matches. A leading
``(?i)`` is rewritten into case-folded classes (``(?i)ab[c-e]`` ->
``[aA][bB][c-eC-E]``) and ``(?s)`` turns ``.`` into ``[\\s\\S]``
(RE2 syntax: https://github.com/google/re2/wiki/Syntax).
"""

from __future__ import annotations

import re

__all__ = ["PATTERN_ARGUMENT", "has_flags", "rewrite_flags"]

# builtin -> index of its pattern argument
PATTERN_ARGUMENT = {
    ("regex", "match"): 0,
    ("regex", "is_valid"): 0,
    ("regex", "find_n"): 0,
    ("regex", "find_all_string_submatch_n"): 0,
    ("regex", "split"): 0,
    ("regex", "replace"): 1,
}
_FLAGS = re.compile(r"^\(\?([a-zA-Z]+)\)")


def _fold_class(body: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            out.append(body[i : i + 2])
            i += 2
            continue
        if i + 2 < len(body) and body[i + 1] == "-" and body[i + 2] != "]":
            lo, hi = ch, body[i + 2]
            out.append(f"{lo}-{hi}")
            if lo.isalpha() and hi.isalpha() and lo.islower() == hi.islower():
                out.append(f"{lo.swapcase()}-{hi.swapcase()}")
            i += 3
            continue
        out.append(ch)
        if ch.isalpha() and ch.swapcase() != ch:
            out.append(ch.swapcase())
        i += 1
    return "".join(out)


def _fold(pattern: str, dotall: bool) -> str:
    out: list[str] = []
    i = 0
    n = len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "\\" and i + 1 < n:
            if pattern[i + 1] in "pPx" and i + 2 < n and pattern[i + 2] == "{":
                end = pattern.find("}", i)
                end = n - 1 if end < 0 else end
                out.append(pattern[i : end + 1])
                i = end + 1
            else:
                out.append(pattern[i : i + 2])
                i += 2
            continue
        if ch == "[":
            j = i + 1
            if j < n and pattern[j] == "^":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1
            while j < n and pattern[j] != "]":
                j += 2 if pattern[j] == "\\" else 1
            head = "[^" if pattern[i + 1 : i + 2] == "^" else "["
            body = pattern[i + len(head) : j]
            out.append(head + _fold_class(body) + "]")
            i = j + 1
            continue
        if ch == "(" and pattern.startswith("(?P<", i):
            end = pattern.find(">", i)
            end = n - 1 if end < 0 else end
            out.append(pattern[i : end + 1])
            i = end + 1
            continue
        if ch == "." and dotall:
            out.append(r"[\s\S]")
        elif ch.isalpha() and ch.swapcase() != ch:
            out.append(f"[{ch}{ch.swapcase()}]")
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def has_flags(text: str) -> bool:
    """Whether ``text`` starts with an RE2 flag group such as ``(?i)``."""
    return _FLAGS.match(text) is not None


def rewrite_flags(pattern: str) -> str | None:
    """A flag-free equivalent of ``pattern``, or ``None`` when there is nothing
    to rewrite or a flag other than ``i`` and ``s`` is involved."""
    found = _FLAGS.match(pattern)
    if found is None:
        return None
    flags = set(found.group(1))
    if not flags <= {"i", "s"}:
        return None
    body = pattern[found.end() :]
    if "i" in flags:
        return _fold(body, "s" in flags)
    return _fold_dots(body)


def _fold_dots(pattern: str) -> str:
    """``(?s)`` only: ``.`` outside classes matches any character."""
    out: list[str] = []
    i, n, in_class = 0, len(pattern), False
    while i < n:
        ch = pattern[i]
        if ch == "\\" and i + 1 < n:
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if ch == "[":
            in_class = True
        elif ch == "]":
            in_class = False
        out.append(r"[\s\S]" if ch == "." and not in_class else ch)
        i += 1
    return "".join(out)
