"""Offline bundles: export, incremental export, and imports that must reject damage with nothing loaded."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from kubegate.goproxy.bundle import export_bundle, import_bundle
from kubegate.goproxy.errors import BundleError, IntegrityError
from kubegate.goproxy.storage import LocalStorage
from kubegate.goproxy.vault import Vault
from tests.goproxy.gomodules import GoModule

MODULES = [GoModule("example.test/a", "v1.0.0"), GoModule("example.test/B", "v0.1.0", license="Apache-2.0")]


def _vault(root: Path, modules: list[GoModule]) -> Vault:
    vault = Vault(LocalStorage(root))
    for m in modules:
        vault.store(m.path, m.version, m.info(), m.gomod().encode(), m.zip(), "http://upstream")
    return vault


def _members(bundle: Path) -> dict[str, bytes]:
    with tarfile.open(bundle, "r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar}  # type: ignore[union-attr]


def _write(bundle: Path, members: dict[str, bytes]) -> None:
    with tarfile.open(bundle, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_round_trip_and_incremental(tmp_path: Path) -> None:
    source = _vault(tmp_path / "src", MODULES)
    source.put_audit("example.test/a", "v1.0.0", {"licenses": [{"file": "LICENSE", "spdx": "MIT", "confidence": 1.0}]})
    first = tmp_path / "q3.tar.gz"
    manifest = export_bundle(source, first)
    assert [(m["path"], m["version"]) for m in manifest["modules"]] == [
        ("example.test/B", "v0.1.0"),
        ("example.test/a", "v1.0.0"),
    ]
    assert set(_members(first)) >= {"manifest.json", "SHA256SUMS", "modules/example.test/!b/@v/v0.1.0.zip"}
    target = Vault(LocalStorage(tmp_path / "airgap"))
    result = import_bundle(target, first)
    assert (result.modules, result.skipped) == (2, 0)
    for m in MODULES:
        record = target.record(m.path, m.version)
        assert record is not None and target.blob(record.zip) == m.zip() and record.origin == "bundle:q3.tar.gz"
    assert target.audit("example.test/a", "v1.0.0") is not None
    # Incremental: only what is new since the first bundle.
    new = GoModule("example.test/a", "v1.1.0")
    source.store(new.path, new.version, new.info(), new.gomod().encode(), new.zip(), "http://upstream")
    second = tmp_path / "q4.tar.gz"
    manifest = export_bundle(source, second, previous=first)
    assert [(m["path"], m["version"]) for m in manifest["modules"]] == [("example.test/a", "v1.1.0")]
    assert manifest["previous"]
    assert import_bundle(target, second).modules == 1
    assert import_bundle(target, second).skipped == 1
    only = export_bundle(source, tmp_path / "one.tar.gz", modules=[("example.test/B", "v0.1.0")])
    assert len(only["modules"]) == 1
    assert export_bundle(source, tmp_path / "none.tar.gz", since="2999-01-01")["modules"] == []


def _assert_nothing_loaded(tmp_path: Path, bundle: Path, error: type[Exception], code: str) -> None:
    target = Vault(LocalStorage(tmp_path / "target"))
    with pytest.raises(error) as err:
        import_bundle(target, bundle)
    assert err.value.code == code  # type: ignore[attr-defined]
    assert target.modules() == [] and target.storage.list("") == []


def test_tampered_file(tmp_path: Path) -> None:
    bundle = tmp_path / "b.tar.gz"
    export_bundle(_vault(tmp_path / "src", MODULES), bundle)
    members = _members(bundle)
    members["modules/example.test/a/@v/v1.0.0.mod"] += b"// tampered\n"
    _write(bundle, members)
    _assert_nothing_loaded(tmp_path, bundle, IntegrityError, "bundle_sum_mismatch")


def test_tampered_file_with_matching_sums(tmp_path: Path) -> None:
    import hashlib

    bundle = tmp_path / "b.tar.gz"
    export_bundle(_vault(tmp_path / "src", MODULES), bundle)
    members = _members(bundle)
    name = "modules/example.test/a/@v/v1.0.0.zip"
    evil = GoModule("example.test/a", "v1.0.0", license="GPL-3").zip()
    members[name] = evil
    sums = members["SHA256SUMS"].decode().splitlines()
    members["SHA256SUMS"] = "".join(
        (f"{hashlib.sha256(evil).hexdigest()}  {name}" if line.endswith(name) else line) + "\n" for line in sums
    ).encode()
    _write(bundle, members)
    _assert_nothing_loaded(tmp_path, bundle, IntegrityError, "checksum_mismatch")


def test_missing_sums_line(tmp_path: Path) -> None:
    bundle = tmp_path / "b.tar.gz"
    export_bundle(_vault(tmp_path / "src", MODULES), bundle)
    members = _members(bundle)
    members["SHA256SUMS"] = b"".join(
        line + b"\n" for line in members["SHA256SUMS"].splitlines() if not line.endswith(b"v0.1.0.zip")
    )
    _write(bundle, members)
    _assert_nothing_loaded(tmp_path, bundle, BundleError, "bundle_sums_missing")


def test_truncated_archive(tmp_path: Path) -> None:
    bundle = tmp_path / "b.tar.gz"
    export_bundle(_vault(tmp_path / "src", MODULES), bundle)
    data = bundle.read_bytes()
    bundle.write_bytes(data[: len(data) // 2])
    _assert_nothing_loaded(tmp_path, bundle, BundleError, "bundle_truncated")


def test_conflict_with_vault_records(tmp_path: Path) -> None:
    bundle = tmp_path / "b.tar.gz"
    export_bundle(_vault(tmp_path / "src", MODULES), bundle)
    target = Vault(LocalStorage(tmp_path / "target"))
    target.add_sums("example.test/a", "v1.0.0", zip_h1="h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
    with pytest.raises(IntegrityError):
        import_bundle(target, bundle)
    assert target.modules() == []
