"""kubegate test: opa test's report, filters, time limits, exit codes and located load errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from kubegate.cli import main as main_module
from kubegate.cli.main import cli
from kubegate.cli.test_cmd import go_duration

FIXTURES = Path(__file__).parent / "fixtures" / "opa_test"
POLICY = str(FIXTURES / "policy")
SUITE = str(FIXTURES / "suite")
RULE = "-" * 80
DURATION = r"\((\d+(\.\d+)?(ns|µs|ms|s))+\)"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["test", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def write(path: Path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


# ------------------------------------------------------------------ reports


def test_passing_policy() -> None:
    code, out, _ = run(POLICY)
    assert code == 0
    lines = out.splitlines()
    assert lines == [
        f"{POLICY}/legacy.rego:",
        "data.legacy.todo_test_level_from_data: SKIPPED",
        RULE,
        "PASS: 10/11",
        "SKIPPED: 1/11",
        "10 passed, 0 failed, 1 skipped",
    ]


def test_all_passing_prints_only_the_counts(tmp_path: Path) -> None:
    write(tmp_path / "t_test.rego", "package t\n\nimport rego.v1\n\ntest_a if true\n\ntest_b if 1 < 2\n")
    code, out, _ = run(str(tmp_path))
    assert (code, out) == (0, "PASS: 2/2\n2 passed, 0 failed\n")


def test_verbose_lists_every_test_with_its_time_and_output() -> None:
    code, out, _ = run("-v", POLICY)
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"{POLICY}/authz_test.rego:"
    assert re.fullmatch(rf"data\.authz_test\.test_reader_may_read: PASS {DURATION}", lines[1])
    tests = [line for line in lines if line.startswith("data.")]
    assert len(tests) == 11
    prints = lines.index(next(line for line in lines if line.startswith("data.authz_test.test_prints:")))
    assert lines[prints + 1] == ""
    assert lines[prints + 2].startswith("  ") and lines[prints + 2].endswith("checking bob")
    assert f"{POLICY}/legacy.rego:" in lines
    assert lines[-3:] == ["PASS: 10/11", "SKIPPED: 1/11", "10 passed, 0 failed, 1 skipped"]


def test_failures_errors_and_output() -> None:
    code, out, _ = run(SUITE)
    assert code == 1
    lines = out.splitlines()
    file = f"{SUITE}/outcomes_test.rego"
    assert lines[0] == f"{file}:"
    names = [line.split(":")[0] for line in lines if line.startswith("data.")]
    assert names == [
        "data.suite.test_is_false",
        "data.suite.test_is_undefined",
        "data.suite.test_conflict",
        "data.suite.test_prints_and_fails",
        "data.suite.todo_test_later",
    ]
    conflict = lines.index(next(line for line in lines if line.startswith("data.suite.test_conflict:")))
    assert re.fullmatch(rf"data\.suite\.test_conflict: ERROR {DURATION}", lines[conflict])
    assert (
        lines[conflict + 1] == f"  {file}:11:1: eval_conflict_error: complete rules must not produce multiple outputs: "
        "rule data.suite.test_conflict produced conflicting values"
    )
    printed = lines.index(next(line for line in lines if line.startswith("data.suite.test_prints_and_fails:")))
    assert lines[printed + 1] == "" and lines[printed + 2] == f"  {file}:16: looking at 2"
    assert lines[-6:] == [
        RULE,
        "PASS: 1/6",
        "FAIL: 3/6",
        "SKIPPED: 1/6",
        "ERROR: 1/6",
        "1 passed, 3 failed, 1 skipped, 1 error",
    ]


def test_test_objects_list_their_failing_cases(tmp_path: Path) -> None:
    write(
        tmp_path / "t_test.rego",
        "package t\n\nimport rego.v1\n\n"
        'test_cases[name] := ok if {\n\tsome name, n in {"a": 1, "b": 2}\n\tok := n == 1\n}\n',
    )
    code, out, _ = run(str(tmp_path))
    assert code == 1
    assert "  b: FAIL" in out.splitlines()


def test_run_filter() -> None:
    code, out, _ = run("-v", "--run", "legacy", POLICY)
    assert code == 0
    assert [line.split(":")[0] for line in out.splitlines() if line.startswith("data.")] == [
        "data.legacy.test_level_three",
        "data.legacy.test_level_two_denied",
        "data.legacy.todo_test_level_from_data",
    ]
    code, out, _ = run("-r", r"test_passes$", SUITE)
    assert (code, out) == (0, "PASS: 1/1\n1 passed, 0 failed\n")


def test_run_filter_matching_nothing(tmp_path: Path) -> None:
    code, out, err = run("-r", "nothing-matches", POLICY)
    assert (code, out) == (0, "0 passed, 0 failed\n")
    assert "no tests" in err


def test_invalid_run_regex() -> None:
    code, _, err = run("--run", "(", POLICY)
    assert code == 2 and "invalid_regex" in err


def test_json_report() -> None:
    code, out, _ = run("--format", "json", SUITE)
    assert code == 1
    entries = {e["name"]: e for e in json.loads(out)}
    assert set(entries) == {
        "test_passes",
        "test_is_false",
        "test_is_undefined",
        "test_conflict",
        "test_prints_and_fails",
        "todo_test_later",
    }
    passes = entries["test_passes"]
    assert passes["package"] == "data.suite" and passes["outcome"] == "pass"
    assert passes["location"] == {"file": f"{SUITE}/outcomes_test.rego", "row": 5, "col": 1}
    assert isinstance(passes["duration"], int) and "fail" not in passes and "error" not in passes
    assert entries["test_is_false"]["fail"] is True and entries["test_is_false"]["message"] == "the test is false"
    assert entries["test_conflict"]["error"]["code"] == "eval_conflict_error"
    assert entries["test_conflict"]["error"]["location"]["row"] == 11
    assert entries["todo_test_later"]["skip"] is True
    assert entries["test_prints_and_fails"]["output"].endswith("looking at 2")


def test_timeout(tmp_path: Path) -> None:
    write(
        tmp_path / "slow_test.rego",
        "package slow\n\nimport rego.v1\n\ntest_slow if {\n\tr := numbers.range(1, 3000)\n"
        "\tsome i in r\n\tsome j in r\n\ti + j < 0\n}\n\ntest_quick if true\n",
    )
    code, out, _ = run("--timeout", "0.2", str(tmp_path))
    assert code == 1
    assert "  eval_cancel_error: timed out after 0.2s" in out.splitlines()
    assert out.endswith("1 passed, 0 failed, 1 error\n")


def test_v0_compatible(tmp_path: Path) -> None:
    write(tmp_path / "p_test.rego", "package p\n\ntest_v1 if true\n")
    assert run(str(tmp_path))[0] == 0
    code, _, err = run("--v0-compatible", str(tmp_path))
    assert code == 2 and "rego_parse_error" in err


# ------------------------------------------------------------------ load errors


def test_bad_rego_is_located(tmp_path: Path) -> None:
    bad = write(tmp_path / "bad_test.rego", "package p\n\ntest_x if {\n")
    code, out, err = run(str(tmp_path))
    assert code == 2 and out == ""
    assert f"error: {bad}:4:1: rego_parse_error:" in err or f"error: {bad}:3" in err
    assert "Traceback" not in err


def test_bad_data_is_located(tmp_path: Path) -> None:
    write(tmp_path / "t_test.rego", "package t\n\nimport rego.v1\n\ntest_x if true\n")
    bad = write(tmp_path / "d" / "data.json", '{"a":\n')
    code, _, err = run(str(tmp_path))
    assert code == 2 and f"error: {bad}:2:1: json_parse_error:" in err


def test_missing_path() -> None:
    code, _, err = run("no/such/dir")
    assert code == 2 and "file_not_found" in err and "no/such/dir" in err


def test_compile_errors(tmp_path: Path) -> None:
    bad = write(tmp_path / "p_test.rego", "package p\n\nimport rego.v1\n\ntest_x if y > 1\n\ntest_f if nope(1)\n")
    code, _, err = run(str(tmp_path))
    assert code == 2
    assert f"error: {bad}:5:11: rego_unsafe_var_error: var y is unsafe" in err
    assert f"error: {bad}:7:11: rego_type_error:" in err


def test_through_the_entry_point(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main_module.main(["test", POLICY])
    assert info.value.code == 0
    with pytest.raises(SystemExit) as info:
        main_module.main(["test", SUITE])
    assert info.value.code == 1
    with pytest.raises(SystemExit) as info:
        main_module.main(["test"])
    assert info.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


def test_go_duration() -> None:
    assert go_duration(0) == "0s"
    assert go_duration(0.000812) == "812ns"
    assert go_duration(0.5) == "500µs"
    assert go_duration(0.45124) == "451.24µs"
    assert go_duration(1.204) == "1.204ms"
    assert go_duration(4.831014) == "4.831014ms"
    assert go_duration(2500) == "2.5s"
    assert go_duration(63_000) == "1m3s"
    assert go_duration(3_600_000) == "1h0m0s"
