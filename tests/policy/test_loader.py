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
