"""Schemas: bundled Kubernetes versions, the enum overlay, CRDs."""

from __future__ import annotations

import pytest

from kubegate.dsl.schema import DEFAULT_KUBERNETES_VERSION, SchemaSet, available_versions
from kubegate.errors import UsageError


def test_versions_are_selectable() -> None:
    versions = available_versions()
    assert DEFAULT_KUBERNETES_VERSION in versions and "1.25" in versions
    assert SchemaSet("1.29").version == "1.29"
    with pytest.raises(UsageError) as info:
        SchemaSet("1.99")
    assert info.value.code == "unknown_kubernetes_version"


def test_kinds_resolve_to_their_preferred_group_version() -> None:
    s = SchemaSet()
    deployment = s.kind("Deployment")
    assert deployment is not None and (deployment.group, deployment.version) == ("apps", "v1")
    event = s.kind("Event")
    assert event is not None and event.group == ""
    assert s.kind("DeploymentList") is None


def test_field_types_quantities_and_enums() -> None:
    s = SchemaSet()
    container = s.definition("io.k8s.api.core.v1.Container")
    limits = s.field(s.field(container, "resources"), "limits")  # type: ignore[arg-type]
    assert limits is not None and limits.kind == "map" and limits.item is not None and limits.item.kind == "quantity"
    policy = s.field(container, "imagePullPolicy")
    assert policy is not None and policy.enum == ("Always", "IfNotPresent", "Never")
    port = s.field(s.definition("io.k8s.api.core.v1.HTTPGetAction"), "port")
    assert port is not None and port.kind == "int-or-string"
    assert s.field(container, "nope") is None


def test_crd_schema() -> None:
    s = SchemaSet(
        crds=[
            {
                "kind": "CustomResourceDefinition",
                "spec": {
                    "group": "example.com",
                    "names": {"kind": "Widget"},
                    "versions": [
                        {
                            "name": "v1beta1",
                            "served": True,
                            "storage": False,
                            "schema": {"openAPIV3Schema": {"type": "object"}},
                        },
                        {
                            "name": "v1",
                            "served": True,
                            "storage": True,
                            "schema": {
                                "openAPIV3Schema": {
                                    "type": "object",
                                    "properties": {
                                        "spec": {"type": "object", "properties": {"size": {"type": "integer"}}}
                                    },
                                }
                            },
                        },
                    ],
                },
            }
        ]
    )
    widget = s.kind("Widget")
    assert widget is not None and (widget.group, widget.version) == ("example.com", "v1")
    spec = s.field(widget.type, "spec")
    assert spec is not None and (s.field(spec, "size") or spec).kind == "integer"
