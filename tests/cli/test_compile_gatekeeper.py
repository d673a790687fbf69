"""`kubegate compile --format gatekeeper`: the exported templates and constraints decide like the DSL rules."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from kubegate.cli.main import cli
from kubegate.dsl.gatekeeper import constraint_kind, constraint_name

ROOT = Path(__file__).parents[2]
FIXTURES = ROOT / "tests" / "dsl" / "fixtures" / "gatekeeper"
OBJECTS = FIXTURES / "objects.yaml"
# Rule sets loaded together (the library and pci.kgr both define payment pods' seccomp rule).
GROUPS = {
    "examples": [
        ROOT / "examples" / "policies" / "images.kgr",
        ROOT / "tests" / "dsl" / "golden" / "pci.kgr",
        ROOT / "tests" / "dsl" / "golden" / "workloads.kgr",
        FIXTURES / "params.kgr",
    ],
    "library": [ROOT / "src" / "kubegate" / "policy" / "library" / "library.kgr"],
}


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def rules_dir(tmp_path: Path, group: str) -> Path:
    target = tmp_path / f"rules-{group}"
    target.mkdir()
    for path in GROUPS[group]:
        shutil.copy(path, target / path.name)
    return target


def exported(tmp_path: Path, group: str) -> tuple[Path, Path]:
    """The group's rules directory and the directory ``compile --format gatekeeper -o`` wrote."""
    rules = rules_dir(tmp_path, group)
    out = tmp_path / f"gatekeeper-{group}"
    code, stdout, stderr = run("compile", "--format", "gatekeeper", "-o", str(out), str(rules))
    assert code == 0, stderr
    written = sorted(p.name for p in out.iterdir())
    assert stdout.count("wrote ") == len(written) > 0
    assert [n.removesuffix("-constraint.yaml") for n in written if n.endswith("-constraint.yaml")] == [
        n.removesuffix("-template.yaml") for n in written if n.endswith("-template.yaml")
    ]
    return rules, out


def check(policies: Path) -> list[dict[str, Any]]:
    code, stdout, stderr = run("check", "--no-builtin", "-p", str(policies), "-o", "json", str(OBJECTS))
    report = json.loads(stdout)
    assert report["errors"] == [] and report["warnings"] == [], stderr
    assert code == 1  # the fixtures hold deny violations
    results: list[dict[str, Any]] = report["results"]
    return results


def decisions(results: list[dict[str, Any]]) -> dict[str, list[tuple[str, str, str, str]]]:
    """Object -> sorted (rule, enforcement, message, details) of its violations."""
    return {
        f"{res['kind']}/{res['name']}": sorted(
            (v["details"]["rule"], v["enforcement"], v["message"], json.dumps(v["details"], sort_keys=True))
            for v in res["violations"]
        )
        for res in results
    }


def test_stdout_is_the_stream_of_the_files(tmp_path: Path) -> None:
    rules, out = exported(tmp_path, "examples")
    code, stdout, stderr = run("compile", "--format", "gatekeeper", str(rules))
    assert code == 0, stderr
    docs = list(yaml.safe_load_all(stdout))
    kinds = [d["kind"] for d in docs]
    n = kinds.count("ConstraintTemplate")
    assert n > 0 and kinds[:n] == ["ConstraintTemplate"] * n and len(docs) == 2 * n
    written = [yaml.safe_load(p.read_text()) for p in sorted(out.glob("*-template.yaml"))]
    written += [yaml.safe_load(p.read_text()) for p in sorted(out.glob("*-constraint.yaml"))]
    key = json.dumps
    assert sorted(map(key, docs)) == sorted(map(key, written))
    for doc in docs[n:]:
        rule = doc["metadata"]["annotations"]["kubegate.io/rule"]
        assert (out / f"{rule}-constraint.yaml").is_file() and (out / f"{rule}-template.yaml").is_file()
    # The Rego format is unchanged and the default.
    code, rego, _ = run("compile", str(rules))
    assert code == 0 and rego.count("package kubegate_dsl.") == n
    assert rego == run("compile", "--format", "rego", str(rules))[1]


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_exported_policies_decide_like_the_dsl_rules(tmp_path: Path, group: str) -> None:
    rules, out = exported(tmp_path, group)
    direct, via_gatekeeper = check(rules), check(out)
    assert decisions(via_gatekeeper) == decisions(direct)
    # Policy ids are Kind/name, and every rule of the group fires on some fixture object.
    fired = {v["details"]["rule"] for res in direct for v in res["violations"]}
    exported_ids = {p.name.removesuffix("-constraint.yaml") for p in out.glob("*-constraint.yaml")}
    assert fired == exported_ids
    for res in via_gatekeeper:
        for v in res["violations"]:
            rule = v["details"]["rule"]
            assert v["policy"] == f"{constraint_kind(rule)}/{constraint_name(rule)}"
    # And some objects pass some rules: the fixtures are not all-violating.
    assert any(not res["violations"] for res in direct if res["kind"] != "Namespace")


