"""kubegate eval: opa eval's output formats, exit codes and located errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kubegate.cli import main as main_module
from kubegate.cli.eval_cmd import parse_duration
from kubegate.cli.main import cli

FIXTURES = Path(__file__).parent / "fixtures" / "opa_test"
POLICY = str(FIXTURES / "policy")
INPUTS = FIXTURES / "inputs"


def run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["eval", *args], input=stdin)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def run_json(*args: str, stdin: str | None = None) -> tuple[int, Any, str]:
    code, out, err = run(*args, stdin=stdin)
    return code, json.loads(out), err


def error_codes(doc: dict[str, Any]) -> list[str]:
    return [e["code"] for e in doc["errors"]]


def write(path: Path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


# ------------------------------------------------------------------ json


def test_json_result_shape() -> None:
    code, doc, _ = run_json("-d", POLICY, "-i", str(INPUTS / "bob_write.json"), "data.authz.deny")
    assert code == 0
    assert doc == {
        "result": [
            {
                "expressions": [
                    {"value": ["bob may not write"], "text": "data.authz.deny", "location": {"row": 1, "col": 1}}
                ]
            }
        ]
    }


def test_json_bindings_and_several_expressions() -> None:
    code, doc, _ = run_json("-d", POLICY, "some name; roles := data.config.roles[name]; count(roles) > 0")
    assert code == 0
    rows = doc["result"]
    assert [r["bindings"] for r in rows] == [
        {"name": "alice", "roles": ["admin"]},
        {"name": "bob", "roles": ["reader"]},
    ]
    texts = [(e["text"], e["location"]) for e in rows[0]["expressions"]]
    assert texts == [
        ("some name", {"row": 1, "col": 1}),
        ("roles := data.config.roles[name]", {"row": 1, "col": 12}),
        ("count(roles) > 0", {"row": 1, "col": 46}),
    ]
    assert [e["value"] for e in rows[0]["expressions"]] == [True, True, True]


def test_json_keys_are_ordered_and_sets_are_arrays() -> None:
    code, out, _ = run('x := {"b": 1, "a": {"d": 1, "c": 2}}; s := {3, 1}')
    assert code == 0
    doc = json.loads(out)
    assert doc["result"][0]["bindings"] == {"s": [1, 3], "x": {"a": {"c": 2, "d": 1}, "b": 1}}
    assert out.index('"c"') < out.index('"d"') and out.index('"expressions"') < out.index('"bindings"')


def test_expression_text_keeps_semicolons_in_strings() -> None:
    code, doc, _ = run_json('x := "a;b"')
    assert code == 0 and doc["result"][0]["expressions"][0]["text"] == 'x := "a;b"'


def test_json_undefined_is_an_empty_object() -> None:
    code, out, _ = run("-d", POLICY, "data.authz.nothing_here")
    assert (code, out.strip()) == (0, "{}")


def test_false_is_a_defined_result() -> None:
    code, doc, _ = run_json("-d", POLICY, "-i", str(INPUTS / "bob_write.json"), "data.authz.allow")
    assert code == 0 and doc["result"][0]["expressions"][0]["value"] is False


def test_input_formats() -> None:
    code, doc, _ = run_json("-d", POLICY, "-i", str(INPUTS / "alice_write.yaml"), "data.authz.allow")
    assert code == 0 and doc["result"][0]["expressions"][0]["value"] is True
    code, doc, _ = run_json("-d", POLICY, "-i", "-", "data.authz.allow", stdin='{"user": "bob", "action": "read"}')
    assert code == 0 and doc["result"][0]["expressions"][0]["value"] is True


def test_data_files_and_prefixes(tmp_path: Path) -> None:
    limits = write(tmp_path / "limits.yaml", "cpu: 2\n")
    code, doc, _ = run_json("-d", f"quota:{limits}", "data.quota.cpu")
    assert code == 0 and doc["result"][0]["expressions"][0]["value"] == 2


# ------------------------------------------------------------------ pretty and raw


def test_pretty_single_value() -> None:
    code, out, _ = run("-f", "pretty", "-d", POLICY, "data.config.roles")
    assert code == 0
    assert json.loads(out) == {"alice": ["admin"], "bob": ["reader"]}
    assert out.startswith("{\n  ")


def test_pretty_undefined() -> None:
    code, out, _ = run("--format", "pretty", "data.nothing")
    assert (code, out) == (0, "undefined\n")


def test_pretty_table() -> None:
    code, out, _ = run("-f", "pretty", "-d", POLICY, "x := data.config.roles[name][_]")
    assert code == 0
    assert out == (
        "+---------+----------+\n"
        "|  name   |    x     |\n"
        "+---------+----------+\n"
        '| "alice" | "admin"  |\n'
        '| "bob"   | "reader" |\n'
        "+---------+----------+\n"
    )


def test_pretty_table_shows_non_boolean_expressions() -> None:
    code, out, _ = run("-f", "pretty", 'x := 1; y := "a"; [x, y]')
    assert code == 0
    lines = out.splitlines()
    assert lines[1] == "| x |  y  | [x, y]  |"
    assert lines[3] == '| 1 | "a" | [1,"a"] |'


def test_pretty_cells_are_cut() -> None:
    code, out, _ = run("-f", "pretty", "x := numbers.range(1, 100)")
    assert code == 0
    assert '"..."' not in out and "..." in out
    assert max(len(line) for line in out.splitlines()) < 100


def test_raw() -> None:
    code, out, _ = run("-f", "raw", "-d", POLICY, "data.config.roles[name][_]")
    assert (code, out) == (0, "admin\nreader\n")
    code, out, _ = run("-f", "raw", '[1, {"a": "b"}]; "text"')
    assert (code, out) == (0, '[1,{"a":"b"}] text\n')
    code, out, _ = run("-f", "raw", "data.nothing")
    assert (code, out) == (0, "")


def test_print_goes_to_stderr() -> None:
    code, out, err = run("-f", "raw", 'print("hello"); x := 1')
    assert code == 0 and out == "true true\n"
    assert "hello" in err


# ------------------------------------------------------------------ exit codes


def test_fail_and_fail_defined() -> None:
    assert run("-d", POLICY, "--fail", "data.authz.nothing")[0] == 1
    assert run("-d", POLICY, "--fail", "data.config.roles")[0] == 0
    assert run("-d", POLICY, "--fail-defined", "data.config.roles")[0] == 1
    assert run("-d", POLICY, "--fail-defined", "data.authz.nothing")[0] == 0
    # false is defined, as in OPA
    assert run("-d", POLICY, "--fail-defined", "data.authz.allow")[0] == 1
    code, _, err = run("--fail", "--fail-defined", "true")
    assert code == 2 and "not both" in err


def test_backends() -> None:
    assert run("--backend", "compiled", "true")[0] == 0
    code, _, err = run("--backend", "regopy", "true")
    assert code == 2 and "unsupported_backend" in err
    code, _, err = run("--backend", "nope", "true")
    assert code == 2 and "unknown_backend" in err


def test_v0_compatible(tmp_path: Path) -> None:
    v1 = write(tmp_path / "p.rego", "package p\n\nallow if input.x == 1\n")
    assert run("-d", v1, "-i", "-", "data.p.allow", stdin='{"x": 1}')[0] == 0
    code, doc, _ = run_json("--v0-compatible", "-d", v1, "data.p.allow")
    assert code == 2 and error_codes(doc) == ["rego_parse_error"]
    v0 = write(tmp_path / "q.rego", "package q\n\nallow { input.x == 1 }\n")
    code, doc, _ = run_json("--v0-compatible", "-d", v0, "-i", "-", "data.q.allow", stdin='{"x": 1}')
    assert code == 0 and doc["result"][0]["expressions"][0]["value"] is True


def test_strict_builtin_errors() -> None:
    assert run_json('x := to_number("abc")')[:2] == (0, {})
    code, doc, _ = run_json("--strict-builtin-errors", 'x := to_number("abc")')
    assert code == 2 and error_codes(doc) == ["eval_builtin_error"]


def test_timeout(tmp_path: Path) -> None:
    slow = write(
        tmp_path / "slow.rego",
        "package slow\n\nimport rego.v1\n\nr := numbers.range(1, 3000)\n\n"
        "loop if {\n\tsome i in r\n\tsome j in r\n\ti + j < 0\n}\n",
    )
    code, doc, _ = run_json("-d", slow, "--timeout", "200ms", "data.slow.loop")
    assert code == 2 and error_codes(doc) == ["eval_cancel_error"]
    code, _, err = run("--timeout", "soon", "true")
    assert code == 2 and "--timeout" in err


def test_parse_duration() -> None:
    assert parse_duration("2.5") == 2.5
    assert parse_duration("500ms") == 0.5
    assert parse_duration("1m30s") == 90
    assert parse_duration("1h") == 3600
    assert parse_duration("250us") == pytest.approx(0.00025)
    for bad in ("", "5x", "-1", "1s2", "inf", "nan"):
        with pytest.raises(ValueError):
            parse_duration(bad)


# ------------------------------------------------------------------ errors


def test_bad_rego_is_located(tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.rego", "package p\n\nallow if {\n\tinput.x ==\n}\n")
    code, doc, _ = run_json("-d", bad, "data.p.allow")
    assert code == 2
    (error,) = doc["errors"]
    assert error["code"] == "rego_parse_error"
    assert error["location"]["file"] == bad and error["location"]["row"] == 5


def test_bad_json_data_is_located(tmp_path: Path) -> None:
    bad = write(tmp_path / "data.json", '{\n  "a": [1,\n}\n')
    code, doc, _ = run_json("-d", bad, "data")
    assert code == 2
    (error,) = doc["errors"]
    assert error["code"] == "json_parse_error"
    assert error["location"]["file"] == bad and error["location"]["row"] == 3


def test_bad_input_is_located(tmp_path: Path) -> None:
    bad = write(tmp_path / "input.json", '{"user": }')
    code, doc, _ = run_json("-i", bad, "input")
    assert code == 2 and doc["errors"][0]["code"] == "json_parse_error"
    assert doc["errors"][0]["location"] == {"file": bad, "row": 1, "col": 10}
    code, doc, _ = run_json("-i", "-", "input", stdin="a: [\n")
    assert code == 2 and doc["errors"][0]["code"] == "yaml_parse_error"
    assert doc["errors"][0]["location"]["file"] == "<stdin>"


def test_missing_files(tmp_path: Path) -> None:
    code, doc, _ = run_json("-d", str(tmp_path / "nope"), "-i", str(tmp_path / "input.json"), "true")
    assert code == 2 and error_codes(doc) == ["file_not_found", "file_not_found"]
    assert [e["location"]["file"] for e in doc["errors"]] == [str(tmp_path / "nope"), str(tmp_path / "input.json")]
    code, doc, _ = run_json("-i", str(tmp_path / "input.json"), "true")
    assert code == 2 and error_codes(doc) == ["file_not_found"]


def test_unsafe_variables_and_unknown_functions(tmp_path: Path) -> None:
    code, doc, _ = run_json("x")
    assert code == 2
    assert doc == {
        "errors": [
            {
                "code": "rego_unsafe_var_error",
                "message": "var x is unsafe",
                "location": {"file": "<query>", "row": 1, "col": 1},
            }
        ]
    }
    code, doc, _ = run_json("y := 1; no_such_function(y)")
    assert code == 2 and error_codes(doc) == ["rego_type_error"]
    assert doc["errors"][0]["location"]["col"] == 9
    module = write(tmp_path / "p.rego", "package p\n\nimport rego.v1\n\na if z > 1\n\nb if no_such_function(1)\n")
    code, doc, _ = run_json("-d", module, "data.p")
    assert code == 2
    assert sorted(error_codes(doc)) == ["rego_type_error", "rego_unsafe_var_error"]
    assert {e["location"]["row"] for e in doc["errors"]} == {5, 7}


def test_query_parse_errors() -> None:
    code, doc, _ = run_json("1 +")
    assert code == 2 and error_codes(doc) == ["rego_parse_error"]


def test_evaluation_errors() -> None:
    code, doc, _ = run_json("-d", str(FIXTURES / "suite"), "data.suite.test_conflict")
    assert code == 2 and error_codes(doc) == ["eval_conflict_error"]
    assert doc["errors"][0]["location"]["file"].endswith("outcomes_test.rego")


def test_pretty_and_raw_errors_go_to_stderr(tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.rego", "package p\n\nallow if {\n")
    for fmt in ("pretty", "raw"):
        code, out, err = run("-f", fmt, "-d", bad, "data.p.allow")
        assert code == 2 and out == ""
        assert f"error: {bad}:" in err and "rego_parse_error" in err and "Traceback" not in err


def test_through_the_entry_point(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main_module.main(["eval", "x"])
    assert info.value.code == 2
    captured = capsys.readouterr()
    assert json.loads(captured.out)["errors"][0]["code"] == "rego_unsafe_var_error"
    assert "Traceback" not in captured.err
    with pytest.raises(SystemExit) as info:
        main_module.main(["eval", "-d", POLICY, "--fail", "data.authz.nothing"])
    assert info.value.code == 1
