"""The traversal builtins (kubegate.evaluator.builtins.graphs), driven by
cases/graphs.yaml, plus deep values and long graphs."""

from __future__ import annotations

from typing import Any

import pytest

import kubegate.evaluator.builtins.graphs  # registers the implementations
from kubegate.evaluator.builtins.registry import IMPLEMENTATIONS, BuiltinError
from kubegate.evaluator.values import Set

from ._nc_cases import load, run

DEPTH = 10_000


@pytest.mark.parametrize("case", load("graphs"))
def test_case(case: dict[str, Any]) -> None:
    run(case)


def test_walk_is_a_relation() -> None:
    assert IMPLEMENTATIONS["walk"].relation


def test_walk_of_a_10000_deep_array() -> None:
    v: Any = "leaf"
    for _ in range(DEPTH):
        v = [v]
    results = list(IMPLEMENTATIONS["walk"].impl(v))
    assert len(results) == DEPTH + 1
    path, value = results[-1]
    assert value == "leaf"
    assert tuple(path) == (0,) * DEPTH


def test_walk_is_lazy() -> None:
    it = iter(IMPLEMENTATIONS["walk"].impl(list(range(1_000_000))))
    assert next(it)[0] == ()
    assert next(it) == ((0,), 0)


def test_reachable_long_chain() -> None:
    graph = {str(i): [str(i + 1)] for i in range(DEPTH)}
    got = IMPLEMENTATIONS["graph.reachable"].impl(graph, ["0"])
    assert len(got) == DEPTH


def test_reachable_paths_long_chain() -> None:
    graph = {str(i): [str(i + 1)] for i in range(DEPTH)}
    graph[str(DEPTH)] = []
    got = IMPLEMENTATIONS["graph.reachable_paths"].impl(graph, ["0"])
    assert isinstance(got, Set)
    (path,) = got.values()
    assert len(path) == DEPTH + 1


def test_reachable_paths_explosion_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kubegate.evaluator.builtins.graphs, "MAX_PATH_STEPS", 10_000)
    # 2**40 paths: a ladder of diamonds.
    graph: dict[str, Any] = {}
    for i in range(40):
        graph[f"n{i}"] = [f"l{i}", f"r{i}"]
        graph[f"l{i}"] = [f"n{i + 1}"]
        graph[f"r{i}"] = [f"n{i + 1}"]
    graph["n40"] = []
    with pytest.raises(BuiltinError, match="path steps"):
        IMPLEMENTATIONS["graph.reachable_paths"].impl(graph, ["n0"])
