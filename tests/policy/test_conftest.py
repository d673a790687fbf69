"""conftest's semantics as pure functions: rule suffixes, exceptions, namespaces,
the combined input, ``--data`` loading and the input-style detection they rely on."""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from kubegate.errors import InputError, KubegateError, Location, UsageError
from kubegate.policy.conftest import (
    COMBINED_SOURCE,
    apply_exceptions,
    check_base_data,
    combined_document,
    combined_input,
    data_conflicts,
    excepted_suffixes,
    exception_query,
    has_exception_rule,
    is_plain_package,
    load_data,
    loaded_namespaces,
    reads_data,
    rule_suffix,
    select_namespaces,
)
from kubegate.policy.documents import Document
from kubegate.policy.match import Match
from kubegate.policy.rego_policy import package_info
from kubegate.policy.units import Policy
from kubegate.rego.parser import parse_module


@dataclass(frozen=True)
class Result:
    rule: str
    message: str


def policy(package: tuple[str, ...] = ("main",), rules: dict[str, str] | None = None, kind: str = "rego") -> Policy:
    return Policy(
        id=".".join(package),
        kind=kind,  # type: ignore[arg-type]
        package=package,
        rules=rules or {"deny": "deny"},
        match=Match(),
        input_style="object",
        parameters=None,
        version="v",
        location=Location("p.rego"),
    )


def module(text: str, name: str = "m.rego"):  # type: ignore[no-untyped-def]
    return parse_module(textwrap.dedent(text).lstrip("\n"), name)


# ---------------------------------------------------------------- exceptions


@pytest.mark.parametrize(
    ("rule", "suffix"),
    [
        ("deny", ""),
        ("violation", ""),
        ("warn", ""),
        ("deny_run_as_root", "run_as_root"),
        ("warn_latest", "latest"),
        ("violation_no_limits", "no_limits"),
        # conftest trims violation_, deny_ and warn_ one after the other
        ("violation_deny_x", "x"),
        ("deny_warn_y", "y"),
    ],
)
def test_rule_suffix_follows_conftest_remove_rule_prefix(rule: str, suffix: str) -> None:
    assert rule_suffix(rule) == suffix


def test_exception_query_is_conftest_message() -> None:
    assert exception_query(("main",), "run_as_root") == 'data.main.exception[_][_] == "run_as_root"'
    assert exception_query(("team", "k8s"), "") == 'data.team.k8s.exception[_][_] == ""'


def test_excepted_suffixes_reads_any_collection_of_collections() -> None:
    assert excepted_suffixes([["a", "b"], ["c"]]) == {"a", "b", "c"}
    assert excepted_suffixes({"x": ["a"], "y": {"k": "b"}}) == {"a", "b"}
    # strings are not collections in exception[_][_]; nor are undefined values
    assert excepted_suffixes(["a", 1, None]) == frozenset()
    assert excepted_suffixes(None) == frozenset()


def test_apply_exceptions_suppresses_named_rules_of_every_kind() -> None:
    rules = {"deny": "deny", "deny_root": "deny", "warn_root": "warn", "warn_latest": "warn"}
    results = [
        Result("deny", "no team"),
        Result("deny_root", "runs as root"),
        Result("warn_root", "may run as root"),
        Result("warn_latest", "latest tag"),
    ]
    kept, excepted = apply_exceptions(policy(rules=rules), results, [["root"]])
    assert [r.message for r in kept] == ["no team", "latest tag"]
    assert [(e.rule, e.enforcement, e.suppressed) for e in excepted] == [
        ("deny_root", "deny", ("runs as root",)),
        ("warn_root", "warn", ("may run as root",)),
    ]
    assert excepted[0].message == 'data.main.exception[_][_] == "root"'
    assert excepted[0].to_dict() == {
        "policy": "main",
        "rule": "deny_root",
        "enforcement": "deny",
        "msg": 'data.main.exception[_][_] == "root"',
        "suppressed": ["runs as root"],
    }


def test_an_exception_is_reported_even_when_the_rule_found_nothing() -> None:
    kept, excepted = apply_exceptions(policy(rules={"deny_x": "deny", "deny": "deny"}), [Result("deny", "m")], [["x"]])
    assert kept == [Result("deny", "m")]
    assert [(e.rule, e.suppressed) for e in excepted] == [("deny_x", ())]


