"""AdmissionReview parsing and the response shape."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


# ---- hostile bodies


@pytest.mark.parametrize(
    ("body", "depth"),
    [
        (b"1", 0),
        (b"{}", 1),
        (b'{"a": [1, {"b": "[[[{"}]}', 3),
        (b'{"a\\"[": []}', 2),  # an escaped quote does not end the string
        (b"[" * 5000 + b"]" * 5000, 5000),
    ],
)
def test_json_depth_counts_nesting_outside_strings(body: bytes, depth: int) -> None:
    from kubegate.webhook.admission import json_depth

    assert json_depth(body) == depth


def _depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


_TRICKY = st.text(alphabet='"\\[]{}a\n\u00e9\ud7ff', max_size=12)
_JSON = st.recursive(
    st.none() | st.integers() | _TRICKY,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_TRICKY, children, max_size=4),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(_JSON, st.booleans())
def test_json_depth_is_the_depth_of_the_parsed_value(value: object, ascii_only: bool) -> None:
    """Strings full of quotes, backslashes and brackets never count; only real nesting does."""
    from kubegate.webhook.admission import json_depth

    body = json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    assert json_depth(body) == _depth(value)


@pytest.mark.parametrize(
    "body",
    [
        (b'"' + b"\\\\\\") * 100_000,  # every quote escaped: the string never ends
        b'["' + b"x" * 1_000_000,
        b'"' * 100_000,
        b'{"a": "' + b"\\" * 200_000 + b"\\",  # a lone backslash at the very end
    ],
    ids=["escaped-quotes", "long-tail", "quotes", "trailing-backslash"],
)
def test_json_depth_is_linear_on_unterminated_strings(body: bytes) -> None:
    """These took minutes (the old pattern retried from every later quote); now milliseconds.
    The bound only guards against a hang on a loaded machine."""
    import time

    from kubegate.webhook.admission import json_depth

    start = time.monotonic()
    assert json_depth(body) <= 1
    assert time.monotonic() - start < 10


def _body(doc: dict[str, object]) -> bytes:
    return json.dumps(doc).encode()


def test_a_request_nested_too_deeply_is_parsed_for_its_uid_and_marked() -> None:
    doc = admission_review(obj("pod-good"))
    node = doc["request"]["object"]["metadata"]  # type: ignore[index]
    for _ in range(300):
        node["x"] = {}
        node = node["x"]
    parsed = parse_admission_review(_body(doc))
    assert parsed.input_error is not None and parsed.input_error.code == "input_too_deep"
    assert parsed.uid == doc["request"]["uid"]  # type: ignore[index]
    assert "object" not in parsed.request and parsed.request["operation"] == "CREATE"


def test_a_body_too_deep_to_parse_is_a_400() -> None:
    text = _body(admission_review(obj("pod-good"))).replace(b'"tier": "web"', b'"t": ' + b"[" * 3000 + b"]" * 3000)
    with pytest.raises(AdmissionError) as info:
        parse_admission_review(text)
    assert info.value.code == "admission_review_too_deep" and info.value.status == 400


def test_lone_surrogates_become_the_replacement_character_as_in_go() -> None:
    text = _body(admission_review(obj("pod-good"))).replace(b"api-0", b"api-\\ud800").replace(b"uid-", b"\\udfffuid-")
    parsed = parse_admission_review(text)
    assert parsed.uid.startswith("\ufffduid-")
    assert parsed.request["object"]["metadata"]["name"] == "api-\ufffd"
    # a valid pair stays the character it encodes; invalid UTF-8 bytes are replaced too
    text = _body(admission_review(obj("pod-good"))).replace(b"api-0", b"api-\\ud83d\\ude00\xff")
    assert parse_admission_review(text).request["object"]["metadata"]["name"] == "api-\U0001f600\ufffd"


def test_an_integer_of_more_than_4300_digits_is_a_400() -> None:
    text = _body(admission_review(obj("pod-good"))).replace(b'"cc1"', b"1" * 5000)
    with pytest.raises(AdmissionError) as info:
        parse_admission_review(text)
    assert info.value.code == "admission_review_not_json"


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_nan_and_infinity_literals_are_not_json(literal: bytes) -> None:
    text = _body(admission_review(obj("pod-good"))).replace(b'"cc1"', literal)
    with pytest.raises(AdmissionError) as info:
        parse_admission_review(text)
    assert info.value.code == "admission_review_not_json"
