from __future__ import annotations

import base64
import hashlib
import io
import zipfile

import pytest

from kubegate.goproxy.errors import ZipError
from kubegate.goproxy.modzip import MAX_GO_MOD, build_zip, hash1, hash_gomod, read_zip

M, V = "example.test/m", "v1.0.0"


def _zip(entries: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return out.getvalue()


def test_hash1_is_dirhash() -> None:
    files = [("b.go", b"package b\n"), ("a/go.mod", b"module a\n")]
    lines = "".join(f"{hashlib.sha256(d).hexdigest()}  {n}\n" for n, d in sorted(files))
    want = "h1:" + base64.b64encode(hashlib.sha256(lines.encode()).digest()).decode()
    assert hash1(files) == want
    assert hash_gomod(b"module a\n") == hash1([("go.mod", b"module a\n")])


def test_read_zip() -> None:
    data = build_zip(
        M, V, {"go.mod": b"module example.test/m\n", "LICENSE": b"x", "sub/COPYING": b"y", "m.go": b"package m\n"}
    )
    c = read_zip(data, M, V)
    assert c.go_mod == b"module example.test/m\n"
    assert sorted(c.license_files) == ["LICENSE", "sub/COPYING"]
    assert c.file_count == 4
    assert c.h1 == hash1(
        (f"{M}@{V}/{n}", d)
        for n, d in [
            ("go.mod", b"module example.test/m\n"),
            ("LICENSE", b"x"),
            ("sub/COPYING", b"y"),
            ("m.go", b"package m\n"),
        ]
    )


@pytest.mark.parametrize(
    ("entries", "code"),
    [
        ({"other@v1.0.0/go.mod": b""}, "module_zip_prefix"),
        ({f"{M}@{V}/../evil": b""}, "module_zip_invalid"),
        ({f"{M}@{V}/dir/": b""}, "module_zip_invalid"),
        ({f"{M}@{V}/A.go": b"", f"{M}@{V}/a.go": b""}, "module_zip_invalid"),
        ({f"{M}@{V}/go.mod": b"x" * (MAX_GO_MOD + 1)}, "module_zip_too_large"),
    ],
)
def test_rules(entries: dict[str, bytes], code: str) -> None:
    with pytest.raises(ZipError) as err:
        read_zip(_zip(entries), M, V)
    assert err.value.code == code


def test_not_a_zip() -> None:
    with pytest.raises(ZipError):
        read_zip(b"PK\x03\x04 truncated", M, V)
