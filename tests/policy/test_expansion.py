"""ExpansionTemplates: parsing and validation (cases in fixtures/expansion/cases.yaml),
what expansion generates, recursion, cycles and the built-in templates."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubegate.errors import Location, PolicyLoadError
from kubegate.policy.expansion import (
    MAX_DEPTH,
    ExpansionError,
    ExpansionSystem,
    ExpansionTemplate,
    builtin_expansion_templates,
    expansion_template_from_object,
    implied_message,
)

CASES = yaml.safe_load((Path(__file__).parent / "fixtures" / "expansion" / "cases.yaml").read_text())


def template(name: str, applies: tuple[str, str, str], source: str, generates: tuple[str, str, str]) -> Any:
    group, version, kind = applies
    g, v, k = generates
    return {
        "apiVersion": "expansion.gatekeeper.sh/v1alpha1",
        "kind": "ExpansionTemplate",
        "metadata": {"name": name},
        "spec": {
            "applyTo": [{"groups": [group], "versions": [version], "kinds": [kind]}],
            "templateSource": source,
            "generatedGVK": {"group": g, "version": v, "kind": k},
        },
    }


def deployment(**meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "Web", **meta},
        "spec": {"template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c"}]}}},
    }


DEPLOY_TO_POD = template("expand-deployments", ("apps", "v1", "Deployment"), "spec.template", ("", "v1", "Pod"))


@pytest.mark.parametrize("case", CASES["valid"], ids=lambda c: c["name"])
def test_valid_templates_load(case: dict[str, Any]) -> None:
    t = expansion_template_from_object(case["template"], Location("t.yaml", 3))
    assert t.name == case["template"]["metadata"]["name"]
    assert t.template_source == case["template"]["spec"]["templateSource"]
    assert t.enforcement_action == case["template"]["spec"].get("enforcementAction", "")
    assert t.location == Location("t.yaml", 3)


@pytest.mark.parametrize("case", CASES["invalid"], ids=lambda c: c["name"])
def test_invalid_templates_are_located_errors(case: dict[str, Any]) -> None:
    with pytest.raises(PolicyLoadError) as info:
        expansion_template_from_object(case["template"], Location("t.yaml", 7, 1))
    assert info.value.code == "invalid_expansion_template"
    assert case["fragment"] in info.value.message
    assert info.value.location == Location("t.yaml", 7, 1)


def test_a_deployment_generates_its_pod_as_gatekeeper_names_it() -> None:
    system = ExpansionSystem([expansion_template_from_object(DEPLOY_TO_POD)])
    original = deployment(namespace="shop")
    before = copy.deepcopy(original)
    [resultant] = system.expand(original)
    assert original == before  # the workload is not modified
    assert resultant.template == "expand-deployments"
    assert resultant.obj == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "labels": {"app": "web"},
            "name": "web-pod",
            "namespace": "shop",
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "Web", "uid": ""}],
        },
        "spec": {"containers": [{"name": "c"}]},
    }


def test_the_request_namespace_wins_and_a_cluster_scoped_parent_gives_none() -> None:
    system = ExpansionSystem([expansion_template_from_object(DEPLOY_TO_POD)])
    assert system.expand(deployment(namespace="a"), "b")[0].obj["metadata"]["namespace"] == "b"
    assert "namespace" not in system.expand(deployment())[0].obj["metadata"]


def test_an_existing_owner_reference_is_not_repeated() -> None:
    system = ExpansionSystem([expansion_template_from_object(DEPLOY_TO_POD)])
    obj = deployment()
    ref = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "Web", "uid": "123"}
    obj["spec"]["template"]["metadata"]["ownerReferences"] = [ref]
    assert system.expand(obj)[0].obj["metadata"]["ownerReferences"] == [ref]


def test_expansion_recurses_and_children_come_first() -> None:
    cron = template("cron", ("batch", "v1", "CronJob"), "spec.jobTemplate", ("batch", "v1", "Job"))
    job = template("job", ("batch", "v1", "Job"), "spec.template", ("", "v1", "Pod"))
    system = ExpansionSystem([expansion_template_from_object(cron), expansion_template_from_object(job)])
    obj = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "nightly"},
        "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": []}}}}},
    }
    out = system.expand(obj)
    assert [(r.template, r.obj["kind"], r.obj["metadata"]["name"]) for r in out] == [
        ("job", "Pod", "nightly-job-pod"),
        ("cron", "Job", "nightly-job"),
    ]


def test_a_missing_source_field_is_an_expansion_error() -> None:
    system = ExpansionSystem([expansion_template_from_object(DEPLOY_TO_POD)])
    bad = deployment()
    del bad["spec"]["template"]
    with pytest.raises(ExpansionError, match=r"source field 'spec\.template' is not found in Deployment 'Web'") as info:
        system.expand(bad)
    assert info.value.code == "expansion_error" and info.value.details["template"] == "expand-deployments"
    bad["spec"]["template"] = "text"
    with pytest.raises(ExpansionError, match="is not an object"):
        system.expand(bad)


def test_cycles_and_duplicates_are_reported_and_left_out() -> None:
    a = template("a", ("x", "v1", "A"), "spec", ("x", "v1", "B"))
    b = template("b", ("x", "v1", "B"), "spec", ("x", "v1", "A"))
    c = template("c", ("x", "v1", "B"), "spec", ("x", "v1", "C"))
    templates = [expansion_template_from_object(o, Location(f"{o['metadata']['name']}.yaml")) for o in (a, b, c)]
    system = ExpansionSystem([*templates, templates[2]])
    assert [t.name for t in system.templates] == ["c"]
    codes = sorted(e.code for e in system.errors)
    assert codes == ["duplicate_expansion_template", "expansion_cycle", "expansion_cycle"]
    assert any("a forms an expansion cycle with b" in e.message for e in system.errors)


def test_depth_is_bounded() -> None:
    # A chain longer than gatekeeper's maxRecursionDepth, without a cycle.
    chain = [
        expansion_template_from_object(template(f"t{i}", ("x", "v1", f"K{i}"), "spec", ("x", "v1", f"K{i + 1}")))
        for i in range(MAX_DEPTH + 1)
    ]
    system = ExpansionSystem(chain)
    nested: dict[str, Any] = {}
    node = nested
    for _ in range(MAX_DEPTH + 2):
        node["spec"] = {}
        node = node["spec"]
    obj = {"apiVersion": "x/v1", "kind": "K0", "metadata": {"name": "n"}, **nested}
    with pytest.raises(ExpansionError, match=f"maximum recursion depth of {MAX_DEPTH}"):
        system.expand(obj)


def test_builtin_templates_cover_the_standard_workloads() -> None:
    system = ExpansionSystem(builtin_expansion_templates())
    assert not system.errors
    for api_version, kind in [
        ("apps/v1", "Deployment"),
        ("apps/v1", "StatefulSet"),
        ("apps/v1", "DaemonSet"),
        ("apps/v1", "ReplicaSet"),
        ("v1", "ReplicationController"),
        ("batch/v1", "Job"),
        ("batch/v1", "CronJob"),
    ]:
        assert system.templates_for(api_version, kind), kind
    assert not system.templates_for("v1", "Pod")
    cron = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "c", "namespace": "n"},
        "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "x"}]}}}}},
    }
    kinds = [r.obj["kind"] for r in system.expand(cron)]
    assert kinds == ["Pod", "Job"]


def test_fingerprint_changes_with_content() -> None:
    t = expansion_template_from_object(DEPLOY_TO_POD)
    changed = ExpansionTemplate(t.name, t.apply_to, t.template_source, t.generated, "warn")
    assert ExpansionSystem([t]).fingerprint() != ExpansionSystem([changed]).fingerprint()


def test_implied_message_is_gatekeepers() -> None:
    assert implied_message("expand-deployments", "no limits") == "[Implied by expand-deployments] no limits"
