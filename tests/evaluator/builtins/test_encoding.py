"""The encoding builtins (kubegate.evaluator.builtins.encoding), driven by cases/encoding.yaml,
plus round trips and hostile operands."""

from __future__ import annotations

import json
from typing import Any

import pytest

import kubegate.evaluator.builtins.encoding  # noqa: F401  (registers the implementations)
from kubegate.evaluator.builtins.registry import IMPLEMENTATIONS, BuiltinError
from kubegate.evaluator.values import Set, equal, to_key

from ._codec_cases import call, load, run


@pytest.mark.parametrize("case", load("encoding"))
def test_case(case: dict[str, Any]) -> None:
    run(case)


NAMES = [
    "base64.encode", "base64.decode", "base64.is_valid", "base64url.encode", "base64url.encode_no_pad",
    "base64url.decode", "hex.encode", "hex.decode", "urlquery.encode", "urlquery.decode",
    "urlquery.encode_object", "urlquery.decode_object", "json.marshal", "json.marshal_with_options",
    "json.unmarshal", "json.is_valid", "yaml.marshal", "yaml.unmarshal", "yaml.is_valid",
]  # fmt: skip


def test_every_builtin_is_registered() -> None:
    assert all(name in IMPLEMENTATIONS for name in NAMES)


@pytest.mark.parametrize("text", ["", "a", "kubegate", "é😀", "\x00\xff", "a" * 1000])
def test_base64_round_trips(text: str) -> None:
    assert call("base64.decode", call("base64.encode", text)) == text
    assert call("base64url.decode", call("base64url.encode", text)) == text
    assert call("base64url.decode", call("base64url.encode_no_pad", text)) == text
    assert call("hex.decode", call("hex.encode", text)) == text
    assert call("urlquery.decode", call("urlquery.encode", text)) == text


VALUES = [
    None, True, 0, -12, 1.5, 10**40, "x<y>&z", [1, [2, []]], {"b": {"a": None}}, {"k": "multi\nline"},
    {"y": "y", "on": "on", "empty": "", "num": "12"},
]  # fmt: skip


@pytest.mark.parametrize("value", VALUES)
def test_json_round_trip(value: Any) -> None:
    text = call("json.marshal", value)
    assert json.loads(text) == json.loads(json.dumps(value))
    assert equal(call("json.unmarshal", text), value)


@pytest.mark.parametrize("value", VALUES[:5] + VALUES[6:])
def test_yaml_round_trip(value: Any) -> None:
    assert equal(call("yaml.unmarshal", call("yaml.marshal", value)), value)


def test_marshal_does_not_mutate_operands() -> None:
    value = {"b": [Set([2, 1])], to_key(1): {"z": 1, "a": 2}}
    snapshot = repr(value)
    call("json.marshal", value)
    call("json.marshal_with_options", value, {"indent": " "})
    call("yaml.marshal", value)
    assert repr(value) == snapshot


def test_deep_json_is_parsed_iteratively() -> None:
    depth = 5000
    value = call("json.unmarshal", "[" * depth + "]" * depth)
    for _ in range(depth - 1):
        value = value[0]
    assert value == []
    assert call("json.is_valid", "[" * depth + "]" * depth) is True


def test_json_too_deep_is_an_error() -> None:
    with pytest.raises(BuiltinError, match="exceeded max depth"):
        call("json.unmarshal", "[" * 20_000 + "]" * 20_000)
    assert call("json.is_valid", "[" * 20_000 + "]" * 20_000) is False


def test_json_huge_integer_literal_is_bounded() -> None:
    with pytest.raises(BuiltinError, match="too long"):
        call("json.unmarshal", "1" * 20_000)
    assert call("json.unmarshal", "9" * 5000) == 10**5000 - 1


def test_marshal_of_very_deep_value_is_an_error() -> None:
    value: Any = []
    for _ in range(100_000):
        value = [value]
    with pytest.raises(BuiltinError):
        call("json.marshal", value)


def test_yaml_billion_laughs_is_refused() -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 9):
        prev, cur = chr(96 + i), chr(97 + i)
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    with pytest.raises(BuiltinError, match="excessive aliasing"):
        call("yaml.unmarshal", "\n".join(lines))


def test_yaml_too_deep_is_an_error() -> None:
    with pytest.raises(BuiltinError):
        call("yaml.unmarshal", "[" * 5000 + "]" * 5000)
    assert call("yaml.is_valid", "[" * 5000 + "]" * 5000) is False


def test_yaml_too_large_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from kubegate.evaluator.builtins import _goyaml_read

    monkeypatch.setattr(_goyaml_read, "MAX_YAML_BYTES", 64)
    with pytest.raises(BuiltinError, match="larger than"):
        call("yaml.unmarshal", "a: " + "x" * 100)


@pytest.mark.parametrize(
    "text",
    ["{", "[", "\x00", "- &a\n- *b", "? [a\n", "!!binary %%%", "a: !!timestamp nope", "\ud800", "'unterminated"],
)
def test_hostile_yaml_gives_builtin_errors(text: str) -> None:
    with pytest.raises(BuiltinError):
        call("yaml.unmarshal", text)
    assert call("yaml.is_valid", text) is False


@pytest.mark.parametrize("text", ["\ud800", '"\\u', "[" * 3 + "1", '{"a":' * 50, "-" * 100, "1." * 10])
def test_hostile_json_gives_builtin_errors(text: str) -> None:
    with pytest.raises(BuiltinError):
        call("json.unmarshal", text)
    assert call("json.is_valid", text) is False
