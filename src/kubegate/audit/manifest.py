"""Policy-set manifest records: each policy's version written once per set, not in every record.

A decision record names the policy set that decided (``kubegate.policySetVersion``)
and each evaluated policy's id, outcome and time. The policies' versions (a
64-character sha256 each, for every evaluated policy: about 6 KB of a
corpus-mix record) are written instead in a **manifest record** of that set::

    {"decision_id": "<uuid>", "timestamp": "...", "path": "kubegate/policy-set",
     "labels": {...}, "kubegate": {"policySetVersion": "<version>",
     "policyVersions": {"<policy id>": "<version>", ...}}}

The writer (:class:`ManifestWriter`, one per logger) appends a manifest before
the first record that needs it, and again at the start of each new log
segment, so every segment that holds a record also holds its set's manifest
(segments are deleted whole, oldest first). A manifest lists what the log has
needed so far; a later one of the same set adds entries (readers merge them).
A policy whose version differs from the one its set's manifest gives (a
canary's stable arm evaluates an older version under the latest set's
version) keeps its ``version`` in the record itself.

Readers resolve records with :class:`ManifestIndex`: ``kubegate audit query``
and ``replay`` see each policy with its version, as the record was before
manifests; sinks in OPA's upload format receive resolved records and no
manifest records (OPA's format has decision events only); the other sinks
receive the log as written, manifests included, in order.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["MANIFEST_PATH", "ManifestIndex", "ManifestWriter", "is_manifest", "manifest_record"]

MANIFEST_PATH = "kubegate/policy-set"
"""The ``path`` of a manifest record."""

_MARK = b'"path":"kubegate/policy-set"'
MAX_STORED = 1024
"""Stored forms of policy lists kept for reuse (a decision cache's hits hand in the same list)."""
MAX_SETS = 64
"""Policy sets whose versions a writer remembers (the oldest beyond are announced again if seen)."""


def manifest_record(policy_set_version: str, versions: Mapping[str, str], labels: Mapping[str, str]) -> dict[str, Any]:
    """A manifest record (the shape in the module docstring)."""
    now = dt.datetime.now(dt.UTC)
    return {
        "decision_id": str(uuid.uuid4()),
        "timestamp": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond:06d}000Z",
        "path": MANIFEST_PATH,
        "labels": dict(labels),
        "kubegate": {"policySetVersion": policy_set_version, "policyVersions": dict(sorted(versions.items()))},
    }


def is_manifest(record: Any) -> bool:
    """Whether a parsed record is a manifest record."""
    return isinstance(record, Mapping) and record.get("path") == MANIFEST_PATH


def maybe_manifest(payload: bytes) -> bool:
    """Whether a serialised record may be a manifest (a byte test: no parsing)."""
    return _MARK in payload


