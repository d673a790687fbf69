"""Reading manifests: streams, List kinds, positions, strictness, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kubegate.errors import InputError
from kubegate.policy.documents import iter_input_files, load_documents, load_file

STREAM = """\
# leading comment
apiVersion: v1
kind: Pod
metadata:
  name: a
  creationTimestamp: 2024-01-01T00:00:00Z
---
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata: {name: s1}
- apiVersion: v1
  kind: Service
  metadata: {name: s2}
"""


def test_stream_lists_and_lines() -> None:
    docs = load_documents(STREAM, "f.yaml")
    assert [(d.kind, d.name, d.index, d.line) for d in docs] == [
        ("Pod", "a", 0, 2),
        ("Service", "s1", 1, 12),
        ("Service", "s2", 2, 15),
    ]
    assert docs[0].obj["metadata"]["creationTimestamp"] == "2024-01-01T00:00:00Z"


def test_malformed_yaml_is_located() -> None:
    with pytest.raises(InputError) as info:
        load_documents("apiVersion: v1\nkind: Pod\nmetadata: {name: [a\n", "bad.yaml")
    err = info.value
    assert err.code == "yaml_parse_error"
    assert err.location is not None and err.location.file == "bad.yaml" and err.location.line >= 3


def test_duplicate_keys_are_rejected() -> None:
    with pytest.raises(InputError) as info:
        load_documents("kind: Pod\nkind: Service\n", "dup.yaml")
    assert "duplicate key 'kind'" in info.value.message
    assert info.value.location is not None and info.value.location.line == 2


def test_non_mapping_document() -> None:
    with pytest.raises(InputError) as info:
        load_documents("- a\n- b\n", "list.yaml")
    assert info.value.code == "invalid_document"


def test_json_files(tmp_path: Path) -> None:
    path = tmp_path / "objs.json"
    path.write_text(json.dumps([{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"}}]))
    assert [d.name for d in load_file(str(path))] == ["a"]
    path.write_text('{"apiVersion": "v1",\n "kind": }')
    with pytest.raises(InputError) as info:
        load_file(str(path))
    assert info.value.code == "json_parse_error" and info.value.location is not None
    assert info.value.location.line == 2


def test_directories_are_walked_in_order(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / ".hidden").mkdir()
    for name in ("b/2.yaml", "a.yml", "c.json", "notes.txt", ".hidden/x.yaml"):
        (tmp_path / name).write_text("{}")
    files = [Path(f).relative_to(tmp_path).as_posix() for f in iter_input_files([str(tmp_path)])]
    assert files == ["a.yml", "c.json", "b/2.yaml"]


def test_missing_paths_and_empty_directories(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        list(iter_input_files([str(tmp_path / "nope.yaml")]))
    assert info.value.code == "file_not_found"
    with pytest.raises(InputError) as info:
        list(iter_input_files([str(tmp_path)]))
    assert info.value.code == "no_input"


def test_binary_file_is_an_encoding_error(tmp_path: Path) -> None:
    path = tmp_path / "bin.yaml"
    path.write_bytes(b"\xff\xfe\x00junk")
    with pytest.raises(InputError) as info:
        load_file(str(path))
    assert info.value.code == "invalid_encoding"
