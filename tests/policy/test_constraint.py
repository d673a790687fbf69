"""Constraints: enforcement actions and parameter schemas."""

from __future__ import annotations

from typing import Any

import pytest

from kubegate.errors import Location, PolicyLoadError
from kubegate.policy.constraint import constraint_from_object, validate_parameters
from tests.policy.conftest import TEMPLATE

HERE = Location("c.yaml", 1, 1)
SCHEMA = TEMPLATE["spec"]["crd"]["spec"]["validation"]["openAPIV3Schema"]


def test_defaults(constraint: dict[str, Any]) -> None:
    c = constraint_from_object(constraint, HERE)
    assert c.id == "K8sReplicaLimit/at-most-three"
    assert c.enforcement_action == "deny" and c.action_for("validation.gatekeeper.sh") == "deny"


def test_scoped_enforcement(constraint: dict[str, Any]) -> None:
    constraint["spec"]["enforcementAction"] = "scoped"
    constraint["spec"]["scopedEnforcementActions"] = [
        {"action": "warn", "enforcementPoints": [{"name": "validation.gatekeeper.sh"}]},
        {"action": "deny", "enforcementPoints": [{"name": "gator.gatekeeper.sh"}]},
    ]
    c = constraint_from_object(constraint, HERE)
    assert c.action_for("validation.gatekeeper.sh") == "warn"
    assert c.action_for("gator.gatekeeper.sh") == "deny"
    assert c.action_for("audit.gatekeeper.sh") is None


@pytest.mark.parametrize("action", ["block", "Deny", 3])
def test_unknown_enforcement_action(constraint: dict[str, Any], action: object) -> None:
    constraint["spec"]["enforcementAction"] = action
    with pytest.raises(PolicyLoadError) as info:
        constraint_from_object(constraint, HERE)
    assert info.value.code == "invalid_constraint"


def test_constraint_needs_a_name(constraint: dict[str, Any]) -> None:
    del constraint["metadata"]["name"]
    with pytest.raises(PolicyLoadError):
        constraint_from_object(constraint, HERE)


def check(params: Any) -> tuple[dict[str, Any], list[str]]:
    return validate_parameters(params, SCHEMA, owner="constraint K8sReplicaLimit/x", location=HERE)


def test_valid_parameters_pass_and_unknown_fields_are_pruned() -> None:
    params, pruned = check({"max": 2, "mode": "strict", "note": None, "ports": [80, "http"], "extra": 1})
    assert "extra" not in params and pruned == ["spec.parameters.extra"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"max": "three"}, "spec.parameters.max"),
        ({"mode": "loose"}, "spec.parameters.mode"),
        ({"ports": [1.5]}, "spec.parameters.ports[0]"),
    ],
)
def test_invalid_parameters_name_constraint_and_field(params: dict[str, Any], field: str) -> None:
    with pytest.raises(PolicyLoadError) as info:
        check(params)
    err = info.value
    assert err.code == "constraint_parameters_invalid"
    assert "constraint K8sReplicaLimit/x" in err.message and field in err.message
    assert err.details["fields"] == [field]


def test_parameters_must_be_an_object() -> None:
    with pytest.raises(PolicyLoadError):
        check(["not", "an", "object"])


@pytest.mark.parametrize(
    ("spec", "field", "hint"),
    [
        ({"match": {"kind": [{"kinds": ["Pod"]}]}}, "spec.match.kind", "did you mean kinds?"),
        ({"match": {"kinds": [{"apiGroup": [""], "kinds": ["Pod"]}]}}, "spec.match.kinds[0].apiGroup", "apiGroups"),
        ({"match": {"excludeNamespaces": ["kube-system"]}}, "spec.match.excludeNamespaces", "excludedNamespaces"),
        ({"parameter": {"max": 3}}, "spec.parameter", "did you mean parameters?"),
        ({"enforcementaction": "warn"}, "spec.enforcementaction", "enforcementAction"),
    ],
)
def test_unknown_fields_are_errors_with_a_did_you_mean(
    constraint: dict[str, Any], spec: dict[str, Any], field: str, hint: str
) -> None:
    """A misspelt field would otherwise be ignored: `match.kind` matched every object."""
    constraint["spec"] = spec
    with pytest.raises(PolicyLoadError) as info:
        constraint_from_object(constraint, HERE)
    assert info.value.code == "invalid_constraint" and info.value.location == HERE
    assert f"{field} is not a field of" in info.value.message and hint in info.value.message


def test_kinds_in_the_wrong_case_are_warned(constraint: dict[str, Any]) -> None:
    from kubegate.policy.loader import load_policy_objects

    constraint["spec"]["match"] = {"kinds": [{"apiGroups": [""], "kinds": ["pod", "ConfigMap", "*"]}]}
    sources = load_policy_objects([constraint])
    (warning,) = [w for w in sources.warnings if w.code == "kind_case_mismatch"]
    assert "'pod', which matches nothing" in warning.message and "did you mean Pod?" in warning.message
    assert not sources.errors
