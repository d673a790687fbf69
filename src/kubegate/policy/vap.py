"""ValidatingAdmissionPolicy and ValidatingAdmissionPolicyBinding objects.

``admissionregistration.k8s.io/v1`` (GA since Kubernetes 1.30;
https://kubernetes.io/docs/reference/access-authn-authz/validating-admission-policy/,
API: https://kubernetes.io/docs/reference/kubernetes-api/policy-resources/validating-admission-policy-v1/).
This module reads and checks their structure; the CEL expressions are kept
with their source locations for the CEL evaluator (issue 13) and are not
compiled here. Matching is :mod:`kubegate.policy.vap_match`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kubegate.errors import Location, PolicyLoadError
from kubegate.policy.match import LabelSelector
from kubegate.policy.vap_match import MatchResources, parse_match_resources

__all__ = [
    "ADMISSION_REGISTRATION_GROUP",
    "BINDING_KIND",
    "POLICY_KIND",
    "CelExpression",
    "ParamRef",
    "PolicyBinding",
    "ValidatingAdmissionPolicy",
    "Validation",
    "binding_from_object",
    "policy_from_object",
]

ADMISSION_REGISTRATION_GROUP = "admissionregistration.k8s.io"
POLICY_KIND = "ValidatingAdmissionPolicy"
BINDING_KIND = "ValidatingAdmissionPolicyBinding"
VERSIONS = ("v1", "v1beta1", "v1alpha1")
VALIDATION_ACTIONS = ("Deny", "Warn", "Audit")
_CODE = "invalid_validating_admission_policy"


@dataclass(frozen=True)
class CelExpression:
    """A CEL expression and where it is written (``path`` within the object,
    ``spec.validations[0].expression``)."""

    text: str
    path: str
    location: Location | None = None


@dataclass(frozen=True)
class Validation:
    """One ``validations`` entry."""

    expression: CelExpression
    message: str = ""
    message_expression: CelExpression | None = None
    reason: str = "Invalid"


@dataclass(frozen=True)
class ValidatingAdmissionPolicy:
    """A parsed ValidatingAdmissionPolicy (``failurePolicy`` defaults to Fail)."""

    name: str
    match_constraints: MatchResources
    validations: tuple[Validation, ...]
    variables: tuple[tuple[str, CelExpression], ...] = ()
    match_conditions: tuple[tuple[str, CelExpression], ...] = ()
    audit_annotations: tuple[tuple[str, CelExpression], ...] = ()
    param_kind: tuple[str, str] | None = None
    failure_policy: str = "Fail"
    location: Location | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class ParamRef:
    """A binding's ``paramRef``: one object by name, or objects by selector."""

    name: str = ""
    namespace: str = ""
    selector: LabelSelector | None = None
    parameter_not_found_action: str = "Deny"


@dataclass(frozen=True)
class PolicyBinding:
    """A parsed ValidatingAdmissionPolicyBinding."""

    name: str
    policy_name: str
    validation_actions: tuple[str, ...]
    match_resources: MatchResources | None = None
    param_ref: ParamRef | None = None
    location: Location | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


def _fail(message: str, location: Location | None) -> PolicyLoadError:
    return PolicyLoadError(message, location, code=_CODE)


def _meta_name(obj: Mapping[str, Any], what: str, location: Location | None) -> str:
    meta = obj.get("metadata")
    name = meta.get("name") if isinstance(meta, Mapping) else None
    if not isinstance(name, str) or not name:
        raise _fail(f"{what} has no metadata.name", location)
    _, _, version = str(obj.get("apiVersion", "")).partition("/")
    if version not in VERSIONS:
        raise _fail(
            f"{what} {name}: apiVersion {obj.get('apiVersion')!r} is not {ADMISSION_REGISTRATION_GROUP}/v1", location
        )
    return name


def _spec(obj: Mapping[str, Any], where: str, location: Location | None, known: set[str]) -> Mapping[str, Any]:
    spec = obj.get("spec")
    if not isinstance(spec, Mapping):
        raise _fail(f"{where}: spec must be an object", location)
    extra = sorted(set(spec) - known)
    if extra:
        raise _fail(f"{where}: spec has unknown field(s) {', '.join(extra)}", location)
    return spec


def _expression(value: Any, path: str, where: str, location: Location | None) -> CelExpression:
    if not isinstance(value, str) or not value.strip():
        raise _fail(f"{where}: {path} must be a non-empty CEL expression", location)
    return CelExpression(value, path, location)


def _named(
    spec: Mapping[str, Any], key: str, value_key: str, where: str, location: Location | None
) -> tuple[tuple[str, CelExpression], ...]:
    items = spec.get(key) or []
    if not isinstance(items, list):
        raise _fail(f"{where}: spec.{key} must be a list", location)
    out = []
    name_key = "key" if key == "auditAnnotations" else "name"
    for i, item in enumerate(items):
        path = f"spec.{key}[{i}]"
        if not isinstance(item, Mapping) or not isinstance(item.get(name_key), str) or not item.get(name_key):
            raise _fail(f"{where}: {path} needs a {name_key}", location)
        out.append((str(item[name_key]), _expression(item.get(value_key), f"{path}.{value_key}", where, location)))
    names = [n for n, _ in out]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate is not None:
        raise _fail(f"{where}: spec.{key} defines {duplicate!r} twice", location)
    return tuple(out)


