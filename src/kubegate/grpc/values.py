"""Request inputs and answer parts between protobuf messages and JSON data.

An input arrives as JSON bytes or as a ``google.protobuf.Struct``
(https://protobuf.dev/reference/protobuf/google.protobuf/#struct). Struct
numbers are doubles: a number with no fraction part becomes an ``int`` (a
Kubernetes object's ``replicas: 3`` stays ``3``, as in its JSON), which is
what a JSON reader would have produced. Both are held to the bounds of
:mod:`kubegate.yamlio` (depth, float64 numbers, Unicode), so a message that
decodes is data the engine can take; anything else is an
:class:`~kubegate.errors.InputError` (``INVALID_ARGUMENT`` on the wire).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from google.protobuf import struct_pb2

from kubegate.errors import InputError, Location
from kubegate.yamlio import MAX_DEPTH, check_value, read_json

__all__ = ["from_struct", "read_input", "to_struct"]

_WHERE = Location("<grpc request>")


def _number(value: float) -> int | float:
    if math.isfinite(value) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    return value


def _from_value(value: Any, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise InputError(f"the input nests deeper than {MAX_DEPTH} levels", _WHERE, code="document_too_deep")
    kind = value.WhichOneof("kind")
    if kind == "struct_value":
        return {k: _from_value(v, depth + 1) for k, v in value.struct_value.fields.items()}
    if kind == "list_value":
        return [_from_value(v, depth + 1) for v in value.list_value.values]
    if kind == "string_value":
        return value.string_value
    if kind == "number_value":
        return _number(value.number_value)
    if kind == "bool_value":
        return value.bool_value
    return None  # null_value, or no kind set


def from_struct(struct: Any) -> dict[str, Any]:
    """A ``google.protobuf.Struct`` as a JSON object (integral numbers as ``int``).

    Raises:
        InputError: ``document_too_deep``, ``number_out_of_range`` (NaN, infinities).
    """
    out = {k: _from_value(v, 2) for k, v in struct.fields.items()}
    check_value(out, _WHERE, "the input")
    return out


def read_input(message: Any, *, max_bytes: int) -> Any:
    """The input of a request message with a ``oneof input { bytes json; Struct struct; }``.

    Args:
        message: a ``ReviewRequest`` or ``EvaluateRequest``.
        max_bytes: largest JSON text, in bytes.

    Raises:
        InputError: ``missing_input`` (neither set), ``json_parse_error``,
            ``invalid_unicode`` (not UTF-8), ``document_too_large``,
            ``document_too_deep``, ``number_out_of_range``.
    """
    which = message.WhichOneof("input")
    if which == "json":
        raw: bytes = message.json
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"the input is not UTF-8 (byte {exc.start})", _WHERE, code="invalid_unicode") from None
        return read_json(text, "<grpc request>", max_bytes=max_bytes)
    if which == "struct":
        return from_struct(message.struct)
    raise InputError("the request has no input: set `json` or `struct`", _WHERE, code="missing_input")


def to_struct(doc: Mapping[str, Any] | None) -> Any:
    """A JSON object as a ``google.protobuf.Struct`` (``None``: an empty Struct).

    Values that are not JSON (sets, tuples) are given as lists; anything else
    Struct cannot hold becomes its string form, so building an answer never fails.
    """
    struct = struct_pb2.Struct()
    if doc:
        struct.update({str(k): _jsonable(v) for k, v in doc.items()})
    return struct


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    return str(value)
