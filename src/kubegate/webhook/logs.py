"""Structured JSON logs: one line per admission request, JSON for everything else too.

Formatting is python-json-logger's; each line has ``timestamp`` (ISO 8601,
UTC), ``level``, ``logger``, ``message`` and the event's own fields.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import Any, TextIO

from pythonjsonlogger.json import JsonFormatter

__all__ = ["REQUEST_LOGGER", "configure_logging", "log_request", "log_shadow"]

REQUEST_LOGGER = "kubegate.webhook.requests"
_request_log = logging.getLogger(REQUEST_LOGGER)


def configure_logging(level: str = "info", stream: TextIO | None = None) -> None:
    """Sends kubegate's and uvicorn's logs to ``stream`` (stdout) as JSON lines.

    Args:
        level: ``debug``, ``info``, ``warning`` or ``error``.
    """
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.addFilter(_drop_color)
    handler.setFormatter(
        JsonFormatter(
            "{levelname}{name}{message}",
            style="{",
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp=True,
        )
    )
    for name in ("kubegate", "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level.upper())
        logger.propagate = False
    logging.getLogger("uvicorn.access").disabled = True  # the request log replaces it


def _drop_color(record: logging.LogRecord) -> bool:
    """uvicorn attaches an ANSI-coloured copy of some messages; JSON lines do not need it."""
    record.__dict__.pop("color_message", None)
    return True


def log_request(**fields: Any) -> None:
    """Writes one request line (``message`` = ``admission``) with ``fields``."""
    _request_log.info("admission", extra=fields)


def log_shadow(review: Mapping[str, Any], comparison: Any) -> None:
    """One line per shadow disagreement: what the candidate would have decided instead."""

    def outcome(decision: Any) -> dict[str, Any]:
        if decision is None:
            return {"allowed": True, "violations": [], "version": None}
        return {
            "allowed": decision.allowed,
            "violations": [v.message for v in decision.violations],
            "version": decision.version,
        }

    _request_log.warning(
        "shadow disagreement",
        extra={
            "uid": review.get("uid"),
            "policy": comparison.policy,
            "kind": (review.get("kind") or {}).get("kind"),
            "namespace": review.get("namespace"),
            "objectName": review.get("name"),
            "stable": outcome(comparison.stable),
            "candidate": outcome(comparison.candidate),
        },
    )
