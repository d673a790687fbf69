"""Source rewrites that give cel-cpp the semantics of cel-go, which Kubernetes and
Gatekeeper run.

Presence tests: in cel-go a ``has(x.f)`` whose operand ``x`` is not a map, list
or message (``null``, a string...) is ``false`` (``interpreter/attributes.go``
``refQualify``: a presence test on another value finds nothing), so
``has(variables.params.x)`` is false when a constraint has no parameters.
cel-cpp reports ``Applying SELECT to non-message type`` instead. Each
``has(x.f)`` is rewritten to ``(type(x) == map ? has(x.f) : false)``; an
operand that is itself an error still fails, as in cel-go. The original text
is compiled too, for diagnostics located in the user's text.

Variables: :func:`inline_variables` turns the ``variables.NAME`` an
expression reads into ``cel.bind`` bindings, so a review evaluates every
expression on one activation instead of one per variable (measured 8-10x
faster, docs/cel-notes.md §5).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["inline_variables", "presence_tests", "variable_refs"]

_IDENT = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_OPEN, _CLOSE = "([{", ")]}"


def _skip_string(text: str, i: int) -> int:
    """The index after the string literal starting at ``text[i]`` (a quote)."""
    quote = text[i]
    triple = text.startswith(quote * 3, i)
    end = quote * 3 if triple else quote
    j = i + (3 if triple else 1)
    while j < len(text):
        if text[j] == "\\":
            j += 2
            continue
        if text.startswith(end, j):
            return j + len(end)
        j += 1
    return len(text)


def _outside_strings(text: str) -> str:
    """``text`` with string literals blanked (same length): what the scans below read,
    so brackets, dots and names inside strings are never taken for syntax."""
    out, i = [], 0
    while i < len(text):
        if text[i] in "'\"":
            j = _skip_string(text, i)
            out.append(" " * (j - i))
            i = j
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _matching(plain: str, start: int) -> int:
    """The index of the ``)`` closing the ``(`` at ``start`` (``-1``: unbalanced)."""
    depth = 0
    for i in range(start, len(plain)):
        if plain[i] in _OPEN:
            depth += 1
        elif plain[i] in _CLOSE:
            depth -= 1
            if depth == 0:
                return i
    return -1


def _last_select(plain: str) -> int:
    """The index of the last top-level ``.`` of ``plain`` (``-1``: none; not a decimal point)."""
    depth, found = 0, -1
    for i, ch in enumerate(plain):
        if ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth -= 1
        elif ch == "." and depth == 0 and not (i + 1 < len(plain) and plain[i + 1].isdigit()):
            found = i
    return found


def presence_tests(text: str) -> str:
    """``text`` with every ``has(x.f)`` guarded as cel-go evaluates it (see the module docstring)."""
    plain = _outside_strings(text)
    out: list[str] = []
    i = 0
    while i < len(text):
        if plain.startswith("has(", i) and (i == 0 or (plain[i - 1] not in _IDENT and plain[i - 1] != ".")):
            close = _matching(plain, i + 3)
            if close != -1:
                arg = presence_tests(text[i + 4 : close])
                dot = _last_select(_outside_strings(arg))
                if dot > 0:
                    out.append(f"(type({arg[:dot].strip()}) == map ? has({arg}) : false)")
                    i = close + 1
                    continue
        out.append(text[i])
        i += 1
    return "".join(out)


_VARIABLE = re.compile(r"(?<![\w.])variables\.([A-Za-z_][A-Za-z0-9_]*)")
_ANY_VARIABLES = re.compile(r"(?<![\w.])variables\b")


def variable_refs(text: str) -> list[str] | None:
    """The ``variables.NAME`` names ``text`` reads, in order of first use, or
    ``None`` when it uses ``variables`` another way (``variables['x']``,
    ``has(variables.x)``), which inlining cannot express."""
    plain = _outside_strings(text)
    names = list(dict.fromkeys(m.group(1) for m in _VARIABLE.finditer(plain)))
    others = len(_ANY_VARIABLES.findall(plain)) - len(_VARIABLE.findall(plain))
    if others or re.search(r"has\(\s*variables\.\w+\s*\)", plain):
        return None
    return names


def inline_variables(text: str, definitions: Sequence[tuple[str, str]]) -> str | None:
    """``text`` with the Kubernetes ``variables`` it reads inlined as lazy,
    memoised ``cel.bind`` bindings (``__kgv_NAME``), in definition order, or
    ``None`` when some text uses ``variables`` in a way inlining cannot keep.

    Evaluating the result needs one activation for every expression of a
    review (docs/cel-notes.md §5); a variable that fails is an error only for
    the expressions that read it, as in Kubernetes.
    """
    defined = dict(definitions)
    order = [name for name, _ in definitions]
    needed: set[str] = set()
    pending = variable_refs(text)
    if pending is None:
        return None
    while pending:
        name = pending.pop()
        if name in needed:
            continue
        if name not in defined:
            return None
        needed.add(name)
        refs = variable_refs(defined[name])
        if refs is None:
            return None
        pending.extend(refs)

    def rename(source: str) -> str:
        plain = _outside_strings(source)
        spans = [(m.start(), m.end(), m.group(1)) for m in _VARIABLE.finditer(plain)]
        out, last = [], 0
        for start, end, name in spans:
            out.append(source[last:start])
            out.append(f"__kgv_{name}")
            last = end
        out.append(source[last:])
        return "".join(out)

    body = rename(text)
    for name in reversed([n for n in order if n in needed]):
        body = f"cel.bind(__kgv_{name}, {rename(defined[name])}, {body})"
    return body
