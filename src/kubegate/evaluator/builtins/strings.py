"""String builtins: ``concat``, ``contains``, ``startswith``, ``endswith``,
``format_int``, ``indexof``, ``indexof_n``, ``lower``, ``upper``, ``replace``,
``split``, ``substring``, the ``trim`` family, ``strings.*`` and ``to_number``.

Follows https://github.com/open-policy-agent/opa/blob/main/v1/topdown/strings.go,
https://github.com/open-policy-agent/opa/blob/main/v1/topdown/casts.go (``to_number``)
and https://github.com/open-policy-agent/opa/blob/main/v1/topdown/template.go
(``strings.render_template``, see :mod:`._gotemplate`).

Strings are Python ``str``, so lengths and indexes are in code points, as OPA
counts runes. Case mapping, white space, replacement and number parsing are Go's
(:mod:`._gostrings`). Numbers follow the evaluator's model of OPA's number text:
an ``int`` was written without fraction or exponent, a ``float`` with one, so an
operand OPA reads with ``builtins.IntOperand`` must be an ``int`` within int64.
"""

from __future__ import annotations

import bisect
import functools
import math
from collections.abc import Callable
from typing import Any, TypeVar

from kubegate.evaluator.builtins._gofmt import INT64_MAX, INT64_MIN, MAX_OUTPUT, int_text
from kubegate.evaluator.builtins._gostrings import (
    GO_SPACE,
    GoParseError,
    OutputTooLarge,
    go_lower,
    go_replace,
    go_upper,
    parse_big_float,
    parse_float,
)
from kubegate.evaluator.builtins._gotemplate import TemplateError, render
from kubegate.evaluator.builtins.registry import (
    BuiltinError,
    HaltError,
    OperandTypeError,
    arg_object,
    arg_string,
    implements,
)
from kubegate.evaluator.values import Set, items, type_name

__all__ = ["OperandError"]

F = TypeVar("F", bound=Callable[..., Any])


class OperandError(BuiltinError):
    """An operand error in OPA's own words (``builtins.NewOperandErr``), which OPA
    always reports as ``eval_type_error``."""

    code = "eval_type_error"


def _guarded(fn: F) -> F:
    """Turns stray Python exceptions from hostile operands into :class:`BuiltinError`."""

    @functools.wraps(fn)
    def wrapper(*args: Any) -> Any:
        try:
            return fn(*args)
        except (BuiltinError, HaltError):
            raise
        except OutputTooLarge:
            raise BuiltinError(f"result longer than {MAX_OUTPUT} characters") from None
        except RecursionError:
            raise BuiltinError("value too deeply nested") from None
        except MemoryError:
            raise BuiltinError("out of memory") from None
        except (ArithmeticError, ValueError, TypeError, KeyError, IndexError) as exc:
            raise BuiltinError(f"illegal value: {exc}") from None

    return wrapper  # type: ignore[return-value]


def _kind(value: Any) -> str:
    try:
        return type_name(value)
    except TypeError:
        return "unknown"


def _one_of(position: int, value: Any, *expected: str) -> OperandError:
    return OperandError(f"operand {position} must be one of {{{', '.join(expected)}}} but got {_kind(value)}")


def _element_error(position: int, composite: Any, element: Any) -> OperandError:
    kind = _kind(composite)
    return OperandError(f"operand {position} must be {kind} of strings but got {kind} containing {_kind(element)}")


def _number(value: Any, position: int) -> int | float:
    t = type(value)
    if t is not int and t is not float:
        raise OperandTypeError(position, "number", value)
    return value  # type: ignore[no-any-return]


def _int(value: Any, position: int) -> int:
    """``builtins.IntOperand``: OPA parses the number's text as an int64."""
    n = _number(value, position)
    if type(n) is float or not INT64_MIN <= n <= INT64_MAX:
        raise OperandError(f"operand {position} must be integer number but got floating-point number")
    return n  # type: ignore[return-value]


def _strings(value: Any, position: int) -> list[str]:
    """A string, or an array or set of strings (``builtins.StringSliceOperand``)."""
    t = type(value)
    if t is str:
        return [value]
    if t is list or t is tuple or t is Set:
        elems = value.values() if t is Set else value
        for e in elems:
            if type(e) is not str:
                raise _element_error(position, value, e)
        return list(elems)
    raise _one_of(position, value, "string", "set", "array")


def _check_size(n: int) -> None:
    if n > MAX_OUTPUT:
        raise OutputTooLarge


