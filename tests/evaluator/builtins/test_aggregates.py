"""The aggregates builtins (kubegate.evaluator.builtins.aggregates), driven by cases/aggregates.yaml."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest

import kubegate.evaluator.builtins.aggregates  # noqa: F401  (registers the implementations)

from ._nc_cases import load, run


@pytest.mark.parametrize("case", load("aggregates"))
def test_case(case: dict[str, Any]) -> None:
    run(case)


def test_sum_does_not_mutate_and_accepts_tuples() -> None:
    from kubegate.evaluator.builtins.registry import IMPLEMENTATIONS

    xs = (1, 2, 3)
    assert IMPLEMENTATIONS["sum"].impl(xs) == 6
    assert xs == (1, 2, 3)


def test_sort_of_deep_values_fails_cleanly() -> None:
    from kubegate.evaluator.builtins.registry import IMPLEMENTATIONS, BuiltinError

    deep: Any = 0
    for _ in range(20_000):
        deep = [deep]
    with contextlib.suppress(BuiltinError):  # a refusal is fine, a crash is not
        IMPLEMENTATIONS["sort"].impl([deep, [deep]])


def test_count_bool_is_not_a_number_of_anything() -> None:
    from kubegate.evaluator.builtins.registry import IMPLEMENTATIONS, BuiltinError

    with pytest.raises(BuiltinError) as info:
        IMPLEMENTATIONS["count"].impl(False)
    assert info.value.code == "eval_type_error"
