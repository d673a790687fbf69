"""ValidatingAdmissionPolicy matching (cases in fixtures/vap_match_cases.yaml) and the
kind-to-resource mapping it needs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from kubegate.errors import PolicyLoadError
from kubegate.policy.resources import Resource, ResourceMapper, guess_resource
from kubegate.policy.vap_match import RequestAttributes, parse_match_resources

CASES = yaml.safe_load((Path(__file__).parent / "fixtures" / "vap_match_cases.yaml").read_text())


@pytest.mark.parametrize("case", CASES["cases"], ids=lambda c: c["name"])
def test_matching(case: dict[str, Any]) -> None:
    match = parse_match_resources(case["match"], "spec.matchConstraints")
    assert match.matches(RequestAttributes(**case["request"])) is case["want"]


@pytest.mark.parametrize("case", CASES["invalid"], ids=lambda c: c["name"])
def test_invalid_matches_are_errors(case: dict[str, Any]) -> None:
    with pytest.raises(PolicyLoadError) as info:
        parse_match_resources(case["match"], "spec.matchConstraints")
    assert info.value.code == "invalid_validating_admission_policy"
    assert case["fragment"] in info.value.message


@pytest.mark.parametrize(
    ("kind", "resource"),
    [
        ("Pod", "pods"),
        ("Ingress", "ingresses"),
        ("NetworkPolicy", "networkpolicies"),
        ("Endpoints", "endpoints"),
        ("EndpointSlice", "endpointslices"),
        ("ComponentStatus", "componentstatuses"),
        ("StorageClass", "storageclasses"),
        ("", ""),
    ],
)
def test_resources_are_guessed_as_apimachinery_does(kind: str, resource: str) -> None:
    assert guess_resource(kind) == resource


def test_crds_name_their_resources_and_scope() -> None:
    crd = {"spec": {"group": "example.com", "names": {"kind": "Moose", "plural": "meese"}, "scope": "Cluster"}}
    mapper = ResourceMapper([crd])
    assert mapper.resource("example.com", "Moose") == Resource("example.com", "meese", False)
    assert mapper.resource("", "Namespace") == Resource("", "namespaces", False)
    assert mapper.resource("apps", "Deployment", has_namespace=False) == Resource("apps", "deployments", True)
    assert mapper.resource("unknown.io", "Thing", has_namespace=False) == Resource("unknown.io", "things", False)


def test_attributes_of_a_review_synthesised_from_a_manifest() -> None:
    from kubegate.policy.review import review_from_object
    from kubegate.policy.vap_match import attributes_from_review

    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "labels": {"a": "b"}},
    }
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop", "labels": {"env": "prod"}}}
    attrs = attributes_from_review(review_from_object(deployment, operation="UPDATE"), ResourceMapper(), namespace)
    assert attrs == RequestAttributes(
        "UPDATE", "apps", "v1", "deployments", "", "web", "shop", {"a": "b"}, None, {"env": "prod"}
    )
    cluster_role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "admin"}}
    attrs = attributes_from_review(review_from_object(cluster_role), ResourceMapper())
    assert (attrs.resource, attrs.namespace, attrs.namespace_labels) == ("clusterroles", "", None)


def test_attributes_use_the_api_servers_resource_when_given() -> None:
    from kubegate.policy.vap_match import attributes_from_review

    review = {
        "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"},
        "subResource": "ephemeralcontainers",
        "operation": "UPDATE",
        "name": "p",
        "namespace": "shop",
        "object": {"metadata": {"name": "p"}},
    }
    attrs = attributes_from_review(review, ResourceMapper())
    assert (attrs.resource, attrs.subresource, attrs.old_labels) == ("pods", "ephemeralcontainers", None)
