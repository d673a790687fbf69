"""kubegate check --decision-log, audit query and audit replay on a real decision log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from kubegate.cli.main import cli
from tests.cli.conftest import BACKEND_NAMES

REQUIRE_LABEL = """# METADATA
# custom:
#   id: require-{label}-label
package audit.labels

import rego.v1

deny contains msg if {{
	input.review.object.kind == "ConfigMap"
	not input.review.object.metadata.labels["{label}"]
	msg := sprintf("%v has no {label} label", [input.review.object.metadata.name])
}}
"""


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def _configmap(name: str, namespace: str, labels: dict[str, str]) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "data": {"contact": "ops@bank.example"},
    }


@pytest.fixture
def logged(tmp_path: Path) -> tuple[Path, Path]:
    """A strict decision log of `kubegate check` over three ConfigMaps (policy: an owner
    label is required), and a candidate policy set requiring a team label instead."""
    current, candidate = tmp_path / "current", tmp_path / "candidate"
    current.mkdir()
    candidate.mkdir()
    (current / "labels.rego").write_text(REQUIRE_LABEL.format(label="owner"))
    (candidate / "labels.rego").write_text(  # same policy id, new rule
        REQUIRE_LABEL.format(label="team").replace("id: require-team", "id: require-owner")
    )
    manifests = tmp_path / "manifests.yaml"
    manifests.write_text(
        yaml.safe_dump_all(
            [
                _configmap("owned", "shop", {"owner": "a"}),  # allow now, deny with the candidate
                _configmap("teamed", "shop", {"team": "b"}),  # deny now, allow with the candidate
                _configmap("both", "payments", {"owner": "a", "team": "b"}),  # allowed by both
            ]
        )
    )
    log = tmp_path / "log"
    code, out, err = run(
        "check",
        "--no-builtin",
        "-p",
        str(current),
        "--decision-log",
        str(log),
        "--decision-log-mode",
        "strict",
        str(manifests),
    )
    assert code == 1, out + err  # one object is denied
    return log, candidate


def test_check_writes_one_record_per_object(logged: tuple[Path, Path]) -> None:
    log, _ = logged
    code, out, err = run("audit", "query", "--log", str(log), "-o", "json")
    assert code == 0, err
    records: list[dict[str, Any]] = json.loads(out)
    by_name = {r["kubegate"]["name"]: r for r in records}  # check reviews objects in parallel
    assert sorted(by_name) == ["both", "owned", "teamed"]
    assert {r["path"] for r in records} == {"kubegate/check"}
    assert {name: r["result"]["allowed"] for name, r in by_name.items()} == {
        "owned": True,
        "teamed": False,
        "both": True,
    }
    assert by_name["teamed"]["result"]["violations"][0]["policy"] == "require-owner-label"
    # The email in the ConfigMap's data was redacted before the record was written.
    assert all(r["input"]["review"]["object"]["data"]["contact"] == "<redacted:email>" for r in records)
    assert all(r["redaction"]["rules"] == {"email": 1} for r in records)


def test_query_filters_and_table(logged: tuple[Path, Path]) -> None:
    log, _ = logged
    code, out, err = run("audit", "query", "--log", str(log), "--decision", "deny")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["TIME", "DECISION", "OP"]
    assert len(lines) == 2 and "deny" in lines[1] and "shop/teamed" in lines[1]
    assert "require-owner-label" in lines[1]
    assert "1 decision(s)" in err

    code, out, _ = run("audit", "query", "--log", str(log), "--namespace", "payments", "-o", "jsonl")
    assert [json.loads(line)["kubegate"]["name"] for line in out.splitlines()] == ["both"]
    code, out, _ = run("audit", "query", "--log", str(log), "--policy", "require-owner-label", "-o", "jsonl")
    assert len(out.splitlines()) == 3  # the policy took part in every decision
    code, out, _ = run("audit", "query", "--log", str(log), "--since", "1h", "--until", "2999-01-01T00:00:00Z")
    assert len(out.splitlines()) == 4
    code, out, _ = run("audit", "query", "--log", str(log), "--until", "2000-01-01T00:00:00Z", "-o", "json")
    assert json.loads(out) == []
    _, every, _ = run("audit", "query", "--log", str(log), "-o", "json")
    code, out, _ = run("audit", "query", "--log", str(log), "--limit", "1", "-o", "jsonl")
    assert json.loads(out) == json.loads(every)[-1]  # the newest


def test_query_bad_time_is_a_clear_error(logged: tuple[Path, Path]) -> None:
    log, _ = logged
    code, out, err = run("audit", "query", "--log", str(log), "--since", "yesterday-ish")
    assert code == 2
    assert "yesterday-ish" in err and "Traceback" not in err + out


def test_replay_reports_changes_per_policy(logged: tuple[Path, Path]) -> None:
    log, candidate = logged
    code, out, err = run("audit", "replay", "--log", str(log), "--no-builtin", "-p", str(candidate), "-o", "json")
    assert code == 1, err  # decisions would change
    report = json.loads(out)
    assert report["records"] == 3 and report["replayed"] == 3
    [policy] = [p for p in report["policies"] if p["policy"] == "require-owner-label"]
    assert [c["name"] for c in policy["allowToDeny"]] == ["owned"]
    assert [c["name"] for c in policy["denyToAllow"]] == ["teamed"]
    assert policy["evaluated"] == 3
    assert report["decisions"] == {"allowToDeny": 1, "denyToAllow": 1}
    assert report["skipped"] == {"noInput": 0, "undecided": 0}
    assert report["redactedInputs"] == 3  # the policies saw the redaction text, and the report says so

    code, out, _ = run("audit", "replay", "--log", str(log), "--no-builtin", "-p", str(candidate))
    assert code == 1
    assert "requests whose decision would change: 1 allow→deny, 1 deny→allow" in out
    assert "owned" in out and "has no team label" in out


def test_replay_against_the_same_policies_changes_nothing(logged: tuple[Path, Path], tmp_path: Path) -> None:
    log, _ = logged
    code, out, err = run("audit", "replay", "--log", str(log), "--no-builtin", "-p", str(tmp_path / "current"))
    assert code == 0, out + err
    assert "0 allow→deny, 0 deny→allow" in out


def test_replay_with_broken_candidate_policies_exits_2(logged: tuple[Path, Path], tmp_path: Path) -> None:
    log, _ = logged
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "bad.rego").write_text("package broken\n\ndeny contains msg if {\n")
    code, _, err = run("audit", "replay", "--log", str(log), "--no-builtin", "-p", str(broken))
    assert code == 2
    assert "bad.rego:" in err and "rego_parse_error" in err and "Traceback" not in err


def test_standard_mode_records_are_not_replayed(tmp_path: Path) -> None:
    policies = tmp_path / "p"
    policies.mkdir()
    (policies / "labels.rego").write_text(REQUIRE_LABEL.format(label="owner"))
    manifest = tmp_path / "cm.yaml"
    manifest.write_text(yaml.safe_dump(_configmap("x", "shop", {})))
    log = tmp_path / "log"
    code, _, _ = run("check", "--no-builtin", "-p", str(policies), "--decision-log", str(log), str(manifest))
    assert code == 1
    code, out, _ = run("audit", "query", "--log", str(log), "-o", "json")
    [record] = json.loads(out)
    assert "input" not in record and record["kubegate"]["mode"] == "standard"
    code, out, _ = run("audit", "replay", "--log", str(log), "--no-builtin", "-p", str(policies))
    assert code == 0
    assert "1 standard-mode record(s) have no input" in out


def test_damaged_log_is_reported_not_skipped(logged: tuple[Path, Path]) -> None:
    log, _ = logged
    [segment] = sorted(p for p in log.rglob("*") if p.is_file() and p.suffix == ".wal")
    data = bytearray(segment.read_bytes())
    data[40] ^= 0xFF  # inside the first record
    segment.write_bytes(bytes(data))
    code, out, err = run("audit", "query", "--log", str(log), "-o", "json")
    assert code == 0
    assert len(json.loads(out)) < 3
    assert "warning:" in err and segment.name in err


def test_query_of_a_missing_log_is_a_clear_error(tmp_path: Path) -> None:
    code, out, err = run("audit", "query", "--log", str(tmp_path / "nope"))
    assert code == 2
    assert "nope" in err and "Traceback" not in out + err


# The candidate of `logged`, in basic Rego only (the same on every backend): a team label is required.
TINY_REQUIRE_TEAM = """# METADATA
# custom:
#   id: require-owner-label
package audit.labels

