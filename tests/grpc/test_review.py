"""Review, Evaluate and ReviewStream against a real ``kubegate grpc`` over mutual TLS."""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

import grpc
import pytest
from google.protobuf import struct_pb2

from kubegate.grpc.client import Client
from kubegate.grpc.protos import review_pb2
from tests.grpc.conftest import Gate, deployment, pod

OWNER = "K8sRequiredOwner/workloads-have-a-team"


def test_review_denies_with_violation_details_and_versions(gate: Gate) -> None:
    with gate.client() as client:
        answer = client.review(deployment(owner=None))
        again = client.review(deployment(owner=None))
    assert again.cache == "memory" and again.decision_id != answer.decision_id
    assert list(again.violations) == list(answer.violations) and list(again.policies) == list(answer.policies)
    assert not answer.allowed
    [violation] = [v for v in answer.violations if v.policy == OWNER]
    assert violation.enforcement_action == "deny"
    assert "no owner label" in violation.message
    assert f"[{OWNER}]" in answer.message
    assert answer.policy_set_version and answer.decision_id
    versions = {p.id: p.version for p in answer.policies}
    assert versions[OWNER] and not next(p for p in answer.policies if p.id == OWNER).allowed
    assert answer.duration.ToNanoseconds() > 0


def test_review_allows_and_reports_warnings(gate: Gate) -> None:
    with gate.client() as client:
        allowed = client.review(deployment(owner="payments-team"))
        warned = client.review(pod(name="latest", image="nginx:latest"))
    assert allowed.allowed and not allowed.violations
    assert warned.allowed
    assert [(v.policy, v.enforcement_action) for v in warned.violations] == [("no_unpinned_images", "warn")]
    assert warned.warnings and "nginx:latest" in warned.warnings[0]


def test_struct_input_and_admission_request_decide_as_json(gate: Gate) -> None:
    obj = deployment(name="structured", owner=None)
    request = {
        "uid": "u-1",
        "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
        "resource": {"group": "apps", "version": "v1", "resource": "deployments"},
        "operation": "CREATE",
        "namespace": "shop",
        "name": "structured",
        "userInfo": {"username": "alice"},
        "object": obj,
    }
    struct = struct_pb2.Struct()
    struct.update(obj)
    with gate.client() as client:
        by_json = client.review(obj)
        by_struct = client.decisions.Review(review_pb2.ReviewRequest(struct=struct), timeout=10)
        by_request = client.review(json.dumps(request).encode())
    for answer in (by_json, by_struct, by_request):
        assert not answer.allowed
        assert [v.policy for v in answer.violations] == [OWNER]


def test_policy_ids_restrict_the_review(gate: Gate) -> None:
    with gate.client() as client:
        only_images = client.review(deployment(owner=None), policy_ids=["no_unpinned_images"])
    assert only_images.allowed
    assert [p.id for p in only_images.policies] == ["no_unpinned_images"]


def test_evaluate_a_plain_rego_policy(gate: Gate) -> None:
    with gate.client() as client:
        answer = client.evaluate("grpctests.slow", {"review": {"object": {"metadata": {"name": "fast"}}}})
        with pytest.raises(grpc.RpcError) as missing:
            client.evaluate("no-such-policy", {})
    assert answer.allowed and answer.policy_version and not answer.violations
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    assert missing.value.details().startswith("unknown_policy:")


def test_review_stream_answers_in_order(gate: Gate) -> None:
    objects: list[dict[str, Any] | bytes] = [
        deployment(name=f"d{i}", owner=None if i % 3 == 0 else "shop-team") for i in range(30)
    ]
    objects.insert(7, b"not json")
    with gate.client() as client:
        answers = list(client.review_stream(objects, timeout=30))
    assert [a.request_id for a in answers] == [str(i) for i in range(31)]
    assert answers[7].error_code == "INVALID_ARGUMENT" and "json_parse_error" in answers[7].error_message
    decided = [a for i, a in enumerate(answers) if i != 7]
    assert [a.allowed for a in decided] == [i % 3 != 0 for i in range(30)]


