"""The shape rules of ``Engine.review``'s argument and the input depth bound (kubegate.engine.inputs)."""

from __future__ import annotations

from typing import Any

import pytest

from kubegate.engine.inputs import MAX_INPUT_DEPTH, build_review, check_depth, review_input_shape
from kubegate.errors import InputError

POD: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "p", "namespace": "shop"},
    "spec": {"containers": [{"name": "c", "image": "nginx"}]},
}
REQUEST: dict[str, Any] = {
    "uid": "u-1",
    "kind": {"group": "", "version": "v1", "kind": "Pod"},
    "operation": "UPDATE",
    "object": POD,
    "oldObject": POD,
}


def _nested(levels: int) -> dict[str, Any]:
    root: dict[str, Any] = {}
    node = root
    for _ in range(levels - 1):
        node["a"] = {}
        node = node["a"]
    return root


@pytest.mark.parametrize(
    ("argument", "shape"),
    [
        ({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": REQUEST}, "admission_review"),
        (REQUEST, "admission_request"),
        # the fuzz finding: a request that also has apiVersion and kind strings is still a request
        # when its kind is a GroupVersionKind
        ({**REQUEST, "apiVersion": "v1"}, "admission_request"),
        ({"uid": "u", "object": POD}, "admission_request"),
        ({"oldObject": POD, "operation": "DELETE"}, "admission_request"),
        (POD, "object"),
        ({**POD, "object": {"x": 1}}, "object"),  # an object with an "object" field but no uid
    ],
)
def test_each_shape_is_decided_by_the_documented_rules(argument: dict[str, Any], shape: str) -> None:
    assert review_input_shape(argument) == shape


def test_an_object_with_request_fields_is_ambiguous_and_refused() -> None:
    confused = {**REQUEST, "apiVersion": "v1", "kind": "Pod"}  # the 465-of-487 wrong allows
    with pytest.raises(InputError) as info:
        build_review(confused)
    assert info.value.code == "ambiguous_review_input"
    # said explicitly, it is reviewed as the request it is
    review = build_review(confused, shape="admission_request")
    assert review["object"] is POD and review["operation"] == "UPDATE" and review["uid"] == "u-1"
    assert review["kind"] == {"group": "", "version": "v1", "kind": "Pod"}


def test_an_admission_review_of_another_group_is_an_error_not_an_object() -> None:
    with pytest.raises(InputError) as info:
        build_review({"apiVersion": "v1", "kind": "AdmissionReview", "request": REQUEST})
    assert info.value.code == "invalid_admission_review"


@pytest.mark.parametrize("argument", [{"metadata": {}}, {"kind": ""}, {"kind": 3}, {"apiVersion": "v1"}])
def test_no_usable_kind_is_an_invalid_object(argument: dict[str, Any]) -> None:
    with pytest.raises(InputError) as info:
        build_review(argument)
    assert info.value.code == "invalid_object"


def test_depth_bound() -> None:
    check_depth(_nested(MAX_INPUT_DEPTH))
    with pytest.raises(InputError) as info:
        check_depth(_nested(MAX_INPUT_DEPTH + 1))
    assert info.value.code == "input_too_deep"
    check_depth([[[1]]], limit=3)
    with pytest.raises(InputError):
        check_depth([[[[1]]]], limit=3)


def test_depth_is_measured_without_recursion() -> None:
    deep: list[Any] = []
    node = deep
    for _ in range(100_000):
        node.append([])
        node = node[0]
    with pytest.raises(InputError) as info:
        build_review({**POD, "spec": {"deep": deep}})
    assert info.value.code == "input_too_deep"
