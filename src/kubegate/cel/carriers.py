"""Carriers: how Kubernetes' opaque CEL value types travel through the runtime.

Kubernetes' CEL libraries return values of opaque types (``kubernetes.Quantity``,
``net.IP``, ``net.CIDR``, ``kubernetes.URL``, ``kubernetes.Semver``,
``kubernetes.NamedFormat``, the ``kubernetes.authorization.*`` types). The
runtime cannot take an opaque or abstract value from a Python function
(``UNIMPLEMENTED: Unimplemented type: 13``; docs/cel-notes.md §3), but it can
take a protobuf message. Each opaque type is therefore a message with one
field, ``canonical``: a string from which the library rebuilds the value.
The checker sees a distinct named type (``type(quantity('1')) ==
kubernetes.Quantity``), so overloads resolve exactly as in Kubernetes, and the
runtime's ``==`` compares messages field by field, so a library whose
equality is semantic (``quantity('1Gi') == quantity('1024Mi')``) stores a
canonical form.

The messages are generated at import into one descriptor pool, which every
environment is built with (:mod:`kubegate.cel.env`).
"""

from __future__ import annotations

from typing import Any

from cel_expr_python import cel
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

__all__ = ["CARRIER_TYPES", "POOL", "canonical", "carrier", "carrier_type", "is_carrier"]

CARRIER_TYPES: tuple[str, ...] = (
    "kubernetes.Quantity",
    "kubernetes.Semver",
    "kubernetes.NamedFormat",
    "net.IP",
    "net.CIDR",
    "kubernetes.URL",
    "kubernetes.authorization.Authorizer",
    "kubernetes.authorization.PathCheck",
    "kubernetes.authorization.GroupCheck",
    "kubernetes.authorization.ResourceCheck",
    "kubernetes.authorization.Decision",
)
"""Every carrier type, by its Kubernetes CEL type name."""

POOL = descriptor_pool.DescriptorPool()
"""The descriptor pool holding the carrier messages (``descriptor_pool=`` of each env)."""


def _build() -> dict[str, Any]:
    field = descriptor_pb2.FieldDescriptorProto
    packages: dict[str, list[str]] = {}
    for full in CARRIER_TYPES:
        package, _, name = full.rpartition(".")
        packages.setdefault(package, []).append(name)
    classes: dict[str, Any] = {}
    for package, names in packages.items():
        file = descriptor_pb2.FileDescriptorProto(
            name=f"kubegate/cel/carriers/{package.replace('.', '/')}.proto", package=package, syntax="proto3"
        )
        for name in names:
            message = file.message_type.add(name=name)
            message.field.add(name="canonical", number=1, type=field.TYPE_STRING, label=field.LABEL_OPTIONAL)
        POOL.Add(file)
        for name in names:
            full = f"{package}.{name}"
            classes[full] = message_factory.GetMessageClass(POOL.FindMessageTypeByName(full))
    return classes


_CLASSES = _build()
_TYPES = {name: cel.Type(name) for name in CARRIER_TYPES}


def carrier_type(name: str) -> Any:
    """The CEL type of carrier ``name`` (one of :data:`CARRIER_TYPES`), for declarations.

    Raises:
        KeyError: ``name`` is not a carrier type.
    """
    return _TYPES[name]


def carrier(name: str, value: str) -> Any:
    """A carrier message of type ``name`` holding the canonical text ``value``."""
    return _CLASSES[name](canonical=value)


def canonical(message: Any) -> str:
    """The canonical text a carrier holds (what a library's function receives)."""
    return str(message.canonical)


def is_carrier(value: Any, name: str) -> bool:
    """Whether ``value`` (a Python value from the runtime) is a carrier of type ``name``."""
    return isinstance(value, _CLASSES[name])
