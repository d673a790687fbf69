"""The arithmetic builtins (kubegate.evaluator.builtins.numbers), driven by
cases/numbers.yaml, plus ``rand.intn`` with a fake context."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

import kubegate.evaluator.builtins.numbers  # noqa: F401  (registers the implementations)
from kubegate.evaluator.builtins.registry import IMPLEMENTATIONS, BuiltinError

from ._nc_cases import load, run


@pytest.mark.parametrize("case", load("numbers"))
def test_case(case: dict[str, Any]) -> None:
    run(case)


@dataclass
class _Ctx:
    strict: bool = False
    cache: dict[Any, Any] = field(default_factory=dict)
    http_send_enabled: bool = False
    http_send_timeout_s: float = 5.0

    def now_ns(self) -> int:
        return 0

    def print(self, text: str) -> None:
        pass


def _rand(ctx: _Ctx, s: Any, n: Any) -> Any:
    return IMPLEMENTATIONS["rand.intn"].impl(ctx, s, n)


def test_rand_intn_is_registered_with_context() -> None:
    assert IMPLEMENTATIONS["rand.intn"].context


def test_rand_intn_in_range_and_memoised_per_query() -> None:
    ctx = _Ctx()
    first = _rand(ctx, "key", 1000)
    assert 0 <= first < 1000
    assert all(_rand(ctx, "key", 1000) == first for _ in range(20))
    assert all(0 <= _rand(_Ctx(), "key", 1000) < 1000 for _ in range(20))


def test_rand_intn_negative_bound_shares_the_positive_memo() -> None:
    ctx = _Ctx()
    v = _rand(ctx, "k", -7)
    assert 0 <= v < 7
    assert _rand(ctx, "k", 7) == v


def test_rand_intn_zero_and_errors() -> None:
    assert _rand(_Ctx(), "k", 0) == 0
    with pytest.raises(BuiltinError, match="operand 1 must be string but got number"):
        _rand(_Ctx(), 1, 5)
    with pytest.raises(BuiltinError, match="operand 2 must be number but got string"):
        _rand(_Ctx(), "k", "5")
    with pytest.raises(BuiltinError, match="operand 2 must be integer number but got floating-point number"):
        _rand(_Ctx(), "k", 5.0)
    with pytest.raises(BuiltinError, match="operand 2 must be integer number"):
        _rand(_Ctx(), "k", 1 << 70)


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("plus", (float("inf"), 1)),
        ("mul", (float("nan"), 1)),
        ("div", (1, float("inf"))),
        ("round", (float("-inf"),)),
        ("abs", (float("nan"),)),
    ],
)
def test_non_finite_floats_are_errors_not_crashes(name: str, args: tuple[Any, ...]) -> None:
    with pytest.raises(BuiltinError):
        IMPLEMENTATIONS[name].impl(*args)


def test_huge_operands_stay_exact() -> None:
    big = 10**500
    assert IMPLEMENTATIONS["mul"].impl(big, big) == 10**1000
    assert IMPLEMENTATIONS["div"].impl(big, 10**499) == 10
    assert IMPLEMENTATIONS["rem"].impl(big + 7, 10) == 7
    assert IMPLEMENTATIONS["plus"].impl(1e308, 1e308) == 2 * 10**308


def test_fractional_result_beyond_float_range_is_rounded() -> None:
    result = IMPLEMENTATIONS["plus"].impl(10**400, 0.5)
    assert result in (10**400, 10**400 + 1)
