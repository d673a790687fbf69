"""Build ``input.review`` the way Gatekeeper does.

Gatekeeper hands a template an ``admission.k8s.io/v1`` AdmissionRequest
(https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/#request)
serialised with Go's JSON rules, so fields are camelCase and some are always
present (``uid``, ``kind``, ``operation``, ``userInfo``). For a plain object
(``gator``, audit, ``kubegate check``) the request is synthesised from the
object (gatekeeper ``pkg/target/target.go`` ``unstructuredToAdmissionRequest``);
for DELETE the old object is copied into ``object`` (``setObjectOnDelete``).
"""

from __future__ import annotations

import copy
import reprlib
from collections.abc import Mapping
from typing import Any

from kubegate.errors import InputError, Location
from kubegate.policy.match import split_api_version

__all__ = [
    "ADMISSION_GROUP",
    "OPERATIONS",
    "check_object_metadata",
    "request_from_admission_review",
    "review_from_object",
    "review_from_request",
]

ADMISSION_GROUP = "admission.k8s.io"
OPERATIONS = ("CREATE", "UPDATE", "DELETE", "CONNECT")


def _gvk(obj: Mapping[str, Any]) -> dict[str, str]:
    group, version = split_api_version(str(obj.get("apiVersion", "")))
    return {"group": group, "version": version, "kind": str(obj.get("kind", ""))}


def _meta(obj: Mapping[str, Any] | None, key: str) -> str:
    if not obj:
        return ""
    meta = obj.get("metadata")
    return str(meta.get(key) or "") if isinstance(meta, dict) else ""


def _invalid(field: str, expected: str) -> InputError:
    return InputError(
        f"metadata.{field} must be {expected} (the API server would reject this object)"
        if field
        else f"metadata must be {expected} (the API server would reject this object)",
        code="invalid_object",
        details={"field": f"metadata.{field}" if field else "metadata"},
    )


def check_object_metadata(obj: Mapping[str, Any]) -> None:
    """Checks the ``metadata`` fields policies and matching rely on against the
    types of Kubernetes' ``ObjectMeta``: ``name``, ``namespace`` and
    ``generateName`` are strings, ``labels`` and ``annotations`` maps of
    strings (``null`` values allowed, as the API server reads them as ``""``).

    Raises:
        InputError: ``invalid_object`` naming the field (``details.field``).
    """
    meta = obj.get("metadata")
    if meta is None:
        return
    if not isinstance(meta, Mapping):
        raise _invalid("", "a mapping")
    for key in ("name", "namespace", "generateName"):
        value = meta.get(key)
        if value is not None and not isinstance(value, str):
            raise _invalid(key, "a string")
    for key in ("labels", "annotations"):
        value = meta.get(key)
        if value is None:
            continue
        if not isinstance(value, Mapping) or not all(
            isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in value.items()
        ):
            raise _invalid(key, "a map of strings to strings")


def review_from_object(
    obj: Mapping[str, Any],
    *,
    operation: str = "CREATE",
    old_object: Mapping[str, Any] | None = None,
    user_info: Mapping[str, Any] | None = None,
    dry_run: bool | None = None,
) -> dict[str, Any]:
    """Synthesises the AdmissionRequest for ``obj``.

    Args:
        obj: a Kubernetes object with ``apiVersion`` and ``kind``.
        operation: ``CREATE`` (kubegate's default for ``check``), ``UPDATE``,
            ``DELETE``, ``CONNECT``, or ``""`` as ``gator verify`` sends.
        old_object: the previous version for UPDATE/DELETE.
        user_info: ``{"username", "uid", "groups", "extra"}``.
        dry_run: sets ``dryRun`` when given.

    Raises:
        InputError: ``invalid_object`` when ``kind`` or ``apiVersion`` is missing
            or ``metadata`` is malformed (see :func:`check_object_metadata`).
    """
    for key in ("apiVersion", "kind"):
        if not isinstance(obj.get(key), str) or not obj.get(key):
            raise InputError(f"object has no {key}", code="invalid_object")
    check_object_metadata(obj)
    review: dict[str, Any] = {
        "uid": "",
        "kind": _gvk(obj),
        "resource": {"group": "", "version": "", "resource": ""},
        "operation": operation,
        "userInfo": dict(user_info or {}),
        "object": obj,
        "oldObject": old_object,
    }
    name = _meta(obj, "name")
    namespace = _meta(obj, "namespace")
    if name:
        review["name"] = name
    if namespace:
        review["namespace"] = namespace
    if dry_run is not None:
        review["dryRun"] = dry_run
    if operation == "DELETE" and old_object is None:
        review["oldObject"] = obj
    return review


def review_from_request(request: Mapping[str, Any], source: str = "<request>") -> dict[str, Any]:
    """Normalises an AdmissionRequest into ``input.review``.

    Validates what Gatekeeper validates: an object or old object must be
    present, and a DELETE must carry ``oldObject``, which is then also exposed
    as ``object``.

    Raises:
        InputError: ``invalid_admission_request`` describing the problem.
    """
    loc = Location(source)
    if not isinstance(request, Mapping):
        raise InputError("the AdmissionRequest must be an object", loc, code="invalid_admission_request")
    obj = request.get("object")
    old = request.get("oldObject")
    for key, value in (("object", obj), ("oldObject", old)):
        if value is not None and not isinstance(value, Mapping):
            raise InputError(f"request.{key} must be an object", loc, code="invalid_admission_request")
    if obj is None and old is None:
        raise InputError(
            'AdmissionRequest does not contain an "object" or "oldObject" to review',
            loc,
            code="invalid_admission_request",
        )
    operation = request.get("operation", "")
    if operation and operation not in OPERATIONS:
        raise InputError(
            f"request.operation {reprlib.repr(operation)} is not one of {', '.join(OPERATIONS)}",
            loc,
            code="invalid_admission_request",
        )
    review = copy.copy(dict(request))
    review.setdefault("uid", "")
    review.setdefault("operation", "")
    review.setdefault("userInfo", {})
    if "kind" not in review or not isinstance(review["kind"], Mapping):
        base = obj if obj is not None else old
        review["kind"] = _gvk(base) if base is not None else {"group": "", "version": "", "kind": ""}
    if operation == "DELETE":
        if old is None:
            raise InputError("oldObject cannot be nil for DELETE operations", loc, code="invalid_admission_request")
        review["object"] = old
    review.setdefault("oldObject", None)
    return review


def request_from_admission_review(document: Mapping[str, Any], source: str = "<admission review>") -> dict[str, Any]:
    """Returns the ``request`` of an ``AdmissionReview`` (v1 or v1beta1).

    Raises:
        InputError: ``invalid_admission_review`` when the document is not an
            AdmissionReview or has no request.
    """
    loc = Location(source)
    group, version = split_api_version(str(document.get("apiVersion", "")))
    if document.get("kind") != "AdmissionReview" or group != ADMISSION_GROUP:
        raise InputError(
            f"expected kind AdmissionReview in {ADMISSION_GROUP}, got {document.get('kind')!r} "
            f"({document.get('apiVersion')!r})",
            loc,
            code="invalid_admission_review",
        )
    if version not in ("v1", "v1beta1"):
        raise InputError(
            f"unsupported AdmissionReview version {version!r} (expected v1 or v1beta1)",
            loc,
            code="invalid_admission_review",
        )
    request = document.get("request")
    if not isinstance(request, Mapping):
        raise InputError("AdmissionReview has no request", loc, code="invalid_admission_review")
    return dict(request)
