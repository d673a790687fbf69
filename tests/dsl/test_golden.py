"""Golden tests: the Rego generated for golden/*.kgr is exactly golden/*.rego.

Set KUBEGATE_UPDATE_GOLDEN=1 to rewrite the .rego files after a deliberate change
(and read the diff before committing it).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kubegate import DslFile, Engine
from kubegate.dsl.compiler import compile_source
from kubegate.rego.parser import parse_module
from kubegate.rego.printer import print_module

GOLDEN = Path(__file__).parent / "golden"
SOURCES = sorted(GOLDEN.glob("*.kgr"))


@pytest.mark.parametrize("source", SOURCES, ids=[s.stem for s in SOURCES])
def test_generated_rego_matches_the_golden_file(source: Path) -> None:
    result = compile_source(source.read_text(), source.name)
    assert not result.errors, [str(e) for e in result.errors]
    text = "\n".join(rule.text for rule in result.rules)
    golden = source.with_suffix(".rego")
    if os.environ.get("KUBEGATE_UPDATE_GOLDEN") == "1":
        golden.write_text(text)
    assert text == golden.read_text()


@pytest.mark.parametrize("source", SOURCES, ids=[s.stem for s in SOURCES])
def test_generated_rego_parses_and_reprints_the_same(source: Path) -> None:
    for rule in compile_source(source.read_text(), source.name).rules:
        module = parse_module(rule.text, f"{rule.id}.rego")
        assert module.version == "v1"
        assert print_module(module).text == print_module(rule.module).text
        (annotation,) = [a for a in module.annotations if a.scope == "package"]
        assert annotation.custom["id"] == rule.id and annotation.custom["source"]["file"] == source.name


def test_compiled_files_load_as_rego_with_the_same_decisions(tmp_path: Path) -> None:
    source = GOLDEN / "workloads.kgr"
    for rule in compile_source(source.read_text(), source.name).rules:
        (tmp_path / f"{rule.id}.rego").write_text(rule.text)
    from_rego = Engine([str(tmp_path)], builtin=False)
    from_dsl = Engine(objects=[DslFile(source.name, source.read_text())], builtin=False)
    assert not from_rego.errors and not from_dsl.errors
    assert {p.id for p in from_rego.policies} == {p.id for p in from_dsl.policies}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"template": {"spec": {"containers": [{"name": "a", "image": "docker.io/nginx"}]}}},
    }
    a, b = from_rego.review(deployment), from_dsl.review(deployment)
    assert [v.to_dict() for v in a.violations] == [v.to_dict() for v in b.violations]
    assert sorted(v.policy for v in a.violations) == ["approved_registries", "bounded_replicas"]
    assert str(from_rego.policies[0].location).startswith("workloads.kgr:")
