"""Reviews of workloads include the Pods they generate (Gatekeeper expansion), on
both backends."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubegate.engine.engine import Engine
from kubegate.policy.catalog import RegoFile

TEMPLATE = {
    "apiVersion": "templates.gatekeeper.sh/v1",
    "kind": "ConstraintTemplate",
    "metadata": {"name": "k8snolatest"},
    "spec": {
        "crd": {"spec": {"names": {"kind": "K8sNoLatest"}}},
        "targets": [
            {
                "target": "admission.k8s.gatekeeper.sh",
                "rego": """package k8snolatest
violation[{"msg": msg}] {
  c := input.review.object.spec.containers[_]
  endswith(c.image, ":latest")
  msg := sprintf("container %v uses a latest tag", [c.name])
}
""",
            }
        ],
    },
}


def constraint(name: str = "no-latest", **match: Any) -> dict[str, Any]:
    return {
        "apiVersion": "constraints.gatekeeper.sh/v1beta1",
        "kind": "K8sNoLatest",
        "metadata": {"name": name},
        "spec": {"match": {"kinds": [{"apiGroups": [""], "kinds": ["Pod"]}], **match}},
    }


def expansion(name: str = "expand-deployments", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "expansion.gatekeeper.sh/v1alpha1",
        "kind": "ExpansionTemplate",
        "metadata": {"name": name},
        "spec": {
            "applyTo": [{"groups": ["apps"], "kinds": ["Deployment"], "versions": ["v1"]}],
            "templateSource": "spec.template",
            "generatedGVK": {"group": "", "version": "v1", "kind": "Pod"},
            **spec,
        },
    }


DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "shop"},
    "spec": {"template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:latest"}]}}},
}


@pytest.fixture(params=["compiled", "regopy"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def engine(backend: str, *objects: Any, expand: bool = True) -> Engine:
    e = Engine(objects=[TEMPLATE, *objects], builtin=False, backend=backend, expansion=expand)
    assert not e.errors, e.errors
    return e


def test_a_pod_constraint_reports_on_the_deployment_with_gatekeepers_prefix(backend: str) -> None:
    result = engine(backend, constraint()).review(copy.deepcopy(DEPLOYMENT))
    assert not result.allowed
    [v] = result.violations
    assert v.policy == "K8sNoLatest/no-latest"
    assert v.message == "[Implied by kubegate-expand-workloads] container nginx uses a latest tag"
    assert v.implied_by == "kubegate-expand-workloads" and v.enforcement == "deny"
    assert v.to_dict()["impliedBy"] == "kubegate-expand-workloads"


def test_without_expansion_the_deployment_passes_a_pod_constraint(backend: str) -> None:
    assert engine(backend, constraint(), expand=False).review(copy.deepcopy(DEPLOYMENT)).allowed


def test_templates_among_the_policies_apply_without_the_builtin_set(backend: str) -> None:
    result = engine(backend, constraint(), expansion(), expand=False).review(copy.deepcopy(DEPLOYMENT))
    assert [v.message for v in result.violations] == [
        "[Implied by expand-deployments] container nginx uses a latest tag"
    ]


def test_the_templates_enforcement_action_replaces_the_constraints(backend: str) -> None:
    e = engine(backend, constraint(), expansion(enforcementAction="warn"), expand=False)
    result = e.review(copy.deepcopy(DEPLOYMENT))
    assert result.allowed
    assert [v.enforcement for v in result.violations] == ["warn"]


def test_match_source_selects_original_or_generated(backend: str) -> None:
    both = constraint("both", kinds=[{"apiGroups": ["", "apps"], "kinds": ["Pod", "Deployment"]}])
    original = constraint("original", source="Original")
    generated = constraint("generated", source="Generated")
    e = engine(backend, both, original, generated, expand=True)
    deployment_result = e.review(copy.deepcopy(DEPLOYMENT))
    policies = sorted(v.policy for v in deployment_result.violations)
    assert policies == ["K8sNoLatest/both", "K8sNoLatest/generated"]
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": DEPLOYMENT["spec"]["template"]["spec"]}
    assert sorted(v.policy for v in e.review(pod).violations) == ["K8sNoLatest/both", "K8sNoLatest/original"]


def test_the_decision_holds_the_workloads_and_the_pods_violations(backend: str) -> None:
    # A template that also reports on Deployments: one decision, both findings.
    both = constraint("both", kinds=[{"apiGroups": ["", "apps"], "kinds": ["Pod", "Deployment"]}])
    e = engine(backend, both)
    obj = copy.deepcopy(DEPLOYMENT)
    obj["spec"]["containers"] = [{"name": "side", "image": "x:latest"}]  # read by the rego as if a Pod
    [decision] = e.review(obj).decisions
    assert [v.message for v in decision.violations] == [
        "container side uses a latest tag",
        "[Implied by kubegate-expand-workloads] container nginx uses a latest tag",
    ]
    assert not decision.allowed


def test_conftest_style_policies_see_the_workload_only(backend: str) -> None:
    rego = RegoFile(
        "latest.rego",
        'package main\nimport rego.v1\ndeny contains msg if { input.kind == "Pod"; msg := "pod" }\n'
        'deny contains msg if { input.kind == "Deployment"; msg := "deployment" }\n',
    )
    e = Engine(objects=[rego], builtin=False, backend=backend)
    assert [v.message for v in e.review(copy.deepcopy(DEPLOYMENT)).violations] == ["deployment"]


def test_delete_is_not_expanded(backend: str) -> None:
    e = engine(backend, constraint())
    assert e.review(copy.deepcopy(DEPLOYMENT), operation="DELETE").allowed


def test_a_workload_without_its_template_fails_closed(backend: str) -> None:
    bad = copy.deepcopy(DEPLOYMENT)
    del bad["spec"]["template"]
    result = engine(backend, constraint()).review(bad)
    assert not result.allowed
    [failed] = result.errors
    assert failed.policy == "expansion:kubegate-expand-workloads"
    assert "source field 'spec.template' is not found in Deployment 'web'" in str(failed.error)


def test_the_policy_set_version_covers_the_templates(backend: str) -> None:
    plain = engine(backend, constraint(), expand=False)
    warn = engine(backend, constraint(), expansion(enforcementAction="warn"), expand=False)
    deny = engine(backend, constraint(), expansion(), expand=False)
    assert len({plain.version, warn.version, deny.version}) == 3


def test_cycles_are_load_errors() -> None:
    a = expansion("a", generatedGVK={"group": "apps", "version": "v1", "kind": "ReplicaSet"})
    b = expansion(
        "b",
        applyTo=[{"groups": ["apps"], "kinds": ["ReplicaSet"], "versions": ["v1"]}],
        generatedGVK={"group": "apps", "version": "v1", "kind": "Deployment"},
    )
    e = Engine(objects=[TEMPLATE, constraint(), a, b], builtin=False, expansion=False)
    assert sorted(err.code for err in e.errors) == ["expansion_cycle", "expansion_cycle"]
    assert e.review(copy.deepcopy(DEPLOYMENT)).allowed  # the cyclic templates are not used
