"""The DSL checker against the YAML conformance set in conformance/diagnostics.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from kubegate.dsl.compiler import compile_source
from kubegate.dsl.schema import SchemaSet

CASES = yaml.safe_load((Path(__file__).parent / "conformance" / "diagnostics.yaml").read_text())


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_diagnostics(case: dict[str, Any]) -> None:
    schemas = SchemaSet(crds=case.get("crds") or ())
    result = compile_source(case["source"], "case.kgr", schemas)
    got = [
        (e.code, e.location.line if e.location else 0, e.location.column if e.location else 0, e.message)
        for e in result.errors
    ]
    expected = case["diagnostics"]
    assert len(got) == len(expected), got
    for (code, line, column, message), want in zip(got, expected, strict=True):
        assert (code, line, column) == (want["code"], want["line"], want["column"]), (got, want)
        assert want["message"].replace("<file>", "case.kgr") in message, message
    for error in result.errors:
        assert error.location is not None and error.location.snippet, "every diagnostic has a snippet"
        assert "^" in str(error)
    if not expected:
        assert len(result.rules) == case["source"].count("RULE ")
