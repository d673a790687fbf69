"""input.review construction (Gatekeeper's AdmissionRequest shape) and request validation."""

from __future__ import annotations

import pytest

from kubegate.errors import InputError
from kubegate.policy.review import request_from_admission_review, review_from_object, review_from_request

POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "ns"}}


def test_review_from_object() -> None:
    review = review_from_object(POD, user_info={"username": "alice"})
    assert review["kind"] == {"group": "", "version": "v1", "kind": "Pod"}
    assert review["operation"] == "CREATE"
    assert (review["name"], review["namespace"]) == ("p", "ns")
    assert review["object"] is POD and review["oldObject"] is None
    assert review["userInfo"] == {"username": "alice"}
    assert review["uid"] == ""


def test_delete_exposes_the_old_object() -> None:
    review = review_from_object(POD, operation="DELETE")
    assert review["oldObject"] is POD


def test_object_needs_kind() -> None:
    with pytest.raises(InputError) as info:
        review_from_object({"apiVersion": "v1"})
    assert info.value.code == "invalid_object"


def test_request_delete_copies_old_object() -> None:
    review = review_from_request({"uid": "1", "operation": "DELETE", "oldObject": POD})
    assert review["object"] is POD
    assert review["kind"]["kind"] == "Pod"


@pytest.mark.parametrize(
    ("request_", "fragment"),
    [
        ({"operation": "CREATE"}, 'does not contain an "object" or "oldObject"'),
        ({"operation": "DELETE", "object": POD}, "oldObject cannot be nil for DELETE"),
        ({"operation": "PATCH", "object": POD}, "operation 'PATCH'"),
        ({"object": "not an object"}, "request.object must be an object"),
    ],
)
def test_invalid_requests(request_: dict[str, object], fragment: str) -> None:
    with pytest.raises(InputError) as info:
        review_from_request(request_)
    assert info.value.code == "invalid_admission_request"
    assert fragment in info.value.message


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        ({"apiVersion": "v1", "kind": "Pod"}, "expected kind AdmissionReview"),
        (
            {"apiVersion": "admission.k8s.io/v2", "kind": "AdmissionReview", "request": {}},
            "unsupported AdmissionReview version",
        ),
        ({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}, "has no request"),
    ],
)
def test_invalid_admission_reviews(document: dict[str, object], fragment: str) -> None:
    with pytest.raises(InputError) as info:
        request_from_admission_review(document)
    assert info.value.code == "invalid_admission_review" and fragment in info.value.message


def test_v1beta1_admission_review() -> None:
    req = request_from_admission_review(
        {"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview", "request": {"uid": "u", "object": POD}}
    )
    assert req["uid"] == "u"
