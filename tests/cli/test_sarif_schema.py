"""SARIF from `kubegate check` and `kubegate verify` validated against the SARIF 2.1.0
objects kubegate emits (fixtures/sarif, a schema written from the OASIS spec): with
violations, exceptions, errors, the combined input, and failing suite cases."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import yaml
from click.testing import CliRunner

from kubegate.cli.main import cli

HERE = Path(__file__).parent
SCHEMA = json.loads((HERE / "fixtures" / "sarif" / "sarif-2.1.0-subset.schema.json").read_text())
CONFTEST = HERE / "fixtures" / "conftest"
EXPANSION = HERE / "fixtures" / "expansion"


def sarif(*args: str) -> dict:  # type: ignore[type-arg]
    result = CliRunner().invoke(cli, [*args, "-o", "sarif"])
    assert result.exit_code in (0, 1, 2), result.output
    log = json.loads(result.stdout)
    jsonschema.Draft7Validator(SCHEMA, format_checker=jsonschema.FormatChecker()).validate(log)
    return log  # type: ignore[no-any-return]


def test_check_with_violations_and_expansion() -> None:
    log = sarif(
        "check",
        "--no-builtin",
        "-p",
        str(EXPANSION / "template.yaml"),
        "-p",
        str(EXPANSION / "constraint.yaml"),
        str(EXPANSION / "deployment-bad.yaml"),
    )
    [result] = log["runs"][0]["results"]
    assert result["level"] == "error" and "[Implied by kubegate-expand-workloads]" in result["message"]["text"]


def test_check_with_errors_is_not_successful(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: [x\n")
    log = sarif("check", str(broken))
    [invocation] = log["runs"][0]["invocations"]
    assert invocation["executionSuccessful"] is False
    assert invocation["toolExecutionNotifications"][0]["descriptor"]["id"] == "yaml_parse_error"


def test_check_with_exceptions_and_the_builtin_library() -> None:
    log = sarif("check", "-p", str(CONFTEST / "exceptions" / "policy"), str(CONFTEST / "exceptions"))
    suppressed = [r for r in log["runs"][0]["results"] if r.get("suppressions")]
    assert suppressed, "the conftest exception fixture excepts a rule"


def test_verify_with_a_failing_case(tmp_path: Path) -> None:
    target = tmp_path / "suite"
    shutil.copytree(EXPANSION, target)
    data = yaml.safe_load((target / "suite.yaml").read_text())
    data["tests"][1]["cases"][1]["assertions"] = [{"violations": 1}]
    (target / "suite.yaml").write_text(yaml.safe_dump(data))
    log = sarif("verify", str(target / "suite.yaml"))
    assert len(log["runs"][0]["results"]) == 1
