"""The ``-d`` loader: files, directories, data paths, prefixes, and located errors."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from kubegate.errors import ErrorList, InputError, KubegateError, RegoCompileError, RegoParseError
from kubegate.evaluator.loading import LoadResult, load_paths, read_document, split_prefix
from kubegate.evaluator.query import PreparedQuery
from kubegate.rego.parser import parse_body

FIXTURES = Path(__file__).parents[1] / "cli" / "fixtures" / "opa_test"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def codes(exc: KubegateError) -> list[str]:
    errors = exc.errors if isinstance(exc, ErrorList) else [exc]
    return [e.code for e in errors]


def query(loaded: LoadResult, text: str) -> object:
    prepared = PreparedQuery(loaded.program(), parse_body(text), text)
    results = prepared.eval()
    return results[0].expressions[0] if results else None


# ------------------------------------------------------------------ data paths


def test_data_in_subdirectories_lands_under_the_directory_path(tmp_path: Path) -> None:
    write(tmp_path / "a" / "b" / "data.json", '{"x": 1}')
    write(tmp_path / "a" / "b" / "more.yaml", "y: [1, 2]\n")
    write(tmp_path / "a" / "c.yml", "z: true\n")
    write(tmp_path / "top.json", '{"t": "top"}')
    loaded = load_paths([str(tmp_path)])
    assert loaded.data == {"a": {"b": {"x": 1, "y": [1, 2]}, "z": True}, "t": "top"}


def test_the_directory_named_is_not_part_of_the_path(tmp_path: Path) -> None:
    write(tmp_path / "policies" / "sub" / "data.json", '{"x": 1}')
    assert load_paths([str(tmp_path / "policies")]).data == {"sub": {"x": 1}}


def test_a_data_file_named_directly_is_merged_at_data(tmp_path: Path) -> None:
    first = write(tmp_path / "one.json", '{"a": {"x": 1}}')
    second = write(tmp_path / "two.yaml", "a:\n  y: 2\nb: 3\n")
    assert load_paths([str(first), str(second)]).data == {"a": {"x": 1, "y": 2}, "b": 3}


def test_a_prefix_roots_a_file_under_data(tmp_path: Path) -> None:
    f = write(tmp_path / "list.json", "[1, 2]")
    assert load_paths([f"config.lists:{f}"]).data == {"config": {"lists": [1, 2]}}


def test_a_prefix_roots_a_directory_under_data(tmp_path: Path) -> None:
    write(tmp_path / "d" / "e" / "data.json", '{"x": 1}')
    assert load_paths([f"p:{tmp_path / 'd'}"]).data == {"p": {"e": {"x": 1}}}


def test_split_prefix() -> None:
    assert split_prefix("a.b:x.json") == (("a", "b"), "x.json")
    assert split_prefix("x.json") == ((), "x.json")
    assert split_prefix("file:///tmp/x.json") == ((), "/tmp/x.json")
    assert split_prefix("https://example.com/x") == ((), "https://example.com/x")


def test_an_existing_file_with_a_colon_is_not_a_prefix(tmp_path: Path) -> None:
    f = write(tmp_path / "odd:name.json", '{"x": 1}')
    assert split_prefix(str(f)) == ((), str(f))
    assert load_paths([str(f)]).data == {"x": 1}


def test_a_top_level_data_file_must_hold_an_object(tmp_path: Path) -> None:
    f = write(tmp_path / "list.json", "[1]")
    with pytest.raises(InputError) as info:
        load_paths([str(f)])
    assert info.value.code == "data_not_object"
    assert info.value.location is not None and info.value.location.file == str(f)


def test_a_non_object_in_a_sub_directory_is_fine(tmp_path: Path) -> None:
    write(tmp_path / "d" / "list.json", "[1]")
    write(tmp_path / "e" / "empty.yaml", "")
    assert load_paths([str(tmp_path)]).data == {"d": [1], "e": None}


def test_two_files_defining_one_value_conflict(tmp_path: Path) -> None:
    first = write(tmp_path / "a.json", '{"x": {"y": 1}}')
    second = write(tmp_path / "b.json", '{"x": {"y": 2}}')
    with pytest.raises(InputError) as info:
        load_paths([str(first), str(second)])
    assert info.value.code == "data_merge_conflict"
    assert info.value.location is not None and info.value.location.file == str(second)
    assert "data.x.y" in info.value.message and str(first) in info.value.message


def test_a_rule_where_data_is_conflicts(tmp_path: Path) -> None:
    write(tmp_path / "p" / "data.json", '{"allow": true}')
    write(tmp_path / "policy.rego", "package p\n\nallow := false\n")
    with pytest.raises(RegoCompileError) as info:
        load_paths([str(tmp_path)])
    assert info.value.code == "rego_compile_error"
    assert "p/allow" in info.value.message
    loc = info.value.location
    assert loc is not None and (loc.file, loc.line, loc.column) == (str(tmp_path / "policy.rego"), 3, 1)


def test_a_rule_below_a_data_leaf_conflicts(tmp_path: Path) -> None:
    write(tmp_path / "data.json", '{"p": 3}')
    write(tmp_path / "policy.rego", "package p\n\nallow := false\n")
    with pytest.raises(RegoCompileError):
        load_paths([str(tmp_path)])


def test_rules_next_to_data_in_one_package_are_fine(tmp_path: Path) -> None:
    write(tmp_path / "p" / "data.json", '{"limit": 3}')
    write(tmp_path / "policy.rego", "package p\n\nimport rego.v1\n\nover if input.n > data.p.limit\n")
    loaded = load_paths([str(tmp_path)])
    assert query(loaded, "data.p.limit") == 3


# ------------------------------------------------------------------ modules


def test_rego_files_are_parsed_and_ordered_by_file_name(tmp_path: Path) -> None:
    write(tmp_path / "z.rego", "package z\n\nx := 1\n")
    write(tmp_path / "a_test.rego", "package a\n\ntest_x if true\n")
    write(tmp_path / "m" / "b.rego", "package b\n\ny := 2\n")
    loaded = load_paths([str(tmp_path)])
    assert [m.file for m in loaded.modules] == sorted(m.file for m in loaded.modules)
    assert {m.package.dotted for m in loaded.modules} == {"a", "b", "z"}
    assert query(loaded, "data.b.y") == 2


def test_versions_are_detected_per_file_and_v0_can_be_forced(tmp_path: Path) -> None:
    v0 = write(tmp_path / "old.rego", "package old\n\nallow { input.x == 1 }\n")
    v1 = write(tmp_path / "new.rego", "package new\n\nallow if input.x == 1\n")
    loaded = load_paths([str(v0), str(v1)])
    assert {m.package.dotted: m.version for m in loaded.modules} == {"old": "v0", "new": "v1"}
    with pytest.raises(RegoParseError) as info:
        load_paths([str(v1)], rego_version="v0")
    assert info.value.location is not None and info.value.location.line == 3


def test_the_fixture_policy_loads() -> None:
    loaded = load_paths([str(FIXTURES / "policy")])
    assert loaded.data == {"config": json.loads((FIXTURES / "policy" / "config" / "data.json").read_text())}
    assert {m.package.dotted for m in loaded.modules} == {"authz", "authz_test", "legacy"}


def test_other_files_in_directories_are_ignored(tmp_path: Path) -> None:
    write(tmp_path / "README.md", "# not data")
    write(tmp_path / "x.json", '{"x": 1}')
    loaded = load_paths([str(tmp_path)])
    assert loaded.data == {"x": 1}
    assert loaded.files == (str(tmp_path / "x.json"),)


def test_a_file_named_directly_with_another_extension_is_sniffed(tmp_path: Path) -> None:
    rego = write(tmp_path / "policy.txt", "package sniff\n\nx := 1\n")
    data = write(tmp_path / "values.conf", "a: 1\n")
    loaded = load_paths([str(rego), str(data)])
    assert [m.package.dotted for m in loaded.modules] == ["sniff"]
    assert loaded.data == {"a": 1}
    junk = write(tmp_path / "notes.txt", "just words\n")
    with pytest.raises(InputError) as info:
        load_paths([str(junk)])
    assert info.value.code == "unrecognized_file"


def test_a_file_named_twice_is_loaded_once(tmp_path: Path) -> None:
    f = write(tmp_path / "x.json", '{"x": 1}')
    loaded = load_paths([str(tmp_path), str(f), str(tmp_path) + "/"])
    assert loaded.data == {"x": 1}


def test_a_symbolic_link_loop_ends(tmp_path: Path) -> None:
    write(tmp_path / "d" / "x.json", '{"x": 1}')
    os.symlink(tmp_path / "d", tmp_path / "d" / "loop")
    assert load_paths([str(tmp_path / "d")]).data == {"x": 1}


# ------------------------------------------------------------------ errors


def test_a_missing_path_is_located(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        load_paths([str(tmp_path / "nope.rego")])
    assert info.value.code == "file_not_found"
    assert info.value.location is not None and info.value.location.file == str(tmp_path / "nope.rego")


def test_every_bad_file_is_reported(tmp_path: Path) -> None:
    write(tmp_path / "bad.json", '{"a": 1,\n "b": }\n')
    write(tmp_path / "bad.yaml", "a: [1,\n")
    write(tmp_path / "bad.rego", "package p\n\nallow if {\n")
    write(tmp_path / "good.json", '{"ok": 1}')
    with pytest.raises(ErrorList) as info:
        load_paths([str(tmp_path), str(tmp_path / "missing")])
    assert sorted(codes(info.value)) == ["file_not_found", "json_parse_error", "rego_parse_error", "yaml_parse_error"]
    by_code = {e.code: e for e in info.value.errors}
    json_loc = by_code["json_parse_error"].location
    assert json_loc is not None and (json_loc.file, json_loc.line) == (str(tmp_path / "bad.json"), 2)
    rego_loc = by_code["rego_parse_error"].location
    assert rego_loc is not None and rego_loc.file == str(tmp_path / "bad.rego") and rego_loc.line > 0


def test_invalid_utf8_is_located(tmp_path: Path) -> None:
    f = tmp_path / "bad.json"
    f.write_bytes(b'{"a":\n"\xff"}')
    with pytest.raises(InputError) as info:
        load_paths([str(f)])
    assert info.value.code == "invalid_encoding"
    assert info.value.location is not None and info.value.location.line == 2


def test_yaml_bounds_apply(tmp_path: Path) -> None:
    f = write(tmp_path / "deep.yaml", "a: " + "[" * 200 + "]" * 200 + "\n")
    with pytest.raises(InputError) as info:
        load_paths([str(f)])
    assert info.value.code == "document_too_deep"


def test_compile_errors_surface_from_program(tmp_path: Path) -> None:
    write(tmp_path / "p.rego", "package p\n\nallow if x > 1\n")
    loaded = load_paths([str(tmp_path)])
    with pytest.raises(RegoCompileError) as info:
        loaded.program()
    assert info.value.code == "rego_unsafe_var_error"


def test_an_empty_prefix_part_is_refused(tmp_path: Path) -> None:
    f = write(tmp_path / "x.json", "{}")
    with pytest.raises(InputError) as info:
        load_paths([f"a..b:{f}"])
    assert info.value.code == "usage_error"


# ------------------------------------------------------------------ input documents


def test_read_document_by_extension(tmp_path: Path) -> None:
    assert read_document(str(write(tmp_path / "i.json", '{"a": 1}'))) == {"a": 1}
    assert read_document(str(write(tmp_path / "i.yaml", "a: 1\n"))) == {"a": 1}
    assert read_document(str(write(tmp_path / "i.txt", "[1, 2]"))) == [1, 2]
    assert read_document(str(write(tmp_path / "j.txt", "a: b\n"))) == {"a": "b"}
    assert read_document(str(write(tmp_path / "n.yaml", "null\n"))) is None


def test_read_document_from_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO('{"user": "bob"}'))
    assert read_document("-") == {"user": "bob"}


def test_read_document_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        read_document(str(write(tmp_path / "e.json", "  \n")))
    assert info.value.code == "empty_input"
    with pytest.raises(InputError) as info:
        read_document(str(write(tmp_path / "b.json", '{"a": nope}')))
    assert info.value.code == "json_parse_error"
    assert info.value.location is not None and info.value.location.column == 7
    with pytest.raises(InputError) as info:
        read_document(str(tmp_path / "missing.json"))
    assert info.value.code == "file_not_found"
