"""Reading the local decision log back: filters for ``kubegate audit query``.

Records are read from the write-ahead log's retained segments (the log keeps
them, shipped or not, until it needs the room), oldest first; a record that
is not valid JSON is counted, never silently dropped.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from kubegate.audit.manifest import ManifestIndex, is_manifest
from kubegate.audit.record import violations_of
from kubegate.audit.wal import LogReader, Unreadable
from kubegate.errors import UsageError

__all__ = ["LogQuery", "RecordFilter", "parse_time", "record_time"]

_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)(s|m|h|d)$")


def parse_time(text: str, now: dt.datetime | None = None) -> dt.datetime:
    """An RFC 3339 time (``2026-11-21T10:00:00Z``) or a duration back from now (``90m``, ``2h``, ``7d``).

    Raises:
        UsageError: ``invalid_time``.
    """
    now = now or dt.datetime.now(dt.UTC)
    found = _RELATIVE.match(text.strip())
    if found:
        amount = float(found.group(1))
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[found.group(2)]
        return now - dt.timedelta(**{unit: amount})
    try:
        value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise UsageError(f"{text!r} is neither an RFC 3339 time nor a duration like 90m", code="invalid_time") from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def record_time(record: Mapping[str, Any]) -> dt.datetime:
    """When a record was written (its ``timestamp``); the epoch when it has none."""
    stamp = str(record.get("timestamp", ""))
    # Python parses microseconds; the stored nanoseconds end in 000.
    trimmed = re.sub(r"(\.\d{6})\d*Z$", r"\1+00:00", stamp)
    try:
        value = dt.datetime.fromisoformat(trimmed)
    except ValueError:
        return dt.datetime.fromtimestamp(0, dt.UTC)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class RecordFilter:
    """Which records a query wants (every field optional)."""

    since: dt.datetime | None = None
    until: dt.datetime | None = None
    decision: str | None = None  # "allow" or "deny"
    policy: str | None = None
    namespace: str | None = None
    uid: str | None = None

    def matches(self, record: Mapping[str, Any]) -> bool:
        when = record_time(record)
        if self.since is not None and when < self.since:
            return False
        if self.until is not None and when > self.until:
            return False
        allowed = bool((record.get("result") or {}).get("allowed"))
        if self.decision is not None and (self.decision == "allow") != allowed:
            return False
        kg = record.get("kubegate") or {}
        if self.namespace is not None and kg.get("namespace") != self.namespace:
            return False
        if self.uid is not None and kg.get("uid") != self.uid:
            return False
        if self.policy is not None:
            in_violations = any(v.get("policy") == self.policy for v in violations_of(record))
            evaluated = any(p.get("id") == self.policy for p in kg.get("policies") or [])
            if not (in_violations or evaluated):
                return False
        return True


def _is_record(doc: Any) -> bool:
    """Whether ``doc`` has a decision record's shape, as far as filters and reports read it."""
    if not isinstance(doc, dict):
        return False
    result, kg = doc.get("result") or {}, doc.get("kubegate") or {}  # a mask may have erased either
    if not isinstance(result, Mapping) or not isinstance(kg, Mapping):
        return False
    lists = (result.get("violations") or [], kg.get("policies") or [])
    return all(isinstance(items, list) and all(isinstance(i, Mapping) for i in items) for items in lists)


class LogQuery:
    """Reads the records of the log in ``directory`` (read only: safe next to a running server).

    After iterating, :attr:`invalid` counts records whose payload is not a
    decision record (not a JSON object, or ``result``/``kubegate`` or their
    lists of the wrong type) and :attr:`unreadable` lists damaged or torn byte ranges.

    Raises:
        UsageError: ``no_decision_log`` when ``directory`` holds no log.
    """

    def __init__(self, directory: str) -> None:
        if not os.path.isdir(directory) or not any(
            name.startswith("seg-") and name.endswith(".wal") for name in os.listdir(directory)
        ):
            raise UsageError(f"{directory} is not a decision log directory", code="no_decision_log")
        self.directory = directory
        self._reader = LogReader(directory)
        self.invalid = 0
        self.manifests = ManifestIndex()

    @property
    def unreadable(self) -> list[Unreadable]:
        return self._reader.unreadable

    def records(self, where: RecordFilter | None = None) -> Iterator[dict[str, Any]]:
        """Decision records matching ``where``, oldest first, each policy with its version
        (from the log's policy-set manifests: :mod:`kubegate.audit.manifest`; the
        manifest records themselves are not listed)."""
        self.invalid = 0
        index = self.manifests = ManifestIndex()
        index.add_payloads(self._reader.records)
        for payload in self._reader.records():
            try:
                record = json.loads(payload)
            except ValueError:
                record = None
            if is_manifest(record):
                continue
            if _is_record(record):
                index.resolve(record)
            else:
                self.invalid += 1
                continue
            if where is None or where.matches(record):
                yield record

    def problems(self) -> list[str]:
        """What could not be read, as lines for a report (empty when everything was read)."""
        lines = [
            f"segment {u.segment} ({os.path.join(self.directory, f'seg-{u.segment:020d}.wal')}): {u.size} bytes "
            f"at offset {u.offset} are not an intact record (being written now, or damaged)"
            for u in self.unreadable
        ]
        if self.manifests.unresolved:
            lines.append(
                f"{self.manifests.unresolved} record(s) name a policy whose version no policy-set manifest "
                "in the log declares (its segment was deleted)"
            )
        if self.invalid:
            lines.append(f"{self.invalid} record(s) are not decision records (not JSON objects, or wrongly typed)")
        return lines
