"""A kind's OpenAPI schema as a protobuf file, so that cel-cpp can type-check CEL against it.

cel-cpp checks field selections against protobuf descriptors only
(docs/cel-notes.md §1), so :func:`file_descriptor` turns a kind's schema into a
``FileDescriptorProto`` of package :data:`PACKAGE`, following Kubernetes'
``SchemaDeclType`` (k8s.io/apiserver ``pkg/cel/common/schemas.go``): an object
with ``properties`` is a message, an ``additionalProperties`` schema a
``map<string, V>``, an array ``repeated``; string, integer, number, boolean are
string, int64, double, bool; ``format`` byte, date/date-time and duration are
bytes, ``google.protobuf.Timestamp`` and ``.Duration``; int-or-string is
``google.protobuf.Value`` (``dyn``); a Quantity is a string (as the API server
sends it). At the root, ``apiVersion`` and ``kind`` are strings and
``metadata`` is ``ObjectMeta``, as the API server publishes a CRD's schema.

Where kubegate differs, on purpose (a warning must not flag what works):

* What the schema leaves open is ``dyn``: no type, preserve-unknown-fields or
  an embedded resource without properties, an object with neither properties
  nor an ``additionalProperties`` schema (Kubernetes hides such fields).
* protobuf nests no lists or maps in lists or maps: such elements are
  ``google.protobuf.ListValue`` / ``Struct`` (``list(dyn)`` / ``map(string, dyn)``);
  an object whose properties' protobuf JSON names clash (``a_b``, ``aB``) is ``dyn``.
* Recursion (``JSONSchemaProps``) ends by construction, one message per
  definition; inline objects nested deeper than :data:`MAX_DEPTH` are ``dyn``.

Property names are escaped as Kubernetes does (``pkg/cel/escaping.go``,
:func:`escape`; ``x-kubernetes-map-type`` → ``x__dash__kubernetes__dash__map__dash__type``),
which gives protobuf's (and CEL's) identifiers ``[A-Za-z_][A-Za-z0-9_]*``; a
property it cannot escape (``$ref``, ``1up``) is left out. A reserved word is
both fields ``__namespace__`` and ``namespace``: Kubernetes' ``DeclTypeProvider``
has that fallback as an option (``recognizeKeywordAsFieldName``); kubegate
always applies it, as ``object.metadata.namespace`` is what evaluates.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from typing import Any

from google.protobuf import descriptor_pb2

from kubegate.dsl.schema import KindInfo, SchemaSet

__all__ = ["MAX_DEPTH", "PACKAGE", "RESERVED", "builtin", "escape", "field_names", "file_descriptor"]

PACKAGE = "kgschema"
"""The protobuf package of every generated message."""

MAX_DEPTH = 32
"""Inline objects nested deeper than this (counted from the enclosing definition) are ``dyn``."""

_F = descriptor_pb2.FieldDescriptorProto
_VALUE = ".google.protobuf.Value"
_LIST = ".google.protobuf.ListValue"
_STRUCT = ".google.protobuf.Struct"
_TIMESTAMP = ".google.protobuf.Timestamp"
_DURATION = ".google.protobuf.Duration"
_META = "io.k8s.apimachinery.pkg.apis.meta.v1."
_OBJECT_META = _META + "ObjectMeta"
_NODES: dict[str, Mapping[str, Any]] = {  # definitions whose node kubegate's schemas do not keep as an object
    _META + "Time": {"type": "string", "format": "date-time"},
    _META + "MicroTime": {"type": "string", "format": "date-time"},
    "io.k8s.apimachinery.pkg.api.resource.Quantity": {"type": "string"},
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {"x-kubernetes-int-or-string": True},
}
_SCALARS = {"integer": _F.TYPE_INT64, "number": _F.TYPE_DOUBLE, "boolean": _F.TYPE_BOOL}
_STRING_FORMATS = {
    "byte": (_F.TYPE_BYTES, ""),
    "date": (_F.TYPE_MESSAGE, _TIMESTAMP),
    "date-time": (_F.TYPE_MESSAGE, _TIMESTAMP),
    "duration": (_F.TYPE_MESSAGE, _DURATION),
}

# ---- escaping (k8s.io/apiserver pkg/cel/escaping.go)

_WORDS = (
    "true false null in as break const continue else for function if import let loop package namespace return"
    " var void while"
)
RESERVED = frozenset(_WORDS.split())
"""CEL's reserved words, which Kubernetes escapes as ``__{word}__``."""

_ESCAPES = {"__": "__underscores__", ".": "__dot__", "-": "__dash__", "/": "__slash__"}
_ESCAPABLE = re.compile(r"[a-zA-Z_.\-/][a-zA-Z0-9_.\-/]*")
_TO_ESCAPE = re.compile(r"__|[.\-/]")


