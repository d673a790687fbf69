"""Regressions of the fuzz run: every input that ended ``kubegate check`` in a
traceback is now a located error with a code (cases in fuzz-regressions.yaml),
plus the cases that cannot be written in a YAML file (raw surrogates, sizes)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from kubegate.audit.redact import load_redaction_config
from kubegate.cli.main import cli
from kubegate.dsl.compiler import compile_source
from kubegate.dsl.parser import DslError, parse_dsl
from kubegate.engine.engine import Engine
from kubegate.errors import InputError, KubegateError, Location
from kubegate.policy.catalog import DslFile, RegoFile, build_catalog
from kubegate.policy.constraint import validate_parameters
from kubegate.policy.documents import load_documents, load_file, read_text
from kubegate.policy.loader import compile_dsl_sources, load_policy_objects, load_policy_texts
from kubegate.policy.match import Match
from kubegate.yamlio import MAX_DOCUMENT_BYTES

ROOT = Path(__file__).parents[2]
CASES: list[dict[str, Any]] = yaml.safe_load((Path(__file__).parent / "fuzz-regressions.yaml").read_text())["cases"]

_PLACEHOLDER = re.compile(r"<<(DIGITS|OPEN|CLOSE|PARENS|NOTS):(\d+)>>|<<(BOMB|MERGEBOMB)>>")


def _bomb(merge: bool) -> list[str]:
    if merge:
        lines = ["a: &a {" + ", ".join(f"x{i}: {i}" for i in range(9)) + "}"]
    else:
        lines = ["a: &a [" + ", ".join(['"x"'] * 9) + "]"]
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        refs = ", ".join([f"*{prev}"] * 9)
        lines.append(f"{name}: &{name} {{<<: [{refs}]}}" if merge else f"{name}: &{name} [{refs}]")
    return lines


def expand(text: str) -> str:
    """Expands the placeholders of fuzz-regressions.yaml; a multi-line expansion
    repeats the text before the placeholder on its line (indentation, ``#``)."""
    out = []
    for line in text.split("\n"):
        match = _PLACEHOLDER.search(line)
        if match is None:
            out.append(line)
            continue
        prefix = line[: match.start()]
        if match.group(3):
            lines = _bomb(match.group(3) == "MERGEBOMB")
            out.append(prefix + ("\n" + prefix).join(lines) + line[match.end() :])
            continue

        def one(m: re.Match[str]) -> str:
            n = int(m.group(2))
            return {
                "DIGITS": "1" * n,
                "OPEN": "[" * n,
                "CLOSE": "]" * n,
                "PARENS": "(" * n + 'name == "x"' + ")" * n,
                "NOTS": "NOT " * n + 'name == "x"',
            }[m.group(1)]

        out.append(_PLACEHOLDER.sub(one, line))
    return "\n".join(out)


TEMPLATE_FOR_SCHEMA = {
    "apiVersion": "templates.gatekeeper.sh/v1",
    "kind": "ConstraintTemplate",
    "metadata": {"name": "k8sschema"},
    "spec": {
        "crd": {"spec": {"names": {"kind": "K8sSchema"}, "validation": {"openAPIV3Schema": None}}},
        "targets": [
            {
                "target": "admission.k8s.gatekeeper.sh",
                "rego": 'package k8sschema\n\nviolation[{"msg": "m"}] { input.review.object.kind == "x" }\n',
            }
        ],
    },
}
CONSTRAINT_FOR_SCHEMA = (
    "apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: K8sSchema\nmetadata: {name: c}\n"
    "spec: {parameters: {label: x}}\n"
)


def _policy_files(case: dict[str, Any], directory: Path) -> None:
    directory.mkdir(exist_ok=True)
    for name, text in (case.get("files") or {}).items():
        (directory / name).write_text(expand(text), "utf-8")
    for path in case.get("copy") or []:
        shutil.copy(ROOT / path, directory / Path(path).name)
    if "template_schema" in case:
        template: dict[str, Any] = yaml.safe_load(yaml.safe_dump(TEMPLATE_FOR_SCHEMA))
        template["spec"]["crd"]["spec"]["validation"]["openAPIV3Schema"] = case["template_schema"]
        (directory / "t.yaml").write_text(yaml.safe_dump(template, sort_keys=False), "utf-8")
        (directory / "c.yaml").write_text(CONSTRAINT_FOR_SCHEMA, "utf-8")


def _assert_error(error: KubegateError, expect: dict[str, Any], directory: Path | None = None) -> None:
    assert error.code == expect["code"], str(error)
    loc = error.location
    if "line" in expect:
        assert loc is not None, str(error)
        assert loc.line == expect["line"], str(error)
    if "column" in expect:
        assert loc is not None and loc.column == expect["column"], str(error)
    if "file" in expect:
        assert directory is not None and loc is not None
        assert Path(loc.file) == directory / expect["file"], str(error)


def _run_manifest(case: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / case.get("file", "case.yaml")
    path.write_text(expand(case["text"]), "utf-8")
    expect = case["expect"]
    if "objects" in expect:
        docs = load_file(str(path))
        assert len(docs) == expect["objects"]
        if "data" in expect:
            assert docs[0].obj["data"] == expect["data"]
        return
    with pytest.raises(KubegateError) as info:
        load_file(str(path))
    _assert_error(info.value, expect)


def _run_policies(case: dict[str, Any], tmp_path: Path) -> None:
    directory = tmp_path / "policies"
    _policy_files(case, directory)
    engine = Engine([str(directory)], builtin=False)
    try:
        expect = case["expect"]
        found = [e for e in engine.errors if e.code == expect["code"]]
        assert found, [str(e) for e in engine.errors]
        _assert_error(found[0], expect, directory)
    finally:
        engine.close()


def _run_check(case: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    name = case.get("file", "case.yaml")
    Path(name).write_text(expand(case["text"]), "utf-8")
    args = ["check", name]
    if case.get("files") or case.get("copy"):
        _policy_files(case, tmp_path / "policies")
        args += ["-p", "policies"]
    if case.get("builtin") is False:
        args.append("--no-builtin")
    if "parameters" in case:
        Path("params.yaml").write_text(expand(case["parameters"]), "utf-8")
        args += ["--parameters", "params.yaml"]
    result = CliRunner().invoke(cli, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output and "internal_error" not in result.stderr
    expect = case["expect"]
    exits = expect["exit"] if isinstance(expect["exit"], list) else [expect["exit"]]
    assert result.exit_code in exits, result.stderr
    if "code" in expect:
        pattern = rf"^error: {re.escape(expect['where'])}(:\d+)?: {re.escape(expect['code'])}:"
        assert re.search(pattern, result.stderr, re.MULTILINE), result.stderr


def _run_dsl(case: dict[str, Any]) -> None:
    if case["via"] == "dsl-ok":
        assert compile_source(expand(case["text"]), "rules.kgr").errors == ()
        return
    with pytest.raises(DslError) as info:
        parse_dsl(expand(case["text"]), "rules.kgr")
    _assert_error(info.value, case["expect"])


def _run_match(case: dict[str, Any]) -> None:
    with pytest.raises(KubegateError) as info:
        Match.from_spec(case["spec"])
    _assert_error(info.value, case["expect"])


def _run_redaction(case: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "redact.yaml"
    path.write_text(expand(case["text"]), "utf-8")
    with pytest.raises(InputError) as info:
        load_redaction_config(str(path))
    _assert_error(info.value, case["expect"])


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_fuzz_regression(case: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    via = case["via"]
    if via == "manifest":
        _run_manifest(case, tmp_path)
    elif via == "policies":
        _run_policies(case, tmp_path)
    elif via == "check":
        _run_check(case, tmp_path, monkeypatch)
    elif via in ("dsl", "dsl-ok"):
        _run_dsl(case)
    elif via == "match":
        _run_match(case)
    elif via == "redaction":
        _run_redaction(case, tmp_path)
    else:  # pragma: no cover - a typo in the cases file
        raise AssertionError(f"unknown via {via!r}")


# ---- what a YAML case file cannot hold: raw lone surrogates (text from memory, etcd)

LONE = "\ud800"


def test_raw_surrogate_in_a_yaml_text_is_located() -> None:
    with pytest.raises(InputError) as info:
        load_documents(f"apiVersion: v1\nkind: Pod\nmetadata: {{name: a{LONE}}}\n", "mem.yaml")
    assert info.value.code == "invalid_unicode"
    assert info.value.location is not None and (info.value.location.line, info.value.location.column) == (3, 19)


@pytest.mark.parametrize(
    ("name", "text", "line"),
    [
        ("a.yaml", f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {LONE}}}\n", 3),
        ("a.rego", f'package a\n\ndeny[m] {{ m := "{LONE}" }}\n', 3),
        ("a.kgr", f'RULE r ON Pod\n  WHEN name == "{LONE}"\n  THEN DENY("x")\n', 2),
    ],
)
def test_raw_surrogate_in_policy_texts_is_located(name: str, text: str, line: int) -> None:
    sources = compile_dsl_sources(load_policy_texts({name: text}))
    catalog = build_catalog(sources)
    (error,) = [e for e in catalog.errors if e.code == "invalid_unicode"]
    assert error.location is not None and error.location.file == name and error.location.line == line


def test_surrogates_in_in_memory_policy_objects(template: dict[str, Any], constraint: dict[str, Any]) -> None:
    template["spec"]["targets"][0]["rego"] = template["spec"]["targets"][0]["rego"].replace("replicas", LONE, 1)
    constraint["spec"]["parameters"] = {"max": 3, "note": f"x{LONE}"}
    dsl = DslFile("r.kgr", f'RULE r ON Pod WHEN name == "{LONE}" THEN DENY("x")\n')
    rego = RegoFile("m.rego", f'package m\ndeny[x] {{ x := "{LONE}" }}\n')
    sources = compile_dsl_sources(load_policy_objects([template, constraint, dsl, rego]))
    catalog = build_catalog(sources)
    assert sorted(e.code for e in catalog.errors) == ["invalid_unicode"] * 4, [str(e) for e in catalog.errors]
    assert all(e.location is not None for e in catalog.errors)


def test_non_finite_numbers_in_in_memory_policy_objects(constraint: dict[str, Any]) -> None:
    constraint["spec"]["parameters"] = {"max": float("inf")}
    sources = load_policy_objects([constraint])
    assert [e.code for e in sources.errors] == ["number_out_of_range"]


def test_a_schema_from_memory_with_a_non_string_property_name() -> None:
    schema = {"type": "object", "properties": {1: {"type": "string"}}}
    with pytest.raises(KubegateError) as info:
        validate_parameters({}, schema, owner="c", location=Location("m", 1, 1))
    assert info.value.code == "template_schema_invalid" and info.value.location == Location("m", 1, 1)


# ---- size limits


def test_a_document_over_the_size_limit_is_refused_before_parsing() -> None:
    text = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n# " + "x" * MAX_DOCUMENT_BYTES + "\n"
    with pytest.raises(InputError) as info:
        load_documents(text, "big.yaml")
    assert info.value.code == "document_too_large" and info.value.location is not None


def test_multibyte_text_is_measured_in_bytes() -> None:
    text = "# " + "é" * (MAX_DOCUMENT_BYTES // 2 + 1) + "\n"
    with pytest.raises(InputError) as info:
        load_documents(text, "big.yaml")
    assert info.value.code == "document_too_large"


def test_a_file_over_the_size_limit_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    with path.open("wb") as f:
        f.truncate(MAX_DOCUMENT_BYTES + 1)
    with pytest.raises(InputError) as info:
        read_text(str(path))
    assert info.value.code == "document_too_large" and info.value.location is not None
