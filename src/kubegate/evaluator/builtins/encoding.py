"""Encoding builtins: base64, base64url, hex, urlquery and JSON (YAML in :mod:`.encoding_yaml`).

Follows https://github.com/open-policy-agent/opa/blob/main/v1/topdown/encoding.go:
each builtin is Go's library function on the UTF-8 bytes of its operand, with
Go's error texts (``illegal base64 data at input byte 4``,
``encoding/hex: odd length hex string``, ``invalid URL escape "%zz"`` ...).
Decoded bytes that are not UTF-8 become U+FFFD (OPA keeps the raw bytes in a
Go string; a Python ``str`` cannot hold them).

``json.marshal`` writes Go's ``json.Marshal`` of OPA's value (compact, keys
sorted, sets as arrays, ``<`` ``>`` ``&`` escaped); ``json.unmarshal`` reads
numbers exactly and reports Go's decoder errors; see :mod:`._gojson`.
"""

from __future__ import annotations

import base64
import urllib.parse
from typing import Any

from kubegate.evaluator.builtins import encoding_yaml as _encoding_yaml  # noqa: F401 - registers yaml.*
from kubegate.evaluator.builtins._gocompat import (
    GoError,
    b64_decode,
    b64url_decode_opa,
    bytes_to_str,
    go_quote,
    hex_decode,
)
from kubegate.evaluator.builtins._gojson import marshal, marshal_indent, unmarshal, valid
from kubegate.evaluator.builtins.registry import (
    BuiltinError,
    arg_object,
    arg_string,
    implements,
)
from kubegate.evaluator.values import Set, from_key, order_key, type_name

__all__ = [
    "base64_decode",
    "base64_encode",
    "base64_is_valid",
    "base64url_decode",
    "base64url_encode",
    "base64url_encode_no_pad",
    "hex_decode_builtin",
    "hex_encode",
    "json_is_valid",
    "json_marshal",
    "json_marshal_with_options",
    "json_unmarshal",
    "query_unescape",
    "urlquery_decode",
    "urlquery_decode_object",
    "urlquery_encode",
    "urlquery_encode_object",
]


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


# ------------------------------------------------------------------ base64 / hex


@implements("base64.encode")
def base64_encode(x: Any) -> str:
    """``base64.encode(x)``: standard, padded base64 of the UTF-8 bytes."""
    return base64.b64encode(_utf8(arg_string(x, 1))).decode("ascii")


@implements("base64.decode")
def base64_decode(x: Any) -> str:
    """``base64.decode(x)``: Go's ``StdEncoding.DecodeString`` (newlines ignored, padding required)."""
    try:
        return bytes_to_str(b64_decode(_utf8(arg_string(x, 1))))
    except GoError as exc:
        raise BuiltinError(exc.message) from None


@implements("base64.is_valid")
def base64_is_valid(x: Any) -> bool:
    """``base64.is_valid(x)``: whether ``base64.decode`` would succeed (``false`` for a non-string)."""
    if type(x) is not str:
        return False
    try:
        b64_decode(_utf8(x))
    except GoError:
        return False
    return True


@implements("base64url.encode")
def base64url_encode(x: Any) -> str:
    """``base64url.encode(x)``: URL-safe, padded base64."""
    return base64.urlsafe_b64encode(_utf8(arg_string(x, 1))).decode("ascii")


@implements("base64url.encode_no_pad")
def base64url_encode_no_pad(x: Any) -> str:
    """``base64url.encode_no_pad(x)``: URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(_utf8(arg_string(x, 1))).decode("ascii").rstrip("=")


@implements("base64url.decode")
def base64url_decode(x: Any) -> str:
    """``base64url.decode(x)``: padded or unpadded URL-safe base64."""
    try:
        return bytes_to_str(b64url_decode_opa(arg_string(x, 1)))
    except GoError as exc:
        raise BuiltinError(exc.message) from None


@implements("hex.encode")
def hex_encode(x: Any) -> str:
    """``hex.encode(x)``: lower-case hex of the UTF-8 bytes."""
    return _utf8(arg_string(x, 1)).hex()


@implements("hex.decode")
def hex_decode_builtin(x: Any) -> str:
    """``hex.decode(x)``: Go's ``hex.DecodeString``."""
    try:
        return bytes_to_str(hex_decode(arg_string(x, 1)))
    except GoError as exc:
        raise BuiltinError(exc.message) from None


# ------------------------------------------------------------------ urlquery


def _query_escape(text: str) -> str:
    """``url.QueryEscape``: unreserved bytes kept, space as ``+``, the rest ``%XX``."""
    return urllib.parse.quote_plus(_utf8(text), safe="")


def query_unescape(text: str) -> str:
    """``url.QueryUnescape``.

    Raises:
        GoError: ``invalid URL escape "%zz"``.
    """
    data = _utf8(text)
    out = bytearray()
    i, n = 0, len(data)
    hexdigits = b"0123456789abcdefABCDEF"
    while i < n:
        c = data[i]
        if c == 0x25:  # %
            if i + 2 >= n or data[i + 1] not in hexdigits or data[i + 2] not in hexdigits:
                bad = data[i : i + 3]
                raise GoError("invalid URL escape " + go_quote(bytes_to_str(bad)))
            out.append(int(data[i + 1 : i + 3], 16))
            i += 3
        elif c == 0x2B:  # +
            out.append(0x20)
            i += 1
        else:
            out.append(c)
            i += 1
    return bytes_to_str(bytes(out))


