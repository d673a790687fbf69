"""kubegate check as Policy Reports (kubegate.cli.policy_report): the reports validate against
schemas written from the CRDs, count what the check found, locate objects and carry every error."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator, ValidationError
from referencing import Registry, Resource

from kubegate.cli.check import run_check
from kubegate.cli.policy_report import CLUSTER_REPORT_NAME, policy_reports, render_policyreport
from kubegate.cli.report import CheckReport, ObjectResult
from kubegate.engine.decision import Decision, ReviewResult, Violation
from kubegate.errors import EvaluationError, UsageError

SCHEMAS = Path(__file__).parent / "fixtures" / "policyreport"
NOW = datetime(2024, 5, 1, 12, 30, 15, 250000, tzinfo=UTC)

OWNER_REGO = """# METADATA
# custom:
#   id: require-owner
#   severity: HIGH
#   category: Ownership
package tiny.owner

import rego.v1

deny contains "configmap has no owner" if {
	input.review.object.kind == "ConfigMap"
	not input.review.object.metadata.labels.owner
}

warn contains "configmap has no team" if {
	input.review.object.kind == "ConfigMap"
	not input.review.object.metadata.labels.team
}
"""

NAMESPACE_ENV = """apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata:
  name: k8snamespaceenv
spec:
  crd:
    spec:
      names:
        kind: K8sNamespaceEnv
  targets:
    - target: admission.k8s.gatekeeper.sh
      rego: |
        package k8snamespaceenv
        violation[{"msg": msg, "details": {"missing": "env"}}] {
          not input.review.object.metadata.labels.env
          msg := "namespace has no env label"
        }
---
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sNamespaceEnv
metadata:
  name: namespaces-need-env
spec:
  enforcementAction: dryrun
  match:
    kinds:
      - apiGroups: [""]
        kinds: ["Namespace"]
"""

# Two values for one complete rule: an eval_conflict_error on objects labelled conflict=yes.
CONFLICT_REGO = """# METADATA
# custom:
#   id: conflicting
#   severity: extreme
package tiny.conflict

import rego.v1

v := 1 if input.review.object.metadata.labels.conflict

v := 2 if input.review.object.metadata.labels.conflict == "yes"

deny contains "never" if v == 3
"""

PROD_OWNER_REGO = """# METADATA
# custom:
#   id: prod-owner
#   match:
#     namespaceSelector:
#       matchLabels: {env: prod}
package tiny.prodowner

import rego.v1

