"""conftest `exception` rules applied by the engine, so the SDK, `serve` and `check`
agree (https://www.conftest.dev/exceptions/), on both backends."""

from __future__ import annotations

import pytest

from kubegate.engine.engine import Engine
from kubegate.policy.catalog import RegoFile

POLICY = """package main
import rego.v1

deny_run_as_root contains msg if {
	input.kind == "Deployment"
	not input.spec.template.spec.securityContext.runAsNonRoot
	msg := sprintf("%s runs as root", [input.metadata.name])
}

deny contains "no team label" if not input.metadata.labels.team

warn_latest contains "latest tag" if endswith(input.spec.template.spec.containers[_].image, ":latest")

exception contains rules if {
	input.metadata.name == "can-run-as-root"
	rules := ["run_as_root", "latest"]
}
"""


def deployment(name: str) -> dict:  # type: ignore[type-arg]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "x:latest"}]}}},
    }


@pytest.fixture(params=["compiled", "regopy"])
def engine(request: pytest.FixtureRequest) -> Engine:
    e = Engine(objects=[RegoFile("policy.rego", POLICY)], builtin=False, backend=request.param, expansion=False)
    assert not e.errors, e.errors
    return e


def test_named_rules_are_excepted_and_reported(engine: Engine) -> None:
    result = engine.review(deployment("can-run-as-root"))
    assert [v.message for v in result.violations] == ["no team label"]
    assert [(e.rule, e.enforcement, e.suppressed) for e in result.exceptions] == [
        ("deny_run_as_root", "deny", ("can-run-as-root runs as root",)),
        ("warn_latest", "warn", ("latest tag",)),
    ]
    assert result.exceptions[0].message == 'data.main.exception[_][_] == "run_as_root"'
    [decision] = result.decisions
    assert [e["rule"] for e in decision.to_dict()["exceptions"]] == ["deny_run_as_root", "warn_latest"]


def test_other_inputs_keep_every_result(engine: Engine) -> None:
    result = engine.review(deployment("web"))
    assert sorted(v.rule for v in result.violations) == ["deny", "deny_run_as_root", "warn_latest"]
    assert result.exceptions == ()
    assert "exceptions" not in result.decisions[0].to_dict()


def test_a_gatekeeper_shaped_package_gets_a_warning_not_exceptions() -> None:
    rego = (
        "package review\nimport rego.v1\n"
        'deny contains "x" if input.review.object.kind == "Pod"\n'
        'exception contains ["x"] if input.review.object.metadata.name == "p"\n'
    )
    e = Engine(objects=[RegoFile("r.rego", rego)], builtin=False)
    assert [w.code for w in e.warnings] == ["exception_rule_ignored"]
    result = e.review({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}})
    assert [v.message for v in result.violations] == ["x"] and result.exceptions == ()
