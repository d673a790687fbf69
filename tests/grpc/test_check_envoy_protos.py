"""kubegate's own Envoy ext_authz protos: the compatibility check finds real differences, matches xds-protos
when that is installed, and nothing in kubegate imports xds-protos' modules."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys

import pytest
from google.protobuf import descriptor_pb2

from kubegate.errors import UsageError
from kubegate.grpc.check_envoy_protos import (
    OUR_FILES,
    compare,
    descriptor_set,
    pool_of,
    reference_pool,
    round_trip,
)

_HTTP_REQUEST = "envoy.service.auth.v3.AttributeContext.HttpRequest"


def _our_copy() -> descriptor_pb2.FileDescriptorSet:
    return descriptor_set(OUR_FILES)


def _message(files: descriptor_pb2.FileDescriptorSet, path: str) -> descriptor_pb2.DescriptorProto:
    """The message at ``path`` (``Outer.Inner``) of our ``attribute_context.proto`` in ``files``."""
    file = next(f for f in files.file if f.name.endswith("envoy_authz/v3/attribute_context.proto"))
    scope, found = file.message_type, None
    for part in path.split("."):
        found = next(m for m in scope if m.name == part)
        scope = found.nested_type
    assert found is not None
    return found


def test_an_identical_copy_has_no_differences() -> None:
    reference = pool_of(_our_copy())
    assert compare(reference) == []
    assert round_trip(reference) == []


def test_a_renumbered_field_is_found_by_both_checks() -> None:
    files = _our_copy()
    path = next(f for f in _message(files, "AttributeContext.HttpRequest").field if f.name == "path")
    path.number = 14
    reference = pool_of(files)
    problems = compare(reference)
    assert len(problems) == 1 and problems[0].startswith(f"{_HTTP_REQUEST}.path:")
    assert [p.split(":")[0] for p in round_trip(reference)] == ["CheckRequest"]


def test_a_field_only_in_the_reference_is_reported() -> None:
    files = _our_copy()
    message = _message(files, "AttributeContext.HttpRequest")
    message.field.add(
        name="trailer", number=99, type=descriptor_pb2.FieldDescriptorProto.TYPE_STRING, json_name="trailer"
    )
    assert compare(pool_of(files)) == [f"{_HTTP_REQUEST}.trailer: only in the reference (dropped as an unknown field)"]


def test_a_missing_reference_is_a_usage_error() -> None:
    python = shutil.which("python3", path="/usr/bin")
    if python is None:
        pytest.skip("no system python3 without xds-protos")
    probe = subprocess.run([python, "-c", "import envoy"], capture_output=True, check=False)
    if probe.returncode == 0:
        pytest.skip("the system python3 has xds-protos")
    with pytest.raises(UsageError) as info:
        reference_pool(python)
    assert info.value.code == "envoy_reference_missing"


@pytest.mark.skipif(importlib.util.find_spec("envoy") is None, reason="xds-protos is not installed")
def test_ours_match_xds_protos() -> None:
    reference = reference_pool()
    assert compare(reference) == []
    assert round_trip(reference) == []


def test_kubegate_imports_no_xds_protos_module() -> None:
    code = (
        "import sys, kubegate.grpc, kubegate.grpc.server, kubegate.grpc.envoy, kubegate.cli.grpc_cmd\n"
        "from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope\n"
        "roots = {'envoy', 'xds', 'udpa', 'validate', 'opencensus'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in roots))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
