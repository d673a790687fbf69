"""Regular expression builtins: ``regex.match`` (and its deprecated alias ``re_match``),
``regex.is_valid``, ``regex.split``, ``regex.find_n``, ``regex.find_all_string_submatch_n``,
``regex.replace``, ``regex.template_match`` and ``regex.globs_match``.

Follows https://github.com/open-policy-agent/opa/blob/main/v1/topdown/regex.go and
https://github.com/open-policy-agent/opa/blob/main/v1/topdown/regex_template.go. Patterns
have Go's RE2 syntax and semantics (see :mod:`kubegate.evaluator.builtins._regex_re2`);
``regex.globs_match`` is in :mod:`kubegate.evaluator.builtins._regex_globs`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from kubegate.evaluator.builtins import _regex_globs
from kubegate.evaluator.builtins._regex_re2 import GoRegexp, compile_go, decode, encode
from kubegate.evaluator.builtins._regex_syntax import go_quote, quote_meta
from kubegate.evaluator.builtins.registry import BuiltinError, arg_number, arg_string, implements

__all__ = [
    "find_all_string_submatch_n",
    "find_n",
    "globs_match",
    "is_valid",
    "match",
    "replace",
    "split",
    "template_match",
]

_REPLACE_LIMIT = 128 << 20  # bytes of regex.replace output
_INT64_MAX = (1 << 63) - 1


class _OperandError(BuiltinError):
    """An operand error that is not a plain type mismatch (OPA's ``builtins.ErrOperand``,
    reported as ``eval_type_error``)."""

    code = "eval_type_error"


def _int_operand(value: Any, position: int) -> int:
    """OPA's ``builtins.IntOperand``: an integral number that fits Go's ``int``."""
    number = arg_number(value, position)
    if type(number) is float:
        if not number.is_integer():
            raise _OperandError(f"operand {position} must be integer number but got floating-point number")
        number = int(number)
    if not -_INT64_MAX - 1 <= number <= _INT64_MAX:
        raise _OperandError(f"operand {position} must be integer number but got floating-point number")
    return int(number)


@implements("regex.match", "re_match")
def match(pattern: Any, value: Any) -> bool:
    """Whether ``value`` contains a match of the regular expression ``pattern``."""
    pattern = arg_string(pattern, 1)
    text = arg_string(value, 2)
    return compile_go(pattern).matches(text)


@implements("regex.is_valid")
def is_valid(pattern: Any) -> bool:
    """Whether ``pattern`` is a valid regular expression (``false`` for a non-string)."""
    if type(pattern) is not str:
        return False
    try:
        compile_go(pattern)
    except BuiltinError:
        return False
    return True


@implements("regex.split")
def split(pattern: Any, value: Any) -> tuple[str, ...]:
    """``value`` split around the matches of ``pattern`` (Go's ``Regexp.Split(s, -1)``)."""
    pattern = arg_string(pattern, 1)
    data = encode(arg_string(value, 2))
    return tuple(decode(piece) for piece in compile_go(pattern).split(data))


@implements("regex.find_n")
def find_n(pattern: Any, value: Any, number: Any) -> tuple[str, ...]:
    """At most ``number`` successive matches of ``pattern`` in ``value`` (all when negative)."""
    pattern = arg_string(pattern, 1)
    data = encode(arg_string(value, 2))
    n = _int_operand(number, 3)
    regexp = compile_go(pattern)
    return tuple(decode(data[spans[0][0] : spans[0][1]]) for spans in regexp.find_all(data, n))


@implements("regex.find_all_string_submatch_n")
def find_all_string_submatch_n(pattern: Any, value: Any, number: Any) -> tuple[tuple[str, ...], ...]:
    """At most ``number`` successive matches of ``pattern`` in ``value``, each as the match
    and its groups (``""`` for a group that did not participate)."""
    pattern = arg_string(pattern, 1)
    data = encode(arg_string(value, 2))
    n = _int_operand(number, 3)
    regexp = compile_go(pattern)
    return tuple(
        tuple(decode(data[start:end]) if start >= 0 else "" for start, end in spans)
        for spans in regexp.find_all(data, n)
    )


@implements("regex.replace")
def replace(value: Any, pattern: Any, replacement: Any) -> str:
    """``value`` with every match of ``pattern`` replaced by ``replacement``, in which
    ``$1``, ``${1}``, ``${name}`` stand for groups and ``$$`` for ``$`` (Go's
    ``ReplaceAllString``)."""
    text = arg_string(value, 1)
    pattern = arg_string(pattern, 2)
    template = arg_string(replacement, 3)
    regexp = compile_go(pattern)
    try:
        return decode(regexp.replace_all(encode(text), template, _REPLACE_LIMIT))
    except MemoryError as exc:
        raise BuiltinError("regex.replace: result too large") from exc


def _delimiter_indices(template: str, start: str, end: str) -> list[int]:
    """The first-level delimiter positions (OPA's ``delimiterIndices``)."""
    level, index = 0, 0
    indices: list[int] = []
    for i, ch in enumerate(template):
        if ch == start:
            level += 1
            if level == 1:
                index = i
        elif ch == end:
            level -= 1
            if level == 0:
                indices += (index, i + 1)
            elif level < 0:
                raise BuiltinError(f"unbalanced braces in {go_quote(template)}")
    if level != 0:
        raise BuiltinError(f"unbalanced braces in {go_quote(template)}")
    return indices


class _TemplateCache:
    """A bounded, thread-safe LRU of compiled templates keyed by template and delimiters."""

    def __init__(self, entries: int) -> None:
        self._entries = entries
        self._items: OrderedDict[tuple[str, str, str], GoRegexp | str] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str, str]) -> GoRegexp | str | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: tuple[str, str, str], value: GoRegexp | str) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._entries:
                self._items.popitem(last=False)