def escape(name: str) -> str | None:
    """The CEL identifier of property ``name``, or ``None`` if it is not accessible.

    Kubernetes' ``Escape``: only ``[a-zA-Z_.-/][a-zA-Z0-9_.-/]*`` is accessible;
    ``__`` → ``__underscores__``, ``.`` → ``__dot__``, ``-`` → ``__dash__``,
    ``/`` → ``__slash__``, and a reserved word ``w`` → ``__w__``.
    """
    if name in RESERVED:
        return f"__{name}__"
    if not _ESCAPABLE.fullmatch(name):
        return None
    return _TO_ESCAPE.sub(lambda m: _ESCAPES[m.group(0)], name)


def field_names(name: str) -> tuple[str, ...]:
    """The field names property ``name`` is declared under (none, one, or the
    escaped and plain names of a reserved word)."""
    escaped = escape(name)
    if escaped is None:
        return ()
    return (escaped, name) if name in RESERVED else (escaped,)


# ---- messages


@dataclasses.dataclass(frozen=True)
class _Shape:
    """A field's protobuf type: ``kind`` (a ``TYPE_*``), the message for
    ``TYPE_MESSAGE``, ``repeated`` for a list, ``value`` for a map's values."""

    kind: int
    message: str = ""
    repeated: bool = False
    value: _Shape | None = None


_DYN = _Shape(_F.TYPE_MESSAGE, _VALUE)


def _camel(name: str, upper: bool = True) -> str:
    """protobuf's ``ToCamelCase(name, lower_first=false)``, which names map entries,
    or with ``upper=False`` its ``ToJsonName``, a field's default JSON name."""
    out = []
    for ch in name:
        if ch == "_":
            upper = True
        else:
            out.append(ch.upper() if upper else ch)
            upper = False
    return "".join(out)


class _Builder:
    """Builds the messages of one kind into ``file``."""

    def __init__(self, schemas: SchemaSet, file: descriptor_pb2.FileDescriptorProto) -> None:
        self._schemas = schemas
        self._file = file
        self._definitions: dict[str, str] = {}
        self._taken: set[str] = set()

    def root(self, info: KindInfo) -> str:
        """The message of ``info``'s schema (a built-in definition or a CRD's inline schema)."""
        node = info.type.node or {}
        if builtin(self._schemas, info):
            return self._definition(info.type.name)
        props = dict(node.get("properties") or {})
        props["apiVersion"] = props["kind"] = {"type": "string"}
        props["metadata"] = {"$ref": "#/$defs/" + _OBJECT_META}
        return self._message({**node, "properties": props}, info.kind, 0)

    def _name(self, hint: str) -> str:
        base = re.sub(r"\W", "_", hint, flags=re.ASCII)
        base = base if base[:1].isalpha() else "T" + base
        name, n = base, 1
        while name in self._taken:
            n += 1
            name = f"{base}_{n}"
        self._taken.add(name)
        return name

    def _definition(self, name: str) -> str:
        if name not in self._definitions:
            node = self._schemas.definition(name).node or {}
            self._definitions[name] = f".{PACKAGE}.{self._name(name.rsplit('.', 1)[-1])}"
            self._fill(self._definitions[name], node, 0)
        return self._definitions[name]

    def _message(self, node: Mapping[str, Any], hint: str, depth: int) -> str:
        full = f".{PACKAGE}.{self._name(hint)}"
        self._fill(full, node, depth)
        return full

    def _fill(self, full: str, node: Mapping[str, Any], depth: int) -> None:
        message = descriptor_pb2.DescriptorProto(name=full.rsplit(".", 1)[-1])
        fields: list[tuple[str, _Shape]] = []
        for prop, sub in sorted((node.get("properties") or {}).items()):
            names = field_names(str(prop))
            shape = self._shape(sub, f"{message.name}_{names[0]}", depth + 1) if names else _DYN
            fields.extend((name, shape) for name in names)
        scope = {name for name, _ in fields}
        for number, (name, shape) in enumerate(fields, start=1):
            if shape.value is not None:
                shape = _map_entry(message, full, name, shape.value, scope)
            label = _F.LABEL_REPEATED if shape.repeated else _F.LABEL_OPTIONAL
            message.field.add(name=name, number=number, label=label, type=shape.kind, **_type_name(shape))
        self._file.message_type.append(message)

    def _shape(self, node: Any, hint: str, depth: int) -> _Shape:
        if not isinstance(node, Mapping) or depth > MAX_DEPTH:
            return _DYN
        ref = node.get("$ref")
        if isinstance(ref, str):
            return self._reference(ref.rsplit("/", 1)[-1], hint, depth)
        if node.get("x-kubernetes-int-or-string"):
            return _DYN
        types = node.get("type")
        found = [t for t in (types if isinstance(types, list) else [types]) if isinstance(t, str) and t != "null"]
        kind = found[0] if found else ("object" if node.get("properties") else "")
        if kind == "object":
            return self._object(node, hint, depth)
        if kind == "array":
            if not isinstance(node.get("items"), Mapping):
                return _Shape(_F.TYPE_MESSAGE, _LIST)
            return dataclasses.replace(_element(self._shape(node["items"], hint, depth)), repeated=True)
        if kind == "string":
            kind_, message = _STRING_FORMATS.get(str(node.get("format") or ""), (_F.TYPE_STRING, ""))
            return _Shape(kind_, message)
        return _Shape(_SCALARS[kind]) if kind in _SCALARS else _DYN

    def _reference(self, name: str, hint: str, depth: int) -> _Shape:
        if name in _NODES:
            return self._shape(_NODES[name], hint, depth)
        if self._schemas.definition(name).node is not None:
            return _Shape(_F.TYPE_MESSAGE, self._definition(name))
        return self._shape({"type": self._schemas.definition(name).kind}, hint, depth)  # string, map, any...

    def _object(self, node: Mapping[str, Any], hint: str, depth: int) -> _Shape:
        extra = node.get("additionalProperties")
        if isinstance(extra, Mapping):
            return _Shape(_F.TYPE_MESSAGE, repeated=True, value=_element(self._shape(extra, hint, depth)))
        props = node.get("properties")
        if not isinstance(props, Mapping) or not props or _clash([str(p) for p in props]):
            return _DYN
        if node.get("x-kubernetes-embedded-resource"):
            node = {**node, "properties": _with_type_and_object_meta(props)}
        return _Shape(_F.TYPE_MESSAGE, self._message(node, hint, depth))


