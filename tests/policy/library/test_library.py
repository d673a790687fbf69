"""The built-in compliance library, driven by one YAML case file per policy.

Format (``<policy id>.yaml``)::

    policy: pod-must-have-resource-limits
    parameters: {...}            # optional, for this policy
    cases:
    - name: ...
      object: {...}              # reviewed as a CREATE
      inventory: [{...}]         # optional data.inventory objects
      violations: ["substring"]  # one expected message fragment per violation (order free)
      enforcement: warn          # optional, default deny
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from kubegate import Engine

HERE = Path(__file__).parent
FILES = sorted(HERE.glob("*.yaml"))
_engines: dict[str, Engine] = {}


def engine_for(path: Path, spec: dict[str, Any]) -> Engine:
    if str(path) not in _engines:
        params = {spec["policy"]: spec["parameters"]} if spec.get("parameters") else None
        _engines[str(path)] = Engine(parameters=params, strict=True)
    return _engines[str(path)]


def cases() -> list[Any]:
    out = []
    for path in FILES:
        spec = yaml.safe_load(path.read_text())
        for case in spec["cases"]:
            out.append(pytest.param(path, spec, case, id=f"{spec['policy']}:{case['name']}"))
    return out


def test_every_builtin_policy_has_a_case_file() -> None:
    ids = {p.id for p in Engine().policies}
    assert {yaml.safe_load(p.read_text())["policy"] for p in FILES} == ids


@pytest.mark.parametrize(("path", "spec", "case"), cases())
def test_library_case(path: Path, spec: dict[str, Any], case: dict[str, Any]) -> None:
    engine = engine_for(path, spec)
    engine.set_inventory(case.get("inventory") or [])
    result = engine.review(case["object"])
    found = [v for v in result.violations if v.policy == spec["policy"]]
    expected = case.get("violations") or []
    messages = [v.message for v in found]
    assert len(found) == len(expected), messages
    for fragment in expected:
        assert any(fragment in m for m in messages), (fragment, messages)
    for v in found:
        assert v.enforcement == case.get("enforcement", "deny")
