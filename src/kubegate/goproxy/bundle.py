"""Offline bundles: ``tar.gz`` archives of module versions for air-gapped vaults.

Layout (``FORMAT``)::

    manifest.json                       what the bundle holds (below)
    SHA256SUMS                          "<sha256>  <name>" for every other file, manifest included
    SHA256SUMS.sig                      when signed: the signature of SHA256SUMS (:mod:`.signing`)
    modules/<path>/@v/<version>.info    .mod and .zip beside it (escaped path and version)
    audits/<path>/@v/<version>.json     the license findings and last verdict, when known

``manifest.json``: ``{"format", "created", "since", "previous", "modules":
[{"path", "version", "h1_zip", "h1_mod", "origin", "stored_at", "files"}]}``
where ``previous`` is the sha256 of the manifest an incremental export was
made against (versions that manifest lists are left out).

:func:`import_bundle` verifies everything before anything is stored: every
file has a SUMS line and matches it, every SUMS line has its file, every
zip follows Go's zip rules and hashes (``h1:``) to what the manifest says,
and every hash agrees with the vault's go.sum records; with a verification
key, SHA256SUMS must carry that key's signature, checked first. One failure rejects
the whole bundle (``BundleError``/``IntegrityError``) and the vault is left
as it was.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import tempfile
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubegate.goproxy.errors import BundleError, GoproxyError, IntegrityError
from kubegate.goproxy.escape import escape
from kubegate.goproxy.modzip import hash_gomod, read_zip
from kubegate.goproxy.signing import SIGNATURE_NAME, SigningKey, verify_sums
from kubegate.goproxy.vault import Vault, now_rfc3339
from kubegate.images.keys import PublicKey

__all__ = ["FORMAT", "ImportResult", "export_bundle", "import_bundle", "manifest_digest"]

FORMAT = "kubegate-goproxy-bundle/v1"
MAX_MEMBERS = 200_000
MAX_BUNDLE_BYTES = 64 << 30


@dataclass(frozen=True)
class ImportResult:
    modules: int
    skipped: int


def _add(tar: tarfile.TarFile, name: str, data: bytes, sums: list[str]) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))
    sums.append(f"{hashlib.sha256(data).hexdigest()}  {name}\n")


def manifest_digest(bundle: str | Path) -> tuple[str, dict[str, Any]]:
    """The sha256 and content of a bundle's manifest (for incremental exports).

    Raises:
        BundleError: not a readable bundle.
    """
    try:
        with tarfile.open(bundle, "r:gz") as tar:
            member = tar.extractfile("manifest.json")
            if member is None:
                raise BundleError(f"{bundle} has no manifest.json")
            data = member.read()
    except (OSError, tarfile.TarError, KeyError, EOFError) as exc:
        raise BundleError(f"cannot read {bundle}: {exc}") from None
    return hashlib.sha256(data).hexdigest(), dict(json.loads(data))


def export_bundle(
    vault: Vault,
    output: str | Path,
    *,
    since: str | None = None,
    modules: Iterable[tuple[str, str]] | None = None,
    previous: str | Path | None = None,
    sign_key: SigningKey | None = None,
) -> dict[str, Any]:
    """Writes a bundle; returns its manifest.

    Args:
        since: RFC 3339 date or time: only versions stored at or after it.
        modules: only these ``(path, version)`` pairs (else every stored one).
        previous: an earlier bundle: versions its manifest lists are left out.
        sign_key: adds ``SHA256SUMS.sig``, this key's signature of ``SHA256SUMS``.

    Raises:
        BundleError: an unreadable previous bundle; StorageError: the vault failed.
    """
    wanted = set(modules) if modules is not None else None
    previous_digest = ""
    seen: set[tuple[str, str]] = set()
    if previous is not None:
        previous_digest, old = manifest_digest(previous)
        seen = {(m["path"], m["version"]) for m in old.get("modules", [])}
    entries: list[dict[str, Any]] = []
    sums: list[str] = []
    buffer = Path(output)
    with tarfile.open(buffer, "w:gz") as tar:
        for path, version in sorted(vault.modules()):
            if (wanted is not None and (path, version) not in wanted) or (path, version) in seen:
                continue
            record = vault.record(path, version)
            if record is None or (since and record.stored_at < since):
                continue
            base = f"modules/{escape(path)}/@v/{escape(version)}"
            files = {"info": f"{base}.info", "mod": f"{base}.mod"}
            _add(tar, files["info"], vault.blob(record.info), sums)
            _add(tar, files["mod"], vault.blob(record.mod), sums)
            if record.zip:
                files["zip"] = f"{base}.zip"
                _add(tar, files["zip"], vault.blob(record.zip), sums)
            audit = vault.audit(path, version)
            if audit is not None:
                files["audit"] = f"audits/{escape(path)}/@v/{escape(version)}.json"
                _add(tar, files["audit"], json.dumps(audit, sort_keys=True).encode(), sums)
            entries.append(
                {
                    "path": path,
                    "version": version,
                    "h1_zip": record.h1_zip,
                    "h1_mod": record.h1_mod,
                    "origin": record.origin,
                    "stored_at": record.stored_at,
                    "files": files,
                }
            )
        manifest = {
            "format": FORMAT,
            "created": now_rfc3339(),
            "since": since or "",
            "previous": previous_digest,
            "modules": entries,
        }
        _add(tar, "manifest.json", json.dumps(manifest, indent=1, sort_keys=True).encode(), sums)
        info = tarfile.TarInfo("SHA256SUMS")
        text = "".join(sorted(sums, key=lambda line: line.split("  ", 1)[1])).encode()
        info.size, info.mtime, info.mode = len(text), int(time.time()), 0o644
        tar.addfile(info, io.BytesIO(text))
        if sign_key is not None:
            signature = sign_key.sign(text)
            info = tarfile.TarInfo(SIGNATURE_NAME)
            info.size, info.mtime, info.mode = len(signature), int(time.time()), 0o644
            tar.addfile(info, io.BytesIO(signature))
    return manifest


def _unpack(bundle: Path, into: Path) -> dict[str, Path]:
    files: dict[str, Path] = {}
    total = 0
    try:
        with tarfile.open(bundle, "r:gz") as tar:
            for n, member in enumerate(tar):
                if n >= MAX_MEMBERS:
                    raise BundleError(f"bundle has more than {MAX_MEMBERS} files")
                name = member.name
                if not member.isfile():
                    raise BundleError(f"bundle member {name!r} is not a regular file")
                parts = name.split("/")
                if name.startswith("/") or any(p in ("", ".", "..") for p in parts) or name in files:
                    raise BundleError(f"bundle member name {name!r} is not allowed")
                total += member.size
                if total > MAX_BUNDLE_BYTES:
                    raise BundleError("bundle unpacks to more than the limit")
                source = tar.extractfile(member)
                if source is None:
                    raise BundleError(f"cannot read {name!r}")
                target = into / f"{len(files):08d}"
                with target.open("wb") as out:
                    while chunk := source.read(1 << 20):
                        out.write(chunk)
                if target.stat().st_size != member.size:
                    raise BundleError(f"{name!r} is truncated")
                files[name] = target
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise BundleError(
            f"bundle is damaged or truncated: {type(exc).__name__}: {exc}", code="bundle_truncated"
        ) from None
    return files


def _head(path: Path, limit: int) -> bytes:
    """At most ``limit`` bytes of ``path`` (a signature is small; a huge one is still refused)."""
    with path.open("rb") as fh:
        return fh.read(limit)


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def import_bundle(vault: Vault, bundle: str | Path, verify_key: PublicKey | None = None) -> ImportResult:
    """Verifies a bundle whole, then stores its versions (see the module docstring).

    Args:
        verify_key: when given, the bundle must be signed by it (checked before anything else is).

    Raises:
        BundleError: ``bundle_truncated``, ``bundle_sums_missing``, ``bundle_invalid``, ``bundle_unsigned``.
        IntegrityError: ``bundle_sum_mismatch``, ``checksum_mismatch``, ``bundle_signature_invalid``.
    """
    with tempfile.TemporaryDirectory(prefix="kubegate-bundle-") as tmp:
        files = _unpack(Path(bundle), Path(tmp))
        if "SHA256SUMS" not in files:
            raise BundleError("bundle has no SHA256SUMS", code="bundle_sums_missing")
        signature = files.pop(SIGNATURE_NAME, None)
        if verify_key is not None:
            verify_sums(
                files["SHA256SUMS"].read_bytes(),
                _head(signature, 4097) if signature is not None else None,
                verify_key,
            )
        listed: dict[str, str] = {}
        for line in files["SHA256SUMS"].read_text("utf-8", "replace").splitlines():
            digest, sep, name = line.partition("  ")
            if not sep or len(digest) != 64 or name in listed:
                raise BundleError(f"malformed SHA256SUMS line {line!r}", code="bundle_sums_missing")
            listed[name] = digest
        for name, local in files.items():
            if name == "SHA256SUMS":
                continue
            if name not in listed:
                raise BundleError(f"{name} has no SHA256SUMS line", code="bundle_sums_missing")
            if _sha256_file(local) != listed[name]:
                raise IntegrityError(f"{name} does not match its SHA256SUMS line", code="bundle_sum_mismatch")
        missing = sorted(set(listed) - set(files))
        if missing:
            raise BundleError(f"SHA256SUMS lists files the bundle lacks: {', '.join(missing[:5])}")
        if "manifest.json" not in files:
            raise BundleError("bundle has no manifest.json")
        try:
            manifest = json.loads(files["manifest.json"].read_bytes())
            if manifest.get("format") != FORMAT:
                raise BundleError(f"unknown bundle format {manifest.get('format')!r}")
            entries = list(manifest["modules"])
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise BundleError(f"bad manifest.json: {exc}") from None
        staged: list[tuple[dict[str, Any], bytes, bytes, bytes | None, dict[str, Any] | None]] = []
        for entry in entries:
            try:
                path, version, names = str(entry["path"]), str(entry["version"]), dict(entry["files"])
                info, mod = files[names["info"]].read_bytes(), files[names["mod"]].read_bytes()
                zip_data = files[names["zip"]].read_bytes() if "zip" in names else None
                audit = json.loads(files[names["audit"]].read_bytes()) if "audit" in names else None
            except (KeyError, TypeError, ValueError) as exc:
                raise BundleError(f"manifest entry {entry!r:.200} names a missing file: {exc}") from None
            if hash_gomod(mod) != entry.get("h1_mod"):
                raise IntegrityError(
                    f"{path}@{version}: go.mod does not hash to the manifest's h1", code="checksum_mismatch"
                )
            if zip_data is not None:
                try:
                    h1 = read_zip(zip_data, path, version).h1
                except GoproxyError as exc:
                    raise BundleError(f"{path}@{version}: {exc.message}") from None
                if h1 != entry.get("h1_zip"):
                    raise IntegrityError(
                        f"{path}@{version}: zip does not hash to the manifest's h1", code="checksum_mismatch"
                    )
            known = vault.sums(path, version)
            for kind, h in (("zip", entry.get("h1_zip")), ("mod", entry.get("h1_mod"))):
                if h and known.get(kind, h) != h:
                    raise IntegrityError(
                        f"{path}@{version}: {kind} hash differs from the vault's go.sum record",
                        code="checksum_mismatch",
                    )
            staged.append((entry, info, mod, zip_data, audit))
        skipped = 0
        for entry, info, mod, zip_data, audit in staged:
            path, version = str(entry["path"]), str(entry["version"])
            existing = vault.record(path, version)
            if existing is not None and (existing.zip or zip_data is None):
                skipped += 1
                continue
            vault.store(path, version, info, mod, zip_data, f"bundle:{Path(bundle).name}")
            if audit is not None and vault.audit(path, version) is None:
                vault.put_audit(path, version, audit)
        return ImportResult(len(staged) - skipped, skipped)
