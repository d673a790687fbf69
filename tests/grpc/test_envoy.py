"""Envoy ext_authz Check against a real ``kubegate grpc`` (mutual TLS), with OPA-Envoy's contract."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from google.rpc import code_pb2

from kubegate.grpc.envoy import check_input, parse_result
from kubegate.grpc.protos import external_auth_pb2
from kubegate.webhook.certs import CertificateFiles
from tests.grpc.conftest import Gate, running_gate, write_policies


def check_request(method: str, path: str, headers: dict[str, str] | None = None, body: str = "") -> dict[str, Any]:
    http: dict[str, Any] = {"method": method, "path": path, "headers": headers or {}, "host": "shop.local"}
    if body:
        http["body"] = body
    return {
        "attributes": {
            "source": {"address": {"socketAddress": {"address": "10.0.0.7", "portValue": 40000}}},
            "request": {"http": http},
        }
    }


def test_input_has_opa_envoy_fields() -> None:
    request = json_format.ParseDict(
        check_request(
            "POST", "/orders/a%2Fb/items?limit=5&tag=x&tag=y", {"Content-Type": "application/json"}, '{"n": 1}'
        ),
        external_auth_pb2.CheckRequest(),
    )
    doc = check_input(request)
    http = doc["attributes"]["request"]["http"]
    assert http["method"] == "POST" and http["headers"]["Content-Type"] == "application/json"
    assert doc["attributes"]["source"]["address"]["socketAddress"]["portValue"] == 40000
    assert doc["parsed_path"] == ["orders", "a/b", "items"]
    assert doc["parsed_query"] == {"limit": ["5"], "tag": ["x", "y"]}
    assert doc["parsed_body"] == {"n": 1}
    assert doc["truncated_body"] is False
    assert doc["version"] == {"ext_authz": "v3", "encoding": "protojson"}
    no_json = json_format.ParseDict(
        check_request("POST", "/", {"content-type": "text/plain"}, "{}"), external_auth_pb2.CheckRequest()
    )
    assert "parsed_body" not in check_input(no_json)


def test_result_objects_become_responses() -> None:
    ok = parse_result({"allowed": True, "headers": {"x-a": ["1", "2"]}, "request_headers_to_remove": ["cookie"]})
    assert ok.status.code == code_pb2.OK
    assert [(h.header.key, h.header.value) for h in ok.ok_response.headers] == [("x-a", "1"), ("x-a", "2")]
    assert list(ok.ok_response.headers_to_remove) == ["cookie"]
    denied = parse_result({"allowed": False, "http_status": 429, "body": {"retry": 3}})
    assert denied.status.code == code_pb2.PERMISSION_DENIED
    assert denied.denied_response.status.code == 429 and json.loads(denied.denied_response.body) == {"retry": 3}
    assert parse_result(None).denied_response.status.code == 403


def test_boolean_rule_allows_and_denies(gate: Gate) -> None:
    with gate.client() as client:
        allowed = client.check(check_request("GET", "/public/index.html?x=1"))
        denied = client.check(check_request("DELETE", "/public/index.html"))
        private = client.check(check_request("GET", "/admin"))
    assert allowed.status.code == code_pb2.OK and allowed.HasField("ok_response")
    for answer in (denied, private):
        assert answer.status.code == code_pb2.PERMISSION_DENIED
        assert answer.denied_response.status.code == 403


@pytest.fixture(scope="module")
def object_gate(tmp_path_factory: pytest.TempPathFactory, certs: CertificateFiles) -> Iterator[Gate]:
    workdir = tmp_path_factory.mktemp("grpc-envoy")
    policies = write_policies(Path(workdir) / "policies")
    with running_gate(
        workdir, certs, "--no-builtin", "--policies", str(policies), "--envoy-rule", "data.envoy.authz.decision"
    ) as g:
        yield g


def test_object_rule_sets_headers_and_denied_bodies(object_gate: Gate) -> None:
    json_body = {"content-type": "application/json", "x-user": "alice"}
    with object_gate.client() as client:
        allowed = client.check(check_request("POST", "/api", json_body, json.dumps({"action": "read"})))
        anonymous = client.check(check_request("GET", "/api"))
        undefined = client.check(check_request("POST", "/api", json_body, json.dumps({"action": "write"})))
    assert allowed.status.code == code_pb2.OK
    assert [(h.header.key, h.header.value) for h in allowed.ok_response.headers] == [("x-user", "alice")]
    assert [(h.header.key, h.header.value) for h in allowed.ok_response.response_headers_to_add] == [
        ("x-checked", "yes")
    ]
    assert anonymous.status.code == code_pb2.PERMISSION_DENIED
    assert anonymous.denied_response.status.code == 401
    assert anonymous.denied_response.body == "who are you?"
    assert [(h.header.key, h.header.value) for h in anonymous.denied_response.headers] == [
        ("www-authenticate", "Bearer")
    ]
    assert undefined.status.code == code_pb2.PERMISSION_DENIED and undefined.denied_response.status.code == 403
