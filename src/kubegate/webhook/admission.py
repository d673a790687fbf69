"""AdmissionReview in, AdmissionReview out: the wire format of a validating webhook.

Follows the Kubernetes contract for admission webhooks
(https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/#request
and #response): the response carries the request's ``uid``, is sent in the
``apiVersion`` the request came in (``admission.k8s.io/v1`` or ``v1beta1``),
and explains a denial in ``status`` (``code`` 403, ``message``); warnings go
in ``warnings`` (at most 256 characters each are shown by kubectl; longer ones
are truncated here the same way).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kubegate.engine.inputs import MAX_INPUT_DEPTH, check_depth
from kubegate.errors import InputError
from kubegate.webhook.verdict import Verdict

__all__ = [
    "SUPPORTED_VERSIONS",
    "AdmissionError",
    "AdmissionRequest",
    "admission_response",
    "json_depth",
    "parse_admission_review",
]

SUPPORTED_VERSIONS = ("admission.k8s.io/v1", "admission.k8s.io/v1beta1")
_MAX_WARNING_CHARS = 256


class AdmissionError(InputError):
    """A request the webhook cannot answer with an AdmissionReview.

    Attributes:
        status: the HTTP status to answer with (400, 413).
    """

    code = "admission_review_invalid"

    def __init__(self, message: str, *, code: str | None = None, status: int = 400) -> None:
        super().__init__(message, code=code)
        self.status = status


@dataclass(frozen=True)
class AdmissionRequest:
    """One parsed AdmissionReview.

    Attributes:
        api_version: ``admission.k8s.io/v1`` or ``admission.k8s.io/v1beta1``.
        uid: the request uid to echo.
        request: the ``request`` object as sent (camelCase keys); when
            ``input_error`` is set, only its top-level scalar fields and
            ``kind``/``userInfo`` (what the decision record keeps).
        input_error: why the request, although a well-formed AdmissionReview
            whose uid can be echoed, cannot be reviewed (``input_too_deep``);
            the service denies it whatever the failure mode.
    """

    api_version: str
    uid: str
    request: Mapping[str, Any]
    input_error: InputError | None = None

    @property
    def kind(self) -> str:
        kind = self.request.get("kind")
        return str(kind.get("kind", "")) if isinstance(kind, Mapping) else ""

    @property
    def operation(self) -> str:
        return str(self.request.get("operation") or "")

    @property
    def namespace(self) -> str:
        return str(self.request.get("namespace") or "")

    @property
    def name(self) -> str:
        return str(self.request.get("name") or "")

    @property
    def dry_run(self) -> bool:
        return bool(self.request.get("dryRun"))


# A string: its quote, then runs without quote or backslash and escapes, up to its
# closing quote or the end of the text. Possessive, and it always matches from a
# quote, so no quote is ever tried twice: linear even for an unterminated string,
# where the alternation ``"(?:[^"\\]|\\.)*"`` retried from every later quote
# (quadratic: 193 s for 400 KB of ``"\\\`` repeated). Then the brackets that are left.
_STRINGS = re.compile(rb'"[^"\\]*+(?:\\.[^"\\]*+)*+(?:"|\\?\Z)', re.DOTALL)
_BRACKETS = bytes.maketrans(b"{[}]", b"\x01\x01\xff\xff")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"{[}]")
# A UTF-16 surrogate escape (\ud800-\udfff) in the JSON text; raw surrogate bytes are
# invalid UTF-8 and are replaced while decoding.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def json_depth(body: bytes) -> int:
    """How deeply objects and arrays nest in a JSON text (``{}`` is 1), without parsing it.

    Linear in the size of ``body`` and done in C (a regex pass, a translate
    and an accumulate), so it can run before :func:`json.loads`, whose
    recursion a hostile body could exhaust. An unterminated string runs to
    the end of the text (its brackets do not count; such a text is no JSON).
    """
    brackets = _STRINGS.sub(b"", body).translate(_BRACKETS, _NOT_BRACKETS)
    return max(itertools.accumulate(memoryview(brackets).cast("b")), default=0)


def _go_strings(value: Any) -> Any:
    """``value`` with lone UTF-16 surrogates replaced by U+FFFD, as Go's encoding/json
    decodes them (https://pkg.go.dev/encoding/json#Unmarshal): what the API server
    would store is what policies see. Iterative; returns a new value."""

    def fix(text: str) -> str:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")

    if isinstance(value, str):
        return fix(value)
    root: list[Any] = [value]
    stack: list[Any] = [root]
    while stack:
        node = stack.pop()
        items = list(node.items()) if isinstance(node, dict) else list(enumerate(node))
        if isinstance(node, dict):
            node.clear()
        for key, child in items:
            if isinstance(child, str):
                child = fix(child)
            elif isinstance(child, (dict, list)):
                stack.append(child)
            if isinstance(node, dict):
                node[fix(key) if isinstance(key, str) else key] = child
            else:
                node[key] = child
    return root[0]


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (RFC 8259 has no NaN or Infinity)")


def _shallow(request: Mapping[str, Any]) -> dict[str, Any]:
    """What a request that cannot be reviewed keeps for its decision record."""
    kept: dict[str, Any] = {k: v for k, v in request.items() if isinstance(v, (str, int, float, bool)) or v is None}
    for key in ("kind", "resource", "userInfo"):
        value = request.get(key)
        if isinstance(value, Mapping):
            with contextlib.suppress(InputError):
                check_depth(value, 3)
                kept[key] = value
    return kept


def parse_admission_review(body: bytes, max_depth: int = MAX_INPUT_DEPTH) -> AdmissionRequest:
    """Parses and validates an AdmissionReview request body.

    Args:
        body: the HTTP request body (UTF-8 JSON).
        max_depth: deepest nesting of objects and arrays below ``request``
            that is reviewed; a deeper request is returned with
            ``input_error`` set (``input_too_deep``), to be denied.

    Invalid UTF-8 and lone UTF-16 surrogates become U+FFFD, as Go's
    encoding/json (and so the API server) reads them.

    Raises:
        AdmissionError: ``admission_review_not_json`` (not JSON, ``NaN`` or
            ``Infinity`` literals, or an integer of more than 4300 digits), ``admission_review_too_deep``
            (nesting too deep to parse at all), ``admission_review_invalid``
            (not an AdmissionReview with a ``request`` object),
            ``admission_version_unsupported`` (another ``apiVersion``),
            ``admission_uid_missing`` (no ``request.uid``). All with HTTP
            status 400.
    """
    text = body.decode("utf-8", "replace")
    try:
        doc = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise AdmissionError("request body nests too deeply to parse", code="admission_review_too_deep") from None
    except ValueError as exc:
        raise AdmissionError(f"request body is not JSON: {exc}", code="admission_review_not_json") from None
    if _SURROGATE_ESCAPE.search(text):
        doc = _go_strings(doc)
    if not isinstance(doc, dict):
        raise AdmissionError(f"request body is a JSON {type(doc).__name__}, not an AdmissionReview object")
    if doc.get("kind") != "AdmissionReview":
        raise AdmissionError(f"request body has kind {doc.get('kind')!r}; expected 'AdmissionReview'")
    api_version = doc.get("apiVersion")
    if api_version not in SUPPORTED_VERSIONS:
        raise AdmissionError(
            f"AdmissionReview apiVersion {api_version!r} is not supported; use one of {', '.join(SUPPORTED_VERSIONS)}",
            code="admission_version_unsupported",
        )
    request = doc.get("request")
    if not isinstance(request, dict):
        raise AdmissionError("AdmissionReview has no request object")
    uid = request.get("uid")
    if not isinstance(uid, str) or not uid:
        raise AdmissionError("AdmissionReview request has no uid", code="admission_uid_missing")
    depth = json_depth(body)
    if depth - 1 > max_depth:  # the request is the AdmissionReview's second level
        problem = InputError(
            f"the request nests {depth - 1} levels of objects and arrays; at most {max_depth} are reviewed",
            code="input_too_deep",
        )
        return AdmissionRequest(str(api_version), uid, _shallow(request), problem)
    return AdmissionRequest(str(api_version), uid, request)


_ANNOTATION_NAME = re.compile(r"[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")


def _warning(text: str) -> str:
    return text if len(text) <= _MAX_WARNING_CHARS else text[: _MAX_WARNING_CHARS - 3] + "..."


def response_annotations(annotations: Mapping[str, str]) -> dict[str, str]:
    """Audit annotations in the form an AdmissionResponse may carry them.

    The API server prefixes each key with the webhook's name and keeps it only
    if the result is a qualified name (``<webhook>/<name>``, the name at most
    63 characters of ``[A-Za-z0-9_.-]``; k8s.io/apiserver
    ``pkg/admission/plugin/webhook/validating/dispatcher.go``). A key
    ``<policy>/<key>`` is therefore sent as ``<policy>_<key>``; one that still
    is not a valid name is left out of the response (the decision record keeps
    every annotation under its full key).
    """
    out: dict[str, str] = {}
    for key, value in annotations.items():
        name = key.replace("/", "_")
        if _ANNOTATION_NAME.fullmatch(name):
            out[name] = value
    return out


def admission_response(request: AdmissionRequest, verdict: Verdict) -> dict[str, Any]:
    """The AdmissionReview answering ``request`` with ``verdict``."""
    response: dict[str, Any] = {"uid": request.uid, "allowed": verdict.allowed}
    if not verdict.allowed:
        response["status"] = {"code": verdict.code, "message": verdict.message}
    if verdict.warnings:
        response["warnings"] = [_warning(w) for w in verdict.warnings]
    annotations = response_annotations(verdict.audit_annotations)
    if annotations:
        response["auditAnnotations"] = annotations
    return {"apiVersion": request.api_version, "kind": "AdmissionReview", "response": response}
