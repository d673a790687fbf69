"""Checks that kubegate's Envoy protos (``proto/envoy_authz/v3``) are wire-compatible with a reference copy.

kubegate ships its own ``.proto`` text of the Envoy ext_authz messages it uses
instead of depending on ``xds-protos`` (whose wheel overwrites
opentelemetry-proto's files). This module compares them with xds-protos'
generated descriptors, when that package is installed somewhere::

    python -m kubegate.grpc.check_envoy_protos   # exit 0: compatible

Two definitions of one full name cannot live in protobuf's default pool, so
the reference is loaded in a child process (``python -c`` importing
``envoy.service.auth.v3.external_auth_pb2``), dumped as a serialized
``FileDescriptorSet`` and rebuilt here in a private
:class:`~google.protobuf.descriptor_pool.DescriptorPool`. Compared for every
message, nested message and enum defined in our files: each field's name,
number, type, label (repeated or not), message/enum type full name, oneof
and JSON name; each enum value's name and number; each service method's
input and output types. Then a fully populated ``CheckRequest`` is
serialized with the reference and parsed with ours, and a ``CheckResponse``
the other way (protobuf's binary wire format, https://protobuf.dev/programming-guides/encoding/).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FileDescriptor

from kubegate.errors import UsageError
from kubegate.grpc.proto.envoy_authz.v3 import (
    address_pb2,
    attribute_context_pb2,
    base_pb2,
    external_auth_pb2,
    http_status_pb2,
)

__all__ = ["OUR_FILES", "compare", "descriptor_set", "main", "pool_of", "reference_pool", "round_trip"]

#: Our generated Envoy modules' file descriptors.
OUR_FILES: tuple[FileDescriptor, ...] = tuple(
    m.DESCRIPTOR for m in (address_pb2, base_pb2, http_status_pb2, attribute_context_pb2, external_auth_pb2)
)

_DUMP = """
import sys
from google.protobuf import descriptor_pb2
from envoy.service.auth.v3 import external_auth_pb2
out, seen = descriptor_pb2.FileDescriptorSet(), set()
def add(fd):
    if fd.name in seen:
        return
    seen.add(fd.name)
    for dep in fd.dependencies:
        add(dep)
    fd.CopyToProto(out.file.add())
