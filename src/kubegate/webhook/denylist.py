"""Fast-reject deny list: incident-response rules checked before any policy runs.

A deny list is a YAML document::

    apiVersion: kubegate.io/v1alpha1
    kind: DenyList
    rules:
    - name: incident-4711
      message: images from evil.example are blocked during incident 4711
      images: ["evil.example/*", "*/cryptominer:*"]
    - name: freeze-payments
      namespaces: ["payments-*"]
      kinds: ["Deployment", "StatefulSet"]
      operations: ["CREATE", "UPDATE"]

A rule matches a request when every field it sets matches (a field matches
when any of its glob patterns does, ``fnmatch`` syntax, case-sensitive);
``images`` looks at every container, init container and ephemeral container
of a Pod or of the pod template of a workload. The first matching rule
denies the request with its message; no policy is evaluated and the
decision cache is not consulted, so a rule takes effect at once.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

import jsonschema

from kubegate.errors import InputError, Location
from kubegate.policy.documents import load_file

__all__ = ["DenyList", "DenyRule", "images_of", "load_deny_list"]

_FIELDS = ("namespaces", "kinds", "names", "images", "operations")

_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["kind", "rules"],
    "properties": {
        "apiVersion": {"const": "kubegate.io/v1alpha1"},
        "kind": {"const": "DenyList"},
        "rules": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name"],
                "additionalProperties": False,
                "anyOf": [{"required": [f]} for f in _FIELDS],
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "message": {"type": "string"},
                    **{f: {"type": "array", "items": {"type": "string"}, "minItems": 1} for f in _FIELDS},
                },
            },
        },
    },
}


@dataclass(frozen=True)
class DenyRule:
    """One rule; an empty pattern tuple means "any"."""

    name: str
    message: str
    namespaces: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    images: tuple[str, ...] = ()
    operations: tuple[str, ...] = ()

    def matches(self, review: Mapping[str, Any]) -> bool:
        """Whether the rule selects ``review`` (``input.review``)."""
        obj = review.get("object") or review.get("oldObject") or {}
        kind = review.get("kind") or {}
        checks: list[tuple[tuple[str, ...], Sequence[str]]] = [
            (self.namespaces, [str(review.get("namespace") or "")]),
            (self.kinds, [str(kind.get("kind", "")) if isinstance(kind, Mapping) else ""]),
            (self.names, [str(review.get("name") or "")]),
            (self.operations, [str(review.get("operation") or "")]),
        ]
        if self.images:
            checks.append((self.images, list(images_of(obj)) if isinstance(obj, Mapping) else []))
        return all(_any_match(patterns, values) for patterns, values in checks if patterns)


def _any_match(patterns: tuple[str, ...], values: Sequence[str]) -> bool:
    return any(fnmatchcase(value, pattern) for pattern in patterns for value in values)


@dataclass(frozen=True)
class DenyList:
    """Rules in file order; :meth:`match` returns the first that selects a review."""

    rules: tuple[DenyRule, ...] = ()
    source: str = ""

    def match(self, review: Mapping[str, Any]) -> DenyRule | None:
        return next((rule for rule in self.rules if rule.matches(review)), None)


def _pod_specs(obj: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    spec = obj.get("spec")
    if not isinstance(spec, Mapping):
        return
    yield spec
    for path in (("template", "spec"), ("jobTemplate", "spec", "template", "spec")):
        node: Any = spec
        for key in path:
            node = node.get(key) if isinstance(node, Mapping) else None
        if isinstance(node, Mapping):
            yield node


def images_of(obj: Mapping[str, Any]) -> Iterator[str]:
    """Every container image of a Pod or workload (pod template, CronJob job template)."""
    for spec in _pod_specs(obj):
        for field in ("containers", "initContainers", "ephemeralContainers"):
            containers = spec.get(field)
            for container in containers if isinstance(containers, list) else ():
                if isinstance(container, Mapping) and isinstance(container.get("image"), str):
                    yield container["image"]


def load_deny_list(path: str) -> DenyList:
    """Reads a deny list file.

    Raises:
        InputError: ``deny_list_invalid`` naming the file, line and field, or the
            YAML errors of :func:`kubegate.policy.documents.load_file`.
    """
    documents = load_file(path)
    if len(documents) != 1:
        raise InputError(
            f"a deny list file holds exactly one DenyList document, found {len(documents)}",
            Location(path),
            code="deny_list_invalid",
        )
    doc = documents[0]
    errors = sorted(jsonschema.Draft202012Validator(_SCHEMA).iter_errors(doc.obj), key=lambda e: list(e.path))
    if errors:
        first = errors[0]
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first.path) or "(document)"
        raise InputError(f"{where}: {first.message}", doc.location, code="deny_list_invalid")
    rules = tuple(
        DenyRule(
            name=r["name"],
            message=r.get("message") or f"denied by the kubegate deny list rule {r['name']!r}",
            **{f: tuple(r.get(f, ())) for f in _FIELDS},
        )
        for r in doc.obj["rules"]
    )
    return DenyList(rules, path)
