"""Which requests a ValidatingAdmissionPolicy (or its binding) applies to.

``matchConstraints`` / ``matchResources`` as the API server decides them
(https://kubernetes.io/docs/reference/access-authn-authz/validating-admission-policy/#matching-requests-matchconstraints;
k8s.io/apiserver ``pkg/admission/plugin/policy/matching`` and
``pkg/admission/plugin/webhook/predicates/rules``): a request matches when a
``resourceRules`` entry matches it (operation, API group, version, resource
and subresource, scope, ``resourceNames``), no ``excludeResourceRules`` entry
does, the ``namespaceSelector`` selects its Namespace (a cluster-scoped object
other than a Namespace always passes) and the ``objectSelector`` selects its
object or old object.

Offline, kubegate cannot convert an object to another version, so
``matchPolicy: Equivalent`` (the default) also matches a request whose version
the rules do not list when a rule names its group and resource: the object is
then evaluated as written. ``Exact`` requires the version.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubegate.errors import Location, PolicyLoadError
from kubegate.policy.match import LabelSelector
from kubegate.policy.resources import ResourceMapper

__all__ = [
    "MatchResources",
    "RequestAttributes",
    "ResourceRule",
    "attributes_from_review",
    "parse_match_resources",
    "with_resource",
]

OPERATIONS = ("CREATE", "UPDATE", "DELETE", "CONNECT", "*")
SCOPES = ("Cluster", "Namespaced", "*")
_CODE = "invalid_validating_admission_policy"


@dataclass(frozen=True)
class RequestAttributes:
    """What matching looks at in an admission request.

    Attributes:
        operation: ``CREATE``, ``UPDATE``, ``DELETE`` or ``CONNECT``.
        group, version, resource, subresource: the request's resource
            (``apps``, ``v1``, ``deployments``, ``""``).
        name, namespace: of the object (``namespace`` is ``""`` when cluster-scoped).
        labels, old_labels: of the object and of the old object.
        namespace_labels: labels of the request's Namespace object, ``None``
            when it is unknown.
    """

    operation: str
    group: str
    version: str
    resource: str
    subresource: str = ""
    name: str = ""
    namespace: str = ""
    labels: Mapping[str, Any] | None = None
    old_labels: Mapping[str, Any] | None = None
    namespace_labels: Mapping[str, Any] | None = None

    @property
    def is_namespace(self) -> bool:
        return self.group == "" and self.resource == "namespaces"


def with_resource(review: Mapping[str, Any], mapper: ResourceMapper) -> Mapping[str, Any]:
    """``review`` with its ``resource`` filled from its kind when it has none (a
    review synthesised from a manifest), so CEL's ``request.resource`` is what
    the API server would give; ``review`` itself when it has one."""
    current = review.get("resource")
    if isinstance(current, Mapping) and current.get("resource"):
        return review
    attrs = attributes_from_review(review, mapper)
    if not attrs.resource:
        return review
    resource = {"group": attrs.group, "version": attrs.version, "resource": attrs.resource}
    return {**review, "resource": resource}


def attributes_from_review(
    review: Mapping[str, Any], mapper: ResourceMapper, namespace_object: Mapping[str, Any] | None = None
) -> RequestAttributes:
    """The attributes of ``input.review`` (an AdmissionRequest, :mod:`kubegate.policy.review`).

    The request's ``resource``/``subResource`` are used when the API server
    gave them; a review synthesised from a manifest has none, so the resource
    comes from the kind (``mapper``). ``namespace_object`` is the request's
    Namespace when known (inventory or ``namespaceObject``).
    """
    kind: Mapping[str, Any] = review["kind"] if isinstance(review.get("kind"), Mapping) else {}
    obj = review.get("object") if isinstance(review.get("object"), Mapping) else None
    old = review.get("oldObject") if isinstance(review.get("oldObject"), Mapping) else None
    subject: Mapping[str, Any] = obj or old or {}
    group, version = str(kind.get("group", "")), str(kind.get("version", ""))
    resource_field: Mapping[str, Any] = review["resource"] if isinstance(review.get("resource"), Mapping) else {}
    resource = str(resource_field.get("resource") or "")
    namespace = str(review.get("namespace") or "")
    if not resource:
        found = mapper.resource(group, str(kind.get("kind", "")), has_namespace=bool(namespace))
        resource = found.resource
        if not found.namespaced:
            namespace = "" if not (group == "" and resource == "namespaces") else namespace
    ns_meta = namespace_object.get("metadata") if isinstance(namespace_object, Mapping) else None
    return RequestAttributes(
        operation=str(review.get("operation") or "CREATE"),
        group=group,
        version=version,
        resource=resource,
        subresource=str(review.get("subResource") or ""),
        name=str(review.get("name") or _meta(subject, "name")),
        namespace=namespace,
        labels=_labels(obj),
        old_labels=_labels(old),
        namespace_labels=_labels(namespace_object) if isinstance(ns_meta, Mapping) else None,
    )


def _meta(obj: Mapping[str, Any], key: str) -> str:
    meta = obj.get("metadata")
    return str(meta.get(key) or "") if isinstance(meta, Mapping) else ""


def _labels(obj: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    meta = obj.get("metadata") if isinstance(obj, Mapping) else None
    labels = meta.get("labels") if isinstance(meta, Mapping) else None
    return labels if isinstance(labels, Mapping) else ({} if obj is not None else None)


def _exact_or_wildcard(items: Sequence[str], requested: str) -> bool:
    return any(item in ("*", requested) for item in items)


@dataclass(frozen=True)
class ResourceRule:
    """A ``NamedRuleWithOperations``."""

    operations: tuple[str, ...]
    api_groups: tuple[str, ...]
    api_versions: tuple[str, ...]
    resources: tuple[str, ...]
    resource_names: tuple[str, ...] = ()
    scope: str = "*"

    def _resource(self, attrs: RequestAttributes) -> bool:
        for entry in self.resources:
            res, _, sub = entry.partition("/")
            if res in ("*", attrs.resource) and (sub == "*" or sub == attrs.subresource):
                return True
        return False

    def _scope(self, attrs: RequestAttributes) -> bool:
        if self.scope == "Cluster":
            return attrs.namespace == "" or attrs.is_namespace
        if self.scope == "Namespaced":
            return attrs.namespace != "" and not attrs.is_namespace
        return True

    def matches(self, attrs: RequestAttributes, any_version: bool = False) -> bool:
        """Whether the rule matches (``any_version``: ignore ``apiVersions``, for Equivalent)."""
        return (
            self._scope(attrs)
            and _exact_or_wildcard(self.operations, attrs.operation)
            and _exact_or_wildcard(self.api_groups, attrs.group)
            and (any_version or _exact_or_wildcard(self.api_versions, attrs.version))
            and self._resource(attrs)
            and (not self.resource_names or attrs.name in self.resource_names)
        )


@dataclass(frozen=True)
class MatchResources:
    """``matchConstraints`` of a policy or ``matchResources`` of a binding."""

    resource_rules: tuple[ResourceRule, ...] = ()
    exclude_resource_rules: tuple[ResourceRule, ...] = ()
    namespace_selector: LabelSelector = field(default_factory=LabelSelector)
    object_selector: LabelSelector = field(default_factory=LabelSelector)
    match_policy: str = "Equivalent"

    def matches(self, attrs: RequestAttributes, rules_required: bool = True) -> bool | None:
        """``True``/``False``, or ``None`` when a ``namespaceSelector`` needs the
        request's Namespace and it is unknown. ``rules_required=False`` is a
        binding's ``matchResources``, where no ``resourceRules`` means every
        resource the policy matches."""
        if any(r.matches(attrs) for r in self.exclude_resource_rules):
            return False
        equivalent = self.match_policy == "Equivalent"
        if (rules_required or self.resource_rules) and not any(
            r.matches(attrs) or (equivalent and r.matches(attrs, any_version=True)) for r in self.resource_rules
        ):
            return False
        if not (self.object_selector.matches(attrs.labels) or self.object_selector.matches(attrs.old_labels)):
            return False
        if self.namespace_selector == LabelSelector():
            return True
        if attrs.is_namespace:
            return self.namespace_selector.matches(attrs.labels)
        if attrs.namespace == "":
            return True  # other cluster-scoped objects are never skipped
        if attrs.namespace_labels is None:
            return None
        return self.namespace_selector.matches(attrs.namespace_labels)


def _strings(value: Any, where: str, location: Location | None, allowed: Sequence[str] = ()) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PolicyLoadError(f"{where} must be a list of strings", location, code=_CODE)
    bad = [v for v in value if allowed and v not in allowed]
    if bad:
        raise PolicyLoadError(f"{where}: {bad[0]!r} is not one of {', '.join(allowed)}", location, code=_CODE)
    return tuple(value)


def _rule(spec: Any, where: str, location: Location | None) -> ResourceRule:
    if not isinstance(spec, Mapping):
        raise PolicyLoadError(f"{where} must be an object", location, code=_CODE)
    known = {"operations", "apiGroups", "apiVersions", "resources", "resourceNames", "scope"}
    extra = sorted(set(spec) - known)
    if extra:
        raise PolicyLoadError(f"{where} has unknown field(s) {', '.join(extra)}", location, code=_CODE)
    scope = spec.get("scope", "*")
    if scope not in SCOPES:
        raise PolicyLoadError(f"{where}.scope {scope!r} is not one of {', '.join(SCOPES)}", location, code=_CODE)
    return ResourceRule(
        _strings(spec.get("operations"), f"{where}.operations", location, OPERATIONS),
        _strings(spec.get("apiGroups"), f"{where}.apiGroups", location),
        _strings(spec.get("apiVersions"), f"{where}.apiVersions", location),
        _strings(spec.get("resources"), f"{where}.resources", location),
        _strings(spec.get("resourceNames"), f"{where}.resourceNames", location),
        str(scope),
    )


def parse_match_resources(spec: Any, where: str, location: Location | None = None) -> MatchResources:
    """Parses ``matchConstraints`` / ``matchResources`` (``None``: matches nothing
    until rules are given, as the API server requires ``resourceRules``).

    Raises:
        PolicyLoadError: ``invalid_validating_admission_policy`` (unknown fields,
            bad operations, scopes, selectors, or ``matchPolicy``).
    """
    if spec is None:
        return MatchResources()
    if not isinstance(spec, Mapping):
        raise PolicyLoadError(f"{where} must be an object", location, code=_CODE)
    known = {"resourceRules", "excludeResourceRules", "namespaceSelector", "objectSelector", "matchPolicy"}
    extra = sorted(set(spec) - known)
    if extra:
        raise PolicyLoadError(f"{where} has unknown field(s) {', '.join(extra)}", location, code=_CODE)
    policy = spec.get("matchPolicy", "Equivalent")
    if policy not in ("Equivalent", "Exact"):
        raise PolicyLoadError(f"{where}.matchPolicy {policy!r} is not Equivalent or Exact", location, code=_CODE)

    def rules(key: str) -> tuple[ResourceRule, ...]:
        value = spec.get(key) or []
        if not isinstance(value, list):
            raise PolicyLoadError(f"{where}.{key} must be a list", location, code=_CODE)
        return tuple(_rule(r, f"{where}.{key}[{i}]", location) for i, r in enumerate(value))

    try:
        ns = LabelSelector.from_spec(spec.get("namespaceSelector"), f"{where}.namespaceSelector", location)
        obj = LabelSelector.from_spec(spec.get("objectSelector"), f"{where}.objectSelector", location)
    except PolicyLoadError as exc:
        raise PolicyLoadError(exc.message, exc.location, code=_CODE) from None
    return MatchResources(rules("resourceRules"), rules("excludeResourceRules"), ns, obj, str(policy))
