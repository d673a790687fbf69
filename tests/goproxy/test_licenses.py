"""License detection on real license texts (Debian's /usr/share/common-licenses and an MIT text)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubegate.goproxy.licenses import choices, detect_licenses, normalise_spdx
from tests.goproxy.gomodules import MIT_TEXT

COMMON = Path("/usr/share/common-licenses")


@pytest.mark.parametrize(
    ("name", "spdx"),
    [
        ("GPL-3", "GPL-3.0-only"),
        ("Apache-2.0", "Apache-2.0"),
        ("BSD", "BSD-3-Clause"),
        ("MPL-2.0", "MPL-2.0"),
        ("LGPL-2.1", "LGPL-2.1-only"),
    ],
)
def test_debian_texts(name: str, spdx: str) -> None:
    findings, expression = detect_licenses({"LICENSE": (COMMON / name).read_bytes()})
    assert [f.spdx for f in findings] == [spdx]
    assert expression == spdx
    assert findings[0].confidence > 0.9


def test_several_files_and_unknowns() -> None:
    findings, expression = detect_licenses(
        {
            "LICENSE": MIT_TEXT.encode(),
            "third_party/x/COPYING": (COMMON / "Apache-2.0").read_bytes(),
            "docs/LICENSE.md": b"This project is licensed as described in ../LICENSE.\n",
            "NOTICE": b"This product includes software developed by Example.\n",
        }
    )
    by_file = {f.file: f.spdx for f in findings}
    assert by_file == {
        "LICENSE": "MIT",
        "third_party/x/COPYING": "Apache-2.0",
        "docs/LICENSE.md": "UNKNOWN",
        "NOTICE": "NOASSERTION",
    }
    assert set(expression.split(" AND ")) == {"MIT", "Apache-2.0", "UNKNOWN"}


def test_no_license_file() -> None:
    findings, expression = detect_licenses({})
    assert [(f.file, f.spdx) for f in findings] == [("", "UNKNOWN")]
    assert expression == "UNKNOWN"


def test_normalise_and_choices() -> None:
    assert normalise_spdx("GPL-3.0+") == "GPL-3.0-or-later"
    assert normalise_spdx("gpl-2.0") == "GPL-2.0-only"
    assert normalise_spdx("MIT OR") == "UNKNOWN"
    assert choices("MIT OR Apache-2.0") == [["Apache-2.0"], ["MIT"]]
    assert choices("(MIT OR ISC) AND BSD-3-Clause") == [["BSD-3-Clause", "ISC"], ["BSD-3-Clause", "MIT"]]
