"""The vault's storage interface and its local-directory backend.

Keys are ``/``-separated relative paths (``blobs/sha256/ab/abcd...``,
``modules/example.com/!foo/@v/v1.0.0.json``). Every write is atomic: a
reader sees the old object, the new one, or none, never a part (temporary
file + ``os.replace`` here, one PUT on S3). ``put(..., if_absent=True)`` is
a conditional create (``os.link`` here, ``If-None-Match: *`` on S3), used
for content-addressed blobs and first-writer-wins records, so replicas on
the same store agree.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Protocol

from kubegate.goproxy.errors import StorageError

__all__ = ["LocalStorage", "Storage", "check_key"]


def check_key(key: str) -> str:
    """Refuses keys that could leave the store (``..``, absolute, empty parts).

    Raises:
        StorageError: ``storage_key_invalid``.
    """
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\\" in key or "\0" in key:
        raise StorageError(f"invalid storage key {key!r}", code="storage_key_invalid", status=400)
    return key


class Storage(Protocol):
    """What the vault needs of a store (see the module docstring)."""

    name: str

    def get(self, key: str) -> bytes | None:
        """The object's bytes, ``None`` when absent."""
        ...

    def put(self, key: str, data: bytes, *, if_absent: bool = False) -> bool:
        """Writes atomically; with ``if_absent`` only when absent. ``False`` when it was not written."""
        ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None: ...

    def list(self, prefix: str) -> list[str]:
        """Keys under ``prefix`` (a string prefix), sorted."""
        ...


class LocalStorage:
    """A directory (the default, embedded backend).

    Args:
        root: the directory (created when missing).

    Raises:
        StorageError: the directory cannot be created.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.name = f"file://{self.root}"
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create {self.root}: {exc.strerror}") from None

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def get(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageError(f"cannot read {key}: {exc.strerror}") from None

    def put(self, key: str, data: bytes, *, if_absent: bool = False) -> bool:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                if if_absent:
                    try:
                        os.link(tmp, path)
                    except FileExistsError:
                        return False
                else:
                    os.replace(tmp, path)
                    tmp = ""
            finally:
                if tmp:
                    os.unlink(tmp)
        except OSError as exc:
            raise StorageError(f"cannot write {key}: {exc.strerror}") from None
        return True

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StorageError(f"cannot delete {key}: {exc.strerror}") from None

    def list(self, prefix: str) -> list[str]:
        base = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        start = self.root / base if base else self.root
        if not start.is_dir():
            return []
        out = []
        for dirpath, _dirs, names in os.walk(start):
            for name in names:
                if name.startswith(".tmp-"):
                    continue
                key = os.path.relpath(os.path.join(dirpath, name), self.root).replace(os.sep, "/")
                if key.startswith(prefix):
                    out.append(key)
        return sorted(out)