add(external_auth_pb2.DESCRIPTOR)
sys.stdout.buffer.write(out.SerializeToString())
"""


def reference_pool(python: str = sys.executable, timeout_s: float = 120.0) -> descriptor_pool.DescriptorPool:
    """A private pool holding xds-protos' ``external_auth.proto`` and everything it imports.

    Args:
        python: the interpreter that has ``xds-protos`` installed.
        timeout_s: how long the child process may take, in seconds.

    Raises:
        UsageError: ``envoy_reference_missing`` when that interpreter cannot import it.
    """
    done = subprocess.run([python, "-c", _DUMP], capture_output=True, timeout=timeout_s, check=False)
    if done.returncode != 0:
        tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
        raise UsageError(f"cannot load xds-protos' descriptors: {tail[0]}", code="envoy_reference_missing")
    files = descriptor_pb2.FileDescriptorSet.FromString(done.stdout)
    return pool_of(files)


def descriptor_set(files: tuple[FileDescriptor, ...]) -> descriptor_pb2.FileDescriptorSet:
    """``files`` and everything they import, dependencies first, as one ``FileDescriptorSet``."""
    out = descriptor_pb2.FileDescriptorSet()
    seen: set[str] = set()

    def add(file: FileDescriptor) -> None:
        if file.name in seen:
            return
        seen.add(file.name)
        for dependency in file.dependencies:
            add(dependency)
        file.CopyToProto(out.file.add())

    for file in files:
        add(file)
    return out


def pool_of(files: descriptor_pb2.FileDescriptorSet) -> descriptor_pool.DescriptorPool:
    """A new private pool holding ``files`` (dependencies first, as a ``FileDescriptorSet`` lists them)."""
    pool = descriptor_pool.DescriptorPool()
    for file in files.file:
        pool.Add(file)
    return pool


def _messages(items: Any) -> Iterator[Descriptor]:
    for message in items:
        yield message
        yield from _messages(message.nested_types)


def _enums(file: FileDescriptor) -> Iterator[EnumDescriptor]:
    yield from file.enum_types_by_name.values()
    for message in _messages(file.message_types_by_name.values()):
        yield from message.enum_types


def _type_name(field: Any) -> str:
    if field.message_type is not None:
        return str(field.message_type.full_name)
    if field.enum_type is not None:
        return str(field.enum_type.full_name)
    return ""


def _compare_message(ours: Descriptor, theirs: Descriptor) -> Iterator[str]:
    if ours.GetOptions().map_entry != theirs.GetOptions().map_entry:
        yield f"{ours.full_name}: map entry differs"
    reference = {f.name: f for f in theirs.fields}
    for field in ours.fields:
        where = f"{ours.full_name}.{field.name}"
        other = reference.get(field.name)
        if other is None:
            yield f"{where}: not in the reference"
            continue
        ours_shape = (
            field.number,
            field.type,
            field.is_repeated,
            _type_name(field),
            field.containing_oneof.name if field.containing_oneof else None,
            field.json_name,
        )
        theirs_shape = (
            other.number,
            other.type,
            other.is_repeated,
            _type_name(other),
            other.containing_oneof.name if other.containing_oneof else None,
            other.json_name,
        )
        if ours_shape != theirs_shape:
            yield f"{where}: (number, type, repeated, type name, oneof, json) {ours_shape} != {theirs_shape}"
    for name in sorted(set(reference) - {f.name for f in ours.fields}):
        yield f"{ours.full_name}.{name}: only in the reference (dropped as an unknown field)"


def compare(reference: descriptor_pool.DescriptorPool, files: tuple[FileDescriptor, ...] = OUR_FILES) -> list[str]:
    """The differences between ``files``' definitions and the same full names in ``reference``; empty when compatible.

    Args:
        reference: a pool holding the reference definitions (see :func:`reference_pool`).
        files: our file descriptors.

    Returns:
        One line per difference (``full.name.field: what differs``).
    """
    out: list[str] = []
    for file in files:
        for message in _messages(file.message_types_by_name.values()):
            try:
                theirs = reference.FindMessageTypeByName(message.full_name)
            except KeyError:
                out.append(f"{message.full_name}: message not in the reference")
                continue
            out.extend(_compare_message(message, theirs))
        for enum in _enums(file):
            try:
                values = {v.name: v.number for v in reference.FindEnumTypeByName(enum.full_name).values}
            except KeyError:
                out.append(f"{enum.full_name}: enum not in the reference")
                continue
            if {v.name: v.number for v in enum.values} != values:
                out.append(f"{enum.full_name}: enum values differ")
        for service in file.services_by_name.values():
            try:
                other = reference.FindServiceByName(service.full_name)
            except KeyError:
                out.append(f"{service.full_name}: service not in the reference")
                continue
            theirs_methods = {m.name: (m.input_type.full_name, m.output_type.full_name) for m in other.methods}
            ours_methods = {m.name: (m.input_type.full_name, m.output_type.full_name) for m in service.methods}
            if ours_methods != theirs_methods:
                out.append(f"{service.full_name}: methods {ours_methods} != {theirs_methods}")
    return out


#: A CheckRequest setting every field our protos define but the ``Any`` map (protobuf JSON mapping).
SAMPLE_REQUEST: dict[str, Any] = {
    "attributes": {
        "source": {
            "address": {"socketAddress": {"protocol": "UDP", "address": "10.0.0.7", "portValue": 40000}},
            "service": "web",
            "labels": {"app": "web"},
            "principal": "spiffe://cluster.local/ns/shop/sa/web",
            "certificate": "-----BEGIN CERTIFICATE-----",
        },
        "destination": {"address": {"pipe": {"path": "/run/envoy.sock", "mode": 384}}},
        "request": {
            "time": "2025-01-02T03:04:05.678Z",
            "http": {
                "id": "req-1",
                "method": "POST",
                "headers": {"content-type": "application/json", ":path": "/orders?x=1"},
                "headerMap": {"headers": [{"key": "x-bin", "rawValue": "AAE="}]},
                "path": "/orders?x=1",
                "host": "shop.local",
                "scheme": "https",
                "query": "x=1",
                "fragment": "top",
                "size": "12",
                "protocol": "HTTP/2",
                "body": '{"n": 1}',
                "rawBody": "eyJuIjogMX0=",
            },
        },
        "contextExtensions": {"tenant": "a"},
        "metadataContext": {"filterMetadata": {"envoy.filters.http.jwt_authn": {"sub": "alice", "n": 2}}},
        "routeMetadataContext": {"filterMetadata": {"route": {"name": "orders"}}},
        "tlsSession": {"sni": "shop.local"},
    }
}

#: A CheckResponse setting every field of the denied and OK responses (the oneof takes one of them at a time).
SAMPLE_RESPONSES: tuple[dict[str, Any], ...] = (
    {
        "status": {"code": 7, "message": "denied"},
        "deniedResponse": {
            "status": {"code": "TooManyRequests"},
            "headers": [{"header": {"key": "retry-after", "value": "3"}, "append": True, "keepEmptyValue": True}],
            "body": '{"retry": 3}',
        },
        "dynamicMetadata": {"reason": "rate"},
    },
    {
        "status": {"code": 0},
        "okResponse": {
            "headers": [{"header": {"key": "x-user", "value": "alice"}, "appendAction": "OVERWRITE_IF_EXISTS_OR_ADD"}],
            "headersToRemove": ["cookie"],
            "dynamicMetadata": {"legacy": True},
            "responseHeadersToAdd": [{"header": {"key": "x-decision", "rawValue": "b2s="}}],
            "queryParametersToSet": [{"key": "tenant", "value": "a"}],
            "queryParametersToRemove": ["debug"],
        },
    },
    {"status": {"code": 13}, "errorResponse": {"status": {"code": "InternalServerError"}, "body": "error"}},
)


def _parse(doc: dict[str, Any], cls: Any) -> Any:
    return json_format.ParseDict(doc, cls())


def round_trip(reference: descriptor_pool.DescriptorPool) -> list[str]:
    """Serialises :data:`SAMPLE_REQUEST` with the reference and parses it with ours, and the responses the reverse.

    Returns:
        One line per message whose JSON form changed on the way (a field dropped or misread); empty when none did.
    """
    out: list[str] = []
    name = "envoy.service.auth.v3."
    their_request = message_factory.GetMessageClass(reference.FindMessageTypeByName(name + "CheckRequest"))
    their_response = message_factory.GetMessageClass(reference.FindMessageTypeByName(name + "CheckResponse"))
    sent = _parse(SAMPLE_REQUEST, their_request)
    got = external_auth_pb2.CheckRequest.FromString(sent.SerializeToString())
    if json_format.MessageToDict(got) != json_format.MessageToDict(sent):
        out.append("CheckRequest: reference -> ours changed the message")
    for index, doc in enumerate(SAMPLE_RESPONSES):
        answer = _parse(doc, external_auth_pb2.CheckResponse)
        read = their_response.FromString(answer.SerializeToString())
        if json_format.MessageToDict(read) != json_format.MessageToDict(answer):
            out.append(f"CheckResponse #{index}: ours -> reference changed the message")
    return out


def main(argv: list[str] | None = None) -> int:
    """Prints the differences against the interpreter's xds-protos (``argv[0]``: another interpreter); 0 when none."""
    args = sys.argv[1:] if argv is None else argv
    try:
        reference = reference_pool(args[0]) if args else reference_pool()
    except UsageError as exc:
        print(f"{exc.code}: {exc.message}", file=sys.stderr)
        return 2
    problems = compare(reference) + round_trip(reference)
    for line in problems:
        print(line)
    messages = sum(1 for f in OUR_FILES for _ in _messages(f.message_types_by_name.values()))
    print(f"{messages} messages compared, {len(problems)} difference(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
