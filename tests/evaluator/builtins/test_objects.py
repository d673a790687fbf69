"""The object builtins (kubegate.evaluator.builtins.objects), driven by
cases/objects.yaml, plus deep and shared operands."""

from __future__ import annotations

import contextlib
import copy
from typing import Any

import pytest

import kubegate.evaluator.builtins.objects  # noqa: F401  (registers the implementations)
from kubegate.evaluator.builtins.registry import IMPLEMENTATIONS, BuiltinError

from ._nc_cases import load, run

DEPTH = 10_000


@pytest.mark.parametrize("case", load("objects"))
def test_case(case: dict[str, Any]) -> None:
    run(case)


def _deep_object(n: int, leaf: Any) -> dict[str, Any]:
    v: Any = leaf
    for _ in range(n):
        v = {"a": v}
    return v  # type: ignore[no-any-return]


def test_union_of_deep_objects_is_iterative() -> None:
    a = _deep_object(DEPTH, {"x": 1})
    b = _deep_object(DEPTH, {"y": 2})
    merged = IMPLEMENTATIONS["object.union"].impl(a, b)
    for _ in range(DEPTH):
        merged = merged["a"]
    assert merged == {"x": 1, "y": 2}


def test_union_does_not_mutate_operands() -> None:
    a = {"a": {"b": 1, "c": {"d": 1}}}
    b = {"a": {"b": 2, "c": {"e": 2}}}
    a0, b0 = copy.deepcopy(a), copy.deepcopy(b)
    merged = IMPLEMENTATIONS["object.union"].impl(a, b)
    assert merged == {"a": {"b": 2, "c": {"d": 1, "e": 2}}}
    assert a == a0 and b == b0


def test_union_n_does_not_mutate_operands() -> None:
    objs = [{"a": {"b": 1}}, {"a": {"c": 2}}, {"a": {"b": 3}}]
    before = copy.deepcopy(objs)
    assert IMPLEMENTATIONS["object.union_n"].impl(objs) == {"a": {"b": 3, "c": 2}}
    assert objs == before


def test_subset_of_deep_objects_is_iterative() -> None:
    sup = _deep_object(DEPTH, {"x": 1, "y": 2})
    sub = _deep_object(DEPTH, {"x": 1})
    with contextlib.suppress(BuiltinError):  # a refusal is fine, a crash is not
        assert IMPLEMENTATIONS["object.subset"].impl(sup, sub) is True


def test_subset_of_long_arrays_is_fast() -> None:
    sup = list(range(200_000))
    sub = list(range(150_000, 150_100))
    assert IMPLEMENTATIONS["object.subset"].impl(sup, sub) is True
    assert IMPLEMENTATIONS["object.subset"].impl(sup, [*sub, -1]) is False


def test_get_deep_path() -> None:
    obj = _deep_object(DEPTH, "leaf")
    assert IMPLEMENTATIONS["object.get"].impl(obj, ["a"] * DEPTH, None) == "leaf"
    assert IMPLEMENTATIONS["object.get"].impl(obj, ["a"] * (DEPTH + 1), "d") == "d"


def test_remove_and_filter_leave_operand_alone() -> None:
    obj = {"a": 1, "b": 2}
    assert IMPLEMENTATIONS["object.remove"].impl(obj, ["a"]) == {"b": 2}
    assert IMPLEMENTATIONS["object.filter"].impl(obj, ["a"]) == {"a": 1}
    assert obj == {"a": 1, "b": 2}
