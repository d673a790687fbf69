"""Constraints of K8sNativeValidation (CEL) templates in the engine: the SDK, check and
serve share this path (fixtures: tests/cli/fixtures/cel)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kubegate.engine.engine import Engine
from kubegate.errors import UsageError

FIXTURES = Path(__file__).parents[1] / "cli" / "fixtures" / "cel"


def load(name: str) -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((FIXTURES / name).read_text())  # type: ignore[no-any-return]


POLICIES = ["template-both.yaml", "constraint-replicas.yaml", "template-cel-only.yaml", "constraint-nolatest.yaml"]


@pytest.mark.parametrize("backend", ["compiled", "regopy"])
def test_the_engine_chooses_the_code_of_templates_with_both(backend: str) -> None:
    objects = [load(n) for n in POLICIES]
    rego = Engine(objects=objects, builtin=False, expansion=False, backend=backend)
    cel = Engine(objects=objects, builtin=False, expansion=False, backend=backend, template_engine="cel")
    assert not rego.errors and not cel.errors
    deployment = load("deploy-3.yaml")
    assert [v.message for v in rego.review(deployment).violations] == ["rego: 3 replicas, at most 2"]
    assert [v.message for v in cel.review(deployment).violations] == ["cel: 3 replicas, at most 2"]
    assert {p.id: p.engine for p in cel.policies} == {
        "K8sTestNoLatestCel/no-latest": "cel",
        "K8sTestReplicaLimit/at-most-two": "cel",
    }
    assert rego.version != cel.version


def test_a_cel_only_template_is_enforced_and_its_match_applies() -> None:
    e = Engine(objects=[load(n) for n in POLICIES], builtin=False, expansion=False)
    result = e.review(load("pod-latest.yaml"))
    assert not result.allowed and [v.policy for v in result.denials] == ["K8sTestNoLatestCel/no-latest"]
    assert e.review(load("deploy-2.yaml")).allowed  # the Pod constraint does not match Deployments


def test_evaluate_takes_a_review() -> None:
    e = Engine(objects=[load(n) for n in POLICIES], builtin=False, expansion=False, template_engine="cel")
    from kubegate.policy.review import review_from_object

    decision = e.evaluate("K8sTestReplicaLimit/at-most-two", {"review": review_from_object(load("deploy-3.yaml"))})
    assert not decision.allowed and decision.violations[0].message.startswith("cel: ")


def test_a_failing_expression_denies_with_its_error() -> None:
    template = load("template-cel-only.yaml")
    template["spec"]["targets"][0]["code"][0]["source"]["validations"][0]["expression"] = (
        "variables.anyObject.spec.nothing.size() == 0"
    )
    e = Engine(objects=[template, load("constraint-nolatest.yaml")], builtin=False, expansion=False)
    [violation] = e.review(load("pod-latest.yaml")).violations
    assert violation.message.startswith("expression 'variables.anyObject.spec.nothing.size() == 0' resulted in error:")


def test_a_cel_compile_error_is_a_load_error_and_rego_still_runs() -> None:
    template = load("template-both.yaml")
    template["spec"]["targets"][0]["code"][0]["source"]["validations"][0]["expression"] = "1 +"
    e = Engine(objects=[template, load("constraint-replicas.yaml")], builtin=False, expansion=False)
    assert [w.code for w in e.warnings] == ["cel_code_not_loaded"]
    assert [v.message for v in e.review(load("deploy-3.yaml")).violations] == ["rego: 3 replicas, at most 2"]
    cel_only = load("template-cel-only.yaml")
    cel_only["spec"]["targets"][0]["code"][0]["source"]["validations"][0]["expression"] = "1 +"
    broken = Engine(objects=[cel_only, load("constraint-nolatest.yaml")], builtin=False, expansion=False)
    assert {e.code for e in broken.errors} == {"cel_parse_error", "template_not_found"}


def test_an_unknown_engine_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        Engine(builtin=False, template_engine="wasm")


def test_the_deadline_is_checked_before_each_cel_policy() -> None:
    import time

    from kubegate.engine.backend import set_thread_deadline
    from kubegate.errors import EvaluationError

    e = Engine(objects=[load(n) for n in POLICIES], builtin=False, expansion=False)
    set_thread_deadline(time.monotonic() - 1)
    try:
        with pytest.raises(EvaluationError) as info:
            e.review(load("pod-latest.yaml"))
        assert info.value.code == "eval_cancel_error"
    finally:
        set_thread_deadline(0)
