"""Gatekeeper's ``spec.match``: which objects a constraint applies to.

Semantics follow Gatekeeper's matcher (gatekeeper ``pkg/mutation/match/match.go``,
documented at https://open-policy-agent.github.io/gatekeeper/website/docs/howto#the-match-field):
every criterion that is set must hold; a review matches when its object or its
old object matches; namespaces and names take ``prefix*``, ``*suffix`` and
``*infix*`` globs; label selectors follow Kubernetes
(https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kubegate.errors import Location, PolicyLoadError

__all__ = [
    "KIND_SELECTOR_FIELDS",
    "MATCH_FIELDS",
    "KindSelector",
    "LabelSelector",
    "Match",
    "MatchTarget",
    "check_fields",
    "field_path",
    "label_map",
    "split_api_version",
    "wildcard_matches",
]

_SCOPES = ("*", "Cluster", "Namespaced")
_SOURCES = ("All", "Original", "Generated")
_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


def wildcard_matches(pattern: str, candidate: str) -> bool:
    """Gatekeeper ``wildcard.Wildcard.Matches``: ``*x*`` contains, ``*x`` suffix, ``x*`` prefix."""
    if pattern.startswith("*") and pattern.endswith("*") and len(pattern) >= 2:
        return pattern[1:-1] in candidate
    if pattern.startswith("*"):
        return candidate.endswith(pattern[1:])
    if pattern.endswith("*"):
        return candidate.startswith(pattern[:-1])
    return pattern == candidate


def split_api_version(api_version: str) -> tuple[str, str]:
    """``"apps/v1"`` -> ``("apps", "v1")``; ``"v1"`` -> ``("", "v1")``."""
    if "/" in api_version:
        group, _, version = api_version.partition("/")
        return group, version
    return "", api_version


def label_map(value: Any) -> dict[str, str]:
    """The labels a selector is decided on: ``value`` when it is a map of strings.

    Malformed labels (a list, a string, non-string values) cannot reach the API
    server (``metadata.labels`` is a ``map[string]string``); when an object from
    memory has them, entries that are not strings are left out and a labels
    value that is not a mapping counts as no labels, so matching stays
    deterministic. ``kubegate check`` reports such objects as ``invalid_object``
    (:func:`kubegate.policy.review.review_from_object`).
    """
    if not isinstance(value, Mapping):
        return {}
    return {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, str)}


@dataclass(frozen=True)
class _Requirement:
    key: str
    operator: str
    values: frozenset[str]

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.operator == "In":
            return present and labels[self.key] in self.values
        if self.operator == "NotIn":
            return not present or labels[self.key] not in self.values
        if self.operator == "Exists":
            return present
        return not present


@dataclass(frozen=True)
class LabelSelector:
    """A Kubernetes ``metav1.LabelSelector``: ``matchLabels`` and
    ``matchExpressions``, ANDed. An empty selector matches everything."""

    requirements: tuple[_Requirement, ...] = ()

    @classmethod
    def from_spec(cls, spec: Any, where: str, location: Location | None = None) -> LabelSelector:
        """Builds a selector from its YAML form.

        Raises:
            PolicyLoadError: ``invalid_match`` when the selector is malformed
                (unknown operator, values where none are allowed...).
        """
        if spec is None:
            return cls()
        if not isinstance(spec, dict):
            raise PolicyLoadError(f"{where} must be an object", location, code="invalid_match")
        reqs: list[_Requirement] = []
        labels = spec.get("matchLabels") or {}
        if not isinstance(labels, dict):
            raise PolicyLoadError(f"{where}.matchLabels must be a map of strings", location, code="invalid_match")
        for key, value in labels.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise PolicyLoadError(
                    f"{where}.matchLabels must be a map of strings ({key!r}: {value!r} is not)",
                    location,
                    code="invalid_match",
                )
            reqs.append(_Requirement(key, "In", frozenset({value})))
        exprs = spec.get("matchExpressions") or []
        if not isinstance(exprs, list):
            raise PolicyLoadError(f"{where}.matchExpressions must be a list", location, code="invalid_match")
        for i, expr in enumerate(exprs):
            path = f"{where}.matchExpressions[{i}]"
            if not isinstance(expr, dict) or "key" not in expr or "operator" not in expr:
                raise PolicyLoadError(f"{path} needs key and operator", location, code="invalid_match")
            op = expr["operator"]
            values = expr.get("values") or []
            if not isinstance(expr["key"], str):
                raise PolicyLoadError(f"{path}.key must be a string", location, code="invalid_match")
            if not isinstance(op, str) or op not in _OPERATORS:
                raise PolicyLoadError(
                    f"{path}.operator {op!r} is not one of {', '.join(_OPERATORS)}", location, code="invalid_match"
                )
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise PolicyLoadError(f"{path}.values must be a list of strings", location, code="invalid_match")
            if op in ("In", "NotIn") and not values:
                raise PolicyLoadError(f"{path}: values must be non-empty for {op}", location, code="invalid_match")
            if op in ("Exists", "DoesNotExist") and values:
                raise PolicyLoadError(f"{path}: values must be empty for {op}", location, code="invalid_match")
            reqs.append(_Requirement(expr["key"], op, frozenset(values)))
        return cls(tuple(reqs))

    def matches(self, labels: Any) -> bool:
        """Whether ``labels`` satisfy every requirement (see :func:`label_map` for malformed labels)."""
        clean = label_map(labels)
        return all(r.matches(clean) for r in self.requirements)


@dataclass(frozen=True)
class KindSelector:
    """One ``spec.match.kinds`` entry; empty lists or ``*`` match anything."""

    api_groups: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()

    def matches(self, group: str, kind: str) -> bool:
        kind_ok = not self.kinds or "*" in self.kinds or kind in self.kinds
        group_ok = not self.api_groups or "*" in self.api_groups or group in self.api_groups
        return kind_ok and group_ok


@dataclass(frozen=True)
class MatchTarget:
    """What a match is decided on.

    Attributes:
        obj: the object (or old object) under review.
        namespace: the Namespace object of ``obj``'s namespace when known (from
            the inventory or the request), else ``None``.
        generated: ``obj`` was generated by expansion (:mod:`kubegate.policy.expansion`),
            which ``match.source`` selects on (Gatekeeper ``SourceTypeGenerated``).
    """

    obj: Mapping[str, Any]
    namespace: Mapping[str, Any] | None = None
    generated: bool = False

    @property
    def group_kind(self) -> tuple[str, str]:
        group, _ = split_api_version(str(self.obj.get("apiVersion", "")))
        return group, str(self.obj.get("kind", ""))

    @property
    def metadata(self) -> Mapping[str, Any]:
        meta = self.obj.get("metadata")
        return meta if isinstance(meta, dict) else {}

    @property
    def is_namespace(self) -> bool:
        return self.group_kind == ("", "Namespace")

    @property
    def object_namespace(self) -> str:
        return str(self.metadata.get("namespace") or "")


def _strings(value: Any, where: str, location: Location | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PolicyLoadError(f"{where} must be a list of strings", location, code="invalid_match")
    return tuple(value)


#: The fields of Gatekeeper's ``spec.match`` and of one ``kinds`` entry.
MATCH_FIELDS = frozenset(
    {"kinds", "scope", "namespaces", "excludedNamespaces", "labelSelector", "namespaceSelector", "name", "source"}
)
KIND_SELECTOR_FIELDS = frozenset({"apiGroups", "kinds"})


def check_fields(
    spec: Mapping[str, Any], known: frozenset[str], where: str, location: Location | None, code: str
) -> None:
    """Raises for the first key of ``spec`` not in ``known``, with a did-you-mean.

    Raises:
        PolicyLoadError: ``code``.
    """
    for key in spec:
        if key not in known:
            close = difflib.get_close_matches(str(key), sorted(known), n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise PolicyLoadError(
                f"{where}.{key} is not a field of {where.rsplit(': ', 1)[-1]}{hint}; known: {', '.join(sorted(known))}",
                location,
                code=code,
                details={"path": [*field_path(where.rsplit(": ", 1)[-1]), str(key)]},
            )


def field_path(dotted: str) -> list[str | int]:
    """``spec.match.kinds[0]`` -> ``["spec", "match", "kinds", 0]`` (keys and list indexes)."""
    out: list[str | int] = []
    for part in dotted.split("."):
        name, _, rest = part.partition("[")
        if name:
            out.append(name)
        while rest:
            index, _, rest = rest.partition("]")
            if index.isdigit():
                out.append(int(index))
            rest = rest.removeprefix("[")
    return out


@dataclass(frozen=True)
class Match:
    """A parsed ``spec.match``. ``Match()`` matches every object."""

    kinds: tuple[KindSelector, ...] = ()
    scope: str = "*"
    namespaces: tuple[str, ...] = ()
    excluded_namespaces: tuple[str, ...] = ()
    label_selector: LabelSelector | None = None
    namespace_selector: LabelSelector | None = None
    name: str = ""
    source: str = "All"
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_spec(
        cls,
        spec: Any,
        where: str = "spec.match",
        location: Location | None = None,
        unknown_code: str = "invalid_match",
    ) -> Match:
        """Parses and validates ``spec.match`` (Gatekeeper's match schema,
        https://open-policy-agent.github.io/gatekeeper/website/docs/howto#the-match-field).

        Raises:
            PolicyLoadError: ``invalid_match`` naming the offending field;
                ``unknown_code`` for a field the schema does not have (``kind``
                for ``kinds``: Gatekeeper's API server would refuse it, and
                ignoring it would match everything).
        """
        if spec is None:
            return cls()
        if not isinstance(spec, dict):
            raise PolicyLoadError(f"{where} must be an object", location, code="invalid_match")
        check_fields(spec, MATCH_FIELDS, where, location, unknown_code)
        kinds: list[KindSelector] = []
        raw_kinds = spec.get("kinds") or []
        if not isinstance(raw_kinds, list):
            raise PolicyLoadError(f"{where}.kinds must be a list", location, code="invalid_match")
        for i, entry in enumerate(raw_kinds):
            if not isinstance(entry, dict):
                raise PolicyLoadError(f"{where}.kinds[{i}] must be an object", location, code="invalid_match")
            check_fields(entry, KIND_SELECTOR_FIELDS, f"{where}.kinds[{i}]", location, unknown_code)
            kinds.append(
                KindSelector(
                    _strings(entry.get("apiGroups"), f"{where}.kinds[{i}].apiGroups", location),
                    _strings(entry.get("kinds"), f"{where}.kinds[{i}].kinds", location),
                )
            )
        scope = spec.get("scope") or "*"
        if not isinstance(scope, str) or scope not in _SCOPES:
            # Gatekeeper treats an unknown scope as "*"; say so instead of guessing.
            raise PolicyLoadError(
                f"{where}.scope {scope!r} is not one of {', '.join(_SCOPES)}", location, code="invalid_match"
            )
        source = spec.get("source") or "All"
        if not isinstance(source, str) or source not in _SOURCES:
            raise PolicyLoadError(
                f"{where}.source {source!r} is not one of {', '.join(_SOURCES)}", location, code="invalid_match"
            )
        name = spec.get("name") or ""
        if not isinstance(name, str):
            raise PolicyLoadError(f"{where}.name must be a string", location, code="invalid_match")
        label_selector = (
            LabelSelector.from_spec(spec["labelSelector"], f"{where}.labelSelector", location)
            if spec.get("labelSelector") is not None
            else None
        )
        namespace_selector = (
            LabelSelector.from_spec(spec["namespaceSelector"], f"{where}.namespaceSelector", location)
            if spec.get("namespaceSelector") is not None
            else None
        )
        return cls(
            kinds=tuple(kinds),
            scope=scope,
            namespaces=_strings(spec.get("namespaces"), f"{where}.namespaces", location),
            excluded_namespaces=_strings(spec.get("excludedNamespaces"), f"{where}.excludedNamespaces", location),
            label_selector=label_selector,
            namespace_selector=namespace_selector,
            name=name,
            source=source,
            raw=dict(spec),
        )

    @property
    def needs_namespace_object(self) -> bool:
        """Whether deciding needs the Namespace object (labels of the namespace)."""
        return self.namespace_selector is not None

    def matches(self, target: MatchTarget) -> bool | None:
        """Whether ``target`` is in scope; every set criterion must hold.

        Returns ``None`` when it cannot be decided: the match has a
        ``namespaceSelector``, the object is namespaced and its Namespace object
        is unknown (Gatekeeper reports an error in that case too).
        """
        decided = (
            self._kinds(target)
            and self._scope(target)
            and self._namespaces(target)
            and self._excluded(target)
            and self._labels(target)
            and self._name(target)
            and self.source in ("All", "Generated" if target.generated else "Original")
        )
        if not decided:
            return False
        return self._namespace_selector(target)

    def matches_any(self, targets: list[MatchTarget]) -> bool | None:
        """Gatekeeper ``matchAny``: the review matches when its object or old object
        does; ``None`` when no target matches and one could not be decided."""
        undecided = False
        for t in targets:
            result = self.matches(t)
            if result:
                return True
            if result is None:
                undecided = True
        return None if undecided else False

    def _kinds(self, t: MatchTarget) -> bool:
        if not self.kinds:
            return True
        group, kind = t.group_kind
        return any(k.matches(group, kind) for k in self.kinds)

    def _scope(self, t: MatchTarget) -> bool:
        has_namespace = bool(t.object_namespace) or t.namespace is not None
        if self.scope == "Cluster":
            return t.is_namespace or not has_namespace
        if self.scope == "Namespaced":
            return not t.is_namespace and has_namespace
        return True

    def _namespace_name(self, t: MatchTarget) -> str | None:
        if t.is_namespace:
            return str(t.metadata.get("name", ""))
        if t.namespace is not None:
            meta = t.namespace.get("metadata") or {}
            return str(meta.get("name", "")) if isinstance(meta, dict) else ""
        return t.object_namespace or None

    def _namespaces(self, t: MatchTarget) -> bool:
        if not self.namespaces:
            return True
        ns = self._namespace_name(t)
        if ns is None:
            return True
        return any(wildcard_matches(p, ns) for p in self.namespaces)

    def _excluded(self, t: MatchTarget) -> bool:
        if not self.excluded_namespaces:
            return True
        ns = self._namespace_name(t)
        if ns is None:
            return True
        return not any(wildcard_matches(p, ns) for p in self.excluded_namespaces)

    def _labels(self, t: MatchTarget) -> bool:
        if self.label_selector is None:
            return True
        return self.label_selector.matches(t.metadata.get("labels"))

    def _namespace_selector(self, t: MatchTarget) -> bool | None:
        if self.namespace_selector is None:
            return True
        if t.is_namespace:
            return self.namespace_selector.matches(t.metadata.get("labels"))
        if t.namespace is None:
            # A cluster-scoped object matches; for a namespaced object whose
            # Namespace is unknown the answer is undecided.
            return None if t.object_namespace else True
        meta = t.namespace.get("metadata") or {}
        return self.namespace_selector.matches(meta.get("labels") if isinstance(meta, dict) else None)

    def _name(self, t: MatchTarget) -> bool:
        if not self.name:
            return True
        name = str(t.metadata.get("name", ""))
        generate = str(t.metadata.get("generateName", ""))
        if wildcard_matches(self.name, name):
            return True
        # Gatekeeper MatchesGenerateName: prefix globs also match generateName.
        if self.name.endswith("*"):
            inner = self.name[1:-1] if self.name.startswith("*") else None
            if inner is not None:
                return inner in generate
            return generate.startswith(self.name[:-1]) if generate else False
        return False
