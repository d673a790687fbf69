"""ValidatingAdmissionPolicies at admission: a real `kubegate serve` over HTTPS
enforces a policy with a Deny binding and a Warn+Audit binding
(tests/cli/fixtures/vap), answers with warnings and audit annotations, and
records the Audit failures in a strict decision log."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubegate.webhook.certs import CertificateFiles
from tests.engine.test_vap import widget as engine_widget
from tests.webhook.conftest import Webhook, admission_review, metric_value, read_jsonl, start_webhook

FIXTURES = Path(__file__).parents[1] / "cli" / "fixtures" / "vap"
BINDING = "ValidatingAdmissionPolicyBinding"


def pod(name: str) -> dict[str, Any]:
    return yaml.safe_load((FIXTURES / f"pod-{name}.yaml").read_text())  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, certs: CertificateFiles) -> Iterator[tuple[Webhook, Path]]:
    workdir = tmp_path_factory.mktemp("vap")
    sink = workdir / "sink" / "decisions.jsonl"
    hook = start_webhook(
        workdir,
        certs,
        "--no-builtin",
        "--policies",
        str(FIXTURES / "policy.yaml"),
        "--policies",
        str(FIXTURES / "bindings.yaml"),
        "--decision-log",
        str(workdir / "wal"),
        "--decision-log-mode",
        "strict",
        "--decision-log-sink",
        f"file:{sink}",
    )
    yield hook, sink
    hook.stop()


def record_of(sink: Path, uid: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = [r for r in read_jsonl(sink) if r["kubegate"]["uid"] == uid]
        if found:
            return found[0]
        time.sleep(0.05)
    raise AssertionError(f"no decision record for {uid}")


def test_the_deny_binding_denies_with_the_message_expression(served: tuple[Webhook, Path]) -> None:
    hook, _ = served
    answer = hook.review(admission_review(pod("prod")))
    assert answer["allowed"] is False
    assert answer["status"]["message"] == (
        f"[{BINDING}/registry-prod] images outside registry.bank.example: docker.io/envoyproxy/envoy:v1.30"
    )
    # Keys as the API server accepts them after prefixing its webhook name.
    assert answer["auditAnnotations"] == {
        "registry.bank.example_images": "registry.bank.example/web:1.4,docker.io/envoyproxy/envoy:v1.30",
        "registry.bank.example_foreign": "docker.io/envoyproxy/envoy:v1.30",
    }


def test_warn_and_audit_admit_with_a_warning_and_a_recorded_failure(served: tuple[Webhook, Path]) -> None:
    hook, sink = served
    doc = admission_review(pod("dev"))
    answer = hook.review(doc)
    assert answer["allowed"] is True
    assert answer["warnings"] == [
        f"[{BINDING}/registry-dev] images outside registry.bank.example: docker.io/envoyproxy/envoy:v1.30"
    ]
    record = record_of(sink, doc["request"]["uid"])
    annotations = record["result"]["auditAnnotations"]
    [failure] = json.loads(annotations["validation.policy.admission.k8s.io/validation_failure"])
    assert failure == {
        "message": "images outside registry.bank.example: docker.io/envoyproxy/envoy:v1.30",
        "policy": "registry.bank.example",
        "binding": "registry-dev",
        "expressionIndex": 0,
        "validationActions": ["Warn", "Audit"],
    }
    assert annotations["registry.bank.example/foreign"] == "docker.io/envoyproxy/envoy:v1.30"
    assert [v["enforcement"] for v in record["result"]["violations"]] == ["warn"]
    assert [p["id"] for p in record["kubegate"]["policies"]] == [f"{BINDING}/registry-dev"]


def test_a_clean_pod_is_admitted_and_metrics_count_the_binding(served: tuple[Webhook, Path]) -> None:
    hook, _ = served
    answer = hook.review(admission_review(pod("clean")))
    assert answer["allowed"] is True and "warnings" not in answer
    assert answer["auditAnnotations"] == {
        "registry.bank.example_images": "registry.bank.example/web:1.4",
    }
    with hook.client() as client:
        text = client.get("/metrics").text
    labels = f'policy="{BINDING}/registry-prod"'
    assert metric_value(text, "kubegate_policy_evaluation_duration_seconds_count", labels) >= 2


def test_the_evaluation_time_limit_holds_for_a_runaway_expression(tmp_path: Path, certs: CertificateFiles) -> None:
    policy = FIXTURES / "runaway.yaml"
    hook = start_webhook(tmp_path, certs, "--no-builtin", "--policies", str(policy), "--max-evaluation-time", "300")
    try:
        widget = engine_widget(9000)  # seconds of CEL if it ran
        start = time.monotonic()
        answer = hook.review(admission_review(widget))
        elapsed = time.monotonic() - start
        assert answer["allowed"] is False
        assert "cannot be interrupted" in answer["status"]["message"]
        assert elapsed < 2.0  # 300 ms limit; the HTTP round trip and the 9000-item body included
        assert hook.review(admission_review(engine_widget(3)))["allowed"] is True
    finally:
        hook.stop()
