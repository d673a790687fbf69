"""JSON as Go's ``encoding/json`` reads and writes OPA's values.

Writing (``json.Marshal`` of ``ast.JSON(value)``): compact, object keys sorted
(non-string keys first turned into their own JSON text, as ``ast.JSON`` does),
sets as arrays, ``<`` ``>`` ``&`` U+2028 U+2029 escaped as ``\\u003c`` and so
on, ``\\b`` and ``\\f`` as short escapes (Go 1.22+), integers exact and floats
in Go's float64 notation. ``MarshalIndent`` is supported for
``json.marshal_with_options``.

Reading (``util.UnmarshalJSON``: a ``json.Decoder`` with ``UseNumber`` and a
check for trailing data): the C ``json`` module does the work; when it refuses
a text (or nests too deep for it), a Go-faithful iterative parser gives either
the value or Go's error text (``invalid character 'x' looking for beginning of
value``, ``unexpected EOF``...). Numbers stay exact: integers of any size are
``int``; a float literal beyond float64 that is integral becomes an ``int``.
Lone surrogate escapes become U+FFFD, as in Go.

References: https://github.com/golang/go/blob/master/src/encoding/json/encode.go,
https://github.com/golang/go/blob/master/src/encoding/json/scanner.go,
https://github.com/open-policy-agent/opa/blob/main/v1/util/json.go.
"""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from typing import Any

from kubegate.evaluator.builtins._gocompat import GoError, format_float_g, format_float_json
from kubegate.evaluator.builtins._gojson_parse import MAX_DEPTH, MAX_NUMBER_DIGITS, GoParser, number_from_literal
from kubegate.evaluator.values import Key, Set, from_key

__all__ = ["MAX_DEPTH", "MAX_NUMBER_DIGITS", "marshal", "marshal_indent", "unmarshal", "valid"]

_ESCAPES = re.compile("[<>&\u2028\u2029\ud800-\udfff]")
_ESCAPE_TEXT = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def _escape(match: re.Match[str]) -> str:
    return _ESCAPE_TEXT.get(match.group(), "\\ufffd")


def _string(text: str, html: bool) -> str:
    out = json.dumps(text, ensure_ascii=False)
    if html:
        return _ESCAPES.sub(_escape, out)
    return re.sub("[\u2028\u2029\ud800-\udfff]", _escape, out)


def _number(value: int | float) -> str:
    if type(value) is int:
        try:
            return str(value)
        except ValueError:  # over Python's int-string digit limit
            return str(Decimal(value))
    assert type(value) is float
    if math.isfinite(value) and value.is_integer() and abs(value) < 1e21:
        return _number(int(value))
    if not math.isfinite(value):
        raise GoError(f"json: unsupported value: {format_float_g(value)}")
    return format_float_json(value)


def _key_text(key: Any, html: bool) -> str:
    value = from_key(key)
    if type(value) is str:
        return value
    # ast.JSON: a non-string key becomes its JSON text (json.Encoder, HTML escaping on).
    return marshal(value, html=True)


def _items(obj: dict[Any, Any], html: bool) -> list[tuple[str, Any]]:
    if all(type(k) is str for k in obj):
        return sorted(obj.items())
    pairs = {}
    for k, v in obj.items():
        pairs[_key_text(k, html)] = v
    return sorted(pairs.items())


def marshal(value: Any, *, html: bool = True) -> str:
    """``json.Marshal(ast.JSON(value))``.

    Raises:
        GoError: a value JSON cannot hold (a non-finite float).
        RecursionError: the value nests too deep for Python's stack.
    """
    t = type(value)
    if t is str:
        return _string(value, html)
    if t is bool:
        return "true" if value else "false"
    if value is None:
        return "null"
    if t is int or t is float:
        return _number(value)
    if t is list or t is tuple:
        return "[" + ",".join(marshal(v, html=html) for v in value) + "]"
    if t is Set:
        return "[" + ",".join(marshal(v, html=html) for v in value.values()) + "]"
    if t is dict:
        return "{" + ",".join(_string(k, html) + ":" + marshal(v, html=html) for k, v in _items(value, html)) + "}"
    if t is Key:
        return marshal(value.value, html=html)
    raise GoError(f"json: unsupported type: {t.__name__}")


def marshal_indent(value: Any, prefix: str, indent: str, level: int = 0) -> str:
    """``json.MarshalIndent(ast.JSON(value), prefix, indent)`` (the first line unprefixed, as Go)."""
    t = type(value)
    if t is Set:
        value = value.values()
        t = tuple
    if t is list or t is tuple:
        if not value:
            return "[]"
        inner = "\n" + prefix + indent * (level + 1)
        parts = [marshal_indent(v, prefix, indent, level + 1) for v in value]
        return "[" + inner + ("," + inner).join(parts) + "\n" + prefix + indent * level + "]"
    if t is dict:
        if not value:
            return "{}"
        inner = "\n" + prefix + indent * (level + 1)
        parts = [_string(k, True) + ": " + marshal_indent(v, prefix, indent, level + 1) for k, v in _items(value, True)]
        return "{" + inner + ("," + inner).join(parts) + "\n" + prefix + indent * level + "}"
    return marshal(value)


# ------------------------------------------------------------------ reading


class _Reject(Exception):
    """The C decoder met something Go would refuse or that needs the careful path."""


def _reject_constant(text: str) -> Any:
    raise _Reject(text)


def _parse_int(text: str) -> int:
    if len(text) > MAX_NUMBER_DIGITS:
        raise _Reject(text)
    if len(text) > 4000:
        return int(Decimal(text))
    return int(text)


def _parse_float(text: str) -> int | float:
    try:
        return number_from_literal(text)
    except GoError:
        raise _Reject(text) from None


_SURROGATE = re.compile("[\ud800-\udfff]")


def _fix_surrogates(value: Any) -> Any:
    """Lone surrogates (from ``\\ud800`` escapes) become U+FFFD, as Go decodes them."""
    stack: list[Any] = [value]
    if type(value) is str:
        return _SURROGATE.sub("\ufffd", value)
    while stack:
        item = stack.pop()
        if type(item) is dict:
            for k in list(item):
                v = item[k]
                if type(v) is str:
                    item[k] = _SURROGATE.sub("\ufffd", v)
                else:
                    stack.append(v)
                if _SURROGATE.search(k):
                    item[_SURROGATE.sub("\ufffd", k)] = item.pop(k)
        elif type(item) is list:
            for i, v in enumerate(item):
                if type(v) is str:
                    item[i] = _SURROGATE.sub("\ufffd", v)
                else:
                    stack.append(v)
    return value


def unmarshal(text: str) -> Any:
    """OPA's ``json.unmarshal``: one JSON value, trailing data refused.

    Raises:
        GoError: with Go's message.
    """
    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_int=_parse_int, parse_float=_parse_float)
    except (_Reject, ValueError, RecursionError):
        value = GoParser(text).parse_document()
    if "\\u" in text or _SURROGATE.search(text):
        value = _fix_surrogates(value)
    return value


def valid(text: str) -> bool:
    """``json.Valid``."""
    try:
        json.loads(text, parse_constant=_reject_constant, parse_int=len, parse_float=len)
        return True
    except (_Reject, ValueError, RecursionError):
        pass
    try:
        GoParser(text, build=False).parse_valid()
        return True
    except GoError:
        return False
