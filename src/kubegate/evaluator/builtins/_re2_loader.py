"""Loads the RE2 binding (``google-re2``) so that it can live in one process with rego-cpp.

``regopy`` (rego-cpp, https://github.com/microsoft/rego-cpp) ships a library that defines its
own global ``operator new``/``delete``; see :func:`_share_allocator`. Import ``re2`` from here.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys

__all__ = ["re2"]


def _libstdcxx_loaded() -> bool:
    """Whether libstdc++ is already mapped into this process (Linux; else ``False``)."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            return any("libstdc++" in line for line in maps)
    except OSError:  # pragma: no cover - not Linux
        return "cel_expr_python" in sys.modules


def _share_allocator() -> None:
    """Makes RE2 and rego-cpp (``regopy``) allocate with the same ``operator new``.

    ``regopy``'s library defines its own global ``operator new``/``delete`` (snmalloc), and
    ``libstdc++``, first loaded along with it, binds to them: the RE2 extension, loaded in
    another namespace, would free with glibc what ``libstdc++`` allocated with snmalloc and
    the process aborts (``free(): invalid pointer``). Loading ``regopy`` first and making its
    library global before RE2 is loaded gives both the same allocator.
    """
    if "re2._re2" in sys.modules:
        return  # pragma: no cover - RE2 was loaded first: libstdc++ uses glibc for both
    if "regopy" not in sys.modules and _libstdcxx_loaded():
        # Another C++ extension (cel-expr-python, say) loaded libstdc++ before
        # regopy: libstdc++ is bound to glibc's allocator, and loading RE2 now,
        # before regopy, keeps RE2 on it too (making regopy global first
        # would abort the process).
        return
    try:
        import regopy  # noqa: F401
    except ImportError:  # pragma: no cover - regopy is a dependency
        return
    library = getattr(sys.modules.get("regopy.rego_shared"), "rego", None)
    path = getattr(library, "_name", None)
    if isinstance(path, str):
        with contextlib.suppress(OSError):
            ctypes.CDLL(path, mode=os.RTLD_NOLOAD | os.RTLD_GLOBAL)


_share_allocator()

import re2  # type: ignore[import-untyped]  # noqa: E402
