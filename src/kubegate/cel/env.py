"""CEL environments: the variables and extensions an expression is compiled against.

User text is checked in the environment of a **Kubernetes version**, as
k8s.io/apiserver ``pkg/cel/environment/base.go`` builds it: the strings
extension at version 0 before 1.29 and 2 from 1.29 (``join`` needs it),
optionals from 1.28, sets from 1.29, two-variable comprehensions from 1.32
(``transformMap`` and ``transformMapEntry`` compile but fail when evaluated:
cel-cpp's runtime lacks ``cel.@mapInsert``; docs/cel-notes.md §2), and each of Kubernetes' libraries
(:mod:`kubegate.cel.library`) from the version its module's ``SINCE`` gives.
``bindings`` (``cel.bind``) is not a Kubernetes library and is enabled only for
text kubegate generates. Checked text is evaluated in one runtime environment
holding everything (:func:`runtime_environment`). Environments are cached;
building one costs about 0.4 ms (docs/cel-notes.md §5).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from cel_expr_python import cel

from kubegate.cel import carriers
from kubegate.cel.library import LIBRARIES
from kubegate.cel.overloads import Library, checking_extension, runtime_extension

__all__ = [
    "EXTENSIONS_YAML",
    "LATEST",
    "KubernetesVersion",
    "checking_extensions",
    "environment",
    "extensions_yaml",
    "kubernetes_version",
    "libraries",
    "runtime_environment",
]

KubernetesVersion = tuple[int, int]
"""A Kubernetes minor version, ``(1, 34)``."""

LATEST: KubernetesVersion = (1, 34)
"""The version environments follow unless told otherwise (kubegate's default
Kubernetes version, :data:`kubegate.dsl.schema.DEFAULT_KUBERNETES_VERSION`)."""


def kubernetes_version(text: str) -> KubernetesVersion:
    """``"1.34"``, ``"v1.34"`` or ``"1.34.2"`` as ``(1, 34)``.

    Raises:
        ValueError: not a version.
    """
    parts = text.strip().lstrip("v").split(".")
    if len(parts) < 2 or not all(p.isdigit() for p in parts[:2]):
        raise ValueError(f"not a Kubernetes version: {text!r}")
    return int(parts[0]), int(parts[1])


def extensions_yaml(version: KubernetesVersion = LATEST, internal: bool = False) -> str:
    """The EnvConfig extensions Kubernetes enables at ``version`` (base.go), plus
    ``bindings`` when ``internal``."""
    lines = ["extensions:", "  - name: strings", f"    version: {2 if version >= (1, 29) else 0}"]
    if version >= (1, 28):
        lines.append("  - name: optional")
    if version >= (1, 29):
        lines.append("  - name: sets")
    if version >= (1, 32):
        lines.append("  - name: two-var-comprehensions")
    if internal:
        lines.append("  - name: bindings")
    return "\n".join(lines) + "\n"


EXTENSIONS_YAML = extensions_yaml()
"""The EnvConfig extensions of the latest version's environment."""


def libraries(version: KubernetesVersion = LATEST) -> tuple[ModuleType, ...]:
    """The library modules Kubernetes has at ``version`` (each module's ``SINCE``)."""
    return tuple(m for m in LIBRARIES if getattr(m, "SINCE", (1, 0)) <= version)


def checking_extensions(version: KubernetesVersion = LATEST) -> list[Any]:
    """The Kubernetes libraries of ``version`` as user text is checked against
    them (one extension each)."""
    found = []
    for module in libraries(version):
        library = getattr(module, "LIBRARY", None)
        found.append(checking_extension(library) if isinstance(library, Library) else module.extension())
    return found


def _runtime_extensions() -> list[Any]:
    declared = [m.LIBRARY for m in LIBRARIES if isinstance(getattr(m, "LIBRARY", None), Library)]
    others = [m.extension() for m in LIBRARIES if not isinstance(getattr(m, "LIBRARY", None), Library)]
    return [runtime_extension(declared), *others]


@functools.lru_cache(maxsize=64)
def _environment(variables: tuple[str, ...], internal: bool, runtime: bool, version: KubernetesVersion) -> cel.Env:
    dyn = cel.Type.DYN
    return cel.NewEnv(
        config=cel.NewEnvConfigFromYaml(extensions_yaml(LATEST if runtime else version, internal or runtime)),
        variables={name: dyn for name in variables},
        extensions=_runtime_extensions() if runtime else checking_extensions(version),
        descriptor_pool=carriers.POOL,
    )


def environment(variables: Sequence[str], internal: bool = False, version: KubernetesVersion = LATEST) -> cel.Env:
    """The environment user text is type-checked in, declaring ``variables``
    (each of dynamic type), cached.

    Args:
        variables: top-level names (``object``, ``oldObject``, ``request``,
            ``params``, ``namespaceObject``, ``variables``...).
        internal: also enable ``cel.bind``, for text kubegate generates (never
            for user text: Kubernetes does not offer it).
        version: the Kubernetes version whose extensions and libraries are declared.
    """
    return _environment(tuple(sorted(set(variables))), internal, False, version)


def runtime_environment(variables: Sequence[str]) -> cel.Env:
    """The environment checked text is evaluated in (every library, ``cel.bind``
    enabled; the library overloads that share a runtime signature merged into
    dispatchers: :mod:`kubegate.cel.overloads`). Compile in it with
    ``disable_check=True``: its declarations are not the ones text is checked against."""
    return _environment(tuple(sorted(set(variables))), True, True, LATEST)
