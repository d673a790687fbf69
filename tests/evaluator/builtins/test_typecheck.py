"""The typecheck builtins (kubegate.evaluator.builtins.typecheck), driven by cases/typecheck.yaml."""

from __future__ import annotations

from typing import Any

import pytest

import kubegate.evaluator.builtins.typecheck  # noqa: F401  (registers the implementations)

from ._nc_cases import load, run


@pytest.mark.parametrize("case", load("typecheck"))
def test_case(case: dict[str, Any]) -> None:
    run(case)