@pytest.mark.parametrize(
    ("payload", "code", "error"),
    [
        (b"{not json", grpc.StatusCode.INVALID_ARGUMENT, "json_parse_error"),
        (b"[1, 2]", grpc.StatusCode.INVALID_ARGUMENT, "invalid_object"),
        (b"\xff\xfe", grpc.StatusCode.INVALID_ARGUMENT, "invalid_unicode"),
        (b"{}", grpc.StatusCode.INVALID_ARGUMENT, "invalid_object"),
        (b"{" + b" " * (4 * 1024 * 1024) + b"}", grpc.StatusCode.RESOURCE_EXHAUSTED, ""),
    ],
)
def test_bad_requests_get_statuses_not_tracebacks(
    gate: Gate, payload: bytes, code: grpc.StatusCode, error: str
) -> None:
    with gate.client() as client, pytest.raises(grpc.RpcError) as failed:
        client.review(payload, timeout=10)
    assert failed.value.code() == code
    assert error in failed.value.details()
    assert "Traceback" not in failed.value.details()


def test_unknown_policy_and_missing_input(gate: Gate) -> None:
    with gate.client() as client:
        with pytest.raises(grpc.RpcError) as unknown:
            client.review(pod(), policy_ids=["nope"])
        with pytest.raises(grpc.RpcError) as empty:
            client.decisions.Review(review_pb2.ReviewRequest(), timeout=10)
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
    with gate.client() as client, pytest.raises(grpc.RpcError) as operation:
        client.review(pod(), operation="DESTROY")
    assert operation.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert operation.value.details().startswith("invalid_operation:")
    assert empty.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "missing_input" in empty.value.details()


def test_deadlines_server_limit_and_client_deadline(gate: Gate) -> None:
    with gate.client() as client:
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as server_limit:
            client.review(pod(name="slow"), timeout=20)
        waited = time.monotonic() - started
        with pytest.raises(grpc.RpcError) as client_deadline:
            client.review(pod(name="slow"), timeout=0.1)
        after = client.review(pod(name="quick"))
    assert server_limit.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "evaluation_timeout" in server_limit.value.details()
    assert waited < 10  # 250 ms limit: far below the 20 s the client allowed
    assert client_deadline.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert after.allowed


def test_mutual_tls_is_required(gate: Gate) -> None:
    with gate.client(mutual=False) as anonymous, pytest.raises(grpc.RpcError) as refused:
        anonymous.review(pod(), timeout=5)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    with Client(gate.target) as plaintext, pytest.raises(grpc.RpcError) as plain:
        plaintext.review(pod(), timeout=5)
    assert plain.value.code() == grpc.StatusCode.UNAVAILABLE


def test_health_reflection_and_metrics(gate: Gate) -> None:
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

    with gate.client() as client:
        statuses = {s: client.health(s) for s in ("", "kubegate.v1.Decisions", "envoy.service.auth.v3.Authorization")}
        services = set(ProtoReflectionDescriptorDatabase(client.channel).get_services())
        with pytest.raises(grpc.RpcError):
            client.review(b"nope")
    assert set(statuses.values()) == {"SERVING"}
    assert {"kubegate.v1.Decisions", "kubegate.v1.Policies", "envoy.service.auth.v3.Authorization"} <= services
    assert "grpc.health.v1.Health" in services
    text = urllib.request.urlopen(f"http://127.0.0.1:{gate.health_port}/metrics", timeout=5).read().decode()
    assert 'kubegate_grpc_requests_total{code="INVALID_ARGUMENT",method="/kubegate.v1.Decisions/Review"}' in text
    assert 'kubegate_grpc_request_duration_seconds_count{method="/kubegate.v1.Decisions/Review"}' in text
    assert "kubegate_admission_timeouts_total" in text  # the webhook's registry: one /metrics
