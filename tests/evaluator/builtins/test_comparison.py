"""The comparison builtins (kubegate.evaluator.builtins.comparison), driven by cases/comparison.yaml."""

from __future__ import annotations

from typing import Any

import pytest

import kubegate.evaluator.builtins.comparison  # noqa: F401  (registers the implementations)

from ._nc_cases import load, run


@pytest.mark.parametrize("case", load("comparison"))
def test_case(case: dict[str, Any]) -> None:
    run(case)


def _deep(n: int) -> Any:
    v: Any = 0
    for _ in range(n):
        v = [v]
    return v


@pytest.mark.parametrize("name", ["equal", "neq", "lt", "lte", "gt", "gte"])
def test_deep_values_fail_cleanly(name: str) -> None:
    from kubegate.evaluator.builtins.registry import IMPLEMENTATIONS, BuiltinError

    try:
        result = IMPLEMENTATIONS[name].impl(_deep(20_000), _deep(20_000))
    except BuiltinError:
        return
    assert type(result) is bool
