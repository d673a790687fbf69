"""ValidatingAdmissionPolicies evaluated by the engine (fixtures/vap: a policy with a
ConfigMap parameter and two bindings), on both backends' review path."""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubegate.cel.program import CelError
from kubegate.engine.backend import set_thread_deadline
from kubegate.engine.engine import Engine

FIXTURES = Path(__file__).parent / "fixtures" / "vap"
INVENTORY = list(yaml.safe_load_all((FIXTURES / "objects.yaml").read_text()))


def deployment(namespace: str, replicas: int, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": namespace, "labels": labels or {"team": "a"}},
        "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"name": "c", "image": "c:1"}]}}},
    }


@pytest.fixture(scope="module")
def engine() -> Engine:
    e = Engine([str(FIXTURES / "policy.yaml")], builtin=False, inventory=INVENTORY, expansion=False)
    assert not e.errors and not e.warnings, (e.errors, e.warnings)
    return e


def test_the_prod_binding_denies_past_the_params_limit(engine: Engine) -> None:
    result = engine.review(deployment("shop", 5))
    assert not result.allowed
    assert [(v.policy, v.message, v.enforcement) for v in result.violations] == [
        ("ValidatingAdmissionPolicyBinding/replica-limit-prod", "replicas must be at most 3", "deny")
    ]
    assert engine.review(deployment("shop", 3)).allowed


def test_message_and_match_conditions(engine: Engine) -> None:
    no_team = engine.review(deployment("shop", 1, {"app": "web"}))
    assert [v.message for v in no_team.violations] == ["a team label is required"]
    exempt = engine.review(deployment("shop", 9, {"exempt": "yes"}))
    assert exempt.allowed and exempt.violations == ()


def test_missing_params_follow_parameter_not_found_action(engine: Engine) -> None:
    dev = engine.review(deployment("lab", 9))
    assert dev.allowed and dev.violations == ()  # Allow: the dev binding's params do not exist
    policy = yaml.safe_load_all((FIXTURES / "policy.yaml").read_text())
    docs = list(policy)
    docs[1]["spec"]["paramRef"]["name"] = "nowhere"
    e = Engine(objects=docs, builtin=False, inventory=INVENTORY, expansion=False)
    [v] = e.review(deployment("shop", 1)).violations
    assert v.message.startswith("no params found for binding replica-limit-prod")


def test_validation_actions_warn_and_audit(engine: Engine) -> None:
    docs = list(yaml.safe_load_all((FIXTURES / "policy.yaml").read_text()))
    warn, audit = copy.deepcopy(docs[1]), copy.deepcopy(docs[1])
    warn["metadata"]["name"], warn["spec"]["validationActions"] = "warn", ["Warn"]
    audit["metadata"]["name"], audit["spec"]["validationActions"] = "audit", ["Audit"]
    e = Engine(objects=[docs[0], warn, audit], builtin=False, inventory=INVENTORY, expansion=False)
    result = e.review(deployment("shop", 5))
    assert result.allowed
    assert sorted((v.policy, v.enforcement) for v in result.violations) == [
        ("ValidatingAdmissionPolicyBinding/audit", "dryrun"),
        ("ValidatingAdmissionPolicyBinding/warn", "warn"),
    ]


def test_other_resources_and_operations_are_not_in_scope(engine: Engine) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "shop"}, "spec": {}}
    assert engine.review(pod).decisions == ()
    assert engine.review(deployment("shop", 9), operation="DELETE").decisions == ()


def test_load_problems_are_reported() -> None:
    docs = list(yaml.safe_load_all((FIXTURES / "policy.yaml").read_text()))
    unbound = Engine(objects=[docs[0]], builtin=False, expansion=False)
    assert [w.code for w in unbound.warnings] == ["policy_not_bound"]
    orphan = Engine(objects=[docs[1]], builtin=False, expansion=False)
    assert [e.code for e in orphan.errors] == ["policy_not_found"]


def test_a_cel_error_in_a_policy_file_is_located(tmp_path: Path) -> None:
    text = (
        (FIXTURES / "policy.yaml")
        .read_text()
        .replace("expression: object.spec.replicas <= variables.limit", "expression: object.spec.replicas <= 'x' + 1")
    )
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    e = Engine([str(path)], builtin=False, expansion=False)
    error, *rest = e.errors
    assert isinstance(error, CelError) and error.code == "cel_type_error"
    assert [r.code for r in rest] == ["policy_not_found", "policy_not_found"]  # its bindings have no policy
    written = "    - expression: object.spec.replicas <= 'x' + 1"
    line = text.splitlines().index(written) + 1
    where = error.location
    assert where is not None and (where.file, where.line, where.column) == (str(path), line, written.index("+") + 1)


RUNAWAY = Path(__file__).parents[1] / "cli" / "fixtures" / "vap" / "runaway.yaml"


def widget(items: int) -> dict[str, Any]:
    """A Widget with ``items`` items (what the runaway policy maps over)."""
    spec = {"items": list(range(items))}
    return {"apiVersion": "example.org/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "x"}, "spec": spec}


def test_a_runaway_expression_is_refused_before_it_runs_past_the_deadline() -> None:
    e = Engine([str(RUNAWAY)], builtin=False, expansion=False)
    assert e.review(widget(50)).allowed  # small input: evaluated
    set_thread_deadline(time.monotonic() + 0.2)
    try:
        start = time.monotonic()
        result = e.review(widget(9000))  # the runtime's map is quadratic: seconds if it ran
        elapsed = time.monotonic() - start
    finally:
        set_thread_deadline(0.0)
    assert elapsed < 0.2
    [v] = result.violations  # failurePolicy Fail: the refusal denies
    assert "estimated evaluation time" in v.message and "cannot be interrupted" in v.message
