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

from cel_expr_python import cel

from kubegate.cel import carriers
from kubegate.cel.library import LIBRARIES

__all__ = ["EXTENSIONS_YAML", "environment"]

EXTENSIONS_YAML = """extensions:
  - name: strings
    version: 2
  - name: optional
  - name: sets
"""
"""The EnvConfig extensions of kubegate's CEL environment."""


_INTERNAL_YAML = EXTENSIONS_YAML + "  - name: bindings\n"


@functools.lru_cache(maxsize=32)
def _environment(variables: tuple[str, ...], internal: bool) -> cel.Env:
    dyn = cel.Type.DYN
    return cel.NewEnv(
        config=cel.NewEnvConfigFromYaml(_INTERNAL_YAML if internal else EXTENSIONS_YAML),
        variables={name: dyn for name in variables},
        extensions=[library.extension() for library in LIBRARIES],
        descriptor_pool=carriers.POOL,
    )


def environment(variables: Sequence[str], internal: bool = False) -> cel.Env:
    """The environment declaring ``variables`` (each of dynamic type), cached.

    Args:
        variables: top-level names (``object``, ``oldObject``, ``request``,
            ``params``, ``namespaceObject``, ``variables``...).
        internal: also enable ``cel.bind``, for text kubegate generates (never
            for user text: Kubernetes does not offer it).
    """
    return _environment(tuple(sorted(set(variables))), internal)