def _clash(props: Sequence[str]) -> bool:
    """Whether two fields of these properties have the same default JSON name."""
    names = [_camel(name, upper=False) for prop in props for name in field_names(prop)]
    return len(set(names)) != len(names)


def _map_entry(message: Any, full: str, name: str, value: _Shape, scope: set[str]) -> _Shape:
    """Adds to ``message`` the entry type of map field ``name`` (protobuf names it
    ``<CamelName>Entry``); a dyn map when that name is taken."""
    entry_name = _camel(name) + "Entry"
    if entry_name in scope:
        return _Shape(_F.TYPE_MESSAGE, _STRUCT)
    scope.add(entry_name)
    entry = message.nested_type.add(name=entry_name)
    entry.options.map_entry = True
    entry.field.add(name="key", number=1, label=_F.LABEL_OPTIONAL, type=_F.TYPE_STRING)
    entry.field.add(name="value", number=2, label=_F.LABEL_OPTIONAL, type=value.kind, **_type_name(value))
    return _Shape(_F.TYPE_MESSAGE, f"{full}.{entry_name}", repeated=True)


def _type_name(shape: _Shape) -> dict[str, str]:
    return {"type_name": shape.message} if shape.message else {}  # set, even to "", it asks for a message


def _element(shape: _Shape) -> _Shape:
    """``shape`` as a list element or map value: lists and maps cannot nest in protobuf."""
    if shape.value is not None:
        return _Shape(_F.TYPE_MESSAGE, _STRUCT)
    if shape.repeated:
        return _Shape(_F.TYPE_MESSAGE, _LIST)
    return shape


def _with_type_and_object_meta(props: Mapping[str, Any]) -> Mapping[str, Any]:
    """Kubernetes' ``WithTypeAndObjectMeta`` for an embedded resource: ``kind``,
    ``apiVersion``, and ``metadata`` with at least ``name`` and ``generateName``."""
    meta = props.get("metadata")
    meta_props = meta.get("properties") if isinstance(meta, Mapping) else None
    string = {"type": "string"}
    out = {**props, "kind": string, "apiVersion": string}
    if not (isinstance(meta_props, Mapping) and "name" in meta_props and "generateName" in meta_props):
        out["metadata"] = {"type": "object", "properties": {"name": string, "generateName": string}}
    return out


def builtin(schemas: SchemaSet, info: KindInfo) -> bool:
    """Whether ``info`` is a built-in kind of ``schemas`` (a named definition), not a CRD's."""
    node = info.type.node
    return bool(info.type.name) and node is not None and schemas.definition(info.type.name).node is node


def file_descriptor(schemas: SchemaSet, info: KindInfo, dependencies: Sequence[str]) -> tuple[Any, str]:
    """The protobuf file of ``info``'s schema and its root message.

    Args:
        schemas: where ``$ref`` definitions (built-in kinds, ``ObjectMeta``) are found.
        info: the kind (``schemas.kind(name)``).
        dependencies: the names of the files the generated one imports (the
            well-known types ``struct``, ``timestamp``, ``duration``, and any
            the pool holds beside them).

    Returns:
        ``(FileDescriptorProto, "kgschema.<Kind>")``.
    """
    file = descriptor_pb2.FileDescriptorProto(
        name=f"kubegate/kgschema/{info.kind}.proto", package=PACKAGE, syntax="proto2", dependency=list(dependencies)
    )
    return file, _Builder(schemas, file).root(info).lstrip(".")
