"""Catalog assembly: isolation of templates, cross-checks, located errors, versions."""

from __future__ import annotations

import copy
from typing import Any

from kubegate.errors import Location
from kubegate.policy.catalog import PolicySources, RegoFile, build_catalog
from kubegate.policy.constraint import constraint_from_object
from kubegate.policy.template import template_from_object

HERE = Location("p.yaml", 1, 1)


def sources(
    templates: list[dict[str, Any]] = (), constraints: list[dict[str, Any]] = (), rego: list[RegoFile] = ()
) -> PolicySources:  # type: ignore[assignment]
    return PolicySources(
        tuple(rego),
        tuple(template_from_object(t, HERE) for t in templates),
        tuple(constraint_from_object(c, HERE) for c in constraints),
    )


def test_constraint_becomes_a_policy_on_an_isolated_template(
    template: dict[str, Any], constraint: dict[str, Any]
) -> None:
    catalog = build_catalog(sources([template], [constraint]))
    assert not catalog.errors
    (policy,) = catalog.policies
    assert policy.id == "K8sReplicaLimit/at-most-three"
    assert policy.package == ("kubegate", "templates", "K8sReplicaLimit")
    assert policy.parameters == {"max": 3} and policy.rules == {"violation": "deny"}
    names = [m.name for m in catalog.modules]
    assert names == ["templates/K8sReplicaLimit/template.rego", "templates/K8sReplicaLimit/lib1.rego"]
    assert "data.kubegate.templates.K8sReplicaLimit.lib.numbers.above" in catalog.modules[0].printed.text


def test_missing_template(constraint: dict[str, Any]) -> None:
    catalog = build_catalog(sources([], [constraint]))
    assert [e.code for e in catalog.errors] == ["template_not_found"]
    assert not catalog.policies


def test_broken_template_is_reported_in_the_yaml_and_its_constraints_too(
    template: dict[str, Any], constraint: dict[str, Any]
) -> None:
    template["spec"]["targets"][0]["rego"] = 'package k8sreplicalimit\n\nviolation[{"msg": m}] {\n  m := \n}\n'
    lines = ["spec:", "  targets:", "  - rego: |", "      package k8sreplicalimit"]
    t = template_from_object(template, Location("tpl.yaml", 1, 1), lines)
    catalog = build_catalog(PolicySources((), (t,), (constraint_from_object(constraint, HERE),)))
    codes = [e.code for e in catalog.errors]
    assert codes == ["rego_parse_error", "template_not_loaded"]
    loc = catalog.errors[0].location
    assert loc is not None and loc.file == "tpl.yaml" and loc.line == 8


def test_invalid_parameters_drop_only_that_constraint(template: dict[str, Any], constraint: dict[str, Any]) -> None:
    good = copy.deepcopy(constraint)
    constraint["metadata"]["name"] = "bad"
    constraint["spec"]["parameters"] = {"max": "lots"}
    catalog = build_catalog(sources([template], [constraint, good]))
    assert [e.code for e in catalog.errors] == ["constraint_parameters_invalid"]
    assert [p.id for p in catalog.policies] == ["K8sReplicaLimit/at-most-three"]


def test_duplicate_templates_and_constraints(template: dict[str, Any], constraint: dict[str, Any]) -> None:
    catalog = build_catalog(sources([template, template], [constraint, constraint]))
    assert sorted(e.code for e in catalog.errors) == ["duplicate_policy_id", "duplicate_template"]


def test_library_packages_must_start_with_lib(template: dict[str, Any]) -> None:
    template["spec"]["targets"][0]["libs"] = ["package helpers\nf(x) { x }\n"]
    catalog = build_catalog(sources([template]))
    assert [e.code for e in catalog.errors] == ["invalid_template"]


def test_rego_packages_parameters_and_reserved_names() -> None:
    policy = RegoFile(
        "p.rego",
        "# METADATA\n# custom:\n#   id: limits\n#   parameters: {max: 1}\n"
        "#   parametersSchema: {type: object, properties: {max: {type: integer}}}\n"
        "package checks\ndeny[m] { m := input.parameters.max }\n",
    )
    reserved = RegoFile("r.rego", "package kubegate.mine\np = 1 { true }\n")
    catalog = build_catalog(sources(rego=[policy, reserved]), parameters={"limits": {"max": 5}})
    assert [e.code for e in catalog.errors] == ["reserved_package"]
    (p,) = catalog.policies
    assert p.parameters == {"max": 5}
    bad = build_catalog(sources(rego=[policy]), parameters={"limits": {"max": "x"}})
    assert [e.code for e in bad.errors] == ["policy_parameters_invalid"]


def test_versions_follow_content(template: dict[str, Any], constraint: dict[str, Any]) -> None:
    v1 = build_catalog(sources([template], [constraint])).policies[0].version
    assert v1 == build_catalog(sources([template], [constraint])).policies[0].version
    constraint["spec"]["parameters"]["max"] = 4
    assert v1 != build_catalog(sources([template], [constraint])).policies[0].version
