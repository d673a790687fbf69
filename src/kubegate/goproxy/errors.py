"""Errors of the Go module proxy, each with the HTTP status the gateway answers.

The GOPROXY protocol (https://go.dev/ref/mod#goproxy-protocol) gives 404 and
410 a meaning of their own: the go command falls back to the next entry of
``GOPROXY`` after either when the entries are separated by ``,`` and after any
error when separated by ``|``. A body is printed by the go command after
``server response:``, so messages are one readable paragraph.
"""

from __future__ import annotations

from typing import Any

from kubegate.errors import KubegateError, Location

__all__ = [
    "BundleError",
    "GoproxyError",
    "IntegrityError",
    "ModuleBlocked",
    "NotFound",
    "StorageError",
    "UpstreamError",
    "Withdrawn",
    "ZipError",
]


class GoproxyError(KubegateError):
    """Root of the proxy's errors; ``status`` is the HTTP status served for it."""

    code = "goproxy_error"
    status = 400

    def __init__(
        self,
        message: str,
        location: Location | None = None,
        *,
        code: str | None = None,
        details: dict[str, Any] | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message, location, code=code, details=details)
        if status is not None:
            self.status = status


class NotFound(GoproxyError):
    """No such module or version (404: ``GOPROXY=a,b`` falls back to ``b``)."""

    code = "module_not_found"
    status = 404


class Withdrawn(GoproxyError):
    """A yanked version (410 Gone, with the reason)."""

    code = "module_version_yanked"
    status = 410


class ModuleBlocked(GoproxyError):
    """The license policy rejected the module version (403, no fallback for ``,``)."""

    code = "module_blocked"
    status = 403


class UpstreamError(GoproxyError):
    """Every upstream failed or timed out (502)."""

    code = "upstream_unavailable"
    status = 502


class IntegrityError(GoproxyError):
    """A hash did not match (h1 of a zip or go.mod, a SHA256SUMS line)."""

    code = "integrity_mismatch"
    status = 502


class ZipError(GoproxyError):
    """A module zip that breaks Go's rules (https://go.dev/ref/mod#zip-files)."""

    code = "module_zip_invalid"
    status = 502


class StorageError(GoproxyError):
    """The storage backend failed (a local directory or S3)."""

    code = "storage_error"
    status = 503


class BundleError(GoproxyError):
    """An offline bundle that cannot be exported or imported."""

    code = "bundle_invalid"
