"""Redacted record fragments of cached decisions, reused for their cache hits.

Redacting a strict record is most of its cost (about 370 of 470 µs for a 16 KB
record: docs/performance.md), and a cache hit's record differs from the one of
the evaluation it reuses only in its header: the request is the same minus its
``uid`` (the decision cache's key), and the result, the policies and the
user are the cached decision's. So the logger keeps, per cache key, the
redacted ``input.review``, ``result`` and ``kubegate.userInfo`` of the record
it wrote for the evaluation, with the redaction counts; a hit's record takes
them after checking that its own unredacted parts are equal to the ones they
were made from (the key is a hash; equality is the proof), with only the new
``uid`` scanned. With mask rules configured nothing is reused (a mask can
reach any path; the whole record is redacted as before).

The store is a bounded LRU (:data:`MAX_ENTRIES` cache keys), shared by the
logger's writer threads.
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "INPUT_SLOT",
    "MAX_ENTRIES",
    "POLICIES_SLOT",
    "RESULT_SLOT",
    "FragmentStore",
    "Fragments",
    "serialised",
    "splice",
    "subtract",
    "without_uid",
]

MAX_ENTRIES = 1024
"""Cache keys whose fragments are kept (the least recently used beyond are dropped)."""


@dataclass(frozen=True, eq=False)
class Fragments:
    """What a hit's record reuses from its evaluation's record.

    Attributes:
        review: the unredacted review minus ``uid`` it was made from (``None``:
            the record had no ``input``, standard mode).
        redacted_review: ``input.review`` as redacted (its ``uid`` replaced per hit).
        result, redacted_result: ``result`` before and after redaction.
        user, redacted_user: ``kubegate.userInfo`` before and after redaction.
        counts: the redaction counts of those parts, the ``uid``'s left out.
        input_json, result_json: the redacted parts serialised once, spliced
            into each hit's record (:func:`splice`), so a hit serialises only
            its header.
    """

    review: Mapping[str, Any] | None
    redacted_review: Mapping[str, Any] | None
    result: Mapping[str, Any]
    redacted_result: Any
    user: Any
    redacted_user: Any
    counts: Mapping[str, int]
    input_json: tuple[bytes, bytes] | None = None
    """``input`` serialised with its ``uid`` first, split where the uid's value goes."""
    result_json: bytes = b""
    """``result`` serialised."""
    policies: Any = None
    """``kubegate.policies`` (not redacted: ids, versions, outcomes, times)."""
    policies_json: bytes = b""
    """``kubegate.policies`` serialised."""
    facts: Any = None
    """The :class:`~kubegate.audit.record.DecisionFacts` they were made from: a hit
    carrying that very object (the memory cache's entry) has the same result and
    policies, so they are not compared again."""


class FragmentStore:
    """Fragments per cache key (thread-safe, bounded)."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._entries: OrderedDict[str, Fragments] = OrderedDict()
        self._max = max_entries
        self._lock = threading.Lock()

    def get(self, key: str) -> Fragments | None:
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
            return found

    def put(self, key: str, fragments: Fragments) -> None:
        with self._lock:
            self._entries[key] = fragments
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


INPUT_SLOT = "\x00kubegate:input\x00"
RESULT_SLOT = "\x00kubegate:result\x00"
POLICIES_SLOT = "\x00kubegate:policies\x00"
_UID_SLOT = "\x00kubegate:uid\x00"


def serialised(
    redacted_review: Mapping[str, Any] | None, redacted_result: Any, dumps: Callable[[Any], bytes]
) -> tuple[tuple[bytes, bytes] | None, bytes]:
    """The fragments' JSON: ``input`` (``uid`` first, split at its value) and ``result``."""
    result = dumps(redacted_result)
    if redacted_review is None:
        return None, result
    rest = {k: v for k, v in redacted_review.items() if k != "uid"}
    text = dumps({"review": {"uid": _UID_SLOT, **rest}})
    slot = dumps(_UID_SLOT)
    at = text.index(slot)  # the first occurrence is the uid's: it is the review's first key
    return (text[:at], text[at + len(slot) :]), result


def splice(header: bytes, fragments: Fragments, uid_json: bytes, dumps: Callable[[Any], bytes]) -> bytes:
    """A hit's record: its ``header`` (serialised with :data:`INPUT_SLOT`,
    :data:`RESULT_SLOT` and :data:`POLICIES_SLOT` in place of ``input``,
    ``result`` and ``kubegate.policies``) with the fragments' JSON put in.
    The slots are found before anything is inserted, and every field the
    request can fill comes after them in a record, so only the slots are
    replaced."""
    parts: list[tuple[int, int, bytes]] = []
    for slot_text, data in ((RESULT_SLOT, fragments.result_json), (POLICIES_SLOT, fragments.policies_json)):
        slot = dumps(slot_text)
        at = header.index(slot)
        parts.append((at, at + len(slot), data))
    if fragments.input_json is not None:
        input_slot = dumps(INPUT_SLOT)
        at = header.index(input_slot)
        head, tail = fragments.input_json
        parts.append((at, at + len(input_slot), head + uid_json + tail))
    out = bytearray()
    last = 0
    for start, end, data in sorted(parts):
        out += header[last:start]
        out += data
        last = end
    out += header[last:]
    return bytes(out)


def without_uid(review: Mapping[str, Any]) -> dict[str, Any]:
    """``review`` minus its ``uid`` (what two requests answered alike share)."""
    return {k: v for k, v in review.items() if k != "uid"}


def subtract(counts: Mapping[str, int], other: Mapping[str, int]) -> dict[str, int]:
    """``counts - other`` (rules left at zero dropped)."""
    left = Counter(counts)
    left.subtract(other)
    return {rule: n for rule, n in left.items() if n > 0}
