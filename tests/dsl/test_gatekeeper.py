"""kubegate.dsl.gatekeeper: compiled DSL rules as Gatekeeper ConstraintTemplates and Constraints."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from kubegate.dsl import ast as dsl_ast
from kubegate.dsl.compiler import CompiledRule, compile_files, compile_source
from kubegate.dsl.gatekeeper import (
    ADMISSION_TARGET,
    MAX_KIND_LENGTH,
    GatekeeperExportError,
    GatekeeperRule,
    constraint_kind,
    constraint_name,
    dump_objects,
    export_rule,
    export_rules,
)
from kubegate.dsl.parser import parse_dsl
from kubegate.errors import Location
from kubegate.policy.template import template_from_object
from kubegate.rego import ast as r
from kubegate.rego.normalize import walk_terms
from kubegate.rego.parser import parse_module

ROOT = Path(__file__).parents[2]
FIXTURES = Path(__file__).parent / "fixtures" / "gatekeeper"
# Every DSL file of the repository: the example, the golden files, the built-in library, the export fixture.
DSL_FILES = sorted(
    [
        *ROOT.glob("examples/**/*.kgr"),
        *ROOT.glob("tests/dsl/golden/*.kgr"),
        ROOT / "src/kubegate/policy/library/library.kgr",
        FIXTURES / "params.kgr",
    ]
)
ENFORCEMENT = {"DENY": "deny", "WARN": "warn", "AUDIT": "dryrun"}
# Builtins that reach outside the object under review; Gatekeeper templates must not depend on them.
EXTERNAL_CALLS = {("http", "send"), ("net", "lookup_ip_addr"), ("external_data",), ("opa", "runtime")}


def schema(name: str) -> jsonschema.protocols.Validator:
    doc = json.loads((FIXTURES / name).read_text())
    jsonschema.Draft202012Validator.check_schema(doc)
    return jsonschema.Draft202012Validator(doc)


def compiled(path: Path) -> tuple[CompiledRule, ...]:
    result = compile_files([str(path)])
    assert result.errors == (), [str(e) for e in result.errors]
    assert result.rules
    return result.rules


def exported_rules() -> Iterator[tuple[Path, CompiledRule, GatekeeperRule]]:
    for path in DSL_FILES:
        for rule in compiled(path):
            yield path, rule, export_rule(rule)


def one_rule(text: str) -> CompiledRule:
    result = compile_source(text, "t.kgr")
    assert result.errors == (), [str(e) for e in result.errors]
    return result.rules[0]


def rego_of(template: Any) -> str:
    (target,) = template["spec"]["targets"]
    (code,) = [c for c in target["code"] if c["engine"] == "Rego"]
    text: str = code["source"]["rego"]
    return text


def test_every_dsl_file_is_found() -> None:
    names = {p.name for p in DSL_FILES}
    assert {"images.kgr", "pci.kgr", "workloads.kgr", "library.kgr", "params.kgr"} <= names
    assert all(p.is_file() for p in DSL_FILES)


@pytest.mark.parametrize(
    ("rule_id", "kind", "name"),
    [
        ("payment_pods_require_seccomp", "PaymentPodsRequireSeccomp", "payment-pods-require-seccomp"),
        ("pci-image-provenance", "PciImageProvenance", "pci-image-provenance"),
        ("noLatest", "NoLatest", "nolatest"),
        ("PCI 4.0 / images", "PCI40Images", "pci-4-0-images"),
        ("2fa-required", "Rule2faRequired", "2fa-required"),
        ("_private", "Private", "private"),
    ],
)
def test_kind_and_name_from_rule_id(rule_id: str, kind: str, name: str) -> None:
    assert constraint_kind(rule_id) == kind
    assert constraint_name(rule_id) == name


@pytest.mark.parametrize("rule_id", ["---", "é", "x" * (MAX_KIND_LENGTH + 1)])
def test_ids_without_a_valid_kind_are_errors(rule_id: str) -> None:
    with pytest.raises(GatekeeperExportError) as caught:
        constraint_kind(rule_id, Location("t.kgr", 3, 6))
    assert caught.value.code == "gatekeeper_kind_invalid"
    assert caught.value.location == Location("t.kgr", 3, 6)


def test_a_long_rule_id_is_named_after_its_kind() -> None:
    rule_id = "_".join(["abc"] * 19)  # 57 letters in the kind, 75 characters in kebab case
    assert len(constraint_kind(rule_id)) <= MAX_KIND_LENGTH
    assert constraint_name(rule_id) == constraint_kind(rule_id).lower()


def test_templates_have_the_structure_gatekeeper_requires() -> None:
    templates, constraints = schema("constrainttemplate.schema.json"), schema("constraint.schema.json")
    count = 0
    for path, rule, out in exported_rules():
        count += 1
        where = f"{path.name}#{rule.id}"
        errors = [e.message for e in templates.iter_errors(out.template)]
        assert errors == [], where
        errors = [e.message for e in constraints.iter_errors(out.constraint)]
        assert errors == [], where
        kind = out.template["spec"]["crd"]["spec"]["names"]["kind"]
        assert out.template["metadata"]["name"] == kind.lower() == out.kind.lower(), where
        assert out.constraint["kind"] == kind, where
        (target,) = out.template["spec"]["targets"]
        assert target["target"] == ADMISSION_TARGET and "rego" not in target, where
        engines = [c["engine"] for c in target["code"]]
        assert len(engines) == len(set(engines)), where  # listMapKey=engine
        # Constraint parameters fit the template's schema (the API server checks them).
        params = out.constraint["spec"].get("parameters")
        validation = out.template["spec"]["crd"]["spec"].get("validation")
        if params is not None:
            assert validation is not None, where
            jsonschema.Draft202012Validator(validation["openAPIV3Schema"]).validate(params)
    assert count > 15


def test_constraint_follows_the_rule() -> None:
    for path, rule, out in exported_rules():
        dsl_rule = next(x for x in parse_dsl(path.read_text(), str(path)).rules if x.id == rule.id)
        verdict = next(a for a in dsl_rule.actions if isinstance(a, dsl_ast.Verdict))
        spec = out.constraint["spec"]
        assert spec["enforcementAction"] == ENFORCEMENT[verdict.kind]
        kinds = [k for group in spec["match"]["kinds"] for k in group["kinds"]]
        assert sorted(kinds) == sorted(k for k, _ in dsl_rule.kinds)
        assert spec["match"].get("namespaces", []) == list(dsl_rule.namespaces)
        assert spec["match"].get("excludedNamespaces", []) == list(dsl_rule.excluded_namespaces)
        labels = out.constraint["metadata"].get("labels", {})
        assert labels.get("kubegate.io/severity", "") == dsl_rule.severity
        assert out.constraint["metadata"]["annotations"]["kubegate.io/rule"] == rule.id
        assert out.template["metadata"]["annotations"]["metadata.gatekeeper.sh/title"] == rule.id


def test_template_rego_runs_under_gatekeeper() -> None:
    for path, rule, out in exported_rules():
        text = rego_of(out.template)
        where = f"{path.name}#{rule.id}"
        assert "\t" not in text and "# METADATA" not in text, where
        module = parse_module(text, where, "v1")
        assert module.package.path == (out.kind.lower(),), where
        assert any(x.head.name == "violation" for x in module.rules), where
        assert {i.path for i in module.imports} <= {("rego", "v1")}, where
        for rego_rule in module.rules:
            for term in walk_terms(rego_rule):
                if isinstance(term, r.Ref) and term.head == r.Var("data"):
                    assert term.path[:1] == (r.Scalar("inventory"),), (where, term)
                if isinstance(term, r.Call):
                    assert tuple(term.func) not in EXTERNAL_CALLS, (where, term.func)
        # Gatekeeper's entry point: violation contains {"msg": ..., "details": {...}}.
        heads = [x.head.key for x in module.rules if x.head.name == "violation"]
        for head in heads:
            assert isinstance(head, r.ObjectTerm), where
            assert [k.value for k, _ in head.items if isinstance(k, r.Scalar)] == ["msg", "details"], where


def test_kubegate_reads_the_template_as_rego_v1() -> None:
    for _, rule, out in exported_rules():
        template = template_from_object(out.template, Location(f"{rule.id}-template.yaml", 1))
        assert template.kind == out.kind
        assert template.rego_version == "v1"
        assert template.rego.text == rego_of(out.template)
        assert template.title == rule.id


def test_parameter_schemas_are_structural() -> None:
    rule = next(x for x in compiled(FIXTURES / "params.kgr") if x.id == "memory-bounded-in-prod")
    props = export_rule(rule).template["spec"]["crd"]["spec"]["validation"]["openAPIV3Schema"]["properties"]
    assert props["max_memory"] == {"x-kubernetes-int-or-string": True}
    ports = next(x for x in compiled(FIXTURES / "params.kgr") if x.id == "ports-allowed")
    props = export_rule(ports).template["spec"]["crd"]["spec"]["validation"]["openAPIV3Schema"]["properties"]
    assert props["allowed_ports"] == {"type": "array", "items": {"type": "integer"}}
    no_params = one_rule('RULE plain ON Pod WHEN name == "x" THEN DENY("x")\n')
    out = export_rule(no_params)
    assert "validation" not in out.template["spec"]["crd"]["spec"]
    assert "parameters" not in out.constraint["spec"]


def test_yaml_stream_round_trips_with_rego_as_a_block() -> None:
    objects = export_rules([rule for path in DSL_FILES for rule in compiled(path)]).objects()
    text = dump_objects(objects)
    assert list(yaml.safe_load_all(text)) == [dict(o) for o in objects]
    assert text.count("\n---\n") + 1 == len(objects) and text.startswith("---\n")
    assert "rego: |" in text and "&id" not in text and "*id" not in text


def test_kinds_that_collide_are_reported_and_the_first_rule_kept() -> None:
    text = (
        'RULE ab_c ON Pod WHEN name == "x" THEN DENY("one")\n'
        'RULE "a-bc" ON Pod WHEN name == "y" THEN DENY("two")\n'
        'RULE other ON Pod WHEN name == "z" THEN DENY("three")\n'
    )
    result = compile_source(text, "t.kgr")
    assert result.errors == ()
    exported = export_rules(result.rules)
    assert [x.rule_id for x in exported.rules] == ["ab_c", "other"]
    (error,) = exported.errors
    assert error.code == "gatekeeper_kind_conflict"
    assert error.location is not None and (error.location.file, error.location.line) == ("t.kgr", 2)
    assert len(exported.objects()) == 4


def test_namespace_globs_gatekeeper_rejects_are_errors() -> None:
    bad = one_rule('RULE bad ON Pod IN NAMESPACES ("Prod_*") WHEN name == "x" THEN DENY("x")\n')
    exported = export_rules([bad])
    assert exported.rules == ()
    assert [e.code for e in exported.errors] == ["gatekeeper_namespace_invalid"]
    good = one_rule('RULE good ON Pod EXCEPT NAMESPACES ("kube-*", "*-system") WHEN name == "x" THEN DENY("x")\n')
    assert export_rules([good]).errors == ()


def test_a_rollout_is_kept_as_an_annotation() -> None:
    rule = one_rule('RULE canary ON Pod ROLLOUT CANARY 10% WHEN name == "x" THEN DENY("x")\n')
    out = export_rule(rule)
    assert out.constraint["metadata"]["annotations"]["kubegate.io/rollout"].startswith("canary 10")
    assert out.constraint["spec"]["enforcementAction"] == "deny"
