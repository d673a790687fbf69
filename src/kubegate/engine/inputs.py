"""What a review accepts: the shape rules for ``Engine.review``'s argument and the input bounds.

:meth:`kubegate.Engine.review` takes a Kubernetes object, an AdmissionRequest
or a whole AdmissionReview. Which one it was given is decided by these rules,
in this order, and by nothing else (:func:`review_input_shape`):

1. ``kind == "AdmissionReview"``: an AdmissionReview. Its ``apiVersion`` must
   be ``admission.k8s.io/v1`` or ``v1beta1`` and it must carry a ``request``
   object; anything else is an error, never reviewed as an object.
2. ``kind`` is a mapping: an AdmissionRequest. The API server always sends
   the request's ``kind`` as a GroupVersionKind (``{"group", "version",
   "kind"}``), and no Kubernetes object has a mapping ``kind``
   (https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/#request).
3. no ``kind`` at all and an ``object`` or ``oldObject`` field: an
   AdmissionRequest written by hand.
4. ``kind`` is a non-empty string: a Kubernetes object, reviewed as a
   ``CREATE`` unless ``operation`` says otherwise, with one exception: if it
   also carries the fields only an AdmissionRequest has together (a top-level
   ``uid`` and an ``object`` or ``oldObject``), the argument is ambiguous and
   refused (``ambiguous_review_input``). Reviewing a request as if it were an
   object would decide on the wrong data; refusing makes the caller say which
   one they mean (:func:`build_review` with ``shape=``).

The admission webhook never guesses: an AdmissionReview's ``request`` is an
AdmissionRequest by definition (``shape="admission_request"``).

Bounds: an input nested deeper than :data:`MAX_INPUT_DEPTH` levels is refused
with ``input_too_deep`` before any policy sees it (real Kubernetes objects
nest fewer than 40 levels; the limit keeps every later stage, from the
backend's input conversion to the decision log's redactor, within Python's
recursion limit).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from kubegate.errors import InputError, Location
from kubegate.policy.review import request_from_admission_review, review_from_object, review_from_request
from kubegate.yamlio import MAX_DEPTH

__all__ = [
    "MAX_INPUT_DEPTH",
    "ReviewShape",
    "build_review",
    "check_depth",
    "review_input_shape",
]

ReviewShape = Literal["admission_review", "admission_request", "object"]

MAX_INPUT_DEPTH = MAX_DEPTH
"""Deepest nesting of mappings and lists an input may have (the value itself is level 1):
the same bound as for files (:data:`kubegate.yamlio.MAX_DEPTH`, 128), so what
``kubegate check`` reads is what the webhook reviews."""


def review_input_shape(obj: Mapping[str, Any]) -> ReviewShape:
    """Which of the three shapes ``obj`` is, by the rules in the module docstring.

    Raises:
        InputError: ``ambiguous_review_input`` (rule 4's exception),
            ``invalid_object`` (no usable ``kind``).
    """
    kind = obj.get("kind")
    if kind == "AdmissionReview":
        return "admission_review"
    if isinstance(kind, Mapping):
        return "admission_request"
    has_subject = "object" in obj or "oldObject" in obj
    if kind is None and has_subject:
        return "admission_request"
    if isinstance(kind, str) and kind:
        if has_subject and "uid" in obj:
            raise InputError(
                f"the argument has a string kind {kind!r} like an object but also uid and object/oldObject "
                "like an AdmissionRequest; say which it is (build_review(..., shape=...)), or send the "
                "AdmissionRequest with its kind as a GroupVersionKind",
                code="ambiguous_review_input",
            )
        return "object"
    raise InputError("object has no kind", code="invalid_object")


def check_depth(value: Any, limit: int = MAX_INPUT_DEPTH, source: str = "<input>") -> None:
    """Refuses ``value`` if mappings and lists nest deeper than ``limit`` levels.

    Iterative, so any depth is measured without recursion.

    Raises:
        InputError: ``input_too_deep``.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            raise InputError(
                f"the input nests deeper than {limit} levels of objects and arrays",
                Location(source),
                code="input_too_deep",
            )
        if isinstance(node, Mapping):
            stack.extend((child, depth + 1) for child in node.values() if isinstance(child, (Mapping, list)))
        elif isinstance(node, list):
            stack.extend((child, depth + 1) for child in node if isinstance(child, (Mapping, list)))


def build_review(
    obj: Mapping[str, Any],
    *,
    operation: str | None = None,
    old_object: Mapping[str, Any] | None = None,
    user_info: Mapping[str, Any] | None = None,
    shape: ReviewShape | None = None,
    max_depth: int | None = MAX_INPUT_DEPTH,
) -> dict[str, Any]:
    """``input.review`` for an object, AdmissionRequest or AdmissionReview.

    Args:
        obj: the argument of :meth:`kubegate.Engine.review`.
        operation, old_object, user_info: for objects only (see
            :func:`kubegate.policy.review.review_from_object`).
        shape: what ``obj`` is; ``None`` decides by :func:`review_input_shape`.
        max_depth: refuse deeper inputs (``None``: the caller already checked).

    Raises:
        InputError: ``invalid_object``, ``ambiguous_review_input``,
            ``input_too_deep``, ``invalid_admission_review``,
            ``invalid_admission_request``.
    """
    if not isinstance(obj, Mapping):
        raise InputError(f"cannot review a {type(obj).__name__}; expected an object", code="invalid_object")
    if max_depth is not None:
        check_depth(obj, max_depth)
    shape = shape or review_input_shape(obj)
    if shape == "admission_review":
        return review_from_request(request_from_admission_review(obj))
    if shape == "admission_request":
        return review_from_request(obj)
    return review_from_object(obj, operation=operation or "CREATE", old_object=old_object, user_info=user_info)
