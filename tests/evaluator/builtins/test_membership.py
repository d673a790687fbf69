"""The membership builtins (kubegate.evaluator.builtins.membership), driven by cases/membership.yaml."""

from __future__ import annotations

from typing import Any

import pytest

import kubegate.evaluator.builtins.membership  # noqa: F401  (registers the implementations)

from ._nc_cases import load, run


@pytest.mark.parametrize("case", load("membership"))
def test_case(case: dict[str, Any]) -> None:
    run(case)