def policy_from_object(obj: Mapping[str, Any], location: Location | None = None) -> ValidatingAdmissionPolicy:
    """Parses a ValidatingAdmissionPolicy.

    Raises:
        PolicyLoadError: ``invalid_validating_admission_policy`` (no name, an
            unknown spec field, no ``validations``, an empty expression, a bad
            ``failurePolicy``, ``matchConstraints`` errors, duplicate variables).
    """
    name = _meta_name(obj, POLICY_KIND, location)
    where = f"{POLICY_KIND} {name}"
    known = {
        "paramKind",
        "matchConstraints",
        "validations",
        "failurePolicy",
        "auditAnnotations",
        "matchConditions",
        "variables",
    }
    spec = _spec(obj, where, location, known)
    raw = spec.get("validations") or []
    if not isinstance(raw, list):
        raise _fail(f"{where}: spec.validations must be a list", location)
    validations = []
    for i, v in enumerate(raw):
        path = f"spec.validations[{i}]"
        if not isinstance(v, Mapping):
            raise _fail(f"{where}: {path} must be an object", location)
        message_expression = (
            _expression(v["messageExpression"], f"{path}.messageExpression", where, location)
            if v.get("messageExpression") is not None
            else None
        )
        validations.append(
            Validation(
                _expression(v.get("expression"), f"{path}.expression", where, location),
                str(v.get("message") or ""),
                message_expression,
                str(v.get("reason") or "Invalid"),
            )
        )
    audit = _named(spec, "auditAnnotations", "valueExpression", where, location)
    if not validations and not audit:
        raise _fail(f"{where}: spec.validations or spec.auditAnnotations must be given", location)
    failure = spec.get("failurePolicy", "Fail")
    if failure not in ("Fail", "Ignore"):
        raise _fail(f"{where}: spec.failurePolicy {failure!r} is not Fail or Ignore", location)
    param = spec.get("paramKind")
    param_kind = None
    if param is not None:
        if not isinstance(param, Mapping) or not param.get("apiVersion") or not param.get("kind"):
            raise _fail(f"{where}: spec.paramKind needs apiVersion and kind", location)
        param_kind = (str(param["apiVersion"]), str(param["kind"]))
    return ValidatingAdmissionPolicy(
        name,
        parse_match_resources(spec.get("matchConstraints"), f"{where}: spec.matchConstraints", location),
        tuple(validations),
        _named(spec, "variables", "expression", where, location),
        _named(spec, "matchConditions", "expression", where, location),
        audit,
        param_kind,
        str(failure),
        location,
        obj,
    )


def binding_from_object(obj: Mapping[str, Any], location: Location | None = None) -> PolicyBinding:
    """Parses a ValidatingAdmissionPolicyBinding.

    Raises:
        PolicyLoadError: ``invalid_validating_admission_policy`` (no
            ``policyName``, no or unknown ``validationActions``, Deny with
            Warn, a ``paramRef`` with both name and selector...).
    """
    name = _meta_name(obj, BINDING_KIND, location)
    where = f"{BINDING_KIND} {name}"
    spec = _spec(obj, where, location, {"policyName", "paramRef", "matchResources", "validationActions"})
    policy_name = spec.get("policyName")
    if not isinstance(policy_name, str) or not policy_name:
        raise _fail(f"{where}: spec.policyName is required", location)
    actions = spec.get("validationActions")
    if not isinstance(actions, list) or not actions or not all(a in VALIDATION_ACTIONS for a in actions):
        raise _fail(f"{where}: spec.validationActions must list some of {', '.join(VALIDATION_ACTIONS)}", location)
    if "Deny" in actions and "Warn" in actions:
        raise _fail(f"{where}: spec.validationActions may not hold both Deny and Warn", location)
    ref = spec.get("paramRef")
    param_ref = None
    if ref is not None:
        if not isinstance(ref, Mapping):
            raise _fail(f"{where}: spec.paramRef must be an object", location)
        if ref.get("name") and ref.get("selector") is not None:
            raise _fail(f"{where}: spec.paramRef takes name or selector, not both", location)
        action = ref.get("parameterNotFoundAction", "Deny")
        if action not in ("Allow", "Deny"):
            raise _fail(f"{where}: spec.paramRef.parameterNotFoundAction {action!r} is not Allow or Deny", location)
        selector = None
        if ref.get("selector") is not None:
            selector = LabelSelector.from_spec(ref.get("selector"), f"{where}: spec.paramRef.selector", location)
        param_ref = ParamRef(str(ref.get("name") or ""), str(ref.get("namespace") or ""), selector, str(action))
    match = None
    if spec.get("matchResources") is not None:
        match = parse_match_resources(spec.get("matchResources"), f"{where}: spec.matchResources", location)
    return PolicyBinding(name, policy_name, tuple(str(a) for a in actions), match, param_ref, location, obj)