@implements("format_int")
@_guarded
def format_int(number: Any, base: Any) -> str:
    """The number in base 2, 8, 10 or 16; a fraction is truncated toward zero."""
    x = _number(number, 1)
    b = _number(base, 2)
    if type(b) is not int or b not in (2, 8, 10, 16):
        raise OperandError("operand 2 must be one of {2, 8, 10, 16}")
    if type(x) is int:
        i = x
    else:
        big = parse_big_float(repr(x)) if math.isfinite(x) else None
        if big is None:
            raise BuiltinError("illegal value")
        i = big.trunc()
    digits = int_text(abs(i)) if b == 10 else format(abs(i), {2: "b", 8: "o", 16: "x"}[b])
    return "-" + digits if i < 0 else digits


@implements("concat")
@_guarded
def concat(delimiter: Any, collection: Any) -> str:
    """The strings of an array (in order) or a set (sorted) joined by ``delimiter``."""
    sep = arg_string(delimiter, 1)
    t = type(collection)
    if t is not list and t is not tuple and t is not Set:
        raise _one_of(2, collection, "set", "array")
    elems = collection.values() if t is Set else collection
    total = 0
    for e in elems:
        if type(e) is not str:
            raise _element_error(2, collection, e)
        total += len(e)
    if elems:
        _check_size(total + len(sep) * (len(elems) - 1))
    return sep.join(elems)


@implements("indexof")
@_guarded
def indexof(base: Any, search: Any) -> int:
    """The code point index of the first ``search`` in ``base``, or -1."""
    s, sub = arg_string(base, 1), arg_string(search, 2)
    if not sub:
        raise BuiltinError("empty search character")
    return s.find(sub)


@implements("indexof_n")
@_guarded
def indexof_n(base: Any, search: Any) -> tuple[int, ...]:
    """The code point indexes of every (possibly overlapping) ``search`` in ``base``."""
    s, sub = arg_string(base, 1), arg_string(search, 2)
    if not sub:
        raise BuiltinError("empty search character")
    found = []
    i = s.find(sub)
    while i >= 0:
        found.append(i)
        i = s.find(sub, i + 1)
    return tuple(found)


@implements("substring")
@_guarded
def substring(value: Any, offset: Any, length: Any) -> str:
    """``length`` code points of ``value`` from ``offset``; a negative length means to the end."""
    s = arg_string(value, 1)
    start = _int(offset, 2)
    n = _int(length, 3)
    if start < 0:
        raise BuiltinError("negative offset")
    if start >= len(s):
        return ""
    if n < 0:
        return s[start:]
    return s[start : start + n]


@implements("contains")
@_guarded
def contains(haystack: Any, needle: Any) -> bool:
    """Whether ``needle`` occurs in ``haystack``."""
    return arg_string(needle, 2) in arg_string(haystack, 1)


@implements("strings.count")
@_guarded
def strings_count(search: Any, substr: Any) -> int:
    """The number of non-overlapping ``substr`` in ``search`` (code points + 1 for ``""``)."""
    return arg_string(search, 1).count(arg_string(substr, 2))


@implements("startswith")
@_guarded
def startswith(value: Any, prefix: Any) -> bool:
    """Whether ``value`` starts with ``prefix``."""
    return arg_string(value, 1).startswith(arg_string(prefix, 2))


@implements("endswith")
@_guarded
def endswith(value: Any, suffix: Any) -> bool:
    """Whether ``value`` ends with ``suffix``."""
    return arg_string(value, 1).endswith(arg_string(suffix, 2))


@implements("lower")
@_guarded
def lower(value: Any) -> str:
    """``value`` in lower case (Go's per-character mapping)."""
    return go_lower(arg_string(value, 1))


@implements("upper")
@_guarded
def upper(value: Any) -> str:
    """``value`` in upper case (Go's per-character mapping: ``ß`` stays)."""
    return go_upper(arg_string(value, 1))


def _split_all(text: str, delim: str) -> list[str]:
    return list(text) if delim == "" else text.split(delim)


@implements("split")
@_guarded
def split(value: Any, delimiter: Any) -> tuple[str, ...]:
    """``value`` split at each ``delimiter`` (into code points when it is empty)."""
    text, delim = arg_string(value, 1), arg_string(delimiter, 2)
    if delim not in text:
        return (text,)
    return tuple(_split_all(text, delim))


