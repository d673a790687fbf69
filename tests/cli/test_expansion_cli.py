"""Expansion at the command line: `kubegate check` reviews the Pods workloads
generate, `kubegate verify` runs gator suites with `expansion:`, `kubegate expand`
prints the generated objects like `gator expand`. Fixtures: fixtures/expansion."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from click.testing import CliRunner

from kubegate.cli.main import cli

FIXTURES = Path(__file__).parent / "fixtures" / "expansion"
POLICIES = [str(FIXTURES / "template.yaml"), str(FIXTURES / "constraint.yaml")]


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def check(*args: str) -> tuple[int, dict, str]:  # type: ignore[type-arg]
    policies = [a for p in POLICIES for a in ("-p", p)]
    code, out, err = run("check", "--no-builtin", *policies, "-o", "json", *args)
    return code, json.loads(out), err


def test_check_reports_a_deployment_whose_pod_violates() -> None:
    code, report, _ = check(str(FIXTURES / "deployment-bad.yaml"))
    assert code == 1
    [obj] = report["results"]
    [violation] = obj["violations"]
    assert violation["message"] == "[Implied by kubegate-expand-workloads] container nginx uses a latest tag"
    assert violation["impliedBy"] == "kubegate-expand-workloads"


def test_check_no_expansion_turns_the_builtin_templates_off() -> None:
    code, report, _ = check("--no-expansion", str(FIXTURES / "deployment-bad.yaml"))
    assert code == 0 and report["results"][0]["violations"] == []


def test_check_uses_expansion_templates_among_the_policies() -> None:
    code, report, _ = check(
        "--no-expansion", "-p", str(FIXTURES / "widgets.yaml"), str(FIXTURES / "widgetset-bad.yaml")
    )
    assert code == 1
    messages = sorted(v["message"] for v in report["results"][0]["violations"])
    assert messages == [
        "[Implied by expand-widget-pod] container gear uses a latest tag",
        "[Implied by expand-widget] container gear uses a latest tag",
    ]


def test_check_a_workload_without_its_pod_template_is_an_error() -> None:
    broken = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: 1}\n"
    result = CliRunner().invoke(
        cli, ["check", "--no-builtin", *[a for p in POLICIES for a in ("-p", p)], "-"], input=broken
    )
    assert result.exit_code == 2
    assert "source field 'spec.template' is not found in Deployment 'web'" in result.stderr
    assert "ERRORS" in result.stdout


def test_verify_runs_suites_with_expansion_cases() -> None:
    code, out, _ = run("verify", str(FIXTURES / "suite.yaml"), "-v")
    assert code == 0, out
    assert out.count("ok ") == 4 and "4 passed, 0 failed" in out


def test_expand_prints_the_generated_objects() -> None:
    code, out, err = run("expand", str(FIXTURES / "deployment-bad.yaml"))
    assert code == 0, err
    [pod] = list(yaml.safe_load_all(out))
    assert pod["kind"] == "Pod" and pod["metadata"]["name"] == "web-pod"
    assert pod["metadata"]["ownerReferences"] == [
        {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": ""}
    ]
    assert pod["spec"]["containers"][0]["image"] == "nginx:latest"


def test_expand_with_templates_from_the_inputs_only_as_json() -> None:
    code, out, err = run(
        "expand",
        "--no-builtin",
        "-o",
        "json",
        str(FIXTURES / "widgets.yaml"),
        str(FIXTURES / "widgetset-bad.yaml"),
        str(FIXTURES / "deployment-bad.yaml"),
    )
    assert code == 0, err
    objects = json.loads(out)
    assert sorted((o["kind"], o["metadata"]["name"]) for o in objects) == [
        ("Pod", "gears-pod"),
        ("Widget", "gears-widget"),
    ]


def test_expand_reports_mutators_as_not_applied_and_bad_templates_as_errors(tmp_path: Path) -> None:
    mutator = tmp_path / "assign.yaml"
    mutator.write_text(
        "apiVersion: mutations.gatekeeper.sh/v1\nkind: Assign\nmetadata: {name: pull-always}\nspec: {}\n"
        "---\napiVersion: expansion.gatekeeper.sh/v1alpha1\nkind: ExpansionTemplate\n"
        "metadata: {name: broken}\nspec: {}\n"
    )
    code, out, err = run("expand", str(mutator), str(FIXTURES / "deployment-bad.yaml"))
    assert code == 2
    assert "mutation_not_applied: Assign 'pull-always'" in err
    assert f"{mutator}:6:1: invalid_expansion_template" in err
    assert yaml.safe_load(out)["kind"] == "Pod"  # the rest is still expanded
