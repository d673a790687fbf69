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

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kubegate.errors import InputError
from kubegate.webhook.verdict import Verdict

__all__ = [
    "SUPPORTED_VERSIONS",
    "AdmissionError",
    "AdmissionRequest",
    "admission_response",
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
        request: the ``request`` object as sent (camelCase keys).
    """

    api_version: str
    uid: str
    request: Mapping[str, Any]

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


def parse_admission_review(body: bytes) -> AdmissionRequest:
    """Parses and validates an AdmissionReview request body.

    Raises:
        AdmissionError: ``admission_review_not_json`` (not JSON),
            ``admission_review_invalid`` (not an AdmissionReview with a
            ``request`` object), ``admission_version_unsupported`` (another
            ``apiVersion``), ``admission_uid_missing`` (no ``request.uid``).
            All with HTTP status 400.
    """
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise AdmissionError(f"request body is not JSON: {exc}", code="admission_review_not_json") from None
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
    return AdmissionRequest(str(api_version), uid, request)


def _warning(text: str) -> str:
    return text if len(text) <= _MAX_WARNING_CHARS else text[: _MAX_WARNING_CHARS - 3] + "..."


def admission_response(request: AdmissionRequest, verdict: Verdict) -> dict[str, Any]:
    """The AdmissionReview answering ``request`` with ``verdict``."""
    response: dict[str, Any] = {"uid": request.uid, "allowed": verdict.allowed}
    if not verdict.allowed:
        response["status"] = {"code": verdict.code, "message": verdict.message}
    if verdict.warnings:
        response["warnings"] = [_warning(w) for w in verdict.warnings]
    return {"apiVersion": request.api_version, "kind": "AdmissionReview", "response": response}