deny contains "prod objects need an owner" if not input.review.object.metadata.labels.owner
"""


def _namespace(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if labels:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def _configmap(name: str, namespace: str, labels: dict[str, str] | None = None, uid: str = "") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if labels:
        meta["labels"] = labels
    if uid:
        meta["uid"] = uid
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"k": "v"}}


OBJECTS = [
    _namespace("shop"),  # dryrun violation of the constraint
    _namespace("web", {"env": "prod"}),
    _configmap("good", "shop", {"owner": "a", "team": "b"}, uid="5f0c1e2a-0000-4000-8000-000000000001"),
    _configmap("bad", "shop"),  # deny + warn
    _configmap("half", "web", {"owner": "a"}),  # warn
]


def _validator(kind: str) -> Draft202012Validator:
    schemas = [json.loads(p.read_text()) for p in sorted(SCHEMAS.glob("*.schema.json"))]
    registry: Registry[Any] = Registry().with_resources((s["$id"], Resource.from_contents(s)) for s in schemas)
    (schema,) = [s for s in schemas if s["$id"].endswith(f":{kind}")]
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, registry=registry)


def _validate(doc: Mapping[str, Any]) -> None:
    errors = sorted(_validator(str(doc["kind"])).iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]


def _stream(text: str) -> list[dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(text) if d is not None]
    for d in docs:
        _validate(d)
    return docs


def _start_lines(path: Path) -> list[int]:
    """The 1-based line each document of a YAML stream starts on."""
    lines = path.read_text().splitlines()
    return [1] + [i + 2 for i, line in enumerate(lines) if line == "---"]


@pytest.fixture
def policies(tmp_path: Path) -> Path:
    d = tmp_path / "policies"
    d.mkdir()
    (d / "owner.rego").write_text(OWNER_REGO)
    (d / "namespace-env.yaml").write_text(NAMESPACE_ENV)
    return d


@pytest.fixture
def manifests(tmp_path: Path) -> Path:
    path = tmp_path / "app.yaml"
    path.write_text(yaml.safe_dump_all(OBJECTS, sort_keys=False))
    return path


def _by_name(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs}


def _results_for(doc: Mapping[str, Any], name: str) -> list[dict[str, Any]]:
    return [r for r in doc["results"] if any(ref.get("name") == name for ref in r.get("resources", ()))]


def _check_summaries(docs: list[dict[str, Any]]) -> None:
    for d in docs:
        counted = {
            k: sum(1 for r in d["results"] if r["result"] == k) for k in ("pass", "fail", "warn", "error", "skip")
        }
        assert d["summary"] == counted


def test_reports_validate_and_carry_results_per_namespace(policies: Path, manifests: Path) -> None:
    report = run_check([str(manifests)], policy_dirs=[str(policies)], builtin=False)
    assert not report.errors
    docs = _stream(render_policyreport(report, now=NOW))
    assert [(d["kind"], d["metadata"]["name"], d["metadata"].get("namespace")) for d in docs] == [
        ("ClusterPolicyReport", CLUSTER_REPORT_NAME, None),
        ("PolicyReport", "kubegate-polr-ns-shop", "shop"),
        ("PolicyReport", "kubegate-polr-ns-web", "web"),
    ]
    assert all(d["apiVersion"] == "wgpolicyk8s.io/v1alpha2" for d in docs)
    assert all(d["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "kubegate"} for d in docs)
    _check_summaries(docs)
    # The counts agree with the check's own: deny -> fail, warn and dryrun -> warn.
    assert sum(d["summary"]["fail"] for d in docs) == report.count("deny") == 1
    assert sum(d["summary"]["warn"] for d in docs) == report.count("warn") + report.count("dryrun") == 3
    lines = _start_lines(manifests)
    cluster, shop, web = docs

    (dry,) = [r for r in _results_for(cluster, "shop") if r["result"] != "pass"]
    assert dry["policy"] == "K8sNamespaceEnv/namespaces-need-env" and dry["rule"] == "violation"
    assert (dry["result"], dry["scored"], dry["message"]) == ("warn", False, "namespace has no env label")
    assert dry["resources"] == [{"apiVersion": "v1", "kind": "Namespace", "name": "shop"}]
    assert dry["properties"] == {
        "details": '{"missing":"env"}',
        "enforcement": "dryrun",
        "file": str(manifests),
        "line": str(lines[0]),
    }
    assert "severity" not in dry and "category" not in dry

    bad = {r["rule"]: r for r in _results_for(shop, "bad") if r["result"] != "pass"}
    assert set(bad) == {"deny", "warn"}
    fail, warn = bad["deny"], bad["warn"]
    assert (fail["result"], fail["scored"], fail["message"]) == ("fail", True, "configmap has no owner")
    assert (fail["source"], fail["policy"], fail["severity"], fail["category"]) == (
        "kubegate",
        "require-owner",
        "high",  # HIGH, mapped onto the CRD's enum
        "Ownership",
    )
    assert fail["properties"] == {"enforcement": "deny", "file": str(manifests), "line": str(lines[3])}
    assert fail["timestamp"] == {"seconds": int(NOW.timestamp()), "nanos": 250_000_000}
    assert (warn["result"], warn["scored"], warn["properties"]["enforcement"]) == ("warn", False, "warn")
    assert fail["resources"] == [{"apiVersion": "v1", "kind": "ConfigMap", "name": "bad", "namespace": "shop"}]

    # check records the policies that decided on each object: one pass per (policy, rule) without a finding.
    good = _results_for(shop, "good")
    assert good and {r["result"] for r in good} == {"pass"}
    assert {(r["policy"], r["rule"]) for r in good} >= {("require-owner", "deny"), ("require-owner", "warn")}
    assert all(r["resources"][0]["uid"] == "5f0c1e2a-0000-4000-8000-000000000001" for r in good)
    assert all((r["properties"]["file"], r["properties"]["line"]) == (str(manifests), str(lines[2])) for r in good)
    ok_namespace = _results_for(cluster, "web")
    assert ok_namespace and all(
        r["result"] == "pass" and r["properties"]["line"] == str(lines[1]) for r in ok_namespace
    )
    assert [r["result"] for r in _results_for(web, "half") if r["result"] != "pass"] == ["warn"]


def test_openreports_api_has_the_same_results(policies: Path, manifests: Path) -> None:
    report = run_check([str(manifests)], policy_dirs=[str(policies)], builtin=False)
    wg = _stream(render_policyreport(report, now=NOW))
    docs = _stream(render_policyreport(report, api="openreports", now=NOW))
    assert [(d["apiVersion"], d["kind"]) for d in docs] == [
        ("openreports.io/v1alpha1", "ClusterReport"),
        ("openreports.io/v1alpha1", "Report"),
        ("openreports.io/v1alpha1", "Report"),
    ]
    assert all(d["source"] == "kubegate" for d in docs)
    assert [(d["metadata"], d["summary"], d["results"]) for d in docs] == [
        (d["metadata"], d["summary"], d["results"]) for d in wg
    ]
    with pytest.raises(ValidationError):  # v1alpha2 reports have no top-level source, Reports do
        _validator("PolicyReport").validate(
            {**docs[1], "apiVersion": "wgpolicyk8s.io/v1alpha2", "kind": "PolicyReport"}
        )


def test_schemas_reject_typos_and_values_outside_the_enums(policies: Path, manifests: Path) -> None:
    """The fixtures' schemas are strict enough for the other tests to mean something."""
    report = run_check([str(manifests)], policy_dirs=[str(policies)], builtin=False)
    shop = policy_reports(report, now=NOW)[1]
    validator = _validator("PolicyReport")
    validator.validate(shop)
    result = shop["results"][0]
    broken: list[dict[str, Any]] = [
        {**shop, "results": [{**result, "sevrity": "high"}]},
        {**shop, "results": [{**result, "result": "failed"}]},
        {**shop, "results": [{**result, "severity": "severe"}]},
        {**shop, "results": [{**result, "properties": {"line": 12}}]},
        {**shop, "results": [{**result, "timestamp": {"seconds": 1}}]},
        {**shop, "summary": {**shop["summary"], "passed": 1}},
        {**shop, "metadata": {"name": "kubegate-polr-ns-shop"}},
    ]
    for doc in broken:
        assert not validator.is_valid(doc), doc
    cluster = policy_reports(report, now=NOW)[0]
    assert not _validator("ClusterPolicyReport").is_valid(
        {**cluster, "metadata": {**cluster["metadata"], "namespace": "x"}}
    )