def _go_regexp_literal(text: str) -> str:
    """``text`` as an anchored regular expression that means the same in Go (gator) and Python."""
    return "^" + "".join("\\" + ch if ch in "\\.+*?()|[]{}^$" else ch for ch in text) + "$"


def _suite(tmp_path: Path, group: str) -> tuple[Path, int]:
    """A gator suite: one test per exported rule, one case per object, assertions from the DSL run."""
    rules, out = exported(tmp_path, group)
    direct = check(rules)
    suite = tmp_path / f"suite-{group}"
    (suite / "objects").mkdir(parents=True)
    docs = list(yaml.safe_load_all(OBJECTS.read_text()))
    namespaces = [d for d in docs if d["kind"] == "Namespace"]
    (suite / "namespaces.yaml").write_text(yaml.safe_dump_all(namespaces))
    objects = {f"{d['kind']}/{d['metadata']['name']}": d for d in docs if d["kind"] != "Namespace"}
    for label, obj in objects.items():
        (suite / "objects" / f"{label.replace('/', '-')}.yaml").write_text(yaml.safe_dump(obj))
    by_object = {f"{r['kind']}/{r['name']}": r["violations"] for r in direct}
    tests, cases = [], 0
    for constraint in sorted(out.glob("*-constraint.yaml")):
        rule = constraint.name.removesuffix("-constraint.yaml")
        test_cases = []
        for label in objects:
            messages = Counter(v["message"] for v in by_object[label] if v["details"]["rule"] == rule)
            assertions: list[dict[str, Any]] = [{"violations": sum(messages.values()) or "no"}]
            assertions += [{"violations": n, "message": _go_regexp_literal(m)} for m, n in sorted(messages.items())]
            test_cases.append(
                {
                    "name": label.replace("/", "-").lower(),
                    "object": f"objects/{label.replace('/', '-')}.yaml",
                    "inventory": ["namespaces.yaml"],
                    "assertions": assertions,
                }
            )
        cases += len(test_cases)
        tests.append(
            {
                "name": rule,
                "template": str(out / f"{rule}-template.yaml"),
                "constraint": str(out / f"{rule}-constraint.yaml"),
                "cases": test_cases,
            }
        )
    doc = {"kind": "Suite", "apiVersion": "test.gatekeeper.sh/v1alpha1", "metadata": {"name": group}, "tests": tests}
    (suite / "suite.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return suite, cases


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_gator_suite_over_the_exported_objects_passes(tmp_path: Path, group: str) -> None:
    suite, cases = _suite(tmp_path, group)
    code, stdout, stderr = run("verify", str(suite))
    assert code == 0, stdout + stderr
    assert stdout.strip().endswith(f"{cases} passed, 0 failed")
    # The suite can fail: claim a violating case is clean.
    doc = yaml.safe_load((suite / "suite.yaml").read_text())
    flipped = next(
        case for test in doc["tests"] for case in test["cases"] if case["assertions"][0]["violations"] != "no"
    )
    flipped["assertions"] = [{"violations": "no"}]
    (suite / "suite.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    code, stdout, _ = run("verify", str(suite))
    assert code == 1 and stdout.strip().endswith(f"{cases - 1} passed, 1 failed")


def kubegate(*args: str) -> subprocess.CompletedProcess[str]:
    """The real command, for its exit status (a command's return value is the status only there)."""
    return subprocess.run([sys.executable, "-m", "kubegate", *args], capture_output=True, text=True, timeout=120)


def test_export_errors_exit_1_and_keep_the_other_rules(tmp_path: Path) -> None:
    rules = tmp_path / "clash.kgr"
    rules.write_text(
        'RULE no_latest ON Pod WHEN ANY container c: c.image ENDS WITH ":latest" THEN DENY("{c.name}")\n'
        'RULE "no-latest" ON Pod WHEN name == "x" THEN WARN("x")\n'
        'RULE bad_ns ON Pod IN NAMESPACES ("Prod") WHEN name == "x" THEN DENY("x")\n'
    )
    done = kubegate("compile", "--format", "gatekeeper", str(rules))
    assert done.returncode == 1
    assert f"{rules}:2:6: gatekeeper_kind_conflict" in done.stderr
    assert f"{rules}:3:6: gatekeeper_namespace_invalid" in done.stderr
    assert "Traceback" not in done.stderr
    assert [d["kind"] for d in yaml.safe_load_all(done.stdout)] == ["ConstraintTemplate", "NoLatest"]
    usage = kubegate("compile", "--format", "yaml", str(rules))
    assert usage.returncode == 2 and "'yaml' is not one of" in usage.stderr