class ManifestWriter:
    """Decides, per record, which policy versions it keeps and which manifests go before it.

    Args:
        append: appends a (redacted-free: ids and versions only) record to the log;
            returns its segment number.
        labels: the logger's instance labels.
        segment: the log's current segment.

    Thread-safe: a manifest is appended, under the writer's lock, before the
    versions it declares are used to strip any record.
    """

    def __init__(self, append: Callable[[dict[str, Any]], int], labels: Mapping[str, str], segment: int) -> None:
        self._append = append
        self._labels = dict(labels)
        self._lock = threading.Lock()
        self._known: OrderedDict[str, dict[str, str]] = OrderedDict()
        self._segment = segment
        self._stored: OrderedDict[int, tuple[Sequence[Mapping[str, Any]], dict[str, str], list[dict[str, Any]]]] = (
            OrderedDict()
        )
        self.written = 0
        """Manifest records appended."""

    def stored(self, policy_set_version: str, policies: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """``policies`` as the record keeps them: without the versions its set's manifest
        declares (a manifest declaring new ones is appended first). The list returned for
        one ``policies`` object is returned again for it while the set's manifest is
        unchanged: records take it as it is and nobody edits it.

        Raises:
            what ``append`` raises (the log refused the manifest: the record is not written).
        """
        if not policy_set_version or not policies:
            return [dict(p) for p in policies]
        known = self._known.get(policy_set_version)
        # A cached decision's facts come back for each of its hits: their stored form too.
        remembered = self._stored.get(id(policies))
        if remembered is not None and remembered[0] is policies and remembered[1] is known:
            return remembered[2]
        if known is None or any(str(p.get("id")) not in known for p in policies):
            known = self._declare(policy_set_version, policies)
        out: list[dict[str, Any]] = []
        for p in policies:
            if known.get(str(p.get("id"))) == p.get("version"):
                out.append({k: v for k, v in p.items() if k != "version"})
            else:
                out.append(dict(p))
        with self._lock:
            self._stored[id(policies)] = (policies, known, out)
            while len(self._stored) > MAX_STORED:
                self._stored.popitem(last=False)
        return out

    def _declare(self, policy_set_version: str, policies: Sequence[Mapping[str, Any]]) -> dict[str, str]:
        with self._lock:
            known = dict(self._known.get(policy_set_version) or {})
            new = {
                str(p["id"]): str(p["version"])
                for p in policies
                if str(p.get("id")) not in known and isinstance(p.get("version"), str)
            }
            if new or policy_set_version not in self._known:
                known.update(new)
                segment = self._append(manifest_record(policy_set_version, known, self._labels))
                self.written += 1
                self._known[policy_set_version] = known  # published after its manifest is in the log
                self._rewrite_into(segment)
            self._known[policy_set_version] = known
            self._known.move_to_end(policy_set_version)
            while len(self._known) > MAX_SETS:
                self._known.popitem(last=False)
            return known

    def appended(self, segment: int) -> None:
        """A record went to ``segment``: on a segment's first record, the manifests
        of every known set are written into it too (after the record)."""
        if segment == self._segment:
            return
        with self._lock:
            self._rewrite_into(segment)

    def _rewrite_into(self, segment: int) -> None:
        """Under the lock: a new segment gets every known set's manifest (again if
        writing them started yet another segment)."""
        while segment > self._segment:
            self._segment = segment
            for policy_set_version, known in list(self._known.items()):
                segment = max(segment, self._append(manifest_record(policy_set_version, known, self._labels)))
                self.written += 1


class ManifestIndex:
    """Policy versions per set, from the manifest records seen; resolves records."""

    def __init__(self) -> None:
        self._sets: dict[str, dict[str, str]] = {}
        self.unresolved = 0
        """Records resolved so far that named a policy no manifest declared."""

    def add(self, record: Mapping[str, Any]) -> None:
        """Takes a manifest record's versions (merged with the set's earlier manifests)."""
        kg = record.get("kubegate")
        if not isinstance(kg, Mapping) or not isinstance(kg.get("policyVersions"), Mapping):
            return
        versions = self._sets.setdefault(str(kg.get("policySetVersion", "")), {})
        versions.update({str(k): str(v) for k, v in kg["policyVersions"].items()})

    def add_payloads(self, payloads: Callable[[], Any]) -> None:
        """Indexes the manifests among serialised records (``payloads()`` iterates bytes)."""
        for payload in payloads():
            if maybe_manifest(payload):
                try:
                    record = json.loads(payload)
                except ValueError:
                    continue
                if is_manifest(record):
                    self.add(record)

    def resolve(self, record: dict[str, Any]) -> dict[str, Any]:
        """Puts each evaluated policy's version back into a decision record (in place)."""
        kg = record.get("kubegate")
        if not isinstance(kg, dict) or not isinstance(kg.get("policies"), list):
            return record
        versions = self._sets.get(str(kg.get("policySetVersion", "")), {})
        missing = False
        for entry in kg["policies"]:
            if isinstance(entry, dict) and "version" not in entry:
                version = versions.get(str(entry.get("id")))
                if version is None:
                    missing = True
                    continue
                entry["version"] = version
        self.unresolved += missing
        return record