def test_the_empty_name_excepts_the_plain_rules_only() -> None:
    rules = {"deny": "deny", "violation": "deny", "deny_x": "deny"}
    results = [Result("deny", "a"), Result("violation", "b"), Result("deny_x", "c")]
    kept, excepted = apply_exceptions(policy(rules=rules), results, [[""]])
    assert kept == [Result("deny_x", "c")]
    assert sorted(e.rule for e in excepted) == ["deny", "violation"]


def test_no_exception_keeps_everything() -> None:
    results = [Result("deny", "a")]
    assert apply_exceptions(policy(), results, None) == (results, [])
    assert apply_exceptions(policy(), results, [["other"]]) == (results, [])


def test_exception_rule_detection_v0_and_v1() -> None:
    v0 = module(
        """
        package main
        exception[rules] { input.metadata.name == "a"; rules := ["x"] }
        """
    )
    v1 = module('package main\nimport rego.v1\nexception contains ["x"] if input.kind\n')
    function = module("package main\nimport rego.v1\nexception(x) := true if x\n")
    assert has_exception_rule([v0]) and has_exception_rule([v1]) and not has_exception_rule([function])


# ---------------------------------------------------------------- namespaces


def test_select_namespaces_literal_and_globs() -> None:
    loaded = ["main", "main.gke", "team.security", "team.network", "lib.k8s"]
    assert select_namespaces(["main"], loaded) == {"main"}
    assert select_namespaces(["main.*"], loaded) == {"main.gke"}
    assert select_namespaces(["team.*", "main"], loaded) == {"team.security", "team.network", "main"}
    assert select_namespaces(["team.[^s]*"], loaded) == {"team.network"}
    assert select_namespaces(["*"], loaded) == set(loaded)


@pytest.mark.parametrize(("pattern", "hint"), [("mian", "did you mean main?"), ("zzz.*", "loaded: lib.k8s, main")])
def test_unknown_namespace(pattern: str, hint: str) -> None:
    with pytest.raises(UsageError) as err:
        select_namespaces([pattern], ["main", "lib.k8s"])
    assert err.value.code == "unknown_namespace" and hint in err.value.message


def test_loaded_namespaces_and_plain_packages_leave_kubegate_out() -> None:
    owners = ["package:main", "package:lib.k8s", "package:kubegate.library.x", "package:kubegate_dsl.r", "template:K"]
    assert loaded_namespaces(owners) == {"main", "lib.k8s"}
    assert is_plain_package(policy(("main",)))
    assert not is_plain_package(policy(("kubegate", "library", "x")))
    assert not is_plain_package(policy(("kubegate_dsl", "r")))
    assert not is_plain_package(policy(("kubegate", "templates", "K"), kind="constraint"))


# ---------------------------------------------------------------- combine


def test_combined_input_shape_and_order() -> None:
    docs = [
        Document({"kind": "B"}, "z.yaml", 0, 1),
        Document({"kind": "A1"}, "a.yaml", 0, 1),
        Document({"kind": "A2"}, "a.yaml", 1, 5),
        Document({"name": "raw"}, "m.json", 0, 0),
    ]
    assert combined_input(docs) == [
        {"path": "a.yaml", "contents": {"kind": "A1"}},
        {"path": "a.yaml", "contents": {"kind": "A2"}},
        {"path": "m.json", "contents": {"name": "raw"}},
        {"path": "z.yaml", "contents": {"kind": "B"}},
    ]
    doc, files = combined_document(docs)
    assert doc.source == COMBINED_SOURCE and files == ("a.yaml", "m.json", "z.yaml")


# ---------------------------------------------------------------- input style


@pytest.mark.parametrize(
    ("body", "style"),
    [
        ('endswith(input.services[_].image, ":latest")', "object"),  # docker-compose
        ('input[_].contents.kind == "Deployment"', "object"),  # the combined input
        ("some doc in input\n  doc.contents.kind", "object"),
        ("count(input) > 3", "object"),
        ('input.kind == "Pod"', "object"),
        ('input.review.object.kind == "Pod"', "review"),
        ("true", "review"),  # reads nothing of input: the Gatekeeper shape, as before
    ],
)
def test_input_style_detection(body: str, style: str) -> None:
    m = module(f'package main\nimport rego.v1\ndeny contains "m" if {{\n  {body}\n}}\n')
    info = package_info(m.package.path, [m])
    assert info is not None and info.input_style == style


