"""kubegate errors as gRPC status codes (https://grpc.github.io/grpc/core/md_doc_statuscodes.html).

=========================================  ======================
error                                      status
=========================================  ======================
``InputError`` (not JSON, bad shape...)    ``INVALID_ARGUMENT``
``unknown_policy``                         ``NOT_FOUND``
``not_ready`` (no policy set loaded yet)   ``UNAVAILABLE``
``queue_full`` (the pool is full)          ``RESOURCE_EXHAUSTED``
``evaluation_timeout``                     ``DEADLINE_EXCEEDED``
``usage_error`` (a bad request field)      ``INVALID_ARGUMENT``
any other ``KubegateError``                ``INTERNAL``
=========================================  ======================

Messages are ``<code>: <message>`` with kubegate's stable error code first,
so clients can match on it as on the webhook's errors.
"""

from __future__ import annotations

import grpc

from kubegate.errors import InputError, KubegateError, UsageError

__all__ = ["status_for"]

_BY_CODE = {
    "unknown_policy": grpc.StatusCode.NOT_FOUND,
    "not_ready": grpc.StatusCode.UNAVAILABLE,
    "queue_full": grpc.StatusCode.RESOURCE_EXHAUSTED,
    "evaluation_timeout": grpc.StatusCode.DEADLINE_EXCEEDED,
    "eval_cancel_error": grpc.StatusCode.DEADLINE_EXCEEDED,
}


def status_for(error: KubegateError) -> tuple[grpc.StatusCode, str]:
    """The status code and message for ``error`` (see the module docstring)."""
    code = _BY_CODE.get(error.code)
    if code is None:
        code = grpc.StatusCode.INVALID_ARGUMENT if isinstance(error, InputError | UsageError) else None
    if code is None:
        code = grpc.StatusCode.INTERNAL
    where = f" ({error.location})" if error.location is not None and error.location.line else ""
    return code, f"{error.code}: {error.message}{where}"
