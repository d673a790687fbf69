"""ValidatingAdmissionPolicy / Binding objects: structure, defaults, errors, and the
loader reading them."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from kubegate.errors import Location, PolicyLoadError
from kubegate.policy.loader import load_policy_paths
from kubegate.policy.vap import binding_from_object, policy_from_object
from kubegate.policy.vap_match import RequestAttributes

POLICY: dict[str, Any] = {
    "apiVersion": "admissionregistration.k8s.io/v1",
    "kind": "ValidatingAdmissionPolicy",
    "metadata": {"name": "replicas.example.com"},
    "spec": {
        "paramKind": {"apiVersion": "v1", "kind": "ConfigMap"},
        "matchConstraints": {
            "resourceRules": [
                {
                    "apiGroups": ["apps"],
                    "apiVersions": ["v1"],
                    "operations": ["CREATE", "UPDATE"],
                    "resources": ["deployments"],
                }
            ]
        },
        "variables": [{"name": "replicas", "expression": "object.spec.replicas"}],
        "validations": [
            {
                "expression": "variables.replicas <= int(params.data.max)",
                "messageExpression": "'too many: ' + string(variables.replicas)",
            },
            {"expression": "has(object.metadata.labels)", "message": "labels please", "reason": "Forbidden"},
        ],
    },
}
BINDING: dict[str, Any] = {
    "apiVersion": "admissionregistration.k8s.io/v1",
    "kind": "ValidatingAdmissionPolicyBinding",
    "metadata": {"name": "replicas-prod"},
    "spec": {
        "policyName": "replicas.example.com",
        "validationActions": ["Deny", "Audit"],
        "paramRef": {"name": "limits", "namespace": "policy", "parameterNotFoundAction": "Allow"},
        "matchResources": {"namespaceSelector": {"matchLabels": {"env": "prod"}}},
    },
}


def test_a_policy_is_read_with_its_defaults() -> None:
    policy = policy_from_object(POLICY, Location("vap.yaml", 1, 1))
    assert policy.name == "replicas.example.com" and policy.failure_policy == "Fail"
    assert policy.param_kind == ("v1", "ConfigMap")
    assert [n for n, _ in policy.variables] == ["replicas"]
    first, second = policy.validations
    assert first.expression.path == "spec.validations[0].expression" and first.reason == "Invalid"
    assert first.message_expression is not None and first.message_expression.text.startswith("'too many")
    assert (second.message, second.reason) == ("labels please", "Forbidden")
    attrs = RequestAttributes("CREATE", "apps", "v1", "deployments", namespace="shop")
    assert policy.match_constraints.matches(attrs) is True


def test_a_binding_is_read() -> None:
    binding = binding_from_object(BINDING)
    assert binding.policy_name == "replicas.example.com" and binding.validation_actions == ("Deny", "Audit")
    assert binding.param_ref is not None and binding.param_ref.parameter_not_found_action == "Allow"
    assert binding.match_resources is not None
    attrs = RequestAttributes("CREATE", "apps", "v1", "deployments", namespace="shop", namespace_labels={"env": "dev"})
    assert binding.match_resources.matches(attrs) is False


def _broken(obj: dict[str, Any], path: list[Any], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    node = out
    for key in path[:-1]:
        node = node[key]
    if value is KeyError:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return out


@pytest.mark.parametrize(
    ("path", "value", "fragment"),
    [
        (["metadata", "name"], KeyError, "has no metadata.name"),
        (["spec", "validation"], [], "unknown field(s) validation"),
        (["spec", "validations"], [{"expression": "  "}], "must be a non-empty CEL expression"),
        (["spec", "validations"], [], "spec.validations or spec.auditAnnotations must be given"),
        (["spec", "failurePolicy"], "Skip", "failurePolicy 'Skip'"),
        (
            ["spec", "variables"],
            [{"name": "a", "expression": "1"}, {"name": "a", "expression": "2"}],
            "defines 'a' twice",
        ),
        (["spec", "paramKind"], {"kind": "ConfigMap"}, "paramKind needs apiVersion and kind"),
        (["apiVersion"], "admissionregistration.k8s.io/v2", "is not admissionregistration.k8s.io/v1"),
    ],
)
def test_policy_errors(path: list[Any], value: Any, fragment: str) -> None:
    with pytest.raises(PolicyLoadError) as info:
        policy_from_object(_broken(POLICY, path, value))
    assert info.value.code == "invalid_validating_admission_policy" and fragment in info.value.message


@pytest.mark.parametrize(
    ("path", "value", "fragment"),
    [
        (["spec", "policyName"], KeyError, "policyName is required"),
        (["spec", "validationActions"], ["Deny", "Warn"], "both Deny and Warn"),
        (["spec", "validationActions"], ["Block"], "must list some of Deny, Warn, Audit"),
        (["spec", "paramRef"], {"name": "x", "selector": {}}, "name or selector, not both"),
        (["spec", "paramRef"], {"name": "x", "parameterNotFoundAction": "Skip"}, "parameterNotFoundAction 'Skip'"),
    ],
)
def test_binding_errors(path: list[Any], value: Any, fragment: str) -> None:
    with pytest.raises(PolicyLoadError) as info:
        binding_from_object(_broken(BINDING, path, value))
    assert info.value.code == "invalid_validating_admission_policy" and fragment in info.value.message


def test_the_loader_compiles_policies_and_reads_bindings(tmp_path: Path) -> None:
    import yaml

    path = tmp_path / "vap.yaml"
    path.write_text(yaml.safe_dump_all([POLICY, BINDING]))
    sources = load_policy_paths([str(path)])
    assert not sources.errors and not sources.warnings
    [compiled] = sources.vap_policies
    assert compiled.policy.name == "replicas.example.com" and len(compiled.template.validations) == 2
    assert [b.name for b in sources.vap_bindings] == ["replicas-prod"]
