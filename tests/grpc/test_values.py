"""Inputs as JSON bytes or Structs, held to kubegate.yamlio's bounds."""

from __future__ import annotations

import json

import pytest
from google.protobuf import struct_pb2

from kubegate.errors import InputError
from kubegate.grpc.protos import review_pb2
from kubegate.grpc.values import from_struct, read_input, to_struct


def test_struct_numbers_without_fraction_become_ints() -> None:
    struct = struct_pb2.Struct()
    struct.update({"spec": {"replicas": 3, "ratio": 0.5, "ports": [80, 443.0], "on": True, "none": None}})
    assert from_struct(struct) == {"spec": {"replicas": 3, "ratio": 0.5, "ports": [80, 443], "on": True, "none": None}}
    assert isinstance(from_struct(struct)["spec"]["replicas"], int)


def test_struct_and_json_inputs_agree() -> None:
    doc = {"kind": "Pod", "metadata": {"name": "x", "labels": {"a": "b"}}, "n": [1, 2, {"k": -4}]}
    struct = struct_pb2.Struct()
    struct.update(doc)
    by_json = read_input(review_pb2.ReviewRequest(json=json.dumps(doc).encode()), max_bytes=1 << 20)
    by_struct = read_input(review_pb2.ReviewRequest(struct=struct), max_bytes=1 << 20)
    assert by_json == by_struct == doc


@pytest.mark.parametrize(
    ("request_message", "code"),
    [
        (review_pb2.ReviewRequest(), "missing_input"),
        (review_pb2.ReviewRequest(json=b"{"), "json_parse_error"),
        (review_pb2.ReviewRequest(json=b"\xc3\x28"), "invalid_unicode"),
        (review_pb2.ReviewRequest(json=b'{"a": 1e999}'), "number_out_of_range"),
        (review_pb2.ReviewRequest(json=b"[" * 200 + b"]" * 200), "document_too_deep"),
        (review_pb2.ReviewRequest(json=b'"' + b"x" * 2000 + b'"'), "document_too_large"),
    ],
)
def test_bad_inputs_are_input_errors(request_message: object, code: str) -> None:
    with pytest.raises(InputError) as raised:
        read_input(request_message, max_bytes=1024)
    assert raised.value.code == code


def test_deep_or_non_finite_structs_are_refused() -> None:
    deep = struct_pb2.Struct()
    inner = deep
    for _ in range(200):
        inner = inner.get_or_create_struct("a")
    with pytest.raises(InputError) as too_deep:
        from_struct(deep)
    assert too_deep.value.code == "document_too_deep"
    nan = struct_pb2.Struct()
    nan.update({"x": float("nan")})
    with pytest.raises(InputError) as not_finite:
        from_struct(nan)
    assert not_finite.value.code == "number_out_of_range"


def test_to_struct_holds_any_details() -> None:
    struct = to_struct({"missing": ("cpu", "memory"), "n": 2, "nested": {"s": {1, 2}}, "odd": object})
    doc = from_struct(struct)
    assert doc["missing"] == ["cpu", "memory"] and doc["n"] == 2 and sorted(doc["nested"]["s"]) == [1, 2]
    assert isinstance(doc["odd"], str)
    assert from_struct(to_struct(None)) == {}
