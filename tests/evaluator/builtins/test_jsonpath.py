"""The JSON path builtins (kubegate.evaluator.builtins.jsonpath), driven by
cases/jsonpath.yaml, plus deep and shared operands."""

from __future__ import annotations

import copy
from typing import Any

import pytest

import kubegate.evaluator.builtins.jsonpath  # noqa: F401  (registers the implementations)
from kubegate.evaluator.builtins.registry import IMPLEMENTATIONS
from kubegate.evaluator.values import UNDEF

from ._nc_cases import load, run

DEPTH = 10_000


@pytest.mark.parametrize("case", load("jsonpath"))
def test_case(case: dict[str, Any]) -> None:
    run(case)


def _deep(n: int) -> dict[str, Any]:
    v: Any = {"keep": 1, "drop": 2}
    for _ in range(n):
        v = {"a": v, "b": 0}
    return v  # type: ignore[no-any-return]


def _descend(v: Any, n: int) -> Any:
    for _ in range(n):
        v = v["a"]
    return v


def test_filter_deep_path_is_iterative() -> None:
    path = "/".join(["a"] * DEPTH + ["keep"])
    got = IMPLEMENTATIONS["json.filter"].impl(_deep(DEPTH), [path])
    assert _descend(got, DEPTH) == {"keep": 1}


def test_remove_deep_path_is_iterative() -> None:
    path = "/".join(["a"] * DEPTH + ["drop"])
    got = IMPLEMENTATIONS["json.remove"].impl(_deep(DEPTH), [path])
    assert _descend(got, DEPTH) == {"keep": 1}
    assert got["b"] == 0


def test_patch_deep_path() -> None:
    doc = _deep(DEPTH)
    path = "/" + "/".join(["a"] * DEPTH + ["new"])
    got = IMPLEMENTATIONS["json.patch"].impl(doc, [{"op": "add", "path": path, "value": 3}])
    assert _descend(got, DEPTH) == {"keep": 1, "drop": 2, "new": 3}


def test_operands_are_not_mutated() -> None:
    doc = {"a": [1, 2, {"b": 1}], "c": {"d": 1}}
    before = copy.deepcopy(doc)
    patches = [
        {"op": "add", "path": "/a/2/x", "value": 1},
        {"op": "remove", "path": "/a/0"},
        {"op": "replace", "path": "/c/d", "value": 2},
        {"op": "move", "from": "/c", "path": "/e"},
        {"op": "copy", "from": "/e", "path": "/f"},
    ]
    got = IMPLEMENTATIONS["json.patch"].impl(doc, patches)
    assert got == {"a": [2, {"b": 1, "x": 1}], "e": {"d": 2}, "f": {"d": 2}}
    assert doc == before
    assert IMPLEMENTATIONS["json.remove"].impl(doc, ["a/0", "c"]) == {"a": [2, {"b": 1}]}
    assert IMPLEMENTATIONS["json.filter"].impl(doc, ["a/2/b"]) == {"a": [{"b": 1}]}
    assert doc == before


def test_failed_patch_is_undefined_not_an_error() -> None:
    assert IMPLEMENTATIONS["json.patch"].impl({"a": 1}, [{"op": "test", "path": "/a", "value": 2}]) is UNDEF
