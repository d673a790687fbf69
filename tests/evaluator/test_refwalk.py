"""Enumerating references generated per shape (kubegate.evaluator.refwalk):
every segment kind, OPA's order where it can show, and the fallback for
references with more loops than Python's block limit."""

from __future__ import annotations

from typing import Any

import pytest

from kubegate.evaluator import refwalk
from kubegate.evaluator.query import prepare_query

INPUT = {
    "spec": {
        "containers": [
            {"name": "b", "ports": [{"containerPort": 80}, {"containerPort": 443}]},
            {"name": "a", "ports": [{"containerPort": 8080}]},
        ],
        "initContainers": [{"name": "init", "ports": []}],
    },
    "names": ["a", "b"],
}


def _eval(query: str, module: str = "package t\n") -> list[dict[str, Any]]:
    return [r.bindings for r in prepare_query(query, modules={"t.rego": module}).eval(INPUT)]


@pytest.mark.parametrize(
    ("query", "want"),
    [
        # e: any element; c: constant keys after it
        ("x := [p | p := input.spec.containers[_].ports[_].containerPort]", [{"x": [80, 443, 8080]}]),
        # s: keys bound to variables, in OPA's order
        (
            "x := [[f, i] | input.spec[f][i]]",
            [{"x": [["containers", 0], ["containers", 1], ["initContainers", 0]]}],
        ),
        # v: a key from a bound variable
        ("i := 1; x := input.spec.containers[i].name", [{"i": 1, "x": "a"}]),
        # m: a key matched against a pattern (an array key here never matches an array index)
        ("x := [c | c := input.spec.containers[[0]]]", [{"x": []}]),
        # g: keys from a generator (the reference in the key enumerates)
        (
            'x := {n | n := input.spec.containers[input.names[_] == "a"]}',
            [{"x": []}],
        ),
    ],
)
def test_segment_kinds(query: str, want: list[dict[str, Any]]) -> None:
    assert _eval(query) == want


def test_source_for_every_kind_compiles() -> None:
    source = refwalk.walk_source("Bcvgesm")
    compile(source, "<test>", "exec")
    assert source.count("for ") == 4  # g, e, s and m loop; c and v index


def test_a_reference_with_more_loops_than_the_limit_falls_back() -> None:
    depth = refwalk.MAX_LOOPS + 4
    nested: Any = 1
    for _ in range(depth):
        nested = [nested]
    head = "package t\n\nimport rego.v1\n\nv := " + repr(nested) + "\n\n"
    module = head + "p contains x if { x := v" + "[_]" * depth + " }\n"
    (result,) = prepare_query("data.t.p", modules={"t.rego": module}).eval()
    assert result.expressions == [[1]]
