"""ValidatingAdmissionPolicy examples after the Kubernetes documentation
(cases/vap_documentation.yaml), reviewed by the engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from kubegate.engine.engine import Engine

EXAMPLES = yaml.safe_load((Path(__file__).parent / "cases" / "vap_documentation.yaml").read_text())


@pytest.fixture(scope="module", params=EXAMPLES, ids=lambda e: e["name"])
def example(request: pytest.FixtureRequest) -> tuple[Engine, dict[str, Any]]:
    spec: dict[str, Any] = request.param
    engine = Engine(objects=spec["policies"], builtin=False, inventory=spec.get("inventory", []), expansion=False)
    assert not engine.errors and not engine.warnings, (engine.errors, engine.warnings)
    return engine, spec


def test_documentation_example(example: tuple[Engine, dict[str, Any]]) -> None:
    engine, spec = example
    for case in spec["cases"]:
        result = engine.review(
            case["object"], operation=case.get("operation", "CREATE"), user_info=case.get("userInfo")
        )
        got = sorted([v.enforcement, v.message] for v in result.violations)
        assert (result.allowed, got) == (case["allowed"], sorted(case["violations"])), case["name"]
        if "annotations" in case:
            assert result.audit_annotations == case["annotations"], case["name"]
