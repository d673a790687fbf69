"""kubegate verify: gator-format suites."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml
from click.testing import CliRunner

from kubegate.cli.main import cli

EXAMPLES = Path(__file__).parents[2] / "examples" / "suites"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout + result.stderr


def test_example_suites_pass() -> None:
    code, out = run("verify", str(EXAMPLES))
    assert code == 0
    assert out.strip().endswith("4 passed, 0 failed")


def suite_copy(tmp_path: Path) -> Path:
    target = tmp_path / "suite"
    shutil.copytree(EXAMPLES / "required-owner", target)
    return target


def test_failing_case_is_reported(tmp_path: Path) -> None:
    suite = suite_copy(tmp_path)
    doc = yaml.safe_load((suite / "suite.yaml").read_text())
    doc["tests"][0]["cases"][0]["assertions"] = [{"violations": 2}]
    (suite / "suite.yaml").write_text(yaml.safe_dump(doc))
    code, out = run("verify", str(suite))
    assert code == 1
    assert "FAIL" in out and "owner-label/has-owner" in out and "want exactly 2" in out
    assert out.strip().endswith("3 passed, 1 failed")


def test_invalid_tests_skips_inventory_and_admission_reviews(tmp_path: Path) -> None:
    suite = suite_copy(tmp_path)
    (suite / "bad-constraint.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "constraints.gatekeeper.sh/v1beta1",
                "kind": "K8sRequiredOwner",
                "metadata": {"name": "bad"},
                "spec": {"parameters": {"label": ["not", "a", "string"]}},
            }
        )
    )
    (suite / "cases" / "review.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "admission.k8s.io/v1",
                "kind": "AdmissionReview",
                "request": {
                    "uid": "x",
                    "operation": "UPDATE",
                    "object": {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "metadata": {"name": "d", "namespace": "a"},
                    },
                },
            }
        )
    )
    doc = yaml.safe_load((suite / "suite.yaml").read_text())
    doc["tests"].append(
        {"name": "schema", "template": "template.yaml", "constraint": "bad-constraint.yaml", "invalid": True}
    )
    doc["tests"][0]["cases"].append(
        {
            "name": "review",
            "object": "cases/review.yaml",
            "assertions": [{"violations": True, "message": "has no owner"}],
        }
    )
    doc["tests"][0]["cases"].append({"name": "skipped", "skip": True, "object": "cases/review.yaml", "assertions": []})
    (suite / "suite.yaml").write_text(yaml.safe_dump(doc))
    code, out = run("verify", str(suite), "-v")
    assert code == 0, out
    assert "SKIP" in out and out.strip().endswith("6 passed, 0 failed, 1 skipped")


def test_no_suites_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_text("kind: ConfigMap\napiVersion: v1\nmetadata: {name: a}\n")
    code, out = run("verify", str(tmp_path))
    assert code == 2 and "no_suites" in out
