"""The generated protobuf and gRPC modules of ``proto/kubegate/v1`` and ``proto/envoy_authz/v3``, checked in.

Regenerate them after editing a ``.proto`` file (grpcio-tools, build time only)::

    python -m kubegate.grpc.regenerate

The generated code is excluded from ruff and mypy (pyproject.toml). The
Envoy ext_authz messages and service are kubegate's own wire-compatible
copies of Envoy's v3 API (``envoy.service.auth.v3``, ``envoy.config.core.v3``,
``envoy.type.v3``: same packages, names and field numbers, checked by
:mod:`.check_envoy_protos`), generated into ``kubegate.grpc.proto.envoy_authz.v3``
rather than taken from ``xds-protos``, whose wheel overwrites
opentelemetry-proto's files. ``google.rpc.Status``/``Code`` come from
googleapis-common-protos, the health and reflection services from
``grpcio-health-checking`` and ``grpcio-reflection``.
"""

from __future__ import annotations

from kubegate.grpc.proto.envoy_authz.v3 import base_pb2, external_auth_pb2, external_auth_pb2_grpc, http_status_pb2
from kubegate.grpc.proto.kubegate.v1 import review_pb2, review_pb2_grpc, watch_pb2, watch_pb2_grpc

__all__ = [
    "DECISIONS_SERVICE",
    "ENVOY_SERVICE",
    "POLICIES_SERVICE",
    "base_pb2",
    "external_auth_pb2",
    "external_auth_pb2_grpc",
    "http_status_pb2",
    "review_pb2",
    "review_pb2_grpc",
    "watch_pb2",
    "watch_pb2_grpc",
]

#: Full service names, as health checking and reflection list them.
DECISIONS_SERVICE: str = review_pb2.DESCRIPTOR.services_by_name["Decisions"].full_name
POLICIES_SERVICE: str = watch_pb2.DESCRIPTOR.services_by_name["Policies"].full_name
ENVOY_SERVICE: str = external_auth_pb2.DESCRIPTOR.services_by_name["Authorization"].full_name