def test_every_error_is_one_error_result(tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "conflict.rego").write_text(CONFLICT_REGO)
    (policies / "prod.rego").write_text(PROD_OWNER_REGO)
    (policies / "broken.rego").write_text("package broken\n\ndeny[m] {\n  m := (1 +\n}\n")
    manifests = tmp_path / "cms.yaml"
    objects = [
        _configmap("cm", "shop", {"owner": "a", "conflict": "yes"}),
        _configmap("orphan", "prod", {"conflict": "yes"}),
        _namespace("shop", {"env": "dev"}),
    ]
    manifests.write_text(yaml.safe_dump_all(objects, sort_keys=False))
    report = run_check([str(manifests)], policy_dirs=[str(policies)], builtin=False)
    codes = sorted(e.code for e in report.errors)
    assert codes == ["eval_error", "eval_error", "namespace_not_in_inventory", "rego_parse_error"]
    docs = _stream(render_policyreport(report, now=NOW))
    _check_summaries(docs)
    assert sum(d["summary"]["error"] for d in docs) == len(report.errors)
    reports = _by_name(docs)
    lines = _start_lines(manifests)

    (conflict,) = _results_for(reports["kubegate-polr-ns-shop"], "cm")
    assert (conflict["policy"], conflict["rule"], conflict["result"]) == ("conflicting", "eval_error", "error")
    assert "conflicting values" in conflict["message"]
    assert conflict["properties"] == {"file": str(manifests), "line": str(lines[0]), "severity": "extreme"}
    assert "severity" not in conflict  # "extreme" is not in the CRD's enum: kept as a property

    # The undecided policy is an error (as gator), not also a skip; no pass hides either error.
    orphan = {r["policy"]: r for r in _results_for(reports["kubegate-polr-ns-prod"], "orphan")}
    assert set(orphan) == {"conflicting", "prod-owner"}
    assert (orphan["prod-owner"]["rule"], orphan["prod-owner"]["result"]) == ("namespace_not_in_inventory", "error")

    cluster = reports[CLUSTER_REPORT_NAME]
    (parse,) = [r for r in cluster["results"] if "resources" not in r]
    (parse_error,) = [e for e in report.errors if e.code == "rego_parse_error"]
    assert parse_error.location is not None
    assert (parse["policy"], parse["rule"], parse["result"], parse["message"]) == (
        "kubegate",
        "rego_parse_error",
        "error",
        parse_error.message,
    )
    assert parse["properties"] == {
        "column": str(parse_error.location.column),
        "file": str(policies / "broken.rego"),
        "line": str(parse_error.location.line),
    }
    assert [r["result"] for r in _results_for(cluster, "shop")] == ["pass"]


