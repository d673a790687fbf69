"""Schema type checking of CEL expressions (kubegate.policy.cel_schema, cel_descriptors).

The cases are ``fixtures/cel_schema/cases.yaml`` (Pod, Deployment, and the
custom resource of ``widget-crd.yaml``); the escaping cases are ported from
k8s.io/apiserver ``pkg/cel/escaping_test.go``; ``policy.yaml`` is a
ValidatingAdmissionPolicy whose warnings are located in the file.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from kubegate.cel.program import EmbeddedCel
from kubegate.dsl.schema import SchemaSet
from kubegate.policy.cel_descriptors import MAX_DEPTH, RESERVED, escape, field_names
from kubegate.policy.cel_schema import MAX_KINDS, CelWarning, kind_descriptor, type_warnings
from kubegate.policy.documents import locate_value

FIXTURES = Path(__file__).parent / "fixtures" / "cel_schema"
VARIABLES = ("object", "oldObject", "request", "params", "namespaceObject", "variables")
CRD = yaml.safe_load((FIXTURES / "widget-crd.yaml").read_text())


@pytest.fixture(scope="module")
def schemas() -> SchemaSet:
    return SchemaSet("1.34", [CRD])


def _crd(kind: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{kind.lower()}s.example.com"},
        "spec": {
            "group": "example.com",
            "names": {"kind": kind, "plural": f"{kind.lower()}s"},
            "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": schema}}],
        },
    }


def _warnings(expr: str, kinds: list[str], schemas: SchemaSet) -> list[CelWarning]:
    return type_warnings(EmbeddedCel(expr, "spec.validations[0].expression"), kinds, schemas, VARIABLES)


def _cases() -> list[Any]:
    cases = yaml.safe_load((FIXTURES / "cases.yaml").read_text())
    return [pytest.param(c, id=f"{'+'.join(c['kinds'])}: {c['expr']}") for c in cases]


@pytest.mark.parametrize("case", _cases())
def test_case(case: dict[str, Any], schemas: SchemaSet) -> None:
    found = _warnings(case["expr"], case["kinds"], schemas)
    assert len(found) == len(case["warnings"]), [w.message for w in found]
    for warning, want in zip(found, case["warnings"], strict=True):
        assert want in warning.message
        assert warning.code == "cel_schema_warning"
        assert warning.where == "spec.validations[0].expression"
        assert warning.message.startswith(f"{warning.kind}: ERROR: <input>:")


def test_warnings_are_located_in_the_yaml_file(schemas: SchemaSet) -> None:
    path = FIXTURES / "policy.yaml"
    text = path.read_text()
    policy = yaml.safe_load(text)
    lines = text.splitlines()
    found = []
    for i, validation in enumerate(policy["spec"]["validations"]):
        where: list[str | int] = ["spec", "validations", i, "expression"]
        pos = locate_value(text, str(path), 3, where)
        assert pos is not None
        source = EmbeddedCel(
            validation["expression"],
            f"spec.validations[{i}].expression",
            str(path),
            pos.line,
            pos.column,
            pos.style,
            pos.indent,
        )
        found.extend(type_warnings(source, ["Deployment"], schemas, VARIABLES))
    # each warning points at the '.' of the field selection or the operator the checker names
    pointed = [(w.where, lines[w.location.line - 1][w.location.column - 1 :]) for w in found if w.location]
    assert [(where, rest.split(" ")[0]) for where, rest in pointed] == [
        ("spec.validations[0].expression", ".replica"),
        ("spec.validations[1].expression", "=="),
        ("spec.validations[2].expression", ".port"),
    ]
    assert "undefined field 'replica'" in found[0].message
    assert "'_==_' applied to '(bool, string)'" in found[1].message
    assert all(w.location is not None and w.location.file == str(path) for w in found)


def test_no_warnings_without_typed_variables_or_when_the_text_does_not_parse(schemas: SchemaSet) -> None:
    source = EmbeddedCel("object.spec.nope", "x")
    assert type_warnings(source, ["Pod"], schemas, ["request", "params"]) == []
    assert type_warnings(EmbeddedCel("object.spec.nope &&", "x"), ["Pod"], schemas, VARIABLES) == []
    assert type_warnings(source, [], schemas, VARIABLES) == []
    assert type_warnings(source, ["NoSuchKind"], schemas, VARIABLES) == []
    assert [w.kind for w in type_warnings(source, ["Pod"], schemas, ["oldObject", "object"])] == ["/v1, Kind=Pod"]


def test_old_object_is_typed_too(schemas: SchemaSet) -> None:
    expr = "oldObject != null && oldObject.spec.replica > 1"
    (warning,) = _warnings(expr, ["Deployment"], schemas)
    assert f"<input>:1:{expr.index('.replica') + 1}: undefined field 'replica'" in warning.message


def test_at_most_max_kinds_are_checked_in_group_version_kind_order(schemas: SchemaSet) -> None:
    kinds = [k for k in schemas.kind_names() if kind_descriptor(schemas, k) is not None][: MAX_KINDS + 5]
    found = _warnings("object.nope == 1", kinds, schemas)
    checked = [w.kind for w in found]
    assert len(checked) == MAX_KINDS
    infos = sorted((schemas.kind(k) for k in kinds), key=lambda i: (i.group, i.version, i.kind) if i else ())
    assert checked == [f"{i.group}/{i.version}, Kind={i.kind}" for i in infos if i][:MAX_KINDS]


def test_cross_type_numeric_ordering_is_accepted_from_kubernetes_1_28() -> None:
    expr = "object.spec.replicas > 1.5"
    assert _warnings(expr, ["Deployment"], SchemaSet("1.28")) == []
    old = _warnings(expr, ["Deployment"], SchemaSet("1.27"))
    assert ["'_>_' applied to '(int, double)'" in w.message for w in old] == [True]
    assert len(_warnings("object.spec.replicas == 1.5", ["Deployment"], SchemaSet("1.28"))) == 1


def test_recursive_definitions_end(schemas: SchemaSet) -> None:
    base = "object.spec.versions.all(v, v.schema.openAPIV3Schema.properties.spec.properties.x"
    assert (
        _warnings(
            base + ".items.x__dash__kubernetes__dash__list__dash__type == 'set')", ["CustomResourceDefinition"], schemas
        )
        == []
    )
    found = _warnings(
        base + ".x__dash__kubernetes__dash__int__dash__or__dash__string == 'a')", ["CustomResourceDefinition"], schemas
    )
    assert ["'_==_' applied to '(bool, string)'" in w.message for w in found] == [True]
    assert [
        "undefined field 'nope'" in w.message for w in _warnings(base + ".nope)", ["CustomResourceDefinition"], schemas)
    ] == [True]


def test_inline_objects_deeper_than_max_depth_are_dyn() -> None:
    node: dict[str, Any] = {"type": "object", "properties": {"leaf": {"type": "integer"}}}
    for _ in range(MAX_DEPTH + 3):
        node = {"type": "object", "properties": {"d": node}}
    schemas = SchemaSet("1.34", [_crd("Deep", {"type": "object", "properties": {"spec": node}})])
    # cel-cpp parses at most 32 nested selections; a comprehension reaches deeper
    outer = "[object.spec" + ".d" * 20 + "].all(x, x"
    assert len(_warnings(outer + ".d" * (MAX_DEPTH - 21) + ".nope == 1)", ["Deep"], schemas)) == 1
    assert _warnings(outer + ".d" * (MAX_DEPTH - 20) + ".nope == 1)", ["Deep"], schemas) == []


def test_properties_whose_json_names_clash() -> None:
    clash = {"a_b": {"type": "string"}, "aB": {"type": "string"}}
    inner = _crd("Inner", {"type": "object", "properties": {"spec": {"type": "object", "properties": clash}}})
    root = _crd("Root", {"type": "object", "properties": clash})
    schemas = SchemaSet("1.34", [inner, root])
    assert _warnings("object.spec.anything == 1", ["Inner"], schemas) == []  # the clashing object is dyn
    assert len(_warnings("object.nope == 1", ["Inner"], schemas)) == 1
    assert kind_descriptor(schemas, "Root") is None  # protobuf refuses the root message: not checked
    assert _warnings("object.nope == 1", ["Root"], schemas) == []


def test_descriptors_are_cached_per_version_kind_and_crd_content() -> None:
    one, two = SchemaSet("1.34"), SchemaSet("1.34")
    pod = kind_descriptor(one, "Pod")
    assert pod is not None and pod is kind_descriptor(two, "Pod")
    assert pod is not kind_descriptor(SchemaSet("1.33"), "Pod")
    assert (pod.type_name, pod.gvk()) == ("kgschema.Pod", "/v1, Kind=Pod")
    assert kind_descriptor(one, "NoSuchKind") is None
    first = kind_descriptor(SchemaSet("1.34", [CRD]), "Widget")
    assert first is not None and first is kind_descriptor(SchemaSet("1.34", [CRD]), "Widget")
    changed = _crd("Widget", {"type": "object", "properties": {"spec": {"type": "object"}}})
    assert kind_descriptor(SchemaSet("1.34", [changed]), "Widget") is not first


def test_the_pool_holds_the_carrier_messages(schemas: SchemaSet) -> None:
    found = kind_descriptor(schemas, "Pod")
    assert found is not None
    for name in ("kubernetes.Quantity", "net.IP", "kubernetes.authorization.Authorizer", "google.protobuf.Value"):
        assert found.pool.FindMessageTypeByName(name).full_name == name


def test_cel_warning(schemas: SchemaSet) -> None:
    (warning,) = _warnings("object.spec.nope", ["Pod"], schemas)
    with pytest.raises(dataclasses.FrozenInstanceError):
        warning.message = "x"  # type: ignore[misc]
    assert warning.to_dict() == {
        "code": "cel_schema_warning",
        "message": warning.message,
        "kind": "/v1, Kind=Pod",
        "where": "spec.validations[0].expression",
    }
    assert str(warning) == f"cel_schema_warning: spec.validations[0].expression: {warning.message}"


def _escaping_cases() -> list[Any]:
    cases = yaml.safe_load((FIXTURES / "escaping.yaml").read_text())
    return [pytest.param(c, id=c["unescaped"]) for c in cases]


@pytest.mark.parametrize("case", _escaping_cases())
def test_escape(case: dict[str, Any]) -> None:
    if case.get("unescapable"):
        assert escape(case["unescaped"]) is None
        assert field_names(case["unescaped"]) == ()
        return
    assert escape(case["unescaped"]) == case["escaped"]
    want = (case["escaped"], case["unescaped"]) if case["unescaped"] in RESERVED else (case["escaped"],)
    assert field_names(case["unescaped"]) == want


@given(st.text(max_size=12))
def test_escaped_names_are_identifiers(name: str) -> None:
    escaped = escape(name)
    if escaped is not None:
        assert re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", escaped)
        assert name and not name[0].isdigit()