@implements("strings.split_n")
@_guarded
def split_n(value: Any, delimiter: Any, n: Any) -> tuple[str, ...]:
    """The first ``n`` parts of ``value`` split at ``delimiter``, or the last ``-n``."""
    text, delim = arg_string(value, 1), arg_string(delimiter, 2)
    limit = _int(n, 3)
    if limit >= 0:
        if delim == "":
            return tuple(text[:limit])
        return tuple(text.split(delim, limit)[:limit])
    parts = _split_all(text, delim)
    return tuple(parts[max(len(parts) + limit, 0) :])


@implements("replace")
@_guarded
def replace(value: Any, old: Any, new: Any) -> str:
    """``value`` with every ``old`` replaced by ``new``."""
    s, o, n = arg_string(value, 1), arg_string(old, 2), arg_string(new, 3)
    return go_replace(s, [(o, n)])


@implements("strings.replace_n")
@_guarded
def replace_n(patterns: Any, value: Any) -> str:
    """``value`` with each key of ``patterns`` replaced by its value; at any position
    the smallest matching key wins."""
    obj = arg_object(patterns, 1)
    s = arg_string(value, 2)
    pairs = []
    for k, v in items(obj):
        if type(k) is not str:
            raise OperandError("operand 1 non-string key found in pattern object")
        if type(v) is not str:
            raise OperandError("operand 1 non-string value found in pattern object")
        pairs.append((k, v))
    return go_replace(s, pairs)


def _trim(name: str, op: Callable[[str, str], str]) -> Callable[[Any, Any], str]:
    def impl(value: Any, cutset: Any) -> str:
        return op(arg_string(value, 1), arg_string(cutset, 2))

    impl.__name__ = impl.__qualname__ = name.replace(".", "_")
    impl.__doc__ = f"OPA's ``{name}``."
    return implements(name)(_guarded(impl))


trim = _trim("trim", str.strip)
trim_left = _trim("trim_left", str.lstrip)
trim_right = _trim("trim_right", str.rstrip)
trim_prefix = _trim("trim_prefix", str.removeprefix)
trim_suffix = _trim("trim_suffix", str.removesuffix)


@implements("trim_space")
@_guarded
def trim_space(value: Any) -> str:
    """``value`` without leading and trailing white space (Go's ``unicode.IsSpace``)."""
    return arg_string(value, 1).strip(GO_SPACE)


def _any_starts_with(strs: list[str], prefixes: list[str]) -> bool:
    if not strs or not prefixes:
        return False
    strs = sorted(strs)
    for p in prefixes:
        i = bisect.bisect_left(strs, p)
        if i < len(strs) and strs[i].startswith(p):
            return True
    return False


@implements("strings.any_prefix_match")
@_guarded
def any_prefix_match(search: Any, base: Any) -> bool:
    """Whether any of the strings ``search`` starts with any of the strings ``base``."""
    strs = _strings(search, 1)
    return _any_starts_with(strs, _strings(base, 2))


@implements("strings.any_suffix_match")
@_guarded
def any_suffix_match(search: Any, base: Any) -> bool:
    """Whether any of the strings ``search`` ends with any of the strings ``base``."""
    strs = [s[::-1] for s in _strings(search, 1)]
    return _any_starts_with(strs, [s[::-1] for s in _strings(base, 2)])


@implements("strings.reverse")
@_guarded
def reverse(value: Any) -> str:
    """``value`` with its code points in reverse order."""
    return arg_string(value, 1)[::-1]


@implements("strings.render_template")
@_guarded
def render_template(template: Any, variables: Any) -> str:
    """``template`` (Go ``text/template`` syntax) executed with ``variables``."""
    text = arg_string(template, 1)
    obj = arg_object(variables, 2)
    try:
        return render(text, obj)
    except TemplateError as exc:
        raise BuiltinError(str(exc)) from None


_NOT_NUMBERS = ("inf", "infinity", "nan")


@implements("to_number")
@_guarded
def to_number(value: Any) -> int | float:
    """``value`` as a number: null is 0, booleans 1 and 0, strings parsed as Go's ``ParseFloat``."""
    t = type(value)
    if value is None:
        return 0
    if t is bool:
        return 1 if value else 0
    if t is int or t is float:
        return value  # type: ignore[no-any-return]
    if t is str:
        if go_lower(value.lstrip("+-")) in _NOT_NUMBERS:
            raise OperandTypeError(1, "valid number string", value)
        try:
            return parse_float(value)
        except GoParseError as exc:
            raise BuiltinError(str(exc)) from None
    raise _one_of(1, value, "null", "boolean", "number", "string")
