"""kubegate check -o junit|tap|github and verify -o junit (kubegate.cli.ci_formats):
the formats validate, count honestly, and a run with errors never reads as passed."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import xmlschema
import yaml
from click.testing import CliRunner

from kubegate.cli.main import cli

FIXTURES = Path(__file__).parent / "fixtures"
SCHEMA = xmlschema.XMLSchema(str(FIXTURES / "junit.xsd"))
REPO = Path(__file__).parents[2]

GOOD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "good", "namespace": "shop"},
    "spec": {"containers": [{"name": "c", "image": "i", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]},
}
BAD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bad", "namespace": "shop"},
       "spec": {"containers": [{"name": "c", "image": "i"}]}}  # fmt: skip
WARN_REGO = 'package team.warn\nimport rego.v1\n# METADATA\n# custom:\n#   id: label-warn\nwarn contains "no team label" if not input.review.object.metadata.labels.team\n'  # noqa: E501


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    d = tmp_path / "in"
    d.mkdir()
    (d / "pods.yaml").write_text(yaml.safe_dump_all([GOOD, BAD], sort_keys=False))
    return d


def _bad_line(inputs: Path) -> int:
    """The line where the second document (the bad Pod) starts."""
    return (inputs / "pods.yaml").read_text().splitlines().index("---") + 2


@pytest.fixture
def broken_policy(tmp_path: Path) -> Path:
    p = tmp_path / "policies"
    p.mkdir()
    (p / "broken.rego").write_text("package broken\n\ndeny[m] {\n  m := (1 +\n}\n")
    return p


def _junit(text: str) -> ET.Element:
    SCHEMA.validate(text)  # raises with the offending path when it does not validate
    return ET.fromstring(text)


def test_junit_validates_and_counts_objects_and_deny_failures(inputs: Path) -> None:
    code, out, err = run("check", str(inputs), "-o", "junit")
    assert code == 1, err
    root = _junit(out)
    assert root.get("tests") == "2" and root.get("failures") == "1" and root.get("errors") == "0"
    (suite,) = root.findall("testsuite")
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    line = _bad_line(inputs)
    bad = cases[f"Pod shop/bad (line {line})"]
    failure = bad.find("failure")
    assert failure is not None and "pod-must-have-resource-limits" in (failure.text or "")
    assert bad.get("file", "").endswith("pods.yaml") and bad.get("line") == str(line)
    assert cases["Pod shop/good (line 1)"].find("failure") is None


def test_warn_violations_are_output_not_failures(inputs: Path, tmp_path: Path) -> None:
    (tmp_path / "warn.rego").write_text(WARN_REGO)
    code, out, _ = run("check", str(inputs), "-p", str(tmp_path / "warn.rego"), "-o", "junit")
    assert code == 1  # the deny of the bad Pod; warn violations alone would exit 0
    root = _junit(out)
    assert root.get("failures") == "1"
    outs = [c.findtext("system-out") or "" for c in root.iter("testcase")]
    assert sum("warn: [label-warn] no team label" in o for o in outs) == 2


def test_tap_plan_matches_test_points_and_marks_denials(inputs: Path) -> None:
    code, out, _ = run("check", str(inputs), "-o", "tap")
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == "TAP version 14" and lines[1] == "1..2"
    points = [ln for ln in lines if re.match(r"^(not )?ok \d+ - ", ln)]
    assert [p.split(" - ")[0] for p in points] == ["ok 1", "not ok 2"]
    block = out[out.index("  ---") : out.index("  ...")]
    assert yaml.safe_load("\n".join(x[2:] for x in block.splitlines()[1:]))["violations"][0]["enforcement"] == "deny"
    assert lines[-1].endswith(": FAILED")


def test_github_commands_point_at_the_manifest_line_and_escape(inputs: Path) -> None:
    code, out, _ = run("check", str(inputs), "-o", "github")
    assert code == 1
    (command,) = [ln for ln in out.splitlines() if ln.startswith("::")]
    head, message = command[2:].split("::", 1)
    level, props = head.split(" ", 1)
    fields = dict(p.split("=", 1) for p in props.split(","))
    line = _bad_line(inputs)
    assert level == "error" and fields["file"].endswith("pods.yaml") and fields["line"] == str(line)
    assert fields["title"] == "kubegate deny%3A pod-must-have-resource-limits"  # ':' escaped in properties
    assert message.startswith(f"Pod shop/bad (line {line}): ")
    assert out.splitlines()[-1].endswith("-- FAILED")


@pytest.mark.parametrize("output", ["text", "json", "sarif", "junit", "tap", "github"])
def test_a_run_with_errors_never_says_it_passed(output: str, tmp_path: Path, broken_policy: Path) -> None:
    clean = tmp_path / "clean.yaml"
    clean.write_text(yaml.safe_dump(GOOD))
    code, out, err = run("check", str(clean), "-p", str(broken_policy), "-o", output)
    assert code == 2, err
    assert "rego_parse_error" in err
    if output == "text":
        assert out.rstrip().endswith("-- ERRORS") and "PASSED" not in out
    elif output == "json":
        summary = json.loads(out)["summary"]
        assert summary["passed"] is False and summary["errors"] == 1 and summary["deny"] == 0
    elif output == "sarif":
        (invocation,) = json.loads(out)["runs"][0]["invocations"]
        assert invocation["executionSuccessful"] is False
        assert invocation["toolExecutionNotifications"][0]["descriptor"]["id"] == "rego_parse_error"
    elif output == "junit":
        root = _junit(out)
        assert root.get("errors") == "1"
        error = root.find("testsuite[@name='kubegate errors']/testcase/error")
        assert error is not None and error.get("type") == "rego_parse_error"
    elif output == "tap":
        assert "not ok 2 - error rego_parse_error" in out and out.rstrip().endswith(": ERRORS")
    else:
        assert "::error file=" in out and "title=kubegate rego_parse_error" in out
        assert out.rstrip().endswith("-- ERRORS")


def test_documents_that_are_not_objects_are_notes_unless_strict(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [pod.yaml]\n"
    )
    (tmp_path / "values.yaml").write_text("replicaCount: 2\nimage: {repository: nginx}\n")
    (tmp_path / "pod.yaml").write_text(yaml.safe_dump(GOOD))
    code, out, err = run("check", str(tmp_path), "-o", "json")
    doc = json.loads(out)
    assert code == 0, err
    assert [r["name"] for r in doc["results"]] == ["good"]
    assert sorted(n["code"] for n in doc["notes"]) == ["not_a_kubernetes_object"] * 2
    assert doc["summary"]["passed"] is True and doc["summary"]["notes"] == 2 and doc["errors"] == []
    code, _, err = run("check", str(tmp_path), "--strict-input")
    assert code == 2
    assert f"{tmp_path / 'values.yaml'}:1:1: not_a_kubernetes_object: document has no apiVersion and kind" in err


def test_custom_resources_are_checked_and_near_misses_warned(tmp_path: Path) -> None:
    (tmp_path / "owner.rego").write_text(
        "package owner\nimport rego.v1\n# METADATA\n# custom:\n#   id: monitor-owner\n"
        'deny contains "ServiceMonitor needs an owner label" if {\n'
        '  input.review.object.kind == "ServiceMonitor"\n  not input.review.object.metadata.labels.owner\n}\n'
    )
    monitor = {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor", "metadata": {"name": "m"}}
    typo = {"apiVersion": "apps/v1", "kind": "Deploymnet", "metadata": {"name": "d"}}
    (tmp_path / "in.yaml").write_text(yaml.safe_dump_all([monitor, typo]))
    code, out, err = run("check", "--no-builtin", "-p", str(tmp_path / "owner.rego"), str(tmp_path / "in.yaml"))
    assert code == 1, err  # the ServiceMonitor is reviewed, not refused
    assert "ServiceMonitor needs an owner label" in out and "-- FAILED" in out
    assert "did you mean Deployment?" in err and "monitoring.coreos.com" not in err


# ------------------------------------------------------------------ verify


def _suite(tmp_path: Path) -> Path:
    d = tmp_path / "suite"
    d.mkdir()
    template = yaml.safe_load((REPO / "examples/policies/k8srequiredowner-template.yaml").read_text())
    (d / "template.yaml").write_text(yaml.safe_dump(template))
    (d / "constraint.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "constraints.gatekeeper.sh/v1beta1",
                "kind": "K8sRequiredOwner",
                "metadata": {"name": "owner"},
                "spec": {"parameters": {"label": "owner", "pattern": "^team-"}},
            }
        )
    )
    for name, labels in (("owned", {"owner": "team-a"}), ("orphan", {})):
        obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels}}
        (d / f"{name}.yaml").write_text(yaml.safe_dump(obj))
    suite = {
        "apiVersion": "test.gatekeeper.sh/v1alpha1",
        "kind": "Suite",
        "tests": [
            {
                "name": "owner",
                "template": "template.yaml",
                "constraint": "constraint.yaml",
                "cases": [
                    {"name": "owned-ok", "object": "owned.yaml", "assertions": [{"violations": "no"}]},
                    {"name": "orphan-denied", "object": "orphan.yaml", "assertions": [{"violations": "yes"}]},
                    {"name": "orphan-wrongly-ok", "object": "orphan.yaml", "assertions": [{"violations": "no"}]},
                ],
            }
        ],
    }
    (d / "suite.yaml").write_text(yaml.safe_dump(suite, sort_keys=False))
    return d


def test_verify_junit_validates_with_times_and_failures(tmp_path: Path) -> None:
    code, out, _ = run("verify", str(_suite(tmp_path)), "-o", "junit")
    assert code == 1
    root = _junit(out)
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("3", "1", "0")
    cases = {c.get("name"): c for c in root.iter("testcase")}
    assert cases["owner/orphan-wrongly-ok"].find("failure") is not None
    assert all(float(c.get("time", "-1")) >= 0 for c in cases.values())


def test_verify_run_selects_cases_and_verbose_prints_times(tmp_path: Path) -> None:
    code, out, _ = run("verify", str(_suite(tmp_path)), "--run", "orphan-denied$", "-v")
    assert code == 0, out
    lines = out.splitlines()
    assert len(lines) == 2 and re.search(r"^ok   .* owner/orphan-denied \(\d+\.\d ms\)$", lines[0])
    assert lines[-1] == "1 passed, 0 failed"
    code, _, err = run("verify", str(tmp_path / "suite"), "--run", "(")
    assert code == 2 and "invalid_run_pattern" in err


def test_parameters_for_an_unknown_policy_are_an_error(tmp_path: Path) -> None:
    pod = tmp_path / "pod.yaml"
    pod.write_text(yaml.safe_dump(GOOD))
    params = tmp_path / "parameters.yaml"
    params.write_text("pci-image-provenanse:\n  registries: [registry.bank.internal/]\n")
    code, out, err = run("check", str(pod), "--parameters", str(params))
    assert code == 2
    assert f"{params}: unknown_policy_parameters: parameters given for 'pci-image-provenanse'" in err
    assert "did you mean pci-image-provenance?" in err and out.rstrip().endswith("-- ERRORS")


def test_fail_on_warn_and_ignore_like_conftest(tmp_path: Path) -> None:
    (tmp_path / "warn.rego").write_text(WARN_REGO)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "pod.yaml").write_text(yaml.safe_dump(GOOD))
    (tmp_path / "in" / "vendor").mkdir()
    (tmp_path / "in" / "vendor" / "bad.yaml").write_text(yaml.safe_dump(BAD))
    base = ("check", str(tmp_path / "in"), "-p", str(tmp_path / "warn.rego"))
    assert run(*base)[0] == 1  # the vendored bad Pod is denied
    code, out, _ = run(*base, "--ignore", "/vendor/", "-o", "json")
    doc = json.loads(out)
    assert code == 0 and [r["name"] for r in doc["results"]] == ["good"]
    (note,) = doc["notes"]
    assert note["code"] == "ignored_input" and note["location"]["file"].endswith("vendor/bad.yaml")
    assert doc["summary"]["warn"] == 1
    code, out, _ = run(*base, "--ignore", "/vendor/", "--fail-on-warn")
    assert code == 1 and out.rstrip().endswith("-- FAILED")  # warn alone now fails, and says so
    code, _, err = run(*base, "--ignore", "[")
    assert code == 2 and "invalid_ignore_pattern" in err


def test_a_namespace_selector_without_its_namespace_is_an_error(tmp_path: Path) -> None:
    """As gator: the policy cannot decide, so the object must not read as ok."""
    rego = (
        "package prodowner\nimport rego.v1\n# METADATA\n# custom:\n#   id: prod-owner\n#   match:\n"
        "#     namespaceSelector:\n#       matchLabels: {env: prod}\n"
        'deny contains "prod objects need an owner" if not input.review.object.metadata.labels.owner\n'
    )
    (tmp_path / "prod.rego").write_text(rego)
    pod = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm", "namespace": "prod"}}
    (tmp_path / "cm.yaml").write_text(yaml.safe_dump(pod))
    base = ("check", "--no-builtin", "-p", str(tmp_path / "prod.rego"))
    code, out, err = run(*base, str(tmp_path / "cm.yaml"))
    assert code == 2 and "namespace_not_in_inventory" in err and "policy prod-owner could not decide" in err
    assert out.rstrip().endswith("-- ERRORS")
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod", "labels": {"env": "prod"}}}
    (tmp_path / "ns.yaml").write_text(yaml.safe_dump(namespace))
    code, out, err = run(*base, str(tmp_path / "cm.yaml"), str(tmp_path / "ns.yaml"))
    assert code == 1 and "prod objects need an owner" in out and "namespace_not_in_inventory" not in err


def test_verify_case_fails_when_its_namespace_selector_cannot_decide(tmp_path: Path) -> None:
    d = _suite(tmp_path)
    constraint = yaml.safe_load((d / "constraint.yaml").read_text())
    constraint["spec"]["match"] = {"namespaceSelector": {"matchLabels": {"env": "prod"}}}
    (d / "constraint.yaml").write_text(yaml.safe_dump(constraint))
    orphan = yaml.safe_load((d / "orphan.yaml").read_text())
    orphan["metadata"]["namespace"] = "prod"
    (d / "orphan.yaml").write_text(yaml.safe_dump(orphan))
    code, out, _ = run("verify", str(d), "--run", "orphan-denied")
    assert code == 1
    assert "FAIL" in out and "policy K8sRequiredOwner/owner could not decide" in out and "not in the inventory" in out
