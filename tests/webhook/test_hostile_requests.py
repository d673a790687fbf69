"""Requests built to confuse or crash the webhook, against a real `kubegate serve` over HTTPS.

The server runs with ``--failure-mode allow`` and a strict decision log, the
setting in which a wrong code path admits an object: every answer below must
be a denial (or a 400 for a body that is no AdmissionReview), each denial must
have a decision record, and a keep-alive connection must survive every one.
Regression cases of the fuzz findings in the security issue. The server runs the
default (compiled) backend; the integers rego-cpp cannot hold are also sent to a
``--backend regopy`` server.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kubegate.webhook.certs import CertificateFiles
from tests.webhook.conftest import Webhook, admission_review, obj, read_jsonl, start_allowing_logged_webhook


@pytest.fixture(scope="module")
def allowing(tmp_path_factory: pytest.TempPathFactory, certs: CertificateFiles) -> Iterator[tuple[Webhook, Path]]:
    hook, sink = start_allowing_logged_webhook(tmp_path_factory.mktemp("hostile"), certs, "--cache-ttl", "0")
    yield hook, sink
    hook.stop()


@pytest.fixture(scope="module")
def allowing_regopy(
    tmp_path_factory: pytest.TempPathFactory, certs: CertificateFiles
) -> Iterator[tuple[Webhook, Path]]:
    workdir = tmp_path_factory.mktemp("hostile-regopy")
    hook, sink = start_allowing_logged_webhook(workdir, certs, "--cache-ttl", "0", "--backend", "regopy")
    yield hook, sink
    hook.stop()


def _post(client: httpx.Client, body: bytes) -> httpx.Response:
    return client.post("/validate", content=body, headers={"content-type": "application/json"})


def _records(sink: Path, uid: str, timeout: float = 20.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        found = [r for r in read_jsonl(sink) if r["kubegate"]["uid"] == uid]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def _denied_and_recorded(client: httpx.Client, sink: Path, body: bytes, uid: str) -> dict[str, Any]:
    reply = _post(client, body)
    assert reply.status_code == 200, reply.text
    response = reply.json()["response"]
    assert response["uid"] == uid
    assert response["allowed"] is False, response
    [record] = _records(sink, uid)
    assert record["result"]["allowed"] is False
    return dict(response)


def test_a_request_carrying_apiversion_and_kind_strings_is_still_reviewed_as_a_request(
    allowing: tuple[Webhook, Path],
) -> None:
    hook, sink = allowing
    doc = admission_review(obj("pod-no-owner"))
    doc["request"].update({"apiVersion": "v1", "kind": "Pod"})
    with hook.client() as client:
        response = _denied_and_recorded(client, sink, json.dumps(doc).encode(), doc["request"]["uid"])
    assert "workloads-need-owner" in response["status"]["message"]


def test_deep_nesting_is_denied_with_a_record_and_too_deep_to_parse_is_a_400_on_a_live_connection(
    allowing: tuple[Webhook, Path],
) -> None:
    hook, sink = allowing
    with hook.client() as client:
        for levels in (495, 600, 960):  # the redactor's and json's recursion limits in the findings
            doc = admission_review(obj("pod-good"))
            text = json.dumps(doc).replace(
                '"tier": "web"', '"tier": "web", "x": ' + '{"a": ' * levels + "1" + "}" * levels
            )
            response = _denied_and_recorded(client, sink, text.encode(), doc["request"]["uid"])
            assert response["status"]["code"] == 400 and "input_too_deep" in response["status"]["message"]
        doc = admission_review(obj("pod-good"))
        text = json.dumps(doc).replace('"tier": "web"', '"t": ' + "[" * 5000 + "]" * 5000)
        reply = _post(client, text.encode())
        assert reply.status_code == 400 and reply.json()["code"] == "admission_review_too_deep"
        assert reply.headers.get("connection", "").lower() != "close"
        good = admission_review(obj("pod-good"))
        after = _post(client, json.dumps(good).encode())  # the same keep-alive connection still works
        assert after.status_code == 200 and after.json()["response"]["allowed"] is True


def test_lone_surrogates_in_the_object_and_the_uid_are_decided_and_recorded(allowing: tuple[Webhook, Path]) -> None:
    hook, sink = allowing
    doc = admission_review(obj("pod-no-owner"))
    uid = doc["request"]["uid"]
    text = json.dumps(doc).replace("api-1", "api-\\ud800").replace(f'"uid": "{uid}"', f'"uid": "{uid}\\udc00"')
    with hook.client() as client:
        response = _denied_and_recorded(client, sink, text.encode(), uid + "\ufffd")
    assert "api-\ufffd" in response["status"]["message"]


@pytest.mark.parametrize("number", ["1" + "0" * 400, "-" + "9" * 400])
def test_a_400_digit_integer_is_denied_with_a_record(allowing_regopy: tuple[Webhook, Path], number: str) -> None:
    """rego-cpp holds no integer beyond 64 bits: such a request cannot be reviewed there."""
    hook, sink = allowing_regopy
    doc = admission_review(obj("pod-good"))
    text = json.dumps(doc).replace('"cc1"', number)
    with hook.client() as client:
        response = _denied_and_recorded(client, sink, text.encode(), doc["request"]["uid"])
    assert "number_out_of_range" in response["status"]["message"]


@pytest.mark.parametrize("number", ["1" + "0" * 400, "-" + "9" * 400])
def test_a_400_digit_integer_gets_its_normal_answer_with_a_record_on_the_compiled_backend(
    allowing: tuple[Webhook, Path], number: str
) -> None:
    """The compiled backend holds integers of any size: the request is reviewed like any other."""
    hook, sink = allowing
    with hook.client() as client:
        good = admission_review(obj("pod-good"))
        reply = _post(client, json.dumps(good).replace('"cc1"', number).encode())
        assert reply.status_code == 200, reply.text
        assert reply.json()["response"]["allowed"] is True, reply.json()
        [record] = _records(sink, good["request"]["uid"])
        assert record["result"]["allowed"] is True
        bad = admission_review(obj("pod-no-owner"))
        text = json.dumps(bad).replace('"cc1"', number).encode()
        response = _denied_and_recorded(client, sink, text, bad["request"]["uid"])
    assert "workloads-need-owner" in response["status"]["message"]
    assert "number_out_of_range" not in response["status"]["message"]


def test_a_privileged_pod_is_never_admitted_through_an_error_path(allowing: tuple[Webhook, Path]) -> None:
    """The finding's end to end: deep nesting or a surrogate in a Pod the policies deny, failure mode allow."""
    hook, sink = allowing
    privileged = obj("pod-no-owner")
    privileged["spec"]["containers"][0]["securityContext"] = {"privileged": True}
    plain = admission_review(copy.deepcopy(privileged))
    with hook.client() as client:
        first = _post(client, json.dumps(plain).encode()).json()["response"]
        assert first["allowed"] is False  # the test policies deny it (no owner label)
        for mutate in (
            lambda t: t.replace('"tier": "web"', '"tier": "web", "x": ' + "[" * 700 + "]" * 700),
            lambda t: t.replace("api-1", "api-\\udbff"),
        ):
            doc = admission_review(copy.deepcopy(privileged))
            _denied_and_recorded(client, sink, mutate(json.dumps(doc)).encode(), doc["request"]["uid"])
