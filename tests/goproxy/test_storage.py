"""The local storage backend and the vault on it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from kubegate.goproxy.errors import IntegrityError, StorageError
from kubegate.goproxy.storage import LocalStorage
from kubegate.goproxy.vault import Vault
from tests.goproxy.gomodules import GoModule


def test_local_storage(tmp_path: Path) -> None:
    s = LocalStorage(tmp_path)
    assert s.get("a/b") is None and not s.exists("a/b")
    assert s.put("a/b", b"1")
    assert not s.put("a/b", b"2", if_absent=True)
    assert s.get("a/b") == b"1"
    assert s.put("a/b", b"3") and s.get("a/b") == b"3"
    s.put("a/c/d", b"x")
    assert s.list("a/") == ["a/b", "a/c/d"]
    assert not list(tmp_path.rglob(".tmp-*"))
    s.delete("a/b")
    s.delete("a/b")
    assert s.list("a/") == ["a/c/d"]
    for bad in ("../x", "/abs", "a//b", "a/./b"):
        with pytest.raises(StorageError):
            s.get(bad)


def test_vault_round_trip_and_damage(tmp_path: Path) -> None:
    vault = Vault(LocalStorage(tmp_path), blob_cache_bytes=0)
    m = GoModule("example.test/Big", "v2.0.0+incompatible")
    record = vault.store(m.path, m.version, m.info(), m.gomod().encode(), m.zip(), "test")
    assert vault.record(m.path, m.version) == record
    assert vault.versions(m.path) == ["v2.0.0+incompatible"]
    assert vault.modules() == [(m.path, m.version)]
    assert vault.blob(record.zip) == m.zip()
    assert vault.sums(m.path, m.version) == {"zip": record.h1_zip, "mod": record.h1_mod}
    # A damaged blob is never served.
    blob = tmp_path / "blobs" / "sha256" / record.zip[:2] / record.zip
    blob.write_bytes(b"PK damaged")
    with pytest.raises(IntegrityError):
        vault.blob(record.zip)
    # Another zip for the same version conflicts with the recorded go.sum hash.
    other = GoModule(m.path, m.version, license="BSD")
    with pytest.raises(IntegrityError):
        vault.store(m.path, m.version, other.info(), other.gomod().encode(), other.zip(), "test")


def test_yank_pin_state(tmp_path: Path) -> None:
    vault = Vault(LocalStorage(tmp_path))
    vault.yank("example.test/m", "v1.0.0", "why")
    assert vault.yanked("example.test/m", "v1.0.0")["reason"] == "why"  # type: ignore[index]
    assert list(vault.yanks("example.test/m")) == ["v1.0.0"]
    vault.unyank("example.test/m", "v1.0.0")
    assert vault.yanks("example.test/m") == {}
    vault.pin("example.test/m", "v0.9.0")
    assert vault.pinned("example.test/m")["version"] == "v0.9.0"  # type: ignore[index]
    # A second vault on the same directory (another replica) sees the same state,
    # and a change made through one reaches the other once its state TTL has passed.
    other = Vault(LocalStorage(tmp_path), state_ttl_s=0.05)
    assert other.pinned("example.test/m") is not None
    vault.unpin("example.test/m")
    assert vault.pinned("example.test/m") is None
    deadline = time.monotonic() + 30
    while other.pinned("example.test/m") is not None:
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_blob_cache_is_bounded(tmp_path: Path) -> None:
    vault = Vault(LocalStorage(tmp_path), blob_cache_bytes=1000)
    digests = [vault.put_blob(bytes([i]) * 400) for i in range(5)]
    for d in digests:
        assert vault.blob(d) == vault.storage.get(f"blobs/sha256/{d[:2]}/{d}")
    assert vault._blob_bytes <= 1000
