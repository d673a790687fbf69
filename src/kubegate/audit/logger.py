"""The decision logger: build, redact, append to the write-ahead log, let shippers deliver.

Used by every gate: the SDK (``Engine(decision_log=...)``), ``kubegate check
--decision-log`` and ``kubegate serve --decision-log``. A record is redacted
before it is serialised, appended before the decision is returned (with
``fsync=always`` it is on disk by then), and shipped to the sinks in the
background.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from kubegate.audit.fragments import (
    INPUT_SLOT,
    POLICIES_SLOT,
    RESULT_SLOT,
    Fragments,
    FragmentStore,
    serialised,
    splice,
    subtract,
    without_uid,
)
from kubegate.audit.manifest import ManifestWriter
from kubegate.audit.record import DecisionFacts, LogMode, build_record, facts_from_result
from kubegate.audit.redact import Redactor
from kubegate.audit.shipper import Shipper
from kubegate.audit.sinks import Sink, SinkError
from kubegate.audit.wal import FsyncPolicy, FullPolicy, Position, WriteAheadLog
from kubegate.engine.decision import Decision, ReviewResult
from kubegate.errors import KubegateError, Location, UsageError

__all__ = ["DecisionLogger", "LogSettings", "RecordError"]


class RecordError(KubegateError):
    """A decision record that cannot be built, redacted or serialised (a value it
    cannot hold, or nesting beyond the recursion limit); the decision it records
    must not be answered (the webhook denies with ``decision_log_error``)."""

    code = "decision_record_invalid"


def _version() -> str:
    try:
        return metadata.version("kubegate")
    except metadata.PackageNotFoundError:  # pragma: no cover - source tree
        return "0+unknown"


def _serialise(record: Mapping[str, Any]) -> bytes:
    """JSON, UTF-8 where the text allows it; a string with a lone UTF-16 surrogate
    (no UTF-8 form) makes the record ASCII with ``\\uXXXX`` escapes instead.

    Raises:
        RecordError: nesting beyond the recursion limit, or a value JSON cannot hold.
    """
    try:
        text = json.dumps(record, separators=(",", ":"), ensure_ascii=False, default=str)
        try:
            return text.encode()
        except UnicodeEncodeError:
            return json.dumps(record, separators=(",", ":"), ensure_ascii=True, default=str).encode()
    except (RecursionError, ValueError, TypeError) as exc:
        raise RecordError(f"the decision record cannot be serialised: {type(exc).__name__}: {exc}") from None


@dataclass(frozen=True)
class LogSettings:
    """How decisions are logged.

    Attributes:
        directory: the write-ahead log.
        mode: ``strict``, ``standard`` or ``off``.
        fsync: ``always`` (each record; concurrent records share an fsync),
            ``interval`` (every ``fsync_interval_ms``) or ``never``.
        max_bytes: bound of the log; ``full_policy`` applies beyond it while sinks lag.
        full_policy: ``block``, ``drop_oldest`` or ``fail_closed``.
        labels: added to every record's ``labels`` (OPA's ``id`` and ``version`` are set).
        path: the record's ``path`` for SDK reviews (``kubegate check`` uses ``kubegate/check``).
    """

    directory: str
    mode: LogMode = "standard"
    fsync: FsyncPolicy = "interval"
    fsync_interval_ms: int = 100
    segment_bytes: int = 16 * 1024 * 1024
    max_bytes: int = 1024 * 1024 * 1024
    full_policy: FullPolicy = "block"
    block_timeout_s: float = 5.0
    labels: Mapping[str, str] = field(default_factory=dict)
    path: str = "kubegate/review"

    def check(self) -> None:
        if self.mode not in ("strict", "standard", "off"):
            raise UsageError(f"decision log mode {self.mode!r} is not strict, standard or off")
        if self.fsync not in ("always", "interval", "never"):
            raise UsageError(f"fsync policy {self.fsync!r} is not always, interval or never")
        if self.full_policy not in ("block", "drop_oldest", "fail_closed"):
            raise UsageError(f"full policy {self.full_policy!r} is not block, drop_oldest or fail_closed")
        if self.max_bytes < self.segment_bytes:
            raise UsageError("the decision log bound must hold at least one segment")


class DecisionLogger:
    """Records decisions (see the module docstring).

    Raises:
        UsageError: bad settings.
        KubegateError: ``decision_log_unavailable`` when the directory cannot be used.

    Args:
        settings: see :class:`LogSettings`.
        sinks: delivered to in the background (none: the log is only queried locally).
        redactor: applied to every record (the default detectors when ``None``).
        on_record: called with each record's redaction counts (metrics).
        on_shipped: called with a sink's name and the records it received.
        on_sink_error: called with a sink's name and each failed delivery.
    """

    def __init__(
        self,
        settings: LogSettings,
        sinks: Sequence[Sink] = (),
        redactor: Redactor | None = None,
        on_record: Callable[[dict[str, int]], None] | None = None,
        on_shipped: Callable[[str, int], None] | None = None,
        on_sink_error: Callable[[str, SinkError], None] | None = None,
    ) -> None:
        settings.check()
        self.settings = settings
        self.redactor = redactor or Redactor()
        self.labels = {"id": f"{socket.gethostname()}-{os.getpid()}", "version": _version(), **settings.labels}
        self._on_record = on_record
        self.fragments = FragmentStore()
        try:
            self.wal = WriteAheadLog(
                settings.directory,
                fsync=settings.fsync,
                fsync_interval_ms=settings.fsync_interval_ms,
                segment_bytes=settings.segment_bytes,
                max_bytes=settings.max_bytes,
                full_policy=settings.full_policy,
                block_timeout_s=settings.block_timeout_s,
            )
        except OSError as exc:
            raise KubegateError(
                f"cannot open the decision log: {exc.strerror or exc}",
                Location(settings.directory),
                code="decision_log_unavailable",
            ) from None
        self.manifests = ManifestWriter(self._append_manifest, self.labels, self.wal.current_segment)
        try:
            self.shippers = [self._shipper(sink, on_shipped, on_sink_error) for sink in sinks]
        except BaseException:
            self.wal.close()
            raise
        for shipper in self.shippers:
            shipper.start()

    def _shipper(
        self,
        sink: Sink,
        on_shipped: Callable[[str, int], None] | None,
        on_sink_error: Callable[[str, SinkError], None] | None,
    ) -> Shipper:
        def shipped(n: int) -> None:
            if on_shipped is not None:
                on_shipped(sink.name, n)

        def failed(error: SinkError) -> None:
            if on_sink_error is not None:
                on_sink_error(sink.name, error)

        return Shipper(self.wal, sink, on_shipped=shipped, on_error=failed)

    @property
    def enabled(self) -> bool:
        return self.settings.mode != "off"

    def record(
        self,
        review: Mapping[str, Any],
        facts: DecisionFacts,
        *,
        path: str,
        cache_hit: bool = False,
        total_ns: int = 0,
        reuse_key: str = "",
        sync: bool = True,
    ) -> str | None:
        """Logs one decision; returns its ``decision_id`` (``None`` when the mode is ``off``).

        ``reuse_key`` (the decision cache's key of the request): an evaluation's
        redacted fragments are kept under it, and a cache hit's record reuses
        them (:mod:`kubegate.audit.fragments`), so a hit is not redacted again.
        ``sync=False``: under ``fsync=always`` the record is written but its fsync
        is left to a later ``wal.sync()`` (:meth:`WriteAheadLog.append`).

        Raises:
            LogFull: the log is at its bound and its policy refuses the record.
            RecordError: the record cannot be built, redacted or serialised.
            OSError: the log cannot be written.
        """
        if not self.enabled:
            return None
        record = build_record(
            review,
            facts,
            mode=self.settings.mode,
            path=path,
            labels=self.labels,
            cache_hit=cache_hit,
            total_ns=total_ns,
            policies=self.manifests.stored(facts.policy_set_version, facts.policies),
        )
        if self.redactor.mask:
            return self._redact_and_append(record, sync)
        uid = review.get("uid")
        if cache_hit and reuse_key:
            found = self.fragments.get(reuse_key)
            reused = self._reused(record, found, uid, facts)
            if reused is not None and found is not None:
                return self._finish_spliced(record, *reused, found, sync)
        clean = self._clean_fragments(review, record, facts)
        if clean is not None:  # nothing to redact but the requester and the uid: serialised once
            fragments, redacted_uid, counts = clean
            if reuse_key:
                self.fragments.put(reuse_key, fragments)
            if "input" in record:
                record["input"] = INPUT_SLOT
            record["result"] = RESULT_SLOT
            record["kubegate"]["policies"] = POLICIES_SLOT
            if "userInfo" in record["kubegate"]:
                record["kubegate"]["userInfo"] = fragments.redacted_user
            return self._finish_spliced(record, counts, redacted_uid, fragments, sync)
        if not reuse_key:
            return self._redact_and_append(record, sync)
        sources = (without_uid(review), dict(record["result"]), record["kubegate"].get("userInfo"))
        redacted_input = record.get("input")
        if isinstance(redacted_input, dict) and "uid" not in redacted_input["review"]:
            return self._redact_and_append(record, sync)  # the fragments' form puts a uid first
        counts = self._guarded(lambda: self.redactor.redact(record))
        uid_counts = self._guarded(lambda: self.redactor.scan_value(uid)[1])
        redacted_input = record.get("input")
        redacted_review = redacted_input["review"] if isinstance(redacted_input, dict) else None
        input_json, result_json = serialised(redacted_review, record["result"], _serialise)
        policies = record["kubegate"]["policies"]
        fragments = Fragments(
            sources[0] if redacted_review is not None else None,
            redacted_review,
            sources[1],
            record["result"],
            sources[2],
            record["kubegate"].get("userInfo"),
            subtract(counts, uid_counts),
            input_json,
            result_json,
            policies,
            _serialise(policies),
            facts,
        )
        self.fragments.put(reuse_key, fragments)
        # The record itself from the same serialised parts (each serialised once).
        if redacted_review is not None:
            record["input"] = INPUT_SLOT
        record["result"] = RESULT_SLOT
        record["kubegate"]["policies"] = POLICIES_SLOT
        redacted_uid = redacted_review.get("uid") if redacted_review is not None else None
        return self._finish_spliced(record, counts, redacted_uid, fragments, sync)

    def _clean_fragments(
        self, review: Mapping[str, Any], record: dict[str, Any], facts: DecisionFacts
    ) -> tuple[Fragments, Any, dict[str, int]] | None:
        """A record's fragments when its ``input`` and ``result`` hold nothing any detector
        would redact, told from the JSON text they are serialised to anyway
        (:meth:`Redactor.text_is_clean`); the requester and the ``uid`` are scanned as
        usual. Returns the fragments, the redacted uid and the record's redaction counts;
        ``None``: redact the record whole.

        Raises:
            RecordError: a part cannot be serialised or redacted.
        """
        redacted_input = record.get("input")
        plain = redacted_input["review"] if isinstance(redacted_input, dict) else None
        if plain is not None and "uid" not in plain:
            return None  # the fragments' form puts a uid first
        input_json, result_json = serialised(plain, record["result"], _serialise)
        texts = [result_json] if input_json is None else [result_json, input_json[0], input_json[1]]
        if not all(self.redactor.text_is_clean(t.decode("utf-8", "surrogatepass")) for t in texts):
            return None
        user = record["kubegate"].get("userInfo")
        redacted_user, user_counts = self._guarded(lambda: self.redactor.scan_value(user))
        redacted_uid, uid_counts = self._guarded(lambda: self.redactor.scan_value(review.get("uid")))
        policies = record["kubegate"]["policies"]
        fragments = Fragments(
            without_uid(review) if plain is not None else None,
            plain,
            dict(record["result"]),
            record["result"],
            user,
            redacted_user,
            user_counts,
            input_json,
            result_json,
            policies,
            _serialise(policies),
            facts,
        )
        counts = {rule: user_counts.get(rule, 0) + uid_counts.get(rule, 0) for rule in {*user_counts, *uid_counts}}
        return fragments, redacted_uid, counts

    def _reused(
        self, record: dict[str, Any], found: Fragments | None, uid: Any, facts: DecisionFacts
    ) -> tuple[dict[str, int], Any] | None:
        """Puts slots for ``found``'s serialised parts into a hit's ``record`` when
        its own parts are the ones they were made from; the redaction counts and
        the redacted ``uid``, or ``None`` (then redact it whole).

        The same ``facts`` object as ``found``'s (a hit from the memory cache) has
        the same result and policies; the review under the same ``reuse_key`` (a
        SHA-256 of the review minus its uid, :func:`kubegate.webhook.cache.cache_key`)
        is the same review. Otherwise (a shared-cache hit, a refreshed entry) every
        part is compared."""
        if found is None:
            return None
        same = found.facts is facts
        if not same:
            if record["result"] != found.result or record["kubegate"]["policies"] != found.policies:
                return None
            if record["kubegate"].get("userInfo") != found.user:
                return None
        review = record.get("input", {}).get("review") if "input" in record else None
        if (review is None) != (found.review is None):
            return None
        counts = dict(found.counts)
        redacted_uid: Any = None
        if review is not None:
            if found.redacted_review is None or (not same and without_uid(review) != found.review):
                return None
            redacted_uid, uid_counts = self._guarded(lambda: self.redactor.scan_value(uid))
            counts = {rule: counts.get(rule, 0) + uid_counts.get(rule, 0) for rule in {*counts, *uid_counts}}
            record["input"] = INPUT_SLOT
        record["result"] = RESULT_SLOT
        record["kubegate"]["policies"] = POLICIES_SLOT
        if "userInfo" in record["kubegate"]:
            record["kubegate"]["userInfo"] = found.redacted_user
        return counts, redacted_uid

    def _finish_spliced(
        self, record: dict[str, Any], counts: dict[str, int], redacted_uid: Any, found: Fragments, sync: bool
    ) -> str:
        """Appends a hit's record with its evaluation's serialised fragments put in."""
        record["redaction"] = {"count": sum(counts.values()), "rules": counts}
        header = _serialise(record)
        payload = splice(header, found, _serialise(redacted_uid), _serialise)
        self.manifests.appended(self.wal.append(payload, sync).segment)
        for shipper in self.shippers:
            shipper.notify()
        if self._on_record is not None:
            self._on_record(counts)
        return str(record["decision_id"])

    def _guarded(self, run: Callable[[], Any]) -> Any:
        try:
            return run()
        except RecursionError:
            raise RecordError("the decision record nests too deeply to be redacted") from None
        except (ValueError, TypeError) as exc:  # UnicodeError included: a value the redactor cannot read
            raise RecordError(f"the decision record cannot be redacted: {type(exc).__name__}: {exc}") from None

    def _redact_and_append(self, record: dict[str, Any], sync: bool = True) -> str:
        counts = self._guarded(lambda: self.redactor.redact(record))
        record["redaction"] = {"count": sum(counts.values()), "rules": counts}
        self.append(record, sync)
        if self._on_record is not None:
            self._on_record(counts)
        return str(record["decision_id"])

    def append(self, record: Mapping[str, Any], sync: bool = True) -> Position:
        """Appends an already built (and redacted) record (``sync``: see :meth:`record`).

        Raises:
            LogFull: see :meth:`record`.
            RecordError: the record cannot be serialised.
            OSError: the log cannot be written.
        """
        payload = _serialise(record)
        position = self.wal.append(payload, sync)
        self.manifests.appended(position.segment)
        for shipper in self.shippers:
            shipper.notify()
        return position

    def _append_manifest(self, record: Mapping[str, Any]) -> int:
        """Appends a policy-set manifest record (:mod:`kubegate.audit.manifest`); its segment."""
        position = self.wal.append(_serialise(record), sync=False)  # the record after it syncs both
        for shipper in self.shippers:
            shipper.notify()
        return position.segment

    def review_decided(self, review: Mapping[str, Any], result: ReviewResult) -> None:
        """The SDK's hook: ``Engine(decision_log=logger)`` calls it after each review."""
        self.record(review, facts_from_result(result), path=self.settings.path)

    def evaluated(self, policy_id: str, input: Any, decision: Decision) -> None:  # noqa: A002 - the OPA term
        """The SDK's hook for ``Engine.evaluate``: path ``kubegate/evaluate/<policy id>``;
        in strict mode ``input`` is recorded as given (OPA's record shape)."""
        if not self.enabled:
            return
        review = input.get("review") if isinstance(input, Mapping) else None
        result = ReviewResult(decision.allowed, (decision,), (), decision.duration_ms, decision.policy_set_version)
        facts = facts_from_result(result)
        record = build_record(
            review if isinstance(review, Mapping) else {},
            facts,
            mode=self.settings.mode,
            path=f"kubegate/evaluate/{policy_id}",
            labels=self.labels,
            policies=self.manifests.stored(decision.policy_set_version, facts.policies),
        )
        if "input" in record:
            record["input"] = input
        self._redact_and_append(record)

    def close(self) -> None:
        """Ships what is left (best effort), stops the shippers, syncs the log."""
        for shipper in self.shippers:
            shipper.stop(drain=True)
        self.wal.close()
