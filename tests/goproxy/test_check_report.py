"""golicense check outputs: SARIF validated against the SARIF 2.1.0 schema subset the CLI
tests hold (tests/cli/fixtures/sarif), JUnit and text."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema

from kubegate.goproxy.check_report import UNAVAILABLE_RULE, render_junit, render_sarif, render_text

SCHEMA = json.loads(
    (Path(__file__).parents[1] / "cli" / "fixtures" / "sarif" / "sarif-2.1.0-subset.schema.json").read_text()
)
GOMOD = (
    "module example.test/app\n\ngo 1.19\n\nrequire (\n\texample.test/gpllib v1.0.0\n\texample.test/mitlib v1.2.0\n)\n"
)
POLICY = {"id": "go-module-license-allowlist", "version": "b504e78946"}


def _rows() -> list[dict[str, Any]]:
    def row(path: str, verdict: str, reasons: list[str], expression: str, **extra: Any) -> dict[str, Any]:
        return {"path": path, "version": "v1.0.0", "replacedBy": "", "verdict": verdict, "reasons": reasons,
                "expression": expression, **extra}  # fmt: skip

    return [
        row("example.test/gpllib", "REJECT", ["GPL-3.0-only is rejected"], "GPL-3.0-only", policies=[POLICY]),
        row("example.test/mitlib", "PASS", [], "MIT", policies=[POLICY]),
        row("example.test/pointer", "REVIEW_REQUIRED", ["LICENSE is UNKNOWN"], "UNKNOWN", policies=[POLICY]),
        row("example.test/nothing", "ERROR", ["404 not found"], ""),
    ]


def test_sarif() -> None:
    log = json.loads(render_sarif(_rows(), "app/go.mod", GOMOD, "1.2.3"))
    jsonschema.Draft7Validator(SCHEMA, format_checker=jsonschema.FormatChecker()).validate(log)
    [run] = log["runs"]
    rules = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert rules == sorted([POLICY["id"], UNAVAILABLE_RULE])
    by_module = {r["locations"][0]["logicalLocations"][0]["name"]: r for r in run["results"]}
    assert set(by_module) == {
        "example.test/gpllib@v1.0.0",
        "example.test/pointer@v1.0.0",
        "example.test/nothing@v1.0.0",
    }
    gpl = by_module["example.test/gpllib@v1.0.0"]
    assert gpl["level"] == "error" and gpl["ruleId"] == POLICY["id"] and rules[gpl["ruleIndex"]] == POLICY["id"]
    assert gpl["locations"][0]["physicalLocation"]["region"]["startLine"] == 6  # its require line
    assert "GPL-3.0-only" in gpl["message"]["text"]
    assert by_module["example.test/pointer@v1.0.0"]["level"] == "warning"
    assert by_module["example.test/pointer@v1.0.0"]["locations"][0]["physicalLocation"]["region"]["startLine"] == 1
    assert by_module["example.test/nothing@v1.0.0"]["ruleId"] == UNAVAILABLE_RULE


def test_junit_and_text() -> None:
    suite = ET.fromstring(render_junit("example.test/app", _rows()))
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("4", "2", "1")
    text = render_text(_rows())
    assert text.splitlines()[0].split() == ["REJECT", "example.test/gpllib", "v1.0.0", "GPL-3.0-only"]
    assert "    GPL-3.0-only is rejected" in text.splitlines()
