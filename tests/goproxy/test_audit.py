"""The license policy through Engine.evaluate: parameters, exceptions, enforcement, user policies, records."""

from __future__ import annotations

import calendar
import json
import time
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from kubegate.audit.logger import DecisionLogger, LogSettings
from kubegate.audit.query import LogQuery
from kubegate.errors import ErrorList, UsageError
from kubegate.goproxy.audit import BUILTIN_POLICY, LicenseGate, build_engine, module_input
from kubegate.goproxy.licenses import LicenseFinding

NOW = calendar.timegm(time.strptime("2026-12-01T12:00:00Z", "%Y-%m-%dT%H:%M:%SZ"))


def _module(*spdx: str, path: str = "example.test/m", version: str = "v1.0.0") -> dict[str, Any]:
    findings = [LicenseFinding(f"LICENSE{i}", s, 1.0) for i, s in enumerate(spdx)]
    return module_input(path, version, findings, " AND ".join(spdx), None, None, "http://upstream")


def _gate(params: dict[str, Any] | None = None, **kwargs: Any) -> LicenseGate:
    engine = build_engine(parameters={BUILTIN_POLICY: params} if params else None)
    return LicenseGate(engine, clock=lambda: NOW, **kwargs)


def test_default_verdicts() -> None:
    gate = _gate()
    assert gate.decide(_module("MIT")).verdict == "PASS"
    assert gate.decide(_module("MIT OR GPL-3.0-only")).verdict == "PASS"
    rejected = gate.decide(_module("GPL-3.0-only"))
    assert (rejected.verdict, rejected.blocked, rejected.enforcement) == ("REJECT", True, "deny")
    assert gate.decide(_module("UNKNOWN")).verdict == "REVIEW_REQUIRED"
    assert gate.decide(_module("EUPL-1.2")).verdict == "REVIEW_REQUIRED"
    assert gate.decide(_module("MIT", "GPL-2.0-or-later")).verdict == "REJECT"


@pytest.mark.parametrize(
    ("unknown", "verdict"), [("reject", "REJECT"), ("review", "REVIEW_REQUIRED"), ("allow", "PASS")]
)
def test_unknown_parameter(unknown: str, verdict: str) -> None:
    assert _gate({"unknown": unknown, "allow": ["MIT"], "deny": []}).decide(_module("UNKNOWN")).verdict == verdict


@pytest.mark.parametrize(("enforcement", "blocked"), [("deny", True), ("warn", False), ("dryrun", False)])
def test_enforcement(enforcement: str, blocked: bool) -> None:
    v = _gate({"enforcement": enforcement, "deny": ["GPL-3.0-only"], "allow": []}).decide(_module("GPL-3.0-only"))
    assert (v.verdict, v.blocked, v.enforcement) == ("REJECT", blocked, enforcement)


def test_exceptions_expire() -> None:
    base = {"allow": ["MIT"], "deny": ["GPL-3.0-only"]}
    live = {"module": "example.test/m", "expires": "2026-12-31", "reason": "legal ticket LEG-42"}
    v = _gate({**base, "exceptions": [live]}).decide(_module("GPL-3.0-only"))
    assert v.verdict == "PASS" and not v.blocked and any("LEG-42" in w for w in v.warnings)
    expired = {**live, "expires": "2026-11-30"}
    v = _gate({**base, "exceptions": [expired]}).decide(_module("GPL-3.0-only"))
    assert v.verdict == "REJECT" and any("expired" in w for w in v.warnings)
    other_version = {**live, "versions": ["v2.0.0"]}
    assert _gate({**base, "exceptions": [other_version]}).decide(_module("GPL-3.0-only")).verdict == "REJECT"
    prefix = {**live, "module": "example.test/*"}
    assert _gate({**base, "exceptions": [prefix]}).decide(_module("GPL-3.0-only")).verdict == "PASS"


def test_user_rego_policy(tmp_path: Path) -> None:
    policy = tmp_path / "no_retracted.rego"
    policy.write_text(
        """# METADATA
# custom:
#   id: no-retracted-modules
#   input: object
package acme.goproxy.retracted

import rego.v1

review := {"verdict": "REVIEW_REQUIRED"}

violation contains {"msg": "retracted versions need a review", "details": review} if input.module.retracted
"""
    )
    engine = build_engine([str(policy)])
    gate = LicenseGate(engine, (BUILTIN_POLICY, "no-retracted-modules"), clock=lambda: NOW)
    module = module_input("example.test/m", "v1.0.1", [LicenseFinding("LICENSE", "MIT", 1.0)], "MIT", None, "oops", "x")
    v = gate.decide(module)
    assert v.verdict == "REVIEW_REQUIRED" and v.blocked
    assert [p["id"] for p in v.policies] == [BUILTIN_POLICY, "no-retracted-modules"]
    with pytest.raises(UsageError):
        LicenseGate(engine, ("missing",))


def test_broken_user_policy(tmp_path: Path) -> None:
    bad = tmp_path / "bad.rego"
    bad.write_text("package broken\nviolation contains x if {\n")
    with pytest.raises(ErrorList):
        build_engine([str(bad)])


def test_decision_record_and_403_text(tmp_path: Path) -> None:
    logger = DecisionLogger(LogSettings(str(tmp_path / "log"), mode="strict", fsync="never"))
    gate = _gate(decision_log=logger, exception_contact="open a ticket at https://legal.example/exceptions")
    v = gate.decide(_module("GPL-3.0-only"), trace_id="trace-123")
    text = gate.blocked_message(v)
    assert "example.test/m@v1.0.0" in text and "GPL-3.0-only" in text and "legal.example" in text
    assert BUILTIN_POLICY in text
    logger.close()
    (record,) = LogQuery(str(tmp_path / "log")).records()
    assert record["path"] == "kubegate/goproxy/license"
    assert record["kubegate"]["uid"] == "trace-123"
    assert record["kubegate"]["name"] == "example.test/m@v1.0.0"
    assert record["result"]["auditAnnotations"]["goproxy/verdict"] == "REJECT"
    assert record["kubegate"]["policies"][0]["id"] == BUILTIN_POLICY
    assert record["input"]["review"]["object"]["module"]["licenses"][0]["spdx"] == "GPL-3.0-only"
    text = resources.files("kubegate.audit").joinpath("record.schema.json").read_text("utf-8")
    jsonschema.validate(record, json.loads(text))  # the package's record schema, as shipped
