"""SBOMs of a module graph: SPDX 2.3 JSON read back and validated by spdx-tools' own
parser and validator, CycloneDX JSON."""

from __future__ import annotations

import json
from pathlib import Path

from spdx_tools.spdx.parser.parse_anything import parse_file
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

from kubegate.goproxy.sbom import cyclonedx_json, spdx_json

ROWS = [
    {"path": "example.test/Upper", "version": "v1.0.0", "expression": "MIT OR Apache-2.0", "verdict": "PASS"},
    {"path": "example.test/pointer", "version": "v1.0.0", "expression": "UNKNOWN", "verdict": "REVIEW_REQUIRED"},
    {"path": "example.test/a-b", "version": "v1.0.0", "expression": "LicenseRef-x OR Foo", "verdict": "REJECT"},
    {"path": "example.test/a/b", "version": "v1.0.0", "expression": "GPL-3.0-only", "verdict": "REJECT"},
]


def test_spdx_round_trip(tmp_path: Path) -> None:
    text = spdx_json("example.test/app", ROWS)
    path = tmp_path / "sbom.spdx.json"
    path.write_text(text)
    document = parse_file(str(path))
    assert validate_full_spdx_document(document) == []
    packages = {p.name: p for p in document.packages}
    assert set(packages) == {"example.test/app", *(r["path"] for r in ROWS)}
    assert str(packages["example.test/Upper"].license_concluded) == "MIT OR Apache-2.0"
    assert str(packages["example.test/pointer"].license_concluded) == "NOASSERTION"
    assert str(packages["example.test/a-b"].license_declared) == "NOASSERTION"  # not SPDX ids
    assert packages["example.test/Upper"].external_references[0].locator == "pkg:golang/example.test/Upper@v1.0.0"
    assert "REVIEW_REQUIRED" in (packages["example.test/pointer"].comment or "")
    ids = [p.spdx_id for p in document.packages]
    assert len(set(ids)) == len(ids)  # a-b and a/b do not collide
    root = packages["example.test/app"].spdx_id
    depends = {r.related_spdx_element_id for r in document.relationships if r.spdx_element_id == root}
    assert depends == {p.spdx_id for p in document.packages if p.spdx_id != root}
    described = [r for r in document.relationships if r.spdx_element_id == "SPDXRef-DOCUMENT"]
    assert [r.related_spdx_element_id for r in described] == [root]


def test_cyclonedx() -> None:
    bom = json.loads(cyclonedx_json("example.test/app", ROWS[:2]))
    licenses = {c["name"]: c.get("licenses") for c in bom["components"]}
    assert licenses == {"example.test/Upper": [{"expression": "MIT OR Apache-2.0"}], "example.test/pointer": None}
