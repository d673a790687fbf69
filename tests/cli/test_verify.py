"""kubegate verify: gator-format suites."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from kubegate.cli.main import cli
from tests.cli.conftest import BACKEND_NAMES, configmap

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


TINY_TEMPLATE = {
    "apiVersion": "templates.gatekeeper.sh/v1",
    "kind": "ConstraintTemplate",
    "metadata": {"name": "k8stinyowner"},
    "spec": {
        "crd": {"spec": {"names": {"kind": "K8sTinyOwner"}}},
        "targets": [
            {
                "target": "admission.k8s.gatekeeper.sh",
                "rego": (  # basic Rego only, the same on every backend
                    "package k8stinyowner\n\n"
                    'violation[{"msg": msg}] {\n'
                    "  not input.review.object.metadata.labels.owner\n"
                    '  msg := "configmap has no owner"\n'
                    "}\n"
                ),
            }
        ],
    },
}


def tiny_suite(tmp_path: Path) -> Path:
    suite = tmp_path / "tiny"
    suite.mkdir()
    (suite / "template.yaml").write_text(yaml.safe_dump(TINY_TEMPLATE))
    constraint = {
        "apiVersion": "constraints.gatekeeper.sh/v1beta1",
        "kind": "K8sTinyOwner",
        "metadata": {"name": "configmaps-have-owners"},
        "spec": {"match": {"kinds": [{"apiGroups": [""], "kinds": ["ConfigMap"]}]}},
    }
    (suite / "constraint.yaml").write_text(yaml.safe_dump(constraint))
    (suite / "owned.yaml").write_text(yaml.safe_dump(configmap("owned", {"owner": "a"})))
    (suite / "orphan.yaml").write_text(yaml.safe_dump(configmap("orphan")))
    cases = [
        {"name": "owned", "object": "owned.yaml", "assertions": [{"violations": "no"}]},
        {"name": "orphan", "object": "orphan.yaml", "assertions": [{"violations": 1, "message": "has no owner"}]},
    ]
    doc = {
        "kind": "Suite",
        "apiVersion": "test.gatekeeper.sh/v1alpha1",
        "metadata": {"name": "tiny"},
        "tests": [{"name": "owner", "template": "template.yaml", "constraint": "constraint.yaml", "cases": cases}],
    }
    (suite / "suite.yaml").write_text(yaml.safe_dump(doc))
    return suite


@pytest.mark.parametrize("backend", BACKEND_NAMES)
def test_backend_option_reaches_the_suites(backend: str, tmp_path: Path, built_backends: list[str]) -> None:
    code, out = run("verify", str(tiny_suite(tmp_path)), "--backend", backend)
    assert code == 0, out
    assert out.strip().endswith("2 passed, 0 failed")
    assert built_backends == [backend]


def test_unknown_backend_is_a_usage_error(tmp_path: Path) -> None:
    code, out = run("verify", str(tiny_suite(tmp_path)), "--backend", "opa")
    assert code == 2
    assert "Invalid value for '--backend': 'opa' is not one of 'compiled', 'regopy'" in out
    assert "Traceback" not in out
