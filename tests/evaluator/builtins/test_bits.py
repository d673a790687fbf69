"""The bits builtins (kubegate.evaluator.builtins.bits), driven by cases/bits.yaml."""

from __future__ import annotations

from typing import Any

import pytest

import kubegate.evaluator.builtins.bits  # noqa: F401  (registers the implementations)

from ._nc_cases import load, run


@pytest.mark.parametrize("case", load("bits"))
def test_case(case: dict[str, Any]) -> None:
    run(case)
