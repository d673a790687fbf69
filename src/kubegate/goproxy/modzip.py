"""Module zips: Go's layout and limits, and the ``h1:`` dirhash.

The rules of https://go.dev/ref/mod#zip-path-size-constraints, as
``golang.org/x/mod/zip`` checks them: every file under
``module@version/``, no duplicate names (case-folded), no directory entries,
``..`` or absolute paths, at most 500 MiB compressed and 500 MiB unpacked,
``go.mod`` and ``LICENSE`` at most 16 MiB.

``h1:`` is ``golang.org/x/mod/sumdb/dirhash.Hash1``: SHA-256 over the lines
``"<sha256 hex>  <name>\\n"`` of the files sorted by name, base64 (standard), with
the ``h1:`` prefix. A zip's names are its full names (with the prefix); a
go.mod is hashed as the one file ``go.mod`` (the ``/go.mod`` line of go.sum).
"""

from __future__ import annotations

import base64
import hashlib
import io
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass

from kubegate.goproxy.errors import ZipError

__all__ = [
    "MAX_GO_MOD",
    "MAX_LICENSE",
    "MAX_ZIP",
    "ZipContents",
    "build_zip",
    "hash1",
    "hash_gomod",
    "hash_zip",
    "read_zip",
]

MAX_ZIP = 500 << 20
"""Largest zip, compressed and unpacked (bytes)."""
MAX_GO_MOD = 16 << 20
MAX_LICENSE = 16 << 20


def hash1(files: Iterable[tuple[str, bytes]]) -> str:
    """``dirhash.Hash1`` over ``(name, content)`` pairs.

    Raises:
        ZipError: a name holding a newline.
    """
    lines = []
    for name, data in sorted(files, key=lambda item: item[0]):
        if "\n" in name:
            raise ZipError(f"file name {name!r} holds a newline")
        lines.append(f"{hashlib.sha256(data).hexdigest()}  {name}\n")
    return "h1:" + base64.b64encode(hashlib.sha256("".join(lines).encode()).digest()).decode()


def hash_gomod(data: bytes) -> str:
    """The ``h1:`` of a go.mod file (go.sum's ``version/go.mod`` line)."""
    return hash1([("go.mod", data)])


@dataclass(frozen=True)
class ZipContents:
    """A checked zip: its ``h1:``, its go.mod (``None`` when it has none) and
    its files (names without the prefix → content) of interest to the auditor."""

    h1: str
    go_mod: bytes | None
    license_files: dict[str, bytes]
    file_count: int
    unpacked_bytes: int


_LICENSE_NAMES = ("LICENSE", "LICENCE", "COPYING", "NOTICE", "UNLICENSE")


def is_license_file(name: str) -> bool:
    """LICENSE/LICENCE/COPYING/NOTICE (any case, any extension) in any directory."""
    base = name.rsplit("/", 1)[-1].upper()
    return any(base == n or base.startswith(n + ".") or base.startswith(n + "-") for n in _LICENSE_NAMES)


def read_zip(data: bytes, module: str, version: str) -> ZipContents:
    """Checks a module zip and reads what the proxy needs from it.

    Args:
        data: the zip bytes (at most :data:`MAX_ZIP`).
        module: the module path (the zip's prefix is ``module@version/``).
        version: the canonical version.

    Raises:
        ZipError: any rule above broken, or not a zip.
    """
    if len(data) > MAX_ZIP:
        raise ZipError(f"module zip is {len(data)} bytes, more than {MAX_ZIP}", code="module_zip_too_large")
    prefix = f"{module}@{version}/"
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise ZipError(f"not a zip file: {exc}") from None
    seen: set[str] = set()
    total = 0
    files: list[tuple[str, bytes]] = []
    go_mod: bytes | None = None
    licenses: dict[str, bytes] = {}
    for info in infos:
        name = info.filename
        if not name.startswith(prefix):
            raise ZipError(f"zip file {name!r} is not under {prefix}", code="module_zip_prefix")
        rel = name[len(prefix) :]
        if not rel or name.endswith("/") or info.is_dir():
            raise ZipError(f"zip holds a directory entry {name!r}")
        parts = rel.split("/")
        if any(p in ("", ".", "..") for p in parts) or "\\" in rel or rel.startswith("/"):
            raise ZipError(f"zip file name {name!r} is not a clean relative path")
        folded = name.casefold()
        if folded in seen:
            raise ZipError(f"zip holds {name!r} twice (case-insensitively)")
        seen.add(folded)
        total += info.file_size
        if total > MAX_ZIP:
            raise ZipError(f"module unpacks to more than {MAX_ZIP} bytes", code="module_zip_too_large")
        limit = MAX_GO_MOD if rel == "go.mod" else MAX_LICENSE if rel == "LICENSE" else MAX_ZIP
        if info.file_size > limit:
            raise ZipError(f"{rel} is {info.file_size} bytes, more than {limit}", code="module_zip_too_large")
        try:
            with archive.open(info) as fh:
                content = fh.read(limit + 1)
        except (zipfile.BadZipFile, ValueError, OSError, EOFError, NotImplementedError) as exc:
            raise ZipError(f"cannot read {name!r}: {exc}") from None
        if len(content) != info.file_size:
            raise ZipError(f"{name!r} does not hold the size its header declares")
        files.append((name, content))
        if rel == "go.mod":
            go_mod = content
        if is_license_file(rel) and "/vendor/" not in f"/{rel}":
            licenses[rel] = content
    return ZipContents(hash1(files), go_mod, licenses, len(files), total)


def hash_zip(data: bytes, module: str, version: str) -> str:
    """The ``h1:`` of a module zip (checked as :func:`read_zip` does)."""
    return read_zip(data, module, version).h1


def build_zip(module: str, version: str, files: dict[str, bytes]) -> bytes:
    """A module zip in Go's layout (``module@version/<name>`` entries, deflated,
    sorted names); used by tests, the benchmark and bundle fixtures."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(f"{module}@{version}/{name}", (1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, files[name])
    return out.getvalue()
