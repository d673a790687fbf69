"""Kubernetes schemas for checking DSL rules: built-in kinds of a pinned version, plus CRDs.

Built-in kinds come from the JSON schemas of the Kubernetes OpenAPI
definitions bundled by the ``kubernetes-validate`` package (one set per
Kubernetes minor version, 1.25 onwards; :data:`DEFAULT_KUBERNETES_VERSION`
unless another is asked for). Those schemas drop OpenAPI ``enum``; the
enumerated fields of the API are restored from ``enums.yaml`` (cited there).
Custom resources come from CustomResourceDefinition objects: the
``openAPIV3Schema`` of their served storage version.

Everything is reduced to :class:`Type`: the DSL's view of a schema node.
"""

from __future__ import annotations

import difflib
import functools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Literal

import yaml

from kubegate.errors import Location, UsageError

__all__ = ["DEFAULT_KUBERNETES_VERSION", "KindInfo", "SchemaSet", "Type", "available_versions", "closest"]

DEFAULT_KUBERNETES_VERSION = "1.34"

TypeKind = Literal[
    "string", "integer", "number", "boolean", "quantity", "int-or-string", "object", "map", "list", "any", "null"
]

_QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
_INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
_SCALARS: dict[str, TypeKind] = {"string": "string", "integer": "integer", "number": "number", "boolean": "boolean"}
# Which group wins when two API groups define the same kind (Event: core before events.k8s.io).
_GROUP_ORDER = ("", "apps", "batch", "networking.k8s.io", "policy", "rbac.authorization.k8s.io")


@dataclass(frozen=True)
class Type:
    """A DSL type.

    Attributes:
        kind: the type's class; ``object`` has named fields, ``map`` arbitrary
            keys with ``item`` values, ``list`` ``item`` elements; ``any`` is
            unchecked (``x-kubernetes-preserve-unknown-fields``, unknown kinds).
        name: the definition name of an object (``io.k8s.api.core.v1.Container``)
            or a readable description.
        item: element type of a list, value type of a map.
        enum: allowed values of an enumerated string.
    """

    kind: TypeKind
    name: str = ""
    item: Type | None = None
    enum: tuple[str, ...] | None = None
    node: Mapping[str, Any] | None = field(default=None, compare=False, hash=False, repr=False)

    def describe(self) -> str:
        if self.kind == "list":
            return f"list of {self.item.describe() if self.item else 'any'}"
        if self.kind == "map":
            return f"map of {self.item.describe() if self.item else 'any'}"
        if self.kind == "object":
            return self.name.rsplit(".", 1)[-1] if self.name else "object"
        return self.kind


ANY = Type("any")
STRING = Type("string")


@dataclass(frozen=True)
class KindInfo:
    """A kind the DSL can name in ``ON``."""

    kind: str
    group: str
    version: str
    type: Type