def test_an_error_at_a_location_objects_share_is_located_in_the_cluster_report(tmp_path: Path) -> None:
    """A JSON List: every item starts at line 0 of the file, so the location alone pins no error on one item."""
    policies = tmp_path / "conflict.rego"
    policies.write_text(CONFLICT_REGO)
    manifests = tmp_path / "list.json"
    items = [_configmap("one", "shop", {"conflict": "yes"}), _configmap("two", "shop")]
    manifests.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
    report = run_check([str(manifests)], policy_dirs=[str(policies)], builtin=False)
    (error,) = report.errors
    assert error.code == "eval_error" and error.location is not None and error.location.line == 0
    cluster, shop = _stream(render_policyreport(report, now=NOW))
    (loose,) = cluster["results"]
    assert (loose["policy"], loose["rule"], loose["result"]) == ("conflicting", "eval_error", "error")
    assert loose["properties"] == {"file": str(manifests), "severity": "extreme"} and "resources" not in loose
    # Either item may be the one that failed: neither reads as passed.
    assert shop["results"] == [] and shop["summary"] == dict.fromkeys(("pass", "fail", "warn", "error", "skip"), 0)

    # With the item's index in the error (details["index"]), the error is pinned on it and the other passes.
    pinned = EvaluationError(error.message, error.location, details={"policy": "conflicting", "index": 0})
    cluster, shop = _stream(render_policyreport(dataclasses.replace(report, errors=(pinned,)), now=NOW))
    assert cluster["results"] == []
    assert [(r["resources"][0]["name"], r["result"]) for r in shop["results"]] == [("one", "error"), ("two", "pass")]
    assert shop["results"][0]["properties"]["index"] == "0" and shop["results"][1]["properties"]["index"] == "1"


def test_items_of_a_json_list_are_told_apart_by_index(tmp_path: Path, policies: Path) -> None:
    manifests = tmp_path / "list.json"
    items = [_configmap("one", "shop"), _configmap("two", "shop", {"owner": "x", "team": "y"})]
    manifests.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
    report = run_check([str(manifests)], policy_dirs=[str(policies)], builtin=False)
    (shop,) = [d for d in _stream(render_policyreport(report, now=NOW)) if d["kind"] == "PolicyReport"]
    where = {(r["resources"][0]["name"], r["rule"]): r["properties"] for r in shop["results"]}
    assert {name for name, _ in where} == {"one", "two"}
    for (name, _), props in where.items():
        assert props["file"] == str(manifests) and props["index"] == {"one": "0", "two": "1"}[name]
        assert "line" not in props


class _Decisions:
    """A decision-log observer: the policies each review's match selected (ReviewResult.decisions)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_object: dict[tuple[str, str, str], tuple[str, ...]] = {}

    def review_decided(self, review: Mapping[str, Any], result: ReviewResult) -> None:
        obj = review["object"]
        key = (obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        with self.lock:
            self.by_object[key] = tuple(d.policy for d in result.decisions)

    def evaluated(self, policy_id: str, input: Any, decision: Decision) -> None:  # noqa: A002
        raise AssertionError("check reviews objects; it evaluates no policy alone")


@dataclasses.dataclass(frozen=True)
class _MatchedResult(ObjectResult):
    """ObjectResult with the field run_check would fill to give pass results per policy."""

    matched: tuple[str, ...] = ()


def test_pass_results_per_matched_policy_and_rule(policies: Path, manifests: Path) -> None:
    observer = _Decisions()
    report = run_check([str(manifests)], policy_dirs=[str(policies)], builtin=False, decision_log=observer)
    results = tuple(
        _MatchedResult(
            r.document,
            r.violations,
            r.skipped,
            observer.by_object[(r.document.kind, r.document.namespace, r.document.name)],
        )
        for r in report.results
    )
    docs = _stream(render_policyreport(dataclasses.replace(report, results=results), now=NOW))
    _check_summaries(docs)
    cluster, shop, web = docs
    constraint = "K8sNamespaceEnv/namespaces-need-env"

    def outcomes(doc: Mapping[str, Any], name: str) -> set[tuple[str, str, str]]:
        return {(r["policy"], r["rule"], r["result"]) for r in _results_for(doc, name)}

    # The constraint matches Namespaces only: no result of it on any ConfigMap.
    assert outcomes(shop, "good") == {("require-owner", "deny", "pass"), ("require-owner", "warn", "pass")}
    assert outcomes(shop, "bad") == {("require-owner", "deny", "fail"), ("require-owner", "warn", "warn")}
    assert outcomes(web, "half") == {("require-owner", "deny", "pass"), ("require-owner", "warn", "warn")}
    assert outcomes(cluster, "shop") == {
        (constraint, "violation", "warn"),
        ("require-owner", "deny", "pass"),
        ("require-owner", "warn", "pass"),
    }
    assert (constraint, "violation", "pass") in outcomes(cluster, "web")
    passes = {(r["rule"], r["scored"], r["properties"]["enforcement"]) for r in _results_for(shop, "good")}
    assert passes == {("deny", True, "deny"), ("warn", False, "warn")}


PODS_NEED_LIMITS = """# METADATA
# custom:
#   id: pods-need-limits
#   match:
#     kinds: [{apiGroups: [""], kinds: [Pod]}]
package tiny.pods

