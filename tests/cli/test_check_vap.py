"""`kubegate check` and `kubegate verify` on a ValidatingAdmissionPolicy with two
bindings (fixtures/vap): outcomes, audit annotations in the JSON report, CI
formats, and a gator-format suite whose template is the policy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from kubegate.cli.main import cli

FIXTURES = Path(__file__).parent / "fixtures" / "vap"
POLICIES = ["--no-builtin", "--policies", str(FIXTURES / "policy.yaml"), "--policies", str(FIXTURES / "bindings.yaml")]
PODS = [str(FIXTURES / f"pod-{n}.yaml") for n in ("prod", "dev", "clean")]


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout


def test_check_denies_warns_and_reports_audit_annotations() -> None:
    code, out = run("check", *POLICIES, *PODS, "-o", "json")
    assert code == 1
    report = json.loads(out)
    assert (report["summary"]["deny"], report["summary"]["warn"], report["summary"]["policies"]) == (1, 1, 2)
    prod, dev, clean = report["results"]
    assert [v["enforcement"] for v in prod["violations"]] == ["deny"]
    assert [v["enforcement"] for v in dev["violations"]] == ["warn"]
    assert clean["violations"] == []
    assert "validation.policy.admission.k8s.io/validation_failure" in dev["auditAnnotations"]
    assert "validation.policy.admission.k8s.io/validation_failure" not in prod["auditAnnotations"]  # Deny only
    assert clean["auditAnnotations"] == {"registry.bank.example/images": "registry.bank.example/web:1.4"}


@pytest.mark.parametrize("fmt", ["text", "sarif", "junit", "tap", "github", "policyreport"])
def test_every_output_format_carries_the_denial(fmt: str) -> None:
    code, out = run("check", *POLICIES, PODS[0], "-o", fmt)
    assert code == 1
    assert "images outside registry.bank.example" in out


def test_a_policy_error_is_located_in_the_yaml(tmp_path: Path) -> None:
    broken = tmp_path / "policy.yaml"
    text = (
        (FIXTURES / "policy.yaml").read_text().replace("size(variables.foreign) == 0\n", "size(variables.foreign) ==\n")
    )
    broken.write_text(text)
    code, out = run("check", "--no-builtin", "--policies", str(broken), PODS[0], "-o", "json")
    assert code == 2
    [error] = json.loads(out)["errors"]
    assert error["code"] == "cel_parse_error"
    line = text.splitlines().index("    - expression: size(variables.foreign) ==") + 1
    assert (error["location"]["file"], error["location"]["line"]) == (str(broken), line)


def test_verify_runs_a_suite_whose_template_is_the_policy() -> None:
    code, out = run("verify", "-v", str(FIXTURES / "suite.yaml"))
    assert code == 0, out
    assert "3 passed, 0 failed" in out


def test_schema_type_errors_are_located_warnings(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    text = (FIXTURES / "policy.yaml").read_text().replace("c.image.startsWith(", "c.imag.startsWith(")
    policy.write_text(text)
    code, out = run(
        "check", "--no-builtin", "--policies", str(policy), "--policies", POLICIES[-1], PODS[0], "-o", "json"
    )
    assert code == 1  # still evaluated: the object has no field imag, a failing expression under Fail
    [warning] = json.loads(out)["warnings"]
    assert warning["code"] == "cel_schema_warning"
    assert "/v1, Kind=Pod: ERROR: " in warning["message"]
    assert "undefined field 'imag'" in warning["message"]
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if "c.imag.startsWith(" in ln)
    assert (warning["location"]["line"], warning["location"]["column"]) == (
        line,
        text.splitlines()[line - 1].index(".imag") + 1,
    )