def closest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate most like ``name`` (for did-you-mean hints), if any is close."""
    found = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    if not found:
        lowered = {c.lower(): c for c in candidates}
        return lowered.get(name.lower())
    return found[0]


def available_versions() -> list[str]:
    """Kubernetes minor versions with bundled schemas (``1.25`` ...)."""
    root = resources.files("kubernetes_validate").joinpath("kubernetes-json-schema")
    found = set()
    for entry in root.iterdir():
        name = entry.name
        if name.startswith("v") and name.endswith("-local"):
            major_minor = ".".join(name[1:].split("-")[0].split(".")[:2])
            found.add(major_minor)
    return sorted(found, key=lambda v: tuple(int(p) for p in v.split(".")))


@functools.lru_cache(maxsize=4)
def _definitions(version: str) -> Mapping[str, Any]:
    root = resources.files("kubernetes_validate").joinpath("kubernetes-json-schema")
    for entry in root.iterdir():
        if entry.name.startswith(f"v{version}.") and entry.name.endswith("-local"):
            doc = json.loads(entry.joinpath("_definitions.json").read_text("utf-8"))
            return dict(doc.get("$defs") or doc.get("definitions") or {})
    raise UsageError(
        f"no schemas for Kubernetes {version}; available: {', '.join(available_versions())}",
        code="unknown_kubernetes_version",
    )


@functools.lru_cache(maxsize=1)
def _enums() -> Mapping[str, Mapping[str, tuple[str, ...]]]:
    raw = yaml.safe_load(resources.files("kubegate.dsl").joinpath("enums.yaml").read_text("utf-8"))
    return {d: {f: tuple(str(v) for v in values) for f, values in fields.items()} for d, fields in raw.items()}


class SchemaSet:
    """The kinds and types rules are checked against.

    Args:
        kubernetes_version: ``"1.34"`` (major.minor) or ``"1.34.1"``.
        crds: CustomResourceDefinition objects (``apiextensions.k8s.io/v1``).

    Raises:
        UsageError: ``unknown_kubernetes_version``.
    """

    def __init__(self, kubernetes_version: str = DEFAULT_KUBERNETES_VERSION, crds: Iterable[Mapping[str, Any]] = ()):
        self.version = ".".join(kubernetes_version.lstrip("v").split(".")[:2])
        self._defs = _definitions(self.version)
        self._enums = _enums()
        self._kinds: dict[str, KindInfo] = {}
        self.crd_errors: list[tuple[str, Location | None]] = []
        ranked: dict[str, tuple[tuple[int, int, int], KindInfo]] = {}
        for name, node in self._defs.items():
            for gvk in node.get("x-kubernetes-group-version-kind") or ():
                kind, group, version = gvk["kind"], gvk.get("group", ""), gvk["version"]
                if kind.endswith("List") or not _has_object_shape(node):
                    continue
                rank = (_version_rank(version), _group_rank(group), -_version_number(version))
                info = KindInfo(kind, group, version, self.definition(name))
                if kind not in ranked or rank < ranked[kind][0]:
                    ranked[kind] = (rank, info)
        self._kinds = {k: info for k, (_, info) in ranked.items()}
        for crd in crds:
            self.add_crd(crd)

    # ---- kinds
    def kind(self, name: str) -> KindInfo | None:
        return self._kinds.get(name)

    def kind_names(self) -> list[str]:
        return sorted(self._kinds)

    def add_crd(self, crd: Mapping[str, Any]) -> None:
        """Registers the kind a CustomResourceDefinition defines (its storage, else first served, version)."""
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        kind = names.get("kind")
        group = spec.get("group", "")
        versions = [v for v in spec.get("versions") or [] if isinstance(v, Mapping)]
        chosen = next((v for v in versions if v.get("storage")), None) or next(
            (v for v in versions if v.get("served", True)), None
        )
        if not isinstance(kind, str) or chosen is None:
            self.crd_errors.append(
                (f"CustomResourceDefinition {crd.get('metadata', {}).get('name')} has no kind or version", None)
            )
            return
        schema = (chosen.get("schema") or {}).get("openAPIV3Schema") or spec.get("validation", {}).get(
            "openAPIV3Schema"
        )
        node = schema if isinstance(schema, Mapping) else {"x-kubernetes-preserve-unknown-fields": True}
        self._kinds[kind] = KindInfo(kind, group, str(chosen.get("name", "")), self.type_of(node, f"{group}/{kind}"))

    # ---- types
    def definition(self, name: str) -> Type:
        """The type of a named definition (``io.k8s.api.core.v1.Container``)."""
        node = self._defs.get(name)
        if node is None:
            return ANY
        return self.type_of(node, name)

    def type_of(self, node: Mapping[str, Any], name: str = "") -> Type:
        """The type of a JSON-schema / openAPIV3Schema node."""
        ref = node.get("$ref")
        if isinstance(ref, str):
            target = ref.rsplit("/", 1)[-1]
            if target == _QUANTITY:
                return Type("quantity", "quantity")
            if target == _INT_OR_STRING:
                return Type("int-or-string", "int-or-string")
            return self.definition(target)
        if node.get("x-kubernetes-int-or-string"):
            return Type("int-or-string", "int-or-string")
        if node.get("x-kubernetes-preserve-unknown-fields") and not node.get("properties"):
            return ANY
        kinds = node.get("type")
        types = [t for t in (kinds if isinstance(kinds, list) else [kinds]) if t and t != "null"]
        if not types and "oneOf" in node:
            return ANY
        t = types[0] if types else ("object" if "properties" in node else None)
        if t in _SCALARS:
            enum = node.get("enum")
            values = tuple(str(v) for v in enum) if isinstance(enum, list) and t == "string" else None
            return Type(_SCALARS[t], t, enum=values)
        if t == "array":
            items = node.get("items")
            return Type("list", name, item=self.type_of(items, name) if isinstance(items, Mapping) else ANY)
        if t == "object":
            if isinstance(node.get("properties"), Mapping):
                return Type("object", name, node=node)
            extra = node.get("additionalProperties")
            return Type("map", name, item=self.type_of(extra, name) if isinstance(extra, Mapping) else ANY)
        return ANY

    def fields(self, t: Type) -> list[str]:
        """Field names of an object type."""
        props = (t.node or {}).get("properties") if t.kind == "object" else None
        return sorted(props) if isinstance(props, Mapping) else []

    def field(self, t: Type, name: str) -> Type | None:
        """The type of field ``name`` of object type ``t``, ``None`` if it has no such field."""
        props = (t.node or {}).get("properties") if t.kind == "object" else None
        if not isinstance(props, Mapping) or name not in props:
            return None
        result = self.type_of(props[name], f"{t.name}.{name}")
        enum = self._enums.get(t.name, {}).get(name)
        if enum is not None and result.kind == "string":
            result = Type("string", result.name, enum=enum)
        return result


def _has_object_shape(node: Mapping[str, Any]) -> bool:
    return isinstance(node.get("properties"), Mapping)


def _version_rank(version: str) -> int:
    if "alpha" in version:
        return 2
    if "beta" in version:
        return 1
    return 0


def _version_number(version: str) -> int:
    digits = "".join(ch for ch in version.removeprefix("v").split("alpha")[0].split("beta")[0] if ch.isdigit())
    return int(digits) if digits else 0


def _group_rank(group: str) -> int:
    return _GROUP_ORDER.index(group) if group in _GROUP_ORDER else len(_GROUP_ORDER)