# ---------------------------------------------------------------- data


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_load_data_nests_by_directory_like_opa(tmp_path: Path) -> None:
    write(tmp_path / "d" / "top.yaml", "services:\n  ports: [22, 21]\n")
    write(tmp_path / "d" / "team" / "owners.json", json.dumps({"owners": ["a"]}))
    write(tmp_path / "d" / "team" / "deep" / "x.yml", "k: 1\n")
    write(tmp_path / "d" / "policy.rego", "package ignored\n")  # conftest leaves Rego out of --data
    write(tmp_path / "d" / "notes.txt", "not data")
    write(tmp_path / "single.json", json.dumps({"limits": {"max": 3}}))
    write(tmp_path / "raw.yaml", "- 1\n- 2\n")
    data, errors = load_data([str(tmp_path / "d"), str(tmp_path / "single.json"), f"x.y:{tmp_path / 'raw.yaml'}"])
    assert errors == []
    assert data == {
        "services": {"ports": [22, 21]},
        "team": {"owners": ["a"], "deep": {"k": 1}},
        "limits": {"max": 3},
        "x": {"y": [1, 2]},
    }


def codes(errors: list[KubegateError]) -> list[str]:
    return [e.code for e in errors]


def test_load_data_errors_are_located(tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.yaml", "a: [1,\n")
    data, errors = load_data([str(bad)])
    assert data == {} and codes(errors) == ["yaml_parse_error"]
    assert errors[0].location is not None and errors[0].location.file == str(bad) and errors[0].location.line == 2
    text = write(tmp_path / "d.txt", "x")
    assert codes(load_data([str(text)])[1]) == ["unsupported_data_file"]
    assert codes(load_data([str(tmp_path / "missing.yaml")])[1]) == ["file_not_found"]
    listed = write(tmp_path / "list.json", "[1]")
    assert codes(load_data([str(listed)])[1]) == ["data_not_object"]
    write(tmp_path / "c" / "one.yaml", "k: 1\n")
    write(tmp_path / "c" / "two.yaml", "k: 2\n")
    assert codes(load_data([str(tmp_path / "c")])[1]) == ["data_merge_conflict"]


@pytest.mark.parametrize("key", ["inventory", "kubegate"])
def test_load_data_refuses_kubegate_keys(tmp_path: Path, key: str) -> None:
    top = write(tmp_path / "top.yaml", f"{key}: {{x: 1}}\n")
    data, errors = load_data([str(top)])
    assert data == {} and codes(errors) == ["reserved_data_key"]
    assert errors[0].location == Location(str(top), 1, 1)
    write(tmp_path / "d" / key / "x.yaml", "a: 1\n")
    _, errors = load_data([str(tmp_path / "d")])
    assert codes(errors) == ["reserved_data_key"] and errors[0].location == Location(str(tmp_path / "d" / key))
    _, errors = load_data([f"{key}:{top}"])
    assert codes(errors) == ["reserved_data_key"]


def test_check_base_data() -> None:
    assert check_base_data(None) == {}
    given = {"a": {"b": [1, 2]}}
    copied = check_base_data(given)
    assert copied == given and copied["a"] is not given["a"]
    for bad, code in (
        ({"inventory": 1}, "reserved_data_key"),
        ({"a": object()}, "invalid_data"),
        ({1: 2}, "invalid_data"),
    ):
        with pytest.raises(InputError) as err:
            check_base_data(bad)  # type: ignore[arg-type]
        assert err.value.code == code


def test_data_conflicts_with_rule_paths() -> None:
    m = module("package main\nimport rego.v1\ndeny contains 1 if input.x\nlimit := 3\n", "p.rego")
    assert data_conflicts([m], {"main": {"other": 1}}) == []
    (conflict,) = data_conflicts([m], {"main": {"deny": 1}})
    assert conflict.code == "rego_compile_error" and conflict.location is not None
    assert conflict.location.file == "p.rego" and conflict.location.line == 3
    assert len(data_conflicts([m], {"main": 5})) == 2  # a non-object on the way covers every rule


def test_reads_data() -> None:
    imported = module("package main\nimport rego.v1\nimport data.services\ndeny contains 1 if services.x\n")
    direct = module("package main\nimport rego.v1\ndeny contains 1 if data.limits.max > 1\n")
    dynamic = module("package main\nimport rego.v1\ndeny contains 1 if data[input.k]\n")
    assert reads_data([imported], ["services"]) and not reads_data([imported], ["limits"])
    assert reads_data([direct], ["limits"]) and not reads_data([direct], ["services"])
    assert reads_data([dynamic], ["anything"])
