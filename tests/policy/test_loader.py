"""Loading policy directories and in-memory objects; nothing skipped silently."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from kubegate.policy.catalog import RegoFile
from kubegate.policy.loader import builtin_sources, load_policy_objects, load_policy_paths


def test_directory_with_mixed_files(tmp_path: Path, template: dict[str, Any], constraint: dict[str, Any]) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "t.yaml").write_text(yaml.safe_dump(template))
    (tmp_path / "constraints.yaml").write_text(
        yaml.safe_dump(constraint)
        + "---\n"
        + yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}})
    )
    (tmp_path / "policy.rego").write_text("package main\ndeny[m] { m := 1 }\n")
    (tmp_path / "broken.yaml").write_text("kind: [\n")
    (tmp_path / "README.md").write_text("not a policy file type")
    src = load_policy_paths([str(tmp_path)])
    assert len(src.templates) == 1 and len(src.constraints) == 1 and len(src.rego_files) == 1
    assert [e.code for e in src.errors] == ["yaml_parse_error"]
    assert [w.code for w in src.warnings] == ["not_a_policy"]


def test_missing_directory_is_an_error(tmp_path: Path) -> None:
    src = load_policy_paths([str(tmp_path / "nope")])
    assert [e.code for e in src.errors] == ["file_not_found"]


def test_in_memory_objects(template: dict[str, Any], constraint: dict[str, Any]) -> None:
    src = load_policy_objects([template, constraint, RegoFile("m.rego", "package m\n"), 42])  # type: ignore[list-item]
    assert len(src.templates) == 1 and len(src.constraints) == 1 and len(src.rego_files) == 1
    assert [e.code for e in src.errors] == ["invalid_policy_object"]


def test_builtin_library_ships_its_policies() -> None:
    names = sorted(f.name for f in builtin_sources().rego_files)
    assert "builtin:pod_must_have_resource_limits.rego" in names and "builtin:lib_workloads.rego" in names


CONSTRAINT_WITH_TYPOS = """---
# a comment before the object
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sFoo
metadata:
  name: first
spec:
  match:
    kinds:
      - apiGroups: [""]
        kinds: ["Pod"]
      - apiGroups: ["apps"]
        kind: ["Deployment"]
---
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sFoo
metadata: {name: second}
spec: {match: {kind: [{kinds: [Pod]}]}, parameters: {}}
"""


def test_unknown_constraint_fields_are_located_at_the_field(tmp_path: Path) -> None:
    path = tmp_path / "constraints.yaml"
    path.write_text(CONSTRAINT_WITH_TYPOS)
    sources = load_policy_paths([str(path)])
    first, second = sources.errors
    assert (first.code, first.location.line, first.location.column) == ("invalid_constraint", 13, 9)  # type: ignore[union-attr]
    assert "spec.match.kinds[1].kind is not a field" in first.message
    assert (second.location.line, second.location.column) == (18, 16)  # type: ignore[union-attr]  # flow style too
    assert "path" not in first.details  # used for the location, not shown


def test_errors_of_in_memory_objects_keep_the_object_location(constraint: dict[str, Any]) -> None:
    constraint["spec"] = {"match": {"kind": [{"kinds": ["Pod"]}]}}
    [error] = load_policy_objects([constraint]).errors
    assert error.code == "invalid_constraint" and str(error.location) == "<memory>[0]"
