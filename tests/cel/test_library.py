"""Kubernetes' CEL lists and regex libraries (cases in cases/library.yaml)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from kubegate.cel.program import CelError, EmbeddedCel, activation, compile_expression

CASES = yaml.safe_load((Path(__file__).parent / "cases" / "library.yaml").read_text())


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["expr"])
def test_library(case: dict[str, Any]) -> None:
    program = compile_expression(EmbeddedCel(case["expr"], "t"), ["object"])
    if "error" in case:
        with pytest.raises(CelError) as info:
            program.evaluate(activation(program, {"object": None}))
        assert case["error"] in info.value.message
        return
    got = program.evaluate(activation(program, {"object": None}))
    assert got == case["want"] and type(got) is type(case["want"])
