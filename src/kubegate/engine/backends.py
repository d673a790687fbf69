"""Choosing a Rego backend by name: ``compiled`` (default) or ``regopy``."""

from __future__ import annotations

from kubegate.engine.backend import Backend
from kubegate.errors import UsageError

__all__ = ["BACKENDS", "DEFAULT_BACKEND", "make_backend"]

DEFAULT_BACKEND = "compiled"
BACKENDS = ("compiled", "regopy")


def make_backend(backend: str | Backend | None = None) -> Backend:
    """The backend named ``backend`` (``None``: the default), or ``backend`` itself.

    Raises:
        UsageError: ``unknown_backend``.
    """
    if backend is None:
        backend = DEFAULT_BACKEND
    if not isinstance(backend, str):
        return backend
    if backend == "compiled":
        from kubegate.engine.compiled_backend import CompiledBackend

        return CompiledBackend()
    if backend == "regopy":
        from kubegate.engine.regopy_backend import RegopyBackend

        return RegopyBackend()
    raise UsageError(f"unknown backend {backend!r} (choose from {', '.join(BACKENDS)})", code="unknown_backend")
