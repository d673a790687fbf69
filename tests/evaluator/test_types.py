"""The type language of Rego values: printing, typing constants, checking values and unifying types."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from kubegate.evaluator.types import (
    ANY,
    BOOLEAN,
    NULL,
    NUMBER,
    STRING,
    TYPE_OF_DEPTH,
    Type,
    accepts,
    any_of,
    array_of,
    array_static,
    compare_types,
    compatible,
    describe,
    keys_of,
    object_of,
    object_static,
    or_,
    select,
    set_of,
    type_of,
    values_of,
)
from kubegate.evaluator.values import Set, to_key

A, B, N, S = ANY, BOOLEAN, NUMBER, STRING
OPTIONS = object_static({"pretty": B, "indent": S}, (S, A))


@pytest.mark.parametrize(
    ("t", "text"),
    [
        (A, "any"),
        (NULL, "null"),
        (B, "boolean"),
        (N, "number"),
        (S, "string"),
        (any_of(S, N), "any<number, string>"),
        (any_of(set_of(A), N, array_of(S), NULL), "any<null, number, array[string], set[any]>"),
        (any_of(S), "any<string>"),
        (any_of(), "any"),
        (array_of(A), "array[any]"),
        (array_static(N, S), "array<number, string>"),
        (array_static(N, dynamic=S), "array<number>[string]"),
        (Type("array"), "array"),
        (set_of(S), "set[string]"),
        (set_of(set_of(A)), "set[set[any]]"),
        (Type("set"), "set[any]"),
        (object_of(S, A), "object[string: any]"),
        (object_of(A, any_of(array_of(A), set_of(A))), "object[any: any<array[any], set[any]>]"),
        (object_static({"a": S}), "object<a: string>"),
        (object_static({"b": S, "a": N}), "object<a: number, b: string>"),
        (OPTIONS, "object<indent: string, pretty: boolean>[string: any]"),
        (
            object_static([(1, S), (True, N), (None, B), (2.5, A)]),
            "object<<nil>: boolean, true: number, 1: string, 2.5: any>",
        ),
        (Type("object"), "object"),
        (
            array_static(array_of(object_of(S, A)), any_of(NULL, S)),
            "array<array[object[string: any]], any<null, string>>",
        ),
        (None, "???"),
    ],
)
def test_describe_prints_as_opa(t: Type | None, text: str) -> None:
    assert describe(t) == text


def test_describe_is_iterative() -> None:
    t = S
    for _ in range(5000):
        t = Type("array", dynamic=t)
    assert describe(t) == "array[" * 5000 + "string" + "]" * 5000


def test_types_are_frozen_normalised_and_hashable() -> None:
    assert any_of(S, N) == any_of(N, S)
    assert object_static({"b": S, "a": N}) == object_static({"a": N, "b": S})
    assert len({any_of(S, N), any_of(N, S), set_of(A), Type("set")}) == 2
    assert repr(any_of(S, N)) == "Type(any<number, string>)"
    with pytest.raises(dataclasses.FrozenInstanceError):
        S.kind = "number"  # type: ignore[misc]
    with pytest.raises(ValueError, match="unknown type kind"):
        Type("function")  # type: ignore[arg-type]


def test_compare_types_follows_opa_order() -> None:
    order = [NULL, B, N, S, array_of(A), object_of(A, A), set_of(A), any_of(S, N)]
    for i, a in enumerate(order):
        for j, b in enumerate(order):
            assert compare_types(a, b) == (i > j) - (i < j)
    assert compare_types(None, S) == -1
    assert compare_types(array_static(N), array_of(N)) == -1  # a dynamic part sorts last
    assert compare_types(array_static(N), array_static(N, N)) == -1
    assert compare_types(ANY, any_of(S)) == -1


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "null"),
        (True, "boolean"),
        (1, "number"),
        (2.5, "number"),
        ("s", "string"),
        ([], "array[any]"),
        ((1, "a", [True]), "array<number, string, array<boolean>>"),
        ({}, "object[any: any]"),
        ({"b": 1, "a": ["x"]}, "object<a: array<string>, b: number>"),
        ({to_key(True): 1, 3: None}, "object<true: number, 3: null>"),
        ({to_key((1,)): "v"}, "object[array<number>: string]"),
        (Set(), "set[any]"),
        (Set([1, 2]), "set[number]"),
        (Set([1, "a", None]), "set[any<null, number, string>]"),
        (Set([(1,), (2,)]), "set[array<number>]"),
        (Set([(1,), (1, 2)]), "set[any<array<number>, array<number, number>>]"),
    ],
)
def test_type_of_constants(value: Any, text: str) -> None:
    assert describe(type_of(value)) == text


def test_type_of_cuts_deep_constants() -> None:
    value: Any = "leaf"
    for _ in range(3000):
        value = [value]
    text = describe(type_of(value))
    assert text == "array<" * TYPE_OF_DEPTH + "any" + ">" * TYPE_OF_DEPTH


def test_type_of_rejects_non_rego_values() -> None:
    with pytest.raises(TypeError, match="not a Rego value"):
        type_of(object())
    with pytest.raises(TypeError, match="not a Rego value"):
        type_of([{1: b"bytes"}])


@pytest.mark.parametrize(
    ("t", "value", "ok"),
    [
        (A, object(), True),
        (N, 1, True),
        (N, 1.5, True),
        (N, True, False),
        (B, True, True),
        (B, 1, False),
        (S, "x", True),
        (S, None, False),
        (NULL, None, True),
        (NULL, False, False),
        (any_of(N, S), "x", True),
        (any_of(N, S), None, False),
        (array_of(A), [1, "a"], True),
        (array_of(A), (1,), True),
        (array_of(A), Set([1]), False),
        (array_of(S), ["a", "b"], True),
        (array_of(S), ["a", 1], False),
        (array_static(N, S), [1, "a"], True),
        (array_static(N, S), [1], False),
        (array_static(N, S), [1, "a", 2], False),
        (array_static(N, S), ["a", 1], False),
        (array_static(N, dynamic=S), [1, "a", "b"], True),
        (array_static(N, dynamic=S), [1, "a", 2], False),
        (Type("array"), [], True),
        (Type("array"), [1], False),
        (set_of(A), Set([1]), True),
        (set_of(A), [1], False),
        (set_of(S), Set(["a", "b"]), True),
        (set_of(S), Set(["a", 1]), False),
        (set_of(set_of(A)), Set([Set([1]), Set()]), True),
        (set_of(set_of(A)), Set([Set([1]), 2]), False),
        (object_of(A, A), {"a": 1, 2: [3]}, True),
        (object_of(A, A), [], False),
        (object_of(S, A), {"a": 1}, True),
        (object_of(S, A), {1: 1}, False),
        (object_of(S, S), {"a": "x", "b": 1}, False),
        (object_static({"a": S}), {"a": "x"}, True),
        (object_static({"a": S}), {"a": 1}, False),
        (object_static({"a": S}), {"a": "x", "b": "y"}, False),
        (object_static({"a": S}), {"b": "x"}, False),
        (OPTIONS, {"pretty": True}, True),
        (OPTIONS, {"pretty": "yes"}, False),
        (OPTIONS, {"other": [1]}, True),
        (OPTIONS, {1: "x"}, False),
        (Type("object"), {}, True),
        (Type("object"), {"a": 1}, False),
        (any_of(S, array_of(S), set_of(S)), Set(["a"]), True),
        (any_of(S, array_of(S), set_of(S)), Set([1]), False),
        (any_of(NULL, array_of(S)), None, True),
        (any_of(N, array_static(N, S)), [1, "UTC"], True),
        (any_of(N, array_static(N, S)), [1, 2], False),
        (S, object(), False),
        (array_of(N), [object()], False),
    ],
)
def test_accepts(t: Type, value: Any, ok: bool) -> None:
    assert accepts(t, value) is ok


def test_accepts_hostile_values() -> None:
    deep: Any = 1
    for _ in range(100_000):
        deep = [deep]
    assert accepts(array_of(A), deep)  # looks only as deep as the type
    assert accepts(array_of(array_of(A)), deep)
    assert not accepts(array_of(array_of(S)), deep)
    big = list(range(1_000_000))
    assert accepts(array_of(A), big)
    assert accepts(array_of(N), big)
    wide = {f"k{i}": i for i in range(100_000)}
    assert accepts(object_of(S, N), wide)
    assert not accepts(object_of(S, S), wide)


@pytest.mark.parametrize(
    ("declared", "actual", "ok"),
    [
        (A, N, True),
        (N, A, True),
        (N, N, True),
        (N, S, False),
        (any_of(S, N), N, True),
        (N, any_of(S, N), True),
        (any_of(S), N, False),
        (any_of(S, N), any_of(B, NULL), False),
        (any_of(S, N), any_of(B, S), True),
        (array_of(A), array_static(N, S), True),
        (array_of(S), array_static(N), False),
        (array_static(N), array_static(N, N), False),
        (array_static(N, S), array_static(N, S), True),
        (array_of(S), array_of(N), False),
        (array_of(S), set_of(S), False),
        (set_of(S), set_of(A), True),
        (set_of(S), set_of(any_of(N, S)), True),  # OPA unifies the element types only
        (set_of(S), set_of(N), False),
        (object_of(S, A), object_static({"a": N}), True),
        (object_static({"a": S}), object_static({"a": N}), False),
        (object_static({"a": S}), object_of(N, A), False),
        (object_of(S, S), object_of(S, N), False),
        (OPTIONS, object_static({"pretty": B}), False),  # the declared static key indent is missing
        (OPTIONS, type_of({"pretty": True, "indent": "  "}), True),
        (any_of(S, array_of(S), set_of(S)), type_of(Set(["a"])), True),
        (any_of(array_of(A), set_of(A)), S, False),
        (any_of(NULL, B, N, S), type_of(None), True),
        (Type("array"), array_of(N), True),
    ],
)
def test_compatible_is_opa_unifies(declared: Type, actual: Type, ok: bool) -> None:
    assert compatible(declared, actual) is ok
    assert compatible(actual, declared) is ok


def test_accepts_is_stricter_than_compatible_for_set_constants() -> None:
    want = any_of(array_of(S), set_of(S))
    value = Set([1, "a"])
    assert compatible(want, type_of(value))
    assert not accepts(want, value)


def test_or() -> None:
    assert or_(None, None) is None
    assert or_(None, S) == S
    assert or_(S, None) == S
    assert or_(S, S) == S
    assert or_(S, N) == any_of(N, S)
    assert or_(A, S) == A
    assert or_(S, A) == A
    assert or_(any_of(S, N), S) == any_of(S, N)
    assert or_(any_of(S), any_of(N)) == any_of(N, S)
    assert or_(any_of(S), A) == A
    assert or_(any_of(S), N) == any_of(N, S)


def test_select_keys_values() -> None:
    tup = array_static(N, S)
    assert select(tup, 0) == N
    assert select(tup, 1.0) == S
    assert select(tup, 2) is None
    assert select(tup, -1) is None
    assert select(tup, True) is None
    assert select(tup, float("inf")) is None
    assert select(array_of(S), 7) == S
    assert select(OPTIONS, "pretty") == B
    assert select(OPTIONS, "other") == A
    assert select(OPTIONS, 1) is None
    assert select(set_of(S), "x") == S
    assert select(set_of(any_of(N, S)), "x") == S
    assert select(set_of(S), 1) is None
    assert select(A, "x") == A
    assert select(any_of(array_of(N), object_of(S, S)), 0) == N
    assert select(S, 0) is None
    assert keys_of(array_of(S)) == N
    assert keys_of(set_of(S)) == S
    assert keys_of(object_static({"a": N}, (N, S))) == any_of(N, S)
    assert keys_of(A) == A
    assert keys_of(any_of(array_of(S), set_of(S))) == any_of(N, S)
    assert keys_of(S) is None
    assert values_of(array_static(N, S)) == any_of(N, S)
    assert values_of(set_of(S)) == S
    assert values_of(object_static({"a": N}, (S, S))) == any_of(N, S)
    assert values_of(any_of(array_of(N), set_of(N))) == N
    assert values_of(A) == A
    assert values_of(N) is None
