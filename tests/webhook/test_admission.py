"""AdmissionReview parsing and the response shape."""

from __future__ import annotations

import json

import pytest

from kubegate.webhook.admission import AdmissionError, admission_response, parse_admission_review
from kubegate.webhook.verdict import Verdict
from tests.webhook.conftest import admission_review, obj


def body(doc: object) -> bytes:
    return json.dumps(doc).encode()


def test_parse_keeps_version_uid_and_request() -> None:
    doc = admission_review(obj("pod-good"), api_version="admission.k8s.io/v1beta1", uid="abc", dry_run=True)
    parsed = parse_admission_review(body(doc))
    assert parsed.api_version == "admission.k8s.io/v1beta1" and parsed.uid == "abc"
    assert (parsed.kind, parsed.operation, parsed.namespace, parsed.name, parsed.dry_run) == (
        "Pod",
        "CREATE",
        "shop",
        "api-0",
        True,
    )


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"\xff\xfe", "admission_review_not_json"),
        (b"", "admission_review_not_json"),
        (body("text"), "admission_review_invalid"),
        (body({"kind": "Pod"}), "admission_review_invalid"),
        (
            body({"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v2", "request": {"uid": "u"}}),
            "admission_version_unsupported",
        ),
        (body({"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1"}), "admission_review_invalid"),
        (
            body({"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1", "request": {"uid": ""}}),
            "admission_uid_missing",
        ),
        (
            body({"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1", "request": {"uid": 7}}),
            "admission_uid_missing",
        ),
    ],
)
def test_parse_errors_have_stable_codes(raw: bytes, code: str) -> None:
    with pytest.raises(AdmissionError) as info:
        parse_admission_review(raw)
    assert info.value.code == code and info.value.status == 400 and info.value.message


def test_response_shape() -> None:
    request = parse_admission_review(body(admission_review(obj("pod-good"), uid="u-1")))
    allowed = admission_response(request, Verdict(True, warnings=("[w] " + "x" * 300,)))
    assert allowed["apiVersion"] == "admission.k8s.io/v1" and allowed["kind"] == "AdmissionReview"
    assert allowed["response"]["uid"] == "u-1" and allowed["response"]["allowed"] is True
    assert "status" not in allowed["response"]
    (warning,) = allowed["response"]["warnings"]
    assert len(warning) == 256 and warning.endswith("...")
    denied = admission_response(request, Verdict(False, "[p] no"))
    assert denied["response"]["status"] == {"code": 403, "message": "[p] no"}
    assert "warnings" not in denied["response"]
