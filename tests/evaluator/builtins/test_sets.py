"""The sets builtins (kubegate.evaluator.builtins.sets), driven by cases/sets.yaml."""

from __future__ import annotations

from typing import Any

import pytest

import kubegate.evaluator.builtins.sets  # noqa: F401  (registers the implementations)

from ._nc_cases import load, run


@pytest.mark.parametrize("case", load("sets"))
def test_case(case: dict[str, Any]) -> None:
    run(case)
