"""The vault: module versions, yanks, pins, go.sum records and license audits in a :class:`Storage`.

Layout (every key under one store, so replicas on one bucket share it all):

``blobs/sha256/<hex>``
    content-addressed bytes (``.info``, ``.mod``, ``.zip``), written once
    (conditional create); re-hashed on every read, so a damaged object is
    never served.
``modules/<path>/@v/<version>.json``
    a :class:`ModuleRecord`: which blobs hold the version and their ``h1:``.
    Written after its blobs, so a record never names a missing blob.
``sums/<path>/@v/<version>``
    the go.sum lines known for the version (imported from a go.sum, or from
    the first verified download: trust on first use); a later download or
    bundle whose hash differs is refused.
``state/<path>/yank/<version>.json``, ``state/<path>/pin.json``
    version routing (yank with a reason, ``@latest`` pinned).
``audit/<path>/@v/<version>.json``
    the license detection and the last verdict of the version.

``<path>`` and ``<version>`` are escaped (:func:`kubegate.goproxy.escape.escape`).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from kubegate.goproxy.errors import IntegrityError, StorageError
from kubegate.goproxy.escape import escape, unescape
from kubegate.goproxy.modzip import hash_gomod, read_zip
from kubegate.goproxy.storage import Storage

__all__ = ["ModuleRecord", "Vault", "now_rfc3339"]


def now_rfc3339() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class ModuleRecord:
    """One stored module version (blob digests are sha256 hex; ``zip`` is
    ``""`` while only ``.info``/``.mod`` are stored)."""

    path: str
    version: str
    info: str
    mod: str
    zip: str
    h1_mod: str
    h1_zip: str
    zip_size: int
    stored_at: str
    origin: str

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> ModuleRecord:
        return cls(**json.loads(data))


class Vault:
    """Typed access to a store (see the module docstring).

    Blobs (immutable by construction) up to 1 MiB are kept in memory, at most
    ``blob_cache_bytes`` in all; complete records (with their zip) too.
    Yank and pin state is re-read from the store at most every
    ``state_ttl_s`` seconds per module, so a yank or pin made through another
    replica applies within that time (at once through this one).

    Args:
        storage: a :class:`~kubegate.goproxy.storage.Storage`.
        blob_cache_bytes: bound of the in-memory blob cache (bytes; 0: none).
        state_ttl_s: how long yank/pin state is reused (seconds; 0: read every time).
    """

    def __init__(self, storage: Storage, blob_cache_bytes: int = 64 << 20, state_ttl_s: float = 1.0) -> None:
        self.storage = storage
        self._blob_cache: OrderedDict[str, bytes] = OrderedDict()
        self._blob_bytes = 0
        self._blob_limit = blob_cache_bytes
        self._records: dict[tuple[str, str], ModuleRecord] = {}
        self._state: dict[str, tuple[float, dict[str, dict[str, Any]], dict[str, Any] | None]] = {}
        self._state_ttl = state_ttl_s
        self._lock = threading.Lock()

    # ---- blobs
    def put_blob(self, data: bytes) -> str:
        digest = sha256(data)
        key = f"blobs/sha256/{digest[:2]}/{digest}"
        if not self.storage.exists(key):
            self.storage.put(key, data, if_absent=True)
        return digest

    def blob(self, digest: str) -> bytes:
        """The blob's bytes, checked against its digest.

        Raises:
            StorageError: ``blob_missing``; IntegrityError: ``blob_corrupt``.
        """
        cached = self._blob_cache.get(digest)
        if cached is not None:
            return cached
        data = self.storage.get(f"blobs/sha256/{digest[:2]}/{digest}")
        if data is None:
            raise StorageError(f"blob {digest} is missing", code="blob_missing")
        if sha256(data) != digest:
            raise IntegrityError(f"blob {digest} does not hash to its name", code="blob_corrupt")
        if len(data) <= min(1 << 20, self._blob_limit):
            with self._lock:
                if digest not in self._blob_cache:
                    self._blob_cache[digest] = data
                    self._blob_bytes += len(data)
                while self._blob_bytes > self._blob_limit and self._blob_cache:
                    _, old = self._blob_cache.popitem(last=False)
                    self._blob_bytes -= len(old)
        return data

    def cached_blob(self, digest: str) -> bytes | None:
        """The blob when it is in memory, else ``None`` (never reads the store)."""
        return self._blob_cache.get(digest)

    # ---- module records
    @staticmethod
    def _key(kind: str, path: str, version: str, suffix: str = ".json") -> str:
        return f"{kind}/{escape(path)}/@v/{escape(version)}{suffix}"

    def record(self, path: str, version: str) -> ModuleRecord | None:
        cached = self._records.get((path, version))
        if cached is not None:
            return cached
        data = self.storage.get(self._key("modules", path, version))
        if data is None:
            return None
        record = ModuleRecord.from_json(data)
        if record.zip and len(self._records) < 100_000:
            self._records[(path, version)] = record
        return record

    def cached_record(self, path: str, version: str) -> ModuleRecord | None:
        """The record when it is in memory (complete records only), else ``None`` (never reads the store)."""
        return self._records.get((path, version))

    def versions(self, path: str) -> list[str]:
        """Stored versions of ``path`` (any order)."""
        prefix = f"modules/{escape(path)}/@v/"
        return [unescape(k[len(prefix) : -len(".json")]) for k in self.storage.list(prefix) if k.endswith(".json")]

    def modules(self) -> list[tuple[str, str]]:
        """Every stored ``(path, version)``."""
        out = []
        for key in self.storage.list("modules/"):
            head, _, tail = key[len("modules/") :].rpartition("/@v/")
            if tail.endswith(".json"):
                out.append((unescape(head), unescape(tail[: -len(".json")])))
        return out

    def sums(self, path: str, version: str) -> dict[str, str]:
        """Known go.sum hashes: ``{"zip": "h1:...", "mod": "h1:..."}`` (either may be absent)."""
        data = self.storage.get(self._key("sums", path, version, ""))
        out: dict[str, str] = {}
        for line in (data or b"").decode().splitlines():
            kind, _, h = line.partition(" ")
            if kind in ("zip", "mod") and h:
                out[kind] = h
        return out

    def add_sums(self, path: str, version: str, zip_h1: str = "", mod_h1: str = "") -> None:
        """Records go.sum hashes (first writer wins; a conflicting one is refused).

        Raises:
            IntegrityError: ``checksum_mismatch``.
        """
        known = self.sums(path, version)
        for kind, h in (("zip", zip_h1), ("mod", mod_h1)):
            if h and known.get(kind, h) != h:
                raise IntegrityError(
                    f"{path}@{version} {kind} hash {h} differs from the recorded {known[kind]}",
                    code="checksum_mismatch",
                )
        merged = {**known, **({"zip": zip_h1} if zip_h1 else {}), **({"mod": mod_h1} if mod_h1 else {})}
        if merged != known:
            text = "".join(f"{k} {v}\n" for k, v in sorted(merged.items()))
            self.storage.put(self._key("sums", path, version, ""), text.encode())

    def import_go_sum(self, text: str) -> int:
        """Adds every line of a go.sum text (``path version[/go.mod] h1:...``); returns the count.

        Raises:
            IntegrityError: a line conflicting with a recorded hash.
        """
        count = 0
        for line in text.splitlines():
            parts = line.split()
            if len(parts) != 3 or not parts[2].startswith("h1:"):
                continue
            path, version, h = parts
            if version.endswith("/go.mod"):
                self.add_sums(path, version[: -len("/go.mod")], mod_h1=h)
            else:
                self.add_sums(path, version, zip_h1=h)
            count += 1
        return count

    def store(
        self, path: str, version: str, info: bytes, mod: bytes, zip_data: bytes | None, origin: str
    ) -> ModuleRecord:
        """Verifies and stores a version (blobs first, then the record).

        Raises:
            ZipError: a zip breaking Go's rules.
            IntegrityError: ``checksum_mismatch`` against the go.sum records.
        """
        h1_mod = hash_gomod(mod)
        previous = self.record(path, version)
        h1_zip = zip_digest = ""
        size = 0
        if zip_data is not None:
            contents = read_zip(zip_data, path, version)
            h1_zip = contents.h1
            size = len(zip_data)
        elif previous is not None and previous.zip:
            h1_zip, zip_digest, size = previous.h1_zip, previous.zip, previous.zip_size
        self.add_sums(path, version, zip_h1=h1_zip, mod_h1=h1_mod)
        if zip_data is not None:
            zip_digest = self.put_blob(zip_data)
        record = ModuleRecord(
            path=path,
            version=version,
            info=self.put_blob(info),
            mod=self.put_blob(mod),
            zip=zip_digest,
            h1_mod=h1_mod,
            h1_zip=h1_zip,
            zip_size=size,
            stored_at=previous.stored_at if previous else now_rfc3339(),
            origin=origin,
        )
        self.storage.put(self._key("modules", path, version), record.to_json())
        return record

    # ---- routing state
    def _routing(self, path: str) -> tuple[dict[str, dict[str, Any]], dict[str, Any] | None]:
        now = time.monotonic()
        hit = self._state.get(path)
        if hit is not None and now - hit[0] < self._state_ttl:
            return hit[1], hit[2]
        yanks = self._read_yanks(path)
        data = self.storage.get(f"state/{escape(path)}/pin.json")
        pin = None if data is None else dict(json.loads(data))
        if self._state_ttl > 0:
            self._state[path] = (now, yanks, pin)
        return yanks, pin

    def cached_yanks(self, path: str) -> dict[str, dict[str, Any]] | None:
        """The yanks of ``path`` when the state in memory is fresh (younger than
        ``state_ttl_s``), else ``None`` (never reads the store)."""
        hit = self._state.get(path)
        if hit is None or time.monotonic() - hit[0] >= self._state_ttl:
            return None
        return hit[1]

    def _forget(self, path: str) -> None:
        self._state.pop(path, None)

    def yank(self, path: str, version: str, reason: str) -> None:
        data = {"version": version, "reason": reason, "at": now_rfc3339()}
        self.storage.put(self._key("state", path, version).replace("/@v/", "/yank/"), json.dumps(data).encode())
        self._forget(path)

    def unyank(self, path: str, version: str) -> None:
        self.storage.delete(self._key("state", path, version).replace("/@v/", "/yank/"))
        self._forget(path)

    def yanked(self, path: str, version: str) -> dict[str, Any] | None:
        return self._routing(path)[0].get(version)

    def yanks(self, path: str) -> dict[str, dict[str, Any]]:
        return dict(self._routing(path)[0])

    def _read_yanks(self, path: str) -> dict[str, dict[str, Any]]:
        prefix = f"state/{escape(path)}/yank/"
        out = {}
        for key in self.storage.list(prefix):
            data = self.storage.get(key)
            if data is not None:
                item = json.loads(data)
                out[item["version"]] = item
        return out

    def pin(self, path: str, version: str, reason: str = "") -> None:
        data = {"version": version, "reason": reason, "at": now_rfc3339()}
        self.storage.put(f"state/{escape(path)}/pin.json", json.dumps(data).encode())
        self._forget(path)

    def unpin(self, path: str) -> None:
        self.storage.delete(f"state/{escape(path)}/pin.json")
        self._forget(path)

    def pinned(self, path: str) -> dict[str, Any] | None:
        return self._routing(path)[1]

    # ---- license audits
    def audit(self, path: str, version: str) -> dict[str, Any] | None:
        data = self.storage.get(self._key("audit", path, version))
        return None if data is None else dict(json.loads(data))

    def put_audit(self, path: str, version: str, audit: Mapping[str, Any]) -> None:
        self.storage.put(self._key("audit", path, version), json.dumps(audit, sort_keys=True).encode())
