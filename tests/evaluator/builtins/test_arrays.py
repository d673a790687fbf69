"""The arrays builtins (kubegate.evaluator.builtins.arrays), driven by cases/arrays.yaml."""

from __future__ import annotations

from typing import Any

import pytest

import kubegate.evaluator.builtins.arrays  # noqa: F401  (registers the implementations)

from ._nc_cases import load, run


@pytest.mark.parametrize("case", load("arrays"))
def test_case(case: dict[str, Any]) -> None:
    run(case)
