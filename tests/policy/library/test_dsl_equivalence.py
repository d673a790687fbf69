"""The built-in library written in the DSL (policy/library/library.kgr) decides like the Rego library.

For every case of the library's fixtures, the Rego policy and the DSL rules
that replace it must agree on the decision: the same number of violations,
with the same enforcement, for the same containers (or namespace).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubegate import DslFile, Engine, Violation

HERE = Path(__file__).parent
RULES = {
    "pod-must-have-resource-limits": ["pod-must-have-resource-limits"],
    "payment-pods-require-seccomp": ["payment-pods-require-seccomp"],
    "pci-image-provenance": ["pci-image-digest", "pci-image-registry"],
    "pci-image-signature": [],  # kubegate.image.verify has no DSL clause (docs/library.md)
    "gdpr-sensitive-env-isolation": ["gdpr-literal-personal-env", "gdpr-namespace-unknown", "gdpr-namespace-zone"],
    "go-runtime-cpu-alignment": ["go-gomaxprocs-above-limit", "go-gomaxprocs-not-a-number", "go-gomaxprocs-missing"],
}
LIBRARY = DslFile("library.kgr", resources.files("kubegate.policy.library").joinpath("library.kgr").read_text("utf-8"))


def cases() -> list[Any]:
    out = []
    for path in sorted(HERE.glob("*.yaml")):
        spec = yaml.safe_load(path.read_text())
        out += [pytest.param(spec, case, id=f"{spec['policy']}:{case['name']}") for case in spec["cases"]]
    return out


def subject(v: Violation, obj: dict[str, Any]) -> str:
    details = v.details if isinstance(v.details, dict) else {}
    if "container" in details:
        return str(details["container"])
    return str(details.get("namespace") or obj["metadata"].get("namespace") or "default")


def test_every_builtin_policy_has_dsl_rules() -> None:
    assert set(RULES) == {p.id for p in Engine().policies}
    dsl = Engine(objects=[LIBRARY], builtin=False)
    assert not dsl.errors
    assert {p.id for p in dsl.policies} == {r for rules in RULES.values() for r in rules}


@pytest.mark.parametrize(("spec", "case"), cases())
def test_same_decisions(spec: dict[str, Any], case: dict[str, Any]) -> None:
    policy = spec["policy"]
    params = spec.get("parameters")
    rego = Engine(parameters={policy: params} if params else None)
    dsl = Engine(objects=[LIBRARY], builtin=False, parameters={r: params for r in RULES[policy]} if params else None)
    for engine in (rego, dsl):
        engine.set_inventory(case.get("inventory") or [])
    obj = case["object"]
    a = [v for v in rego.review(obj).violations if v.policy == policy]
    b = [v for v in dsl.review(obj).violations if v.policy in RULES[policy]]
    assert sorted((v.enforcement, subject(v, obj)) for v in a) == sorted((v.enforcement, subject(v, obj)) for v in b), (
        [v.message for v in a],
        [v.message for v in b],
    )
    assert len(a) == len(case.get("violations") or [])