import rego.v1

deny contains msg if {
	input.review.object.kind == "ConfigMap"
	not input.review.object.metadata.labels.team
	msg := "configmap has no team label"
}
"""


@pytest.mark.parametrize("backend", BACKEND_NAMES)
def test_replay_backend_option_reaches_the_engine(
    backend: str, logged: tuple[Path, Path], tmp_path: Path, built_backends: list[str]
) -> None:
    log, _ = logged
    candidate = tmp_path / "tiny"
    candidate.mkdir()
    (candidate / "labels.rego").write_text(TINY_REQUIRE_TEAM)
    built_backends.clear()
    args = ("audit", "replay", "--log", str(log), "--no-builtin", "-p", str(candidate), "-o", "json")
    code, out, err = run(*args, "--backend", backend)
    assert code == 1, err
    assert built_backends == [backend]
    [policy] = [p for p in json.loads(out)["policies"] if p["policy"] == "require-owner-label"]
    assert [c["name"] for c in policy["allowToDeny"]] == ["owned"]
    assert [c["name"] for c in policy["denyToAllow"]] == ["teamed"]


def test_replay_unknown_backend_is_a_usage_error(logged: tuple[Path, Path]) -> None:
    log, candidate = logged
    code, out, err = run("audit", "replay", "--log", str(log), "-p", str(candidate), "--backend", "opa")
    assert code == 2
    assert "Invalid value for '--backend': 'opa' is not one of 'compiled', 'regopy'" in err
    assert "Traceback" not in out + err


def test_replay_against_a_validating_admission_policy(tmp_path: Path) -> None:
    """Records made with Rego, replayed against a ValidatingAdmissionPolicy
    (tests/cli/fixtures/vap) that denies the prod Pod: the change is reported."""
    vap = Path(__file__).parent / "fixtures" / "vap"
    log = tmp_path / "log"
    empty = tmp_path / "none"
    empty.mkdir()
    (empty / "allow.rego").write_text(
        'package allow\n\nimport rego.v1\n\ndeny contains msg if {\n\tfalse\n\tmsg := ""\n}\n'
    )
    pods = [str(vap / "pod-prod.yaml"), str(vap / "pod-clean.yaml")]
    code, out, err = run(
        "check", "--no-builtin", "-p", str(empty), "--decision-log", str(log), "--decision-log-mode", "strict", *pods
    )
    assert code == 0, out + err
    args = ["-p", str(vap / "policy.yaml"), "-p", str(vap / "bindings.yaml"), "-o", "json"]
    code, out, err = run("audit", "replay", "--log", str(log), "--no-builtin", *args)
    assert code == 1, err
    report = json.loads(out)
    assert report["decisions"] == {"allowToDeny": 1, "denyToAllow": 0}
    [policy] = [p for p in report["policies"] if p["policy"] == "ValidatingAdmissionPolicyBinding/registry-prod"]
    assert [c["name"] for c in policy["allowToDeny"]] == ["web-prod"]
