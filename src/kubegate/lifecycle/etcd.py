"""Policy sets in etcd v3: ``kubegate push`` writes them, every ``kubegate serve`` replica watches.

Layout under the prefix (default ``/kubegate/policies/``):

``current``
    the policy set in force, one JSON document: ``{"seq", "version",
    "pushedAt", "message", "files": {name: text}, "policies": {id: {"version",
    "file"}}}``;
``history/<seq>``
    the same document for each of the last ``history`` pushes (rollback).

A push is one etcd transaction (the new ``current``, its history entry, the
trimmed history), guarded by ``current``'s ``mod_revision`` so two concurrent
pushes cannot both win: all or nothing. etcd is the store and the ordering;
replicas converge by watching ``current``. After a disconnect a watcher
resumes from the last revision it saw; when etcd has compacted that revision
it reads ``current`` afresh (a full resync).

The client is ``etcd3gw`` (etcd's v3 JSON gateway over HTTP); the watch stream
is read here so the compaction notice (``compact_revision``) is not lost.
One document per set keeps a push atomic without etcd's per-transaction
operation limit; etcd's request size limit (1.5 MiB by default,
``--max-request-bytes``) bounds the size of a policy set.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import etcd3gw
import requests
from etcd3gw.exceptions import Etcd3Exception

from kubegate.errors import BackendError, KubegateError, UsageError
from kubegate.lifecycle.manager import PolicyManager

__all__ = ["EtcdSource", "EtcdStore", "StoredSet", "set_version"]

_log = logging.getLogger("kubegate.lifecycle")


class EtcdError(BackendError):
    """etcd could not be reached or refused a request."""

    code = "etcd_unavailable"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _unb64(value: str) -> str:
    return base64.b64decode(value).decode()


def set_version(files: Mapping[str, str]) -> str:
    """The version of a set of policy files: sha256 over their names and contents."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + hashlib.sha256(files[name].encode()).digest())
    return digest.hexdigest()


@dataclass(frozen=True)
class StoredSet:
    """A policy set as stored, and the etcd revision it was read at (``mod_revision`` of ``current``)."""

    files: Mapping[str, str]
    seq: int
    version: str
    pushed_at: float
    message: str = ""
    policies: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    revision: int = 0

    @classmethod
    def from_json(cls, doc: Mapping[str, Any], revision: int = 0) -> StoredSet:
        return cls(
            files=dict(doc.get("files") or {}),
            seq=int(doc.get("seq", 0)),
            version=str(doc.get("version", "")),
            pushed_at=float(doc.get("pushedAt", 0.0)),
            message=str(doc.get("message", "")),
            policies=dict(doc.get("policies") or {}),
            revision=revision,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "version": self.version,
            "pushedAt": self.pushed_at,
            "message": self.message,
            "files": dict(self.files),
            "policies": {k: dict(v) for k, v in self.policies.items()},
        }


