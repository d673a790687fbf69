"""CEL environments: the variables and extensions an expression is compiled against.

The extensions follow what Kubernetes enables for admission CEL
(k8s.io/apiserver ``pkg/cel/environment/base.go``): the strings extension at
version 2 (``join`` needs it; Kubernetes 1.29+), optionals (1.28+) and sets
(1.29+). ``bindings`` (``cel.bind``) is not a Kubernetes library and is not
enabled. Of Kubernetes' own libraries, lists and regex are
(:mod:`kubegate.cel.library`); quantity, url, ip/cidr, format, semver and the
authorizer are not yet (issue 13). Environments are cached per
variable set; building one costs about 0.4 ms (docs/cel-notes.md §5).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from cel_expr_python import cel

from kubegate.cel import carriers
from kubegate.cel.library import LIBRARIES
from kubegate.cel.overloads import Library, checking_extension, runtime_extension

__all__ = ["EXTENSIONS_YAML", "checking_extensions", "environment", "runtime_environment"]

EXTENSIONS_YAML = """extensions:
  - name: strings
    version: 2
  - name: optional
  - name: sets
"""
"""The EnvConfig extensions of kubegate's CEL environment."""


_INTERNAL_YAML = EXTENSIONS_YAML + "  - name: bindings\n"


def checking_extensions() -> list[Any]:
    """The Kubernetes libraries as user text is checked against them (one extension each)."""
    found = []
    for module in LIBRARIES:
        library = getattr(module, "LIBRARY", None)
        found.append(checking_extension(library) if isinstance(library, Library) else module.extension())
    return found


def _runtime_extensions() -> list[Any]:
    declared = [m.LIBRARY for m in LIBRARIES if isinstance(getattr(m, "LIBRARY", None), Library)]
    others = [m.extension() for m in LIBRARIES if not isinstance(getattr(m, "LIBRARY", None), Library)]
    return [runtime_extension(declared), *others]


@functools.lru_cache(maxsize=32)
def _environment(variables: tuple[str, ...], internal: bool, runtime: bool) -> cel.Env:
    dyn = cel.Type.DYN
    return cel.NewEnv(
        config=cel.NewEnvConfigFromYaml(_INTERNAL_YAML if internal or runtime else EXTENSIONS_YAML),
        variables={name: dyn for name in variables},
        extensions=_runtime_extensions() if runtime else checking_extensions(),
        descriptor_pool=carriers.POOL,
    )


def environment(variables: Sequence[str], internal: bool = False) -> cel.Env:
    """The environment user text is type-checked in, declaring ``variables``
    (each of dynamic type), cached.

    Args:
        variables: top-level names (``object``, ``oldObject``, ``request``,
            ``params``, ``namespaceObject``, ``variables``...).
        internal: also enable ``cel.bind``, for text kubegate generates (never
            for user text: Kubernetes does not offer it).
    """
    return _environment(tuple(sorted(set(variables))), internal, False)


def runtime_environment(variables: Sequence[str]) -> cel.Env:
    """The environment checked text is evaluated in (``cel.bind`` enabled; the
    library overloads that share a runtime signature merged into dispatchers:
    :mod:`kubegate.cel.overloads`). Compile in it with ``disable_check=True``:
    its declarations are not the ones text is checked against."""
    return _environment(tuple(sorted(set(variables))), True, True)
