"""CEL admission logic evaluated on a review: Gatekeeper's ``K8sNativeValidation``
templates (:mod:`kubegate.policy.cel_source`) and ValidatingAdmissionPolicies
(:mod:`kubegate.policy.vap_program`) share it.

As Kubernetes' validator does (k8s.io/apiserver
``pkg/admission/plugin/policy/validating/validator.go``):

* ``params`` is the param object (for Gatekeeper, the whole constraint),
  ``request`` the AdmissionRequest (``input.review``), ``object``/``oldObject``
  its objects, ``namespaceObject`` the request's Namespace (or null);
* every ``matchConditions`` entry must be true for the logic to apply;
* a validation that is false is a violation with its ``messageExpression``
  result, else its ``message``, else ``failed expression: <expression>``;
* an expression that fails follows ``failurePolicy`` (default ``Fail``: a
  violation carrying the error, as Kubernetes' validator denies with it);
* each ``auditAnnotations`` entry's ``valueExpression`` gives a string (kept)
  or null (left out); any other value is an error.

Variables are evaluated in order before the validations; one that fails is
left out of ``variables``, so only expressions that read it fail (with its
error), which keeps Kubernetes' lazy-variable semantics for what a review
reports.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from kubegate.cel.cost import Sizes, size_summary
from kubegate.cel.library.authz import REQUEST_RESOURCE_BINDING, authorizer_value, request_resource_value
from kubegate.cel.library.authz_config import AuthorizerConfig
from kubegate.cel.program import CelError, CelProgram, activation, compile_internal
from kubegate.cel.rewrite import inline_variables

__all__ = [
    "VARIABLES",
    "CelFailure",
    "CelReview",
    "CelTemplate",
    "CelValidation",
    "CelVerdict",
    "accelerated",
    "cel_review",
    "request_value",
]

VARIABLES = ("object", "oldObject", "request", "params", "namespaceObject", "variables")


_GVK = ("group", "version", "kind")
_GVR = ("group", "version", "resource")


def request_value(review: Mapping[str, Any]) -> dict[str, Any]:
    """The CEL ``request`` of an AdmissionRequest: Kubernetes declares it as a
    typed object (k8s.io/apiserver ``pkg/admission/plugin/cel/compile.go``,
    ``BuildRequestType``), so an absent field reads as its zero value
    (``request.userInfo.groups`` is ``[]``, ``request.dryRun`` is ``false``),
    and the objects are not part of it."""

    def fields(value: Any, names: tuple[str, ...]) -> dict[str, str]:
        got = value if isinstance(value, Mapping) else {}
        return {n: str(got.get(n) or "") for n in names}

    user = review.get("userInfo") if isinstance(review.get("userInfo"), Mapping) else {}
    request: dict[str, Any] = {
        "kind": fields(review.get("kind"), _GVK),
        "resource": fields(review.get("resource"), _GVR),
        "subResource": str(review.get("subResource") or ""),
        "requestKind": fields(review.get("requestKind") or review.get("kind"), _GVK),
        "requestResource": fields(review.get("requestResource") or review.get("resource"), _GVR),
        "requestSubResource": str(review.get("requestSubResource") or review.get("subResource") or ""),
        "name": str(review.get("name") or ""),
        "namespace": str(review.get("namespace") or ""),
        "operation": str(review.get("operation") or ""),
        "userInfo": {
            "username": str((user or {}).get("username") or ""),
            "uid": str((user or {}).get("uid") or ""),
            "groups": [str(g) for g in (user or {}).get("groups") or []],
            "extra": {str(k): [str(x) for x in v] for k, v in ((user or {}).get("extra") or {}).items()},
        },
        "dryRun": bool(review.get("dryRun")),
        "options": review.get("options") if isinstance(review.get("options"), Mapping) else {},
    }
    return request


@dataclass(frozen=True)
class CelReview:
    """What every CEL policy of one review shares, computed once per review.

    Attributes:
        review: ``input.review`` (an AdmissionRequest).
        request: its CEL ``request`` (:func:`request_value`).
        sizes: the size summary of ``object``, ``oldObject`` and ``request``
            (:func:`kubegate.cel.cost.size_summary`).
    """

    review: Mapping[str, Any]
    request: dict[str, Any]
    sizes: Sizes


def cel_review(review: Mapping[str, Any]) -> CelReview:
    """The :class:`CelReview` of ``review``."""
    request = request_value(review)
    values = {"object": review.get("object"), "oldObject": review.get("oldObject"), "request": request}
    return CelReview(review, request, size_summary(values))


@dataclass(frozen=True)
class CelFailure:
    """A violation of CEL logic.

    Attributes:
        message: the violation message.
        index: the position of the validation in ``validations`` (``-1`` for a
            failing match condition or audit annotation).
        reason: the validation's ``reason`` (``Invalid``, ``Forbidden``,
            ``Unauthorized``, ``RequestEntityTooLarge``).
    """

    message: str
    index: int = -1
    reason: str = "Invalid"


@dataclass(frozen=True)
class CelVerdict:
    """What CEL logic says about one review.

    Attributes:
        failures: the violations, in validation order.
        annotations: ``(key, value)`` of each audit annotation with a value
            (the key as written in the policy, not yet prefixed).
    """

    failures: tuple[CelFailure, ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()

    @property
    def messages(self) -> list[str]:
        """The violation messages."""
        return [f.message for f in self.failures]


@dataclass(frozen=True)
class CelValidation:
    """One ``validations`` entry, compiled."""

    program: CelProgram
    message: str = ""
    message_program: CelProgram | None = None
    reason: str = "Invalid"


@dataclass(frozen=True)
class CelTemplate:
    """Compiled CEL admission logic (a K8sNativeValidation source or a policy's spec).

    Attributes:
        kind: what it belongs to (the constraint kind or the policy's name), for messages.
        variables: ``(name, program)`` in evaluation order.
        validations: the ``validations`` entries.
        match_conditions: ``(name, program)``; all must be true.
        failure_policy: ``Fail`` or ``Ignore``.
        audit_annotations: ``(key, valueExpression program)``.
    """

    kind: str
    variables: tuple[tuple[str, CelProgram], ...]
    validations: tuple[CelValidation, ...]
    match_conditions: tuple[tuple[str, CelProgram], ...] = ()
    failure_policy: str = "Fail"
    audit_annotations: tuple[tuple[str, CelProgram], ...] = ()
    fast: Mapping[str, CelProgram] = field(default_factory=dict, compare=False, repr=False)
    """Every expression with its variables inlined (``c<i>``, ``v<i>``, ``m<i>``,
    ``a<i>``), when all could be: one activation per review (:func:`accelerated`)."""

    def evaluate(
        self,
        review: Mapping[str, Any] | CelReview,
        constraint: Mapping[str, Any] | None,
        namespace_object: Mapping[str, Any] | None = None,
        authorizer: AuthorizerConfig | None = None,
        deadline: float = 0.0,
    ) -> CelVerdict:
        """The violations and audit annotations of ``review`` under ``constraint``.

        An expression that fails under ``failurePolicy: Fail`` is a violation
        whose message is Kubernetes' ``expression '<text>' resulted in error:
        <error>`` (the validator denies with it, and Gatekeeper reports denials
        as violations); under ``Ignore`` it is passed over.

        Args:
            review: ``input.review`` (an AdmissionRequest), or its
                :class:`CelReview` when several policies review it.
            constraint: the whole Constraint object (Gatekeeper's ``params``), or
                a ValidatingAdmissionPolicy's param object (``None``: no params).
            namespace_object: the request's Namespace, when known.
            authorizer: what answers ``authorizer`` (ValidatingAdmissionPolicies
                only; ``None``: the logic has no ``authorizer``).
            deadline: ``time.monotonic()`` by which the review must end (0:
                none): an expression whose estimated time would pass it is
                refused before it starts (``cel_cost_exceeded``,
                :mod:`kubegate.cel.cost`), since it could not be interrupted.
        """
        shared_review = review if isinstance(review, CelReview) else cel_review(review)
        review = shared_review.review
        own = {
            "params": dict(constraint) if constraint is not None else None,
            "namespaceObject": dict(namespace_object) if namespace_object is not None else None,
        }
        sizes = shared_review.sizes.merged(size_summary(own))
        values: dict[str, Any] = {
            "object": review.get("object"),
            "oldObject": review.get("oldObject"),
            "request": shared_review.request,
            **own,
        }
        if authorizer is not None:
            values["authorizer"] = authorizer_value(review.get("userInfo"), authorizer)
            values[REQUEST_RESOURCE_BINDING] = request_resource_value(review, authorizer)
        if self.fast:
            shared = activation(next(iter(self.fast.values())), {**values, "variables": {}})
            return self._verdicts(lambda key, _: self.fast[key].evaluate(shared, sizes, deadline))
        bound: dict[str, Any] = {}
        failed: dict[str, CelError] = {}
        for name, program in self.variables:
            try:
                bound[name] = program.evaluate(activation(program, {**values, "variables": bound}), sizes, deadline)
            except CelError as exc:
                failed[name] = exc
        values["variables"] = bound
        shared_once: list[Any] = []  # one activation for every expression after the variables

        def run(_: str, program: CelProgram) -> Any:
            if not shared_once:
                shared_once.append(activation(program, values))
            try:
                return program.evaluate(shared_once[0], sizes, deadline)
            except CelError as exc:
                missing = next((n for n in failed if f'"{n}"' in exc.message), None)
                raise failed[missing] if missing is not None else exc from None

        return self._verdicts(run)

    def _verdicts(self, run: Callable[[str, CelProgram], Any]) -> CelVerdict:
        """The match conditions, then the validations and their messages, then
        the audit annotations, each evaluated by ``run(key, program)`` (``key``:
        ``c<i>``/``v<i>``/``m<i>``/``a<i>``, the expression's entry in :attr:`fast`)."""

        def failure(program: CelProgram, error: CelError, index: int = -1) -> list[CelFailure]:
            if self.failure_policy == "Ignore":
                return []
            return [CelFailure(f"expression '{program.source.text.strip()}' resulted in error: {error.message}", index)]

        for i, (_, condition) in enumerate(self.match_conditions):
            try:
                if run(f"c{i}", condition) is not True:
                    return CelVerdict()
            except CelError as exc:
                return CelVerdict(tuple(failure(condition, exc)))
        failures: list[CelFailure] = []
        for i, validation in enumerate(self.validations):
            try:
                result = run(f"v{i}", validation.program)
            except CelError as exc:
                failures.extend(failure(validation.program, exc, i))
                continue
            if not isinstance(result, bool):
                error = CelError(f"must evaluate to a bool, got {type(result).__name__}", None)
                failures.extend(failure(validation.program, error, i))
                continue
            if result:
                continue
            message = validation.message or f"failed expression: {validation.program.source.text.strip()}"
            if validation.message_program is not None:
                try:
                    text = run(f"m{i}", validation.message_program)
                    message = text if isinstance(text, str) and text.strip() else message
                except CelError:
                    pass  # Kubernetes falls back to message when messageExpression fails
            failures.append(CelFailure(message, i, validation.reason))
        annotations: list[tuple[str, str]] = []
        for i, (key, program) in enumerate(self.audit_annotations):
            try:
                value = run(f"a{i}", program)
            except CelError as exc:
                failures.extend(failure(program, exc))
                continue
            if isinstance(value, str):
                annotations.append((key, value))
            elif value is not None:
                error = CelError(f"valueExpression must evaluate to a string or null, got {type(value).__name__}", None)
                failures.extend(failure(program, error))
        return CelVerdict(tuple(failures), tuple(annotations))


def accelerated(variables: Sequence[str], template: CelTemplate) -> CelTemplate:
    """``template`` with every expression's variables inlined as ``cel.bind``
    bindings (:func:`kubegate.cel.rewrite.inline_variables`), or unchanged when
    one cannot be (``variables``: the top-level names it was compiled with)."""
    definitions = [(name, program.text or program.source.text) for name, program in template.variables]
    fast: dict[str, CelProgram] = {}
    pending = [(f"c{i}", p) for i, (_, p) in enumerate(template.match_conditions)]
    for i, v in enumerate(template.validations):
        pending.append((f"v{i}", v.program))
        if v.message_program is not None:
            pending.append((f"m{i}", v.message_program))
    pending.extend((f"a{i}", p) for i, (_, p) in enumerate(template.audit_annotations))
    for key, program in pending:
        text = inline_variables(program.text or program.source.text, definitions)
        compiled = compile_internal(program.source, text, variables) if text is not None else None
        if compiled is None:
            return template
        fast[key] = compiled
    return replace(template, fast=fast) if fast else template
