"""Regenerates the checked-in protobuf and gRPC code from ``proto/kubegate/v1`` and ``proto/envoy_authz/v3``.

Run from anywhere, with grpcio-tools installed (a build-time tool only)::

    python -m kubegate.grpc.regenerate

It runs grpcio-tools' bundled ``protoc`` with ``proto/`` as the include root
(so the files register as ``kubegate/v1/review.proto`` and
``envoy_authz/v3/external_auth.proto``, the names reflection and other
languages see) and writes ``*_pb2.py``, ``*_pb2.pyi`` and ``*_pb2_grpc.py``
beside the ``.proto`` files. ``google/rpc/status.proto`` (imported by the
Envoy protos) is googleapis-common-protos' own file, found beside its
installed ``google.rpc`` package, so the generated code imports
``google.rpc.status_pb2`` rather than defining ``google.rpc.Status`` again.
protoc writes imports of sibling files as ``from kubegate.v1 import ...``
(``from envoy_authz.v3 import ...``); they are rewritten to the package's real
path, ``kubegate.grpc.proto.kubegate.v1`` (``kubegate.grpc.proto.envoy_authz.v3``),
and each file gets ``# ruff: noqa`` and ``# mypy: ignore-errors`` headers:
generated code is not linted.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

__all__ = ["PACKAGE_DIRS", "main"]

ROOT = Path(__file__).parent / "proto"
#: The directories holding ``.proto`` files, relative to :data:`ROOT`, as dotted import prefixes.
PACKAGE_DIRS: tuple[str, ...] = ("kubegate.v1", "envoy_authz.v3")
_IMPORT = re.compile(r"^from (" + "|".join(re.escape(p) for p in PACKAGE_DIRS) + r") import ", re.MULTILINE)
_HEADER = "# ruff: noqa\n# mypy: ignore-errors\n"


def _googleapis_root() -> Path:
    """The directory holding googleapis-common-protos' ``google/rpc/status.proto``."""
    from google.rpc import status_pb2

    return Path(status_pb2.__file__).parents[2]


def main() -> int:
    """Generates the code; returns protoc's exit status."""
    from grpc_tools import protoc  # build time only: not a runtime dependency

    include = Path(protoc.__file__).parent / "_proto"
    dirs = [ROOT.joinpath(*p.split(".")) for p in PACKAGE_DIRS]
    protos = sorted(str(p.relative_to(ROOT)) for d in dirs for p in d.glob("*.proto"))
    status = protoc.main(
        [
            "grpc_tools.protoc",
            f"-I{ROOT}",
            f"-I{include}",
            f"-I{_googleapis_root()}",
            f"--python_out={ROOT}",
            f"--pyi_out={ROOT}",
            f"--grpc_python_out={ROOT}",
            *protos,
        ]
    )
    if status != 0:
        return int(status)
    for path in (p for d in dirs for p in d.glob("*_pb2*.py*")):
        text = path.read_text()
        fixed = _IMPORT.sub(lambda m: f"from kubegate.grpc.proto.{m.group(1)} import ", text)
        if not fixed.startswith(_HEADER):
            fixed = _HEADER + fixed
        if fixed != text:
            path.write_text(fixed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
