"""`kubegate verify -o tap|github|sarif`: every CI format says which cases failed and
never reports a failing run as passed (suite: fixtures/expansion, one case broken)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from kubegate.cli.main import cli

FIXTURES = Path(__file__).parent / "fixtures" / "expansion"


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    """The expansion suite with one assertion made wrong, and one case skipped."""
    target = tmp_path / "suite"
    shutil.copytree(FIXTURES, target)
    data = yaml.safe_load((target / "suite.yaml").read_text())
    data["tests"][1]["cases"][1]["assertions"] = [{"violations": 1}]  # good-workload has none
    data["tests"][0]["cases"][1]["skip"] = True
    (target / "suite.yaml").write_text(yaml.safe_dump(data))
    return target / "suite.yaml"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["verify", *args])
    return result.exit_code, result.stdout


def test_tap(suite: Path) -> None:
    code, out = run(str(suite), "-o", "tap")
    assert code == 1
    lines = out.splitlines()
    assert lines[:2] == ["TAP version 14", "1..4"]
    assert sum(line.startswith("ok ") for line in lines) == 3
    assert any(line.endswith("no-builtin-templates-in-a-suite # SKIP") for line in lines)
    [failed] = [line for line in lines if line.startswith("not ok")]
    assert failed.endswith("with-expansion/good-workload")
    assert "got 0 violations but want exactly 1" in out
    assert lines[-1] == "# 2 passed, 1 failed, 1 skipped -- FAILED"


def test_github(suite: Path) -> None:
    code, out = run(str(suite), "-o", "github")
    assert code == 1
    [annotation, summary] = out.splitlines()
    assert annotation.startswith(f"::error file={suite},title=kubegate verify::")
    assert "with-expansion/good-workload: got 0 violations" in annotation
    assert summary == "kubegate verify: 2 passed, 1 failed, 1 skipped -- FAILED"


def test_sarif(suite: Path) -> None:
    code, out = run(str(suite), "-o", "sarif")
    assert code == 1
    run_ = json.loads(out)["runs"][0]
    assert run_["invocations"] == [{"executionSuccessful": False}]
    [result] = run_["results"]
    assert result["ruleId"] == "with-expansion" and result["level"] == "error"
    assert run_["tool"]["driver"]["rules"][result["ruleIndex"]]["id"] == "with-expansion"
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == str(suite)


def test_a_passing_run_passes_in_every_format() -> None:
    for fmt, verdict in (
        ("tap", "# 4 passed, 0 failed -- PASSED"),
        ("github", "kubegate verify: 4 passed, 0 failed -- PASSED"),
    ):
        code, out = run(str(FIXTURES / "suite.yaml"), "-o", fmt)
        assert code == 0 and out.splitlines()[-1] == verdict
    code, out = run(str(FIXTURES / "suite.yaml"), "-o", "sarif")
    assert code == 0 and json.loads(out)["runs"][0]["results"] == []
