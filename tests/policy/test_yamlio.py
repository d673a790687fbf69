"""The shared bounded reader (kubegate.yamlio): JSON data out, every bound located."""

from __future__ import annotations

import math
from typing import Any

import pytest

from kubegate.errors import InputError, Location
from kubegate.yamlio import (
    MAX_ALIAS_NODES,
    MAX_DEPTH,
    check_value,
    iter_yaml_stream,
    read_json,
    read_yaml,
    read_yaml_stream,
)


def _error(text: str, **kwargs: Any) -> InputError:
    with pytest.raises(InputError) as info:
        read_yaml_stream(text, "s.yaml", **kwargs)
    return info.value


def _where(error: InputError) -> tuple[int, int]:
    assert error.location is not None
    return error.location.line, error.location.column


def test_values_are_json_data_as_kubernetes_reads_them() -> None:
    (doc,) = read_yaml_stream("t: 2024-01-01T00:00:00Z\n1: a\ntrue: b\nnull: c\n1.5: d\nn: 0x10\nf: 1.5e+3\n", "s")
    assert doc.value == {
        "t": "2024-01-01T00:00:00Z",
        "1": "a",
        "true": "b",
        "null": "c",
        "1.5": "d",
        "n": 16,
        "f": 1500.0,
    }


def test_a_key_repeated_after_stringification_is_a_duplicate() -> None:
    error = _error('1: a\n"1": b\n')
    assert error.code == "yaml_parse_error" and _where(error) == (2, 1)


def test_merge_keys_may_be_overridden_but_own_keys_not_repeated() -> None:
    doc = read_yaml("a: &a {x: 1, y: 2}\nb: {<<: *a, x: 3}\n", "s")
    assert doc is not None and doc.value["b"] == {"x": 3, "y": 2}
    assert _error("a: &a {x: 1}\nb: {<<: *a, x: 3, x: 4}\n").code == "yaml_parse_error"


def test_numbers_at_the_edge_of_float64() -> None:
    (doc,) = read_yaml_stream(f"a: {10**308}\nb: 1.7e+308\nc: -{10**300}\n", "s")
    assert doc.value["a"] == 10**308 and math.isfinite(doc.value["b"])
    error = _error(f"a: 1\nb: {10**309}\n")
    assert error.code == "number_out_of_range" and _where(error) == (2, 4)
    assert _error("a: " + ":".join(["1"] * 300) + "\n").code == "number_out_of_range"


def test_depth_at_the_limit_reads_and_one_more_is_refused() -> None:
    ok = "[" * MAX_DEPTH + "]" * MAX_DEPTH + "\n"
    assert read_yaml(ok, "s") is not None
    error = _error("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1) + "\n")
    assert error.code == "document_too_deep" and _where(error) == (1, MAX_DEPTH + 1)


def test_depth_made_by_aliases_counts() -> None:
    half = MAX_DEPTH // 2 + 1
    text = "a: &a " + "[" * half + "]" * half + "\nb: " + "[" * half + "*a" + "]" * half + "\n"
    assert _error(text).code == "document_too_deep"


def test_block_nesting_is_bounded_too() -> None:
    text = "".join("  " * i + f"k{i}:\n" for i in range(MAX_DEPTH + 5)) + "  " * (MAX_DEPTH + 5) + "x\n"
    error = _error(text)
    assert error.code == "document_too_deep" and _where(error)[0] == MAX_DEPTH + 1


def test_the_pure_python_parser_is_bounded_too() -> None:
    error = _error("a: " + "[" * 600 + "]" * 600 + "\n", pure_python=True)
    assert error.code == "document_too_deep" and _where(error)[0] == 1
    error = _error('a: 1\nb: "x\\ud800"\n', pure_python=True)
    assert error.code == "invalid_unicode" and _where(error) == (2, 4)
    error = _error("a: 1\nb: \x07\n", pure_python=True)
    assert error.code == "yaml_parse_error" and _where(error) == (2, 4)


def test_a_few_aliases_are_fine_many_are_not() -> None:
    items = ", ".join(f"v{i}" for i in range(50))
    ok = f"a: &a [{items}]\nb: [" + ", ".join(["*a"] * 100) + "]\n"
    assert read_yaml(ok, "s") is not None
    bad = f"a: &a [{items}]\nb: [" + ", ".join(["*a"] * 300) + "]\n"
    error = _error(bad)
    assert error.code == "yaml_alias_limit" and _where(error) == (2, 4)


def test_the_alias_budget_covers_the_whole_stream() -> None:
    items = ", ".join(f"v{i}" for i in range(1000))
    doc = f"a: &a [{items}]\nb: [" + ", ".join(["*a"] * 100) + "]\n"  # under the budget of one document
    per_doc = 100 * 1001
    count = MAX_ALIAS_NODES // per_doc + 1
    docs = iter_yaml_stream("---\n".join([doc] * count), "s")
    for _ in range(count - 1):
        next(docs)
    with pytest.raises(InputError) as info:
        next(docs)
    assert info.value.code == "yaml_alias_limit"


def test_single_document_reader() -> None:
    assert read_yaml("", "s") is None and read_yaml("# only a comment\n", "s") is None
    with pytest.raises(InputError) as info:
        read_yaml("a: 1\n---\nb: 2\n", "s")
    assert info.value.code == "yaml_parse_error" and _where(info.value) == (3, 1)


def test_control_characters_are_located() -> None:
    error = _error("a: 1\nb: x\x00y\n")
    assert error.code == "yaml_parse_error" and _where(error) == (2, 5)


def test_json_numbers_depth_and_surrogates() -> None:
    assert read_json('{"a": 1e308, "b": [1, 2], "c": "\\ud83d\\ude00", "d": "\\\\ud800"}', "j")["d"] == "\\ud800"
    with pytest.raises(InputError) as info:
        read_json('{"a": [1,\n 2, -1E+999]}', "j")
    assert info.value.code == "number_out_of_range" and _where(info.value) == (2, 5)
    with pytest.raises(InputError) as info:
        read_json('{"a": "x", "b": ["\\udc00"]}', "j")
    assert info.value.code == "invalid_unicode" and _where(info.value) == (1, 18)
    with pytest.raises(InputError) as info:
        read_json("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), "j")
    assert info.value.code == "document_too_deep" and _where(info.value) == (1, MAX_DEPTH + 1)
    assert read_json("[" * MAX_DEPTH + "]" * MAX_DEPTH, "j") is not None


@pytest.mark.parametrize(
    ("value", "code", "field"),
    [
        ({"a": {"b": float("nan")}}, "number_out_of_range", "a.b"),
        ({"a": [1, 10**400]}, "number_out_of_range", "a[1]"),
        ({"a": "x\ud800"}, "invalid_unicode", "a"),
        ({"a": {1: "x"}}, "invalid_value", "a"),
        ({"a": b"x"}, "invalid_value", "a"),
        ({"a": [[[[[[[[[[[[]]]]]]]]]]]] * 1}, None, None),
    ],
)
def test_check_value(value: Any, code: str | None, field: str | None) -> None:
    where = Location("<memory>[0]")
    if code is None:
        check_value(value, where)
        return
    with pytest.raises(InputError) as info:
        check_value(value, where)
    assert info.value.code == code and info.value.details["field"] == field and info.value.location == where


def test_check_value_depth() -> None:
    value: Any = 1
    for _ in range(MAX_DEPTH + 1):
        value = [value]
    with pytest.raises(InputError) as info:
        check_value({"a": value}, Location("m"))
    assert info.value.code == "document_too_deep"
