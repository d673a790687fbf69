"""Gatekeeper's K8sNativeValidation engine: variables, matchConditions, messages,
failurePolicy, reserved names."""

from __future__ import annotations

from typing import Any

import pytest

from kubegate.errors import PolicyLoadError
from kubegate.policy.cel_source import cel_template_from_source, plain_locator
from kubegate.policy.review import review_from_object

POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "p", "namespace": "shop"},
    "spec": {"containers": [{"name": "c", "image": "x:latest"}]},
}
CONSTRAINT: dict[str, Any] = {"kind": "K8sT", "metadata": {"name": "t"}, "spec": {"parameters": {"tag": "latest"}}}


def template(**source: Any) -> Any:
    return cel_template_from_source(source, "K8sT", plain_locator("t.yaml"))


def test_gatekeeper_variables_and_messages() -> None:
    t = template(
        variables=[
            {
                "name": "bad",
                "expression": "variables.anyObject.spec.containers"
                '.filter(c, c.image.endsWith(":" + variables.params.tag))',
            }
        ],
        validations=[
            {
                "expression": "size(variables.bad) == 0",
                "messageExpression": '"bad: " + variables.bad.map(c, c.name).join(",")',
            },
            {"expression": "false"},
            {"expression": "false", "message": "always"},
        ],
    )
    assert t.evaluate(review_from_object(POD), CONSTRAINT).messages == ["bad: c", "failed expression: false", "always"]


def test_params_is_null_without_parameters_and_presence_tests_are_false() -> None:
    t = template(validations=[{"expression": "!has(variables.params.tag)", "message": "has a tag"}])
    assert t.evaluate(review_from_object(POD), {"kind": "K8sT", "spec": {}}).messages == []
    assert t.evaluate(review_from_object(POD), CONSTRAINT).messages == ["has a tag"]


def test_match_conditions_gate_the_validations() -> None:
    t = template(
        matchConditions=[{"name": "shop-only", "expression": 'variables.anyObject.metadata.namespace == "shop"'}],
        validations=[{"expression": "false", "message": "denied"}],
    )
    assert t.evaluate(review_from_object(POD), CONSTRAINT).messages == ["denied"]
    other = {**POD, "metadata": {"name": "p", "namespace": "dev"}}
    assert t.evaluate(review_from_object(other), CONSTRAINT).messages == []


def test_errors_follow_the_failure_policy() -> None:
    source = {
        "validations": [
            {"expression": "variables.anyObject.spec.replicas > 1"},
            {"expression": "false", "message": "m"},
        ]
    }
    fail = template(**source)
    [error, message] = fail.evaluate(review_from_object(POD), CONSTRAINT).messages
    assert error.startswith("expression 'variables.anyObject.spec.replicas > 1' resulted in error:") and message == "m"
    ignore = template(**source, failurePolicy="Ignore")
    assert ignore.evaluate(review_from_object(POD), CONSTRAINT).messages == ["m"]


def test_a_failing_variable_fails_only_what_reads_it() -> None:
    t = template(
        variables=[{"name": "broken", "expression": "variables.anyObject.spec.nope > 1"}],
        validations=[{"expression": "variables.broken"}, {"expression": "false", "message": "still evaluated"}],
    )
    first, second = t.evaluate(review_from_object(POD), CONSTRAINT).messages
    # as in Kubernetes, the error is the reading expression's, with the variable's cause
    assert first.startswith("expression 'variables.broken' resulted in error:") and "nope" in first
    assert second == "still evaluated"


def test_a_delete_reviews_the_old_object() -> None:
    t = template(validations=[{"expression": "variables.anyObject.metadata.name != 'p'", "message": "old p"}])
    review = review_from_object(POD, operation="DELETE")
    review["object"] = None
    assert t.evaluate(review, CONSTRAINT).messages == ["old p"]


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ({"variables": [{"name": "params", "expression": "1"}]}, "'params' is reserved"),
        ({"variables": [{"name": "gatekeeper_internal_x", "expression": "1"}]}, "reserved by Gatekeeper"),
        ({"validations": [{"message": "no expression"}]}, "validations.0.expression must be a CEL expression"),
        ({"failurePolicy": "Maybe"}, "failurePolicy 'Maybe'"),
        ({"validations": "x"}, "source.validations must be a list of objects"),
    ],
)
def test_malformed_sources(source: dict[str, Any], fragment: str) -> None:
    with pytest.raises(PolicyLoadError) as info:
        template(**source)
    assert info.value.code == "invalid_template" and fragment in info.value.message


def test_templates_that_cannot_be_inlined_evaluate_the_same() -> None:
    source = {
        "variables": [{"name": "tag", "expression": "variables.params.tag"}],
        "validations": [
            {"expression": "has(variables.tag) && false", "message": "not inlined"},  # has(variables.x): no inlining
        ],
    }
    t = template(**source)
    assert not t.fast
    assert t.evaluate(review_from_object(POD), CONSTRAINT).messages == ["not inlined"]
