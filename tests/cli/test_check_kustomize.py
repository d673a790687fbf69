"""`kubegate check --kustomize`: a kustomization directory is rendered with the real
kubectl and the rendered objects are checked (`make test` installs kubernetes-client)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from kubegate.cli.main import cli

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl missing: run `make test`")

POD = "apiVersion: v1\nkind: Pod\nmetadata: {name: api}\nspec:\n  containers:\n    - {name: api, image: api:1.0}\n"
POLICY = (
    "package main\nimport rego.v1\n"
    'deny contains msg if { input.metadata.namespace == "prod"; not input.metadata.labels.team; '
    'msg := "prod objects need a team label" }\n'
)


def layout(tmp_path: Path) -> tuple[Path, Path]:
    app = tmp_path / "app"
    app.mkdir()
    (app / "pod.yaml").write_text(POD)
    (app / "kustomization.yaml").write_text("resources: [pod.yaml]\nnamespace: prod\n")
    policy = tmp_path / "policy"
    policy.mkdir()
    (policy / "team.rego").write_text(POLICY)
    return app, policy


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_the_rendered_overlay_is_checked(tmp_path: Path) -> None:
    app, policy = layout(tmp_path)
    code, out, _ = run("check", "--no-builtin", "-p", str(policy), "--kustomize", "-o", "json", str(app))
    assert code == 1
    report = json.loads(out)
    [result] = report["results"]
    assert result["namespace"] == "prod" and result["source"] == str(app / "kustomization.yaml")
    assert [v["message"] for v in result["violations"]] == ["prod objects need a team label"]
    assert [n["code"] for n in report["notes"]] == ["kustomized_input"]


def test_without_kustomize_the_files_are_read_one_by_one(tmp_path: Path) -> None:
    app, policy = layout(tmp_path)
    code, out, _ = run("check", "--no-builtin", "-p", str(policy), "-o", "json", str(app))
    assert code == 0  # the base Pod has no namespace: the overlay's change is not seen
    report = json.loads(out)
    assert {n["code"] for n in report["notes"]} == {"not_a_kubernetes_object"}  # kustomization.yaml itself


def test_a_kustomize_failure_is_a_located_error(tmp_path: Path) -> None:
    app, policy = layout(tmp_path)
    (app / "kustomization.yaml").write_text("resources: [missing.yaml]\n")
    code, out, err = run("check", "--no-builtin", "-p", str(policy), "--kustomize", str(app))
    assert code == 2
    assert f"{app / 'kustomization.yaml'}: kustomize_error: kubectl kustomize" in err
    assert "ERRORS" in out