class EtcdStore:
    """Reads and writes policy sets under ``prefix``.

    Args:
        url: ``http://host:2379`` (``https://`` with TLS).
        prefix: key prefix, ending in ``/``.
        history: how many past pushes to keep.
        timeout_s: per-request timeout in seconds.

    Raises:
        UsageError: a URL that is not ``http(s)://host:port``.
    """

    def __init__(self, url: str, prefix: str = "/kubegate/policies/", history: int = 10, timeout_s: float = 5.0):
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise UsageError(f"--etcd {url!r} must be http://host:port or https://host:port", code="invalid_etcd_url")
        self.url = url
        self.prefix = prefix if prefix.endswith("/") else prefix + "/"
        self.history_size = history
        self._host, self._port, self._protocol = parsed.hostname, parsed.port or 2379, parsed.scheme
        self.timeout_s = timeout_s
        self.client = self.new_client()

    def new_client(self) -> etcd3gw.Etcd3Client:
        return etcd3gw.Etcd3Client(host=self._host, port=self._port, protocol=self._protocol, timeout=self.timeout_s)

    def url_of(self, client: etcd3gw.Etcd3Client, path: str) -> str:
        """The gateway URL of ``path`` (etcd3gw asks etcd for its API path on first use).

        Raises:
            EtcdError: etcd cannot be reached to discover it.
        """
        try:
            return str(client.get_url(path))
        except Etcd3Exception as exc:
            raise EtcdError(f"etcd at {self.url} is unreachable: {exc.detail_text or type(exc).__name__}") from None

    @property
    def current_key(self) -> str:
        return self.prefix + "current"

    def _call(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        try:
            reply = self.client.session.post(self.url_of(self.client, path), json=body, timeout=self.timeout_s)
        except requests.RequestException as exc:
            raise EtcdError(f"etcd at {self.url} is unreachable: {exc}") from None
        if reply.status_code != 200:
            raise EtcdError(f"etcd at {self.url} refused {path}: {reply.status_code} {reply.text[:200]}")
        return dict(reply.json())

    def status(self) -> dict[str, Any]:
        """etcd's maintenance status (a cheap liveness probe)."""
        return self._call("/maintenance/status", {})

    def read(self, revision: int | None = None) -> StoredSet | None:
        """The policy set in force (at ``revision`` when given), or ``None`` if none was pushed.

        Raises:
            EtcdError: unreachable, or ``revision`` compacted (``etcd_revision_compacted``).
        """
        body: dict[str, Any] = {"key": _b64(self.current_key)}
        if revision is not None:
            body["revision"] = revision
        try:
            reply = self._call("/kv/range", body)
        except EtcdError as exc:
            if "compacted" in exc.message:
                raise EtcdError(exc.message, code="etcd_revision_compacted") from None
            raise
        kvs = reply.get("kvs") or []
        if not kvs:
            return None
        kv = kvs[0]
        return StoredSet.from_json(json.loads(_unb64(kv["value"])), int(kv["mod_revision"]))

    def history(self) -> list[StoredSet]:
        """Past pushes, newest first."""
        start = self.prefix + "history/"
        reply = self._call("/kv/range", {"key": _b64(start), "range_end": _b64(start[:-1] + "0")})
        out = [
            StoredSet.from_json(json.loads(_unb64(kv["value"])), int(kv["mod_revision"]))
            for kv in reply.get("kvs") or []
        ]
        return sorted(out, key=lambda s: s.seq, reverse=True)

    def push(self, files: Mapping[str, str], policies: Mapping[str, Mapping[str, str]], message: str = "") -> StoredSet:
        """Writes a policy set in one transaction; returns what was stored.

        Raises:
            EtcdError: unreachable, or ``etcd_conflict`` when another push won the race.
        """
        current = self.read()
        seq = (current.seq if current else 0) + 1
        stored = StoredSet(dict(files), seq, set_version(files), time.time(), message, dict(policies))
        document = json.dumps(stored.to_json(), sort_keys=True)
        compare = [
            {
                "key": _b64(self.current_key),
                "result": "EQUAL",
                "target": "MOD",
                "mod_revision": str(current.revision if current else 0),
            }
        ]
        ops: list[dict[str, Any]] = [
            {"request_put": {"key": _b64(self.current_key), "value": _b64(document)}},
            {"request_put": {"key": _b64(f"{self.prefix}history/{seq:010d}"), "value": _b64(document)}},
        ]
        for old in range(max(1, seq - self.history_size - 20), seq - self.history_size + 1):
            ops.append({"request_delete_range": {"key": _b64(f"{self.prefix}history/{old:010d}")}})
        reply = self._call("/kv/txn", {"compare": compare, "success": ops, "failure": []})
        if not reply.get("succeeded"):
            raise EtcdError("another push changed the policy set meanwhile; try again", code="etcd_conflict")
        revision = int((reply.get("header") or {}).get("revision", 0))
        return StoredSet(stored.files, seq, stored.version, stored.pushed_at, message, stored.policies, revision)


def _interrupt(response: requests.Response) -> None:
    """Ends a blocking read of a streaming response from another thread (as etcd3gw's
    ``Watcher.stop`` does): shutting the socket down makes the reader see the end."""
    try:
        fp = getattr(response.raw, "_fp", None)  # the http.client response holding the socket
        if fp is None:
            return
        fd = fp.fileno()
        with socket.fromfd(fd, socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.shutdown(socket.SHUT_RDWR)
    except (AttributeError, OSError, ValueError):
        pass


class EtcdSource:
    """Keeps ``manager`` on the policy set stored in etcd: initial read, watch, resume, resync.

    Args:
        manager: receives every update.
        store: where the set lives.
        retry_s: first reconnect delay (doubles up to ``max_retry_s``).
        health_s: how often etcd is probed, so a silent outage shows as staleness.
        on_event: called with each event name (for tests and metrics): ``applied``,
            ``resynced``, ``disconnected``, ``reconnected``.
    """

    def __init__(
        self,
        manager: PolicyManager,
        store: EtcdStore,
        retry_s: float = 0.1,
        max_retry_s: float = 2.0,
        health_s: float = 1.0,
        on_event: Callable[[str], None] | None = None,
    ) -> None:
        self.manager = manager
        self.store = store
        self.retry_s = retry_s
        self.max_retry_s = max_retry_s
        self.health_s = health_s
        self.revision = 0
        self._on_event = on_event
        self._stop = threading.Event()
        self._response: requests.Response | None = None
        self._threads: list[threading.Thread] = []
        manager.source.name = f"etcd:{store.url}{store.prefix}"

    def _event(self, name: str) -> None:
        if self._on_event is not None:
            self._on_event(name)

    def load(self, revision: int | None = None) -> bool:
        """Reads the stored set (at ``revision``) and applies it; returns whether etcd answered."""
        try:
            stored = self.store.read(revision)
        except EtcdError as exc:
            if exc.code == "etcd_revision_compacted":
                self._event("resynced")
                return self.load(None)
            self.manager.source_failed(exc)
            return False
        if stored is None:
            self.manager.source_ok({"revision": 0, "seq": 0})
            if self.manager.snapshot is None:
                self.manager.apply({}, f"{self.manager.source.name}@empty")
            return True
        self.revision = max(self.revision, stored.revision)
        self.manager.apply(stored.files, f"{self.manager.source.name}@{stored.revision}")
        self.manager.source_ok({"revision": stored.revision, "seq": stored.seq, "pushedAt": stored.pushed_at})
        self._event("applied")
        return True

    def start(self) -> None:
        """Starts the watch and health threads (call :meth:`load` first)."""
        for target, name in ((self._watch_loop, "kubegate-etcd-watch"), (self._health_loop, "kubegate-etcd-health")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Stops watching; the threads end within a second."""
        self._stop.set()
        response = self._response
        if response is not None:
            _interrupt(response)
        for thread in self._threads:
            thread.join(timeout=5)

    def _health_loop(self) -> None:
        while not self._stop.wait(self.health_s):
            try:
                self.store.status()
            except KubegateError as exc:
                self.manager.source_failed(exc)
            except Exception as exc:  # never let the probe thread die
                self.manager.source_failed(EtcdError(f"probing {self.store.url} failed: {exc}"))
            else:
                if self.manager.source.failing_since is not None:
                    self.manager.source_ok()

    def _watch_loop(self) -> None:
        delay = self.retry_s
        disconnected = False
        while not self._stop.is_set():
            try:
                if disconnected:
                    # Resume: whatever was pushed while away comes as watch events from
                    # the last revision seen, or (compacted) as a full read.
                    self._event("reconnected")
                self._watch_once()
                delay = self.retry_s
            except Exception as exc:  # the watch must outlive any failure: report it and reconnect
                if self._stop.is_set():
                    return
                if not disconnected:
                    self._event("disconnected")
                disconnected = True
                self.manager.source_failed(EtcdError(f"watching {self.store.url} failed: {exc}"))
                if self._stop.wait(delay):
                    return
                delay = min(self.max_retry_s, delay * 2)
                continue
            disconnected = False

    def _watch_once(self) -> None:
        client = self.store.new_client()
        key = _b64(self.store.current_key)
        request = {"create_request": {"key": key, "start_revision": self.revision + 1, "progress_notify": True}}
        response = client.session.post(
            self.store.url_of(client, "/watch"),
            data=json.dumps(request),
            headers={"Content-Type": "application/json"},
            stream=True,
            timeout=(self.store.timeout_s, None),
        )
        self._response = response
        try:
            if response.status_code != 200:
                raise EtcdError(f"etcd refused the watch: {response.status_code}")
            for line in response.iter_lines():
                if self._stop.is_set():
                    return
                if not line:
                    continue
                result = json.loads(line).get("result") or {}
                if result.get("created"):
                    self.manager.source_ok({"revision": self.revision})
                    continue
                if result.get("canceled") or int(result.get("compact_revision") or 0) > 0:
                    _log.warning("etcd compacted revision %s; reading the policy set again", self.revision + 1)
                    self._event("resynced")
                    self.load(None)
                    return  # watch again from the new revision
                events = result.get("events") or []
                for event in events:
                    kv = event.get("kv") or {}
                    revision = int(kv.get("mod_revision", 0))
                    if event.get("type") == "DELETE" or "value" not in kv:
                        continue
                    stored = StoredSet.from_json(json.loads(_unb64(kv["value"])), revision)
                    self.revision = max(self.revision, revision)
                    self.manager.apply(stored.files, f"{self.manager.source.name}@{revision}")
                    self.manager.source_ok({"revision": revision, "seq": stored.seq, "pushedAt": stored.pushed_at})
                    self._event("applied")
                header = result.get("header") or {}
                if not events and header.get("revision"):
                    self.manager.source_ok()
            if not self._stop.is_set():
                raise EtcdError("the watch stream ended")
        finally:
            self._response = None
            response.close()
