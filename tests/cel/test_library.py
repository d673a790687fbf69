"""Kubernetes' CEL libraries: the YAML cases in ``cases/library/*.yaml``.

Each case is ``{expr, want}`` (the result, compared with its Python type),
``{expr, error}`` (an evaluation error containing the text) or
``{expr, compile_error}`` (a compile error containing the text); ``object``
may give the value of ``object``; ``skip: <reason>`` marks a case of the
Kubernetes test files that cannot pass here (reported as skipped).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from kubegate.cel.library.authz import REQUEST_RESOURCE_BINDING, VARIABLES, authorizer_value, request_resource_value
from kubegate.cel.library.authz_files import read_authorizer_config
from kubegate.cel.program import CelError, EmbeddedCel, activation, compile_expression

VARS = ["object", *VARIABLES]

CASE_DIR = Path(__file__).parent / "cases" / "library"


def _cases() -> list[Any]:
    found = []
    for path in sorted(CASE_DIR.glob("*.yaml")):
        for case in yaml.safe_load(path.read_text()) or []:
            marks = [pytest.mark.skip(reason=case["skip"])] if "skip" in case else []
            found.append(pytest.param(case, id=f"{path.stem}: {case['expr']}", marks=marks))
    return found


@pytest.mark.parametrize("case", _cases())
def test_library(case: dict[str, Any]) -> None:
    source = EmbeddedCel(case["expr"], "t")
    if "compile_error" in case:
        with pytest.raises(CelError) as info:
            compile_expression(source, VARS)
        assert case["compile_error"] in info.value.message
        assert info.value.code in ("cel_type_error", "cel_parse_error")
        return
    program = compile_expression(source, VARS)
    config = read_authorizer_config(case["config"], "authz case") if "config" in case else None
    request = {**case.get("request", {}), "userInfo": case.get("user")}
    values = {
        "object": case.get("object"),
        "authorizer": authorizer_value(case.get("user"), config),
        REQUEST_RESOURCE_BINDING: request_resource_value(request, config),
    }
    bindings = activation(program, values)
    if "error" in case:
        with pytest.raises(CelError) as info:
            program.evaluate(bindings)
        assert case["error"] in info.value.message
        return
    got = program.evaluate(bindings)
    assert got == case["want"] and type(got) is type(case["want"])
