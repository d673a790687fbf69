"""ConstraintTemplate parsing."""

from __future__ import annotations

from typing import Any

import pytest

from kubegate.errors import Location, PolicyLoadError
from kubegate.policy.template import template_from_object

HERE = Location("t.yaml", 1, 1)


def test_v1_template(template: dict[str, Any]) -> None:
    t = template_from_object(template, HERE)
    assert (t.name, t.kind) == ("k8sreplicalimit", "K8sReplicaLimit")
    assert t.rego.text.startswith("package k8sreplicalimit")
    assert len(t.libs) == 1 and t.rego_version is None
    assert t.parameters_schema is not None


def test_code_form_with_rego_engine_and_version(template: dict[str, Any]) -> None:
    target = template["spec"]["targets"][0]
    rego, libs = target.pop("rego"), target.pop("libs")
    target["code"] = [
        {"engine": "K8sNativeValidation", "source": {"validations": []}},
        {"engine": "Rego", "source": {"rego": rego, "libs": libs, "version": "v1"}},
    ]
    t = template_from_object(template, HERE)
    assert t.rego_version == "v1" and t.rego.text == rego


def test_only_cel_is_unsupported(template: dict[str, Any]) -> None:
    target = template["spec"]["targets"][0]
    del target["rego"], target["libs"]
    target["code"] = [{"engine": "K8sNativeValidation", "source": {"validations": []}}]
    with pytest.raises(PolicyLoadError) as info:
        template_from_object(template, HERE)
    assert info.value.code == "unsupported_engine" and "K8sNativeValidation" in info.value.message


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda t: t["metadata"].update(name="other"), "must be the lowercase of its kind"),
        (lambda t: t["spec"]["crd"]["spec"].pop("names"), "has no spec.crd.spec.names.kind"),
        (lambda t: t["spec"].update(targets=[]), "has no spec.targets"),
        (lambda t: t["spec"]["targets"][0].update(target="other.target"), "is not admission.k8s.gatekeeper.sh"),
        (lambda t: t.update(apiVersion="templates.gatekeeper.sh/v9"), "unsupported ConstraintTemplate version"),
    ],
)
def test_malformed_templates(template: dict[str, Any], mutate: Any, fragment: str) -> None:
    mutate(template)
    with pytest.raises(PolicyLoadError) as info:
        template_from_object(template, HERE)
    assert info.value.code == "invalid_template" and fragment in info.value.message


def test_embedded_rego_is_located_in_the_yaml_file(template: dict[str, Any]) -> None:
    yaml_lines = [
        "spec:",
        "  targets:",
        "  - rego: |",
        "      package k8sreplicalimit",
        "",
        "      import data.lib.numbers.above",
    ]
    t = template_from_object(template, Location("t.yaml", 1, 1), yaml_lines)
    assert t.rego.locate(1, 1) == Location("t.yaml", 4, 7)
