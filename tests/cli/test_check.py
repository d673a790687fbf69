"""kubegate check: formats, exit codes, bad input, and the JSON contract."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from kubegate.cli.main import cli
from tests.cli.conftest import BACKEND_NAMES, REQUIRE_OWNER, configmap
from tests.policy.conftest import CONSTRAINT, TEMPLATE

ROOT = Path(__file__).parents[2]
EXAMPLES = ROOT / "examples"
KUBEGATE = str(Path(sys.executable).parent / "kubegate")


def run(*args: str, input_text: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), input=input_text)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def manifests(tmp_path: Path) -> Path:
    (tmp_path / "ok.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "ok", "namespace": "default"},
                "spec": {
                    "containers": [{"name": "c", "image": "i", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]
                },
            }
        )
    )
    return tmp_path


def test_clean_input_exits_zero(manifests: Path) -> None:
    code, out, _ = run("check", str(manifests))
    assert code == 0
    assert "PASSED" in out and "ok" in out


def test_examples_report_the_builtin_findings() -> None:
    code, out, err = run("check", str(EXAMPLES / "manifests"), "--parameters", str(EXAMPLES / "parameters.yaml"))
    assert code == 1, err
    for policy in (
        "pod-must-have-resource-limits",
        "payment-pods-require-seccomp",
        "gdpr-sensitive-env-isolation",
        "pci-image-provenance",
        "go-runtime-cpu-alignment",
    ):
        assert policy in out
    assert "FAILED" in out


def test_json_contract() -> None:
    code, out, _ = run("check", str(EXAMPLES / "manifests"), "-o", "json", "-p", str(EXAMPLES / "policies"))
    assert code == 1
    doc = json.loads(out)
    assert set(doc) == {"results", "summary", "errors", "warnings", "notes"}  # notes: added in issue 12
    first = doc["results"][0]
    assert {"source", "index", "apiVersion", "kind", "namespace", "name", "violations"} <= set(first)
    violation = next(v for r in doc["results"] for v in r["violations"])
    assert set(violation) == {"policy", "enforcement", "message", "details"}
    summary = doc["summary"]
    assert summary["objects"] == len(doc["results"]) and summary["deny"] > 0 and summary["passed"] is False


def test_jobs_give_the_same_findings() -> None:
    args = ("check", str(EXAMPLES / "manifests"), "-o", "json", "-p", str(EXAMPLES / "policies"))
    code1, one, _ = run(*args)
    code2, two, _ = run(*args, "--jobs", "2")
    assert code1 == code2 == 1
    assert json.loads(one)["results"] == json.loads(two)["results"]
    assert run(*args, "--jobs", "0")[0] == 2


def test_sarif_output() -> None:
    code, out, _ = run("check", str(EXAMPLES / "manifests"), "-o", "sarif")
    assert code == 1
    doc = json.loads(out)
    assert doc["version"] == "2.1.0"
    run_ = doc["runs"][0]
    rule_ids = {r["id"] for r in run_["tool"]["driver"]["rules"]}
    assert "pod-must-have-resource-limits" in rule_ids
    result = run_["results"][0]
    assert result["ruleId"] in rule_ids and result["level"] in ("error", "warning", "note")
    region = result["locations"][0]["physicalLocation"]["region"]
    assert region["startLine"] >= 1


def test_bad_input_is_reported_and_the_rest_is_checked(manifests: Path) -> None:
    (manifests / "broken.yaml").write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: [x\n")
    (manifests / "typo.yaml").write_text("apiVersion: apps/v1\nkind: Deploymnet\nmetadata: {name: d}\n")
    code, out, err = run("check", str(manifests))
    assert code == 2
    assert "broken.yaml:4:1: yaml_parse_error" in err
    assert "unknown_kind" in err and "did you mean Deployment" in err
    assert "Pod default/ok" in out and "Traceback" not in err


def test_policy_with_a_syntax_error_names_file_line_column(manifests: Path, tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    template = json.loads(json.dumps(TEMPLATE))
    template["spec"]["targets"][0]["rego"] = 'package k8sreplicalimit\n\nviolation[{"msg": m}] {\n  m := (1 +\n}\n'
    (policies / "t.yaml").write_text(yaml.safe_dump(template, sort_keys=False))
    (policies / "c.yaml").write_text(yaml.safe_dump(CONSTRAINT))
    code, out, err = run("check", str(manifests), "-p", str(policies))
    assert code == 2
    assert "rego_parse_error" in err and "t.yaml:" in err
    assert "template_not_loaded" in err
    assert "Pod default/ok" in out and out.rstrip().endswith("-- ERRORS")  # checked, but never "PASSED"


def test_parameters_errors_and_usage(manifests: Path, tmp_path: Path) -> None:
    bad = tmp_path / "params.yaml"
    bad.write_text("pci-image-provenance:\n  registries: notalist\n")
    code, _, err = run("check", str(manifests), "--parameters", str(bad))
    assert code == 2 and "policy_parameters_invalid" in err
    code, _, err = run("check", str(manifests), "--no-builtin")
    assert code == 2 and "usage_error" in err
    code, _, err = run("check", str(tmp_path / "missing"))
    assert code == 2 and "file_not_found" in err


def test_empty_input(tmp_path: Path) -> None:
    (tmp_path / "empty.yaml").write_text("---\n# nothing\n")
    code, _, err = run("check", str(tmp_path))
    assert code == 2 and "no_input" in err


def test_stdin_with_the_real_binary() -> None:
    manifest = (EXAMPLES / "manifests" / "nightly-reports.yaml").read_text()
    proc = subprocess.run(
        [KUBEGATE, "check", "-", "-o", "json"],
        input=manifest,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["results"][0]["source"] == "<stdin>"
    assert doc["summary"]["deny"] == 2


def test_real_binary_never_prints_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "bin.yaml").write_bytes(b"\xff\xfe\x00")
    proc = subprocess.run([KUBEGATE, "check", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "invalid_encoding" in proc.stderr and "Traceback" not in proc.stderr


def test_real_binary_reports_hostile_inputs_as_located_errors(tmp_path: Path) -> None:
    bomb = ["a: &a [" + ", ".join(['"x"'] * 9) + "]"]
    bomb += [f"{n}: &{n} [" + ", ".join([f"*{p}"] * 9) + "]" for p, n in zip("abcdefgh", "bcdefghi", strict=True)]
    (tmp_path / "bomb.yaml").write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n" + "\n".join(bomb) + "\n")
    deep = "[" * 990 + "]" * 990
    (tmp_path / "deep.yaml").write_text(f"apiVersion: v1\nkind: Pod\nmetadata: {{name: d}}\nspec: {deep}\n")
    (tmp_path / "big.json").write_text('{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "n"}, "x": 1e400}')
    (tmp_path / "labels.yaml").write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: l, labels: [a]}\n")
    proc = subprocess.run([KUBEGATE, "check", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "internal_error" not in proc.stderr
    for where, code in [
        ("bomb.yaml:8:4", "yaml_alias_limit"),
        ("deep.yaml:4:134", "document_too_deep"),
        ("big.json:1:69", "number_out_of_range"),
        ("labels.yaml:1:1", "invalid_object"),
    ]:
        assert f"{tmp_path / where}: {code}:" in proc.stderr, proc.stderr


@pytest.mark.parametrize("backend", BACKEND_NAMES)
def test_backend_option_reaches_the_engine(backend: str, tmp_path: Path, built_backends: list[str]) -> None:
    (tmp_path / "owner.rego").write_text(REQUIRE_OWNER)
    manifest = tmp_path / "cms.yaml"
    manifest.write_text(yaml.safe_dump_all([configmap("owned", {"owner": "a"}), configmap("orphan")]))
    args = ("check", "--no-builtin", "-p", str(tmp_path / "owner.rego"), "-o", "json", str(manifest))
    code, out, err = run(*args, "--backend", backend)
    assert code == 1, err
    assert built_backends == [backend]
    doc = json.loads(out)
    found = {r["name"]: [v["message"] for v in r["violations"]] for r in doc["results"]}
    assert found == {"owned": [], "orphan": ["configmap has no owner"]}
    assert doc["errors"] == []


def test_unknown_backend_is_a_usage_error(manifests: Path) -> None:
    proc = subprocess.run([KUBEGATE, "check", "--backend", "opa", str(manifests)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Invalid value for '--backend': 'opa' is not one of 'compiled', 'regopy'" in proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
