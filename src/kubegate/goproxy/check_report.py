"""The outputs of ``kubegate golicense check``: text, JSON, JUnit XML and SARIF 2.1.0.

A row is one module of the build list: ``{"path", "version", "replacedBy",
"verdict", "reasons", "expression", "licenses"?, "policies"?}`` with
``verdict`` ``PASS``, ``REJECT``, ``REVIEW_REQUIRED``, ``ERROR`` or ``SKIPPED``.

SARIF (https://docs.oasis-open.org/sarif/sarif/v2.1.0/sarif-v2.1.0.html)
follows ``kubegate check -o sarif`` (:func:`kubegate.cli.report.render_sarif`:
one rule per policy with its version, ``kubegate`` as the driver): a result
per module that does not pass, ``error`` for ``REJECT``, ``warning`` for
``REVIEW_REQUIRED``, ``error`` under the rule ``golicense-module-unavailable``
for ``ERROR``; located at the main module's go.mod, on the line that requires
the module when it is a direct requirement (line 1 otherwise), with the
module as a logical location (kind ``module``) and its verdict, licenses and
expression as properties. Passing modules give no result.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Any

__all__ = ["SARIF_SCHEMA", "render_json", "render_junit", "render_sarif", "render_text"]

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
UNAVAILABLE_RULE = "golicense-module-unavailable"
_LEVEL = {"REJECT": "error", "REVIEW_REQUIRED": "warning", "ERROR": "error"}


def render_text(rows: Sequence[dict[str, Any]]) -> str:
    """One line per module (verdict, path, version, expression), its reasons indented below."""
    lines = []
    for row in rows:
        lines.append(f"{row['verdict']:<16} {row['path']} {row['version']}  {row['expression']}".rstrip())
        lines.extend(f"    {reason}" for reason in row["reasons"])
    return "".join(line + "\n" for line in lines)


def render_json(main: str, rows: Sequence[dict[str, Any]]) -> str:
    """``{"main", "modules": rows, "summary": {verdict: count}}``."""
    summary: dict[str, int] = {}
    for row in rows:
        summary[row["verdict"]] = summary.get(row["verdict"], 0) + 1
    return json.dumps({"main": main, "modules": list(rows), "summary": summary}, indent=2) + "\n"


def render_junit(main: str, rows: Sequence[dict[str, Any]]) -> str:
    """A ``testsuite`` with a ``testcase`` per module (REJECT/REVIEW_REQUIRED: failure; ERROR: error)."""
    suite = ET.Element("testsuite", name=f"golicense {main}", tests=str(len(rows)))
    failures = errors = 0
    for row in rows:
        case = ET.SubElement(suite, "testcase", classname=row["path"], name=f"{row['path']}@{row['version']}")
        if row["verdict"] in ("REJECT", "REVIEW_REQUIRED"):
            failures += 1
            ET.SubElement(case, "failure", message=row["verdict"]).text = "\n".join(row["reasons"])
        elif row["verdict"] == "ERROR":
            errors += 1
            ET.SubElement(case, "error", message="ERROR").text = "\n".join(row["reasons"])
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def _require_line(gomod_text: str, path: str) -> int:
    """The line of ``gomod_text`` requiring ``path`` (1 when there is none: an indirect module)."""
    pattern = re.compile(r"^\s*(?:require\s+)?" + re.escape(path) + r"\s+v\S+")
    for number, line in enumerate(gomod_text.splitlines(), 1):
        if pattern.match(line):
            return number
    return 1


def render_sarif(rows: Sequence[dict[str, Any]], gomod_uri: str, gomod_text: str, tool_version: str) -> str:
    """SARIF 2.1.0 of ``rows`` (see the module docstring); ``gomod_uri`` names the main go.mod."""
    rules: dict[str, dict[str, Any]] = {}
    results: list[dict[str, Any]] = []
    for row in rows:
        verdict = row["verdict"]
        if verdict not in _LEVEL:
            continue
        deciding = [p for p in row.get("policies") or [] if isinstance(p, dict) and p.get("id")]
        if verdict == "ERROR" or not deciding:
            deciding = [{"id": UNAVAILABLE_RULE if verdict == "ERROR" else "golicense", "version": ""}]
        for policy in deciding:
            rules.setdefault(
                str(policy["id"]),
                {
                    "id": str(policy["id"]),
                    "name": str(policy["id"]),
                    "shortDescription": {
                        "text": "a module of the build list could not be fetched"
                        if policy["id"] == UNAVAILABLE_RULE
                        else f"Go module license policy {policy['id']}"
                    },
                    "properties": {"version": str(policy.get("version", ""))},
                },
            )
        reasons = "; ".join(row["reasons"]) or verdict
        results.append(
            {
                "ruleId": str(deciding[0]["id"]),
                "level": _LEVEL[verdict],
                "message": {"text": f"{row['path']}@{row['version']}: {verdict}: {reasons}"},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": gomod_uri},
                            "region": {"startLine": _require_line(gomod_text, row["path"])},
                        },
                        "logicalLocations": [{"name": f"{row['path']}@{row['version']}", "kind": "module"}],
                    }
                ],
                "properties": {
                    "verdict": verdict,
                    "expression": row.get("expression", ""),
                    "licenses": row.get("licenses", []),
                    "replacedBy": row.get("replacedBy", ""),
                },
            }
        )
    ids = sorted(rules)
    for result in results:
        result["ruleIndex"] = ids.index(result["ruleId"])
    sarif = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "kubegate",
                        "version": tool_version,
                        "informationUri": "https://github.com/kubegate/kubegate",
                        "rules": [rules[i] for i in ids],
                    }
                },
                "results": results,
            }
        ],
    }
    return json.dumps(sarif, indent=2) + "\n"
