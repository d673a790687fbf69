"""Kubernetes' CEL libraries (k8s.io/apiserver ``pkg/cel/library``), one module per
library, each a ``CelExtension`` (overloads of functions the runtime already has,
such as ``indexOf``, can only be added that way; docs/cel-notes.md §3).

:data:`LIBRARIES` lists the modules every environment enables; each has
``extension() -> cel.CelExtension``. Opaque values (quantities, IPs...) travel
as :mod:`kubegate.cel.carriers`.
"""

from __future__ import annotations

from types import ModuleType

from kubegate.cel.library import authz, cidr, format, ip, lists, quantity, regex, semver, urls  # noqa: A004 (the format library)

__all__ = ["LIBRARIES"]

LIBRARIES: tuple[ModuleType, ...] = (lists, regex, format, authz, urls, ip, cidr, quantity, semver)
"""The library modules of kubegate's CEL environment, in declaration order."""