_TEMPLATES = _TemplateCache(100)


def _compile_template(template: str, start: str, end: str) -> GoRegexp:
    """OPA's ``compileRegexTemplate``: literal text is quoted, the delimited parts are
    regular expressions, and the whole is anchored."""
    indices = _delimiter_indices(template, start, end)
    parts = ["^"]
    last = 0
    for i in range(0, len(indices), 2):
        raw = template[last : indices[i]]
        last = indices[i + 1]
        inner = template[indices[i] + 1 : last - 1]
        parts.append(f"{quote_meta(raw)}({inner})")
        compile_go(f"^{inner}$")
    parts.append(quote_meta(template[last:]))
    parts.append("$")
    return compile_go("".join(parts))


@implements("regex.template_match")
def template_match(template: Any, value: Any, delimiter_start: Any, delimiter_end: Any) -> bool:
    """Whether ``value`` matches ``template``: literal text with regular expressions
    between ``delimiter_start`` and ``delimiter_end``."""
    template = arg_string(template, 1)
    text = arg_string(value, 2)
    start = arg_string(delimiter_start, 3)
    end = arg_string(delimiter_end, 4)
    start_len, end_len = len(encode(start)), len(encode(end))
    if start_len != 1:
        raise BuiltinError(f"start delimiter has to be exactly one character long but is {start_len} long")
    if end_len != 1:
        # OPA reports the start delimiter's length here.
        raise BuiltinError(f"end delimiter has to be exactly one character long but is {start_len} long")
    key = (template, start, end)
    found = _TEMPLATES.get(key)
    if found is None:
        try:
            found = _compile_template(template, start, end)
        except BuiltinError as exc:
            found = exc.message
        _TEMPLATES.put(key, found)
    if type(found) is str:
        raise BuiltinError(found)
    return found.matches(text)  # type: ignore[union-attr]


@implements("regex.globs_match")
def globs_match(glob1: Any, glob2: Any) -> bool:
    """Whether the two regex-style globs (``.``, ``*``, ``+``, ``[...]``, ``\\`` escapes)
    match a common non-empty string (the ``glob-intersection`` library's ``NonEmpty``)."""
    return _regex_globs.non_empty(arg_string(glob1, 1), arg_string(glob2, 2))