import rego.v1

deny contains "container has no limits" if {
	some c in input.review.object.spec.containers
	not c.resources.limits
}
"""


def test_a_violation_of_a_generated_pod_names_its_expansion(tmp_path: Path) -> None:
    if "implied_by" not in {f.name for f in dataclasses.fields(Violation)}:
        pytest.skip("this kubegate does not expand workloads")
    (tmp_path / "pods.rego").write_text(PODS_NEED_LIMITS)
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "nginx"}]}}},
    }
    (tmp_path / "deploy.yaml").write_text(yaml.safe_dump(deployment))
    report = run_check([str(tmp_path / "deploy.yaml")], policy_dirs=[str(tmp_path / "pods.rego")], builtin=False)
    (violation,) = report.results[0].violations
    _, shop = _stream(render_policyreport(report, now=NOW))
    (fail,) = shop["results"]
    assert (fail["policy"], fail["result"], fail["message"]) == ("pods-need-limits", "fail", violation.message)
    assert fail["resources"] == [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "namespace": "shop"}]
    implied_by = getattr(violation, "implied_by", None)
    assert isinstance(implied_by, str) and implied_by and fail["properties"]["impliedBy"] == implied_by


def test_output_is_deterministic_and_timestamps_are_utc(policies: Path, manifests: Path) -> None:
    first = run_check([str(manifests)], policy_dirs=[str(policies)], builtin=False, jobs=2)
    second = run_check([str(manifests)], policy_dirs=[str(policies)], builtin=False, jobs=1)
    assert render_policyreport(first, now=NOW) == render_policyreport(second, now=NOW)
    naive = render_policyreport(first, now=NOW.replace(tzinfo=None))
    assert naive == render_policyreport(first, now=NOW)
    later = NOW.astimezone(UTC) + timedelta(hours=2)
    elsewhere = later.astimezone(timezone(timedelta(hours=5)))
    assert render_policyreport(first, now=elsewhere) == render_policyreport(first, now=later)
    before = time.time()
    current = policy_reports(first)[0]["results"][0]["timestamp"]
    assert int(before) - 1 <= current["seconds"] <= time.time() + 1 and 0 <= current["nanos"] < 10**9


def test_unknown_api_is_a_usage_error() -> None:
    with pytest.raises(UsageError) as info:
        render_policyreport(CheckReport((), ()), api="kyverno")
    assert info.value.code == "unknown_report_api"


def test_empty_check_is_one_empty_cluster_report() -> None:
    (doc,) = _stream(render_policyreport(CheckReport((), ()), now=NOW))
    assert doc["kind"] == "ClusterPolicyReport" and doc["results"] == []
    assert doc["summary"] == {"pass": 0, "fail": 0, "warn": 0, "error": 0, "skip": 0}


def test_conftest_exceptions_are_skip_results(tmp_path: Path) -> None:
    policy = tmp_path / "policy"
    policy.mkdir()
    (policy / "main.rego").write_text(
        "package main\nimport rego.v1\n"
        'deny_root contains "runs as root" if input.kind == "Deployment"\n'
        'exception contains ["root"] if input.metadata.name == "legacy"\n'
    )
    manifests = tmp_path / "d.yaml"
    manifests.write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: legacy, namespace: shop}\n"
        "spec: {template: {spec: {containers: []}}}\n"
    )
    report = run_check([str(manifests)], policy_dirs=[str(policy)], builtin=False, expansion=False)
    _, shop = _stream(render_policyreport(report, now=NOW))
    [excepted] = [r for r in shop["results"] if r["policy"] == "main"]
    assert (excepted["rule"], excepted["result"], excepted["scored"]) == ("deny_root", "skip", False)
    assert excepted["properties"]["exception"] == 'data.main.exception[_][_] == "root"'
    assert excepted["properties"]["suppressed"] == "runs as root"
    assert shop["summary"]["skip"] == 1 and shop["summary"]["fail"] == 0