@implements("urlquery.encode")
def urlquery_encode(x: Any) -> str:
    """``urlquery.encode(x)``: Go's ``url.QueryEscape``."""
    return _query_escape(arg_string(x, 1))


@implements("urlquery.decode")
def urlquery_decode(x: Any) -> str:
    """``urlquery.decode(x)``: Go's ``url.QueryUnescape``."""
    try:
        return query_unescape(arg_string(x, 1))
    except GoError as exc:
        raise BuiltinError(exc.message) from None


_ENCODE_OBJECT_ERROR = "operand 1 values must be string, array[string], or set[string]"


@implements("urlquery.encode_object")
def urlquery_encode_object(x: Any) -> str:
    """``urlquery.encode_object(x)``: ``url.Values.Encode`` (keys sorted, arrays and sets repeat the key)."""
    obj = arg_object(x, 1)
    pairs: dict[str, list[str]] = {}
    for key, value in obj.items():
        k = from_key(key)
        name = k if type(k) is str else marshal(k)
        if type(value) is str:
            pairs[name] = [value]
            continue
        if type(value) is Set:
            items: Any = value.values()
        elif type(value) in (list, tuple):
            items = value
        else:
            raise BuiltinError(_ENCODE_OBJECT_ERROR)
        strings = []
        for item in items:
            if type(item) is not str:
                raise BuiltinError(_ENCODE_OBJECT_ERROR)
            strings.append(item)
        pairs[name] = strings
    parts: list[str] = []
    for name in sorted(pairs):
        escaped = _query_escape(name)
        parts.extend(escaped + "=" + _query_escape(v) for v in pairs[name])
    return "&".join(parts)


@implements("urlquery.decode_object")
def urlquery_decode_object(x: Any) -> dict[str, tuple[str, ...]]:
    """``urlquery.decode_object(x)``: Go's ``url.ParseQuery`` (the error of the first bad pair)."""
    query = arg_string(x, 1)
    values: dict[str, list[str]] = {}
    error: str | None = None
    for part in query.split("&") if query else []:
        if ";" in part:
            error = "invalid semicolon separator in query"
            continue
        if not part:
            continue
        key, _, value = part.partition("=")
        try:
            k = query_unescape(key)
            v = query_unescape(value)
        except GoError as exc:
            if error is None:
                error = exc.message
            continue
        values.setdefault(k, []).append(v)
    if error is not None:
        raise BuiltinError(error)
    return {k: tuple(v) for k, v in values.items()}


# ------------------------------------------------------------------ json


def _marshal_error(exc: BaseException) -> BuiltinError:
    if isinstance(exc, GoError):
        return BuiltinError(exc.message)
    return BuiltinError("json: value nests too deeply to be marshaled")


@implements("json.marshal")
def json_marshal(x: Any) -> str:
    """``json.marshal(x)``: compact JSON, keys sorted, sets as arrays, HTML characters escaped."""
    try:
        return marshal(x)
    except (GoError, RecursionError) as exc:
        raise _marshal_error(exc) from None


@implements("json.marshal_with_options")
def json_marshal_with_options(x: Any, opts: Any) -> str:
    """``json.marshal_with_options(x, opts)``: ``prefix`` and ``indent`` (default a tab) imply
    pretty printing unless ``pretty`` says otherwise; the first line is prefixed too."""
    options = arg_object(opts, 2)
    indent, prefix = "\t", ""
    implicit = explicit_given = pretty = False
    keys = sorted(options, key=lambda k: order_key(from_key(k)))
    for idx, key in enumerate(keys):
        name = from_key(key)
        value = options[key]
        if type(name) is not str:
            raise BuiltinError(
                f"operand 2 failed to stringify key {marshal(name)} at index {idx}: "
                f"operand {idx} must be string but got {type_name(name)}"
            )
        if name in ("prefix", "indent"):
            if type(value) is not str:
                raise BuiltinError(
                    f"operand 2 key {name} failed cast to string: "
                    f"operand {idx} must be string but got {type_name(value)}"
                )
            if name == "prefix":
                prefix = value
            else:
                indent = value
            implicit = True
        elif name == "pretty":
            explicit_given = True
            if type(value) is not bool:
                raise BuiltinError("operand 2 key pretty failed cast to bool")
            pretty = value
        else:
            raise BuiltinError(f"operand 2 object contained unknown key {name}")
    if not explicit_given:
        pretty = implicit
    try:
        if pretty:
            return prefix + marshal_indent(x, prefix, indent)
        return marshal(x)
    except (GoError, RecursionError) as exc:
        raise _marshal_error(exc) from None


@implements("json.unmarshal")
def json_unmarshal(x: Any) -> Any:
    """``json.unmarshal(x)``: exact numbers, Go's errors, trailing data refused."""
    try:
        return unmarshal(arg_string(x, 1))
    except GoError as exc:
        raise BuiltinError(exc.message) from None


@implements("json.is_valid")
def json_is_valid(x: Any) -> bool:
    """``json.is_valid(x)``: Go's ``json.Valid`` (``false`` for a non-string)."""
    if type(x) is not str:
        return False
    return valid(x)
