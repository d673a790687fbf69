"""The ``opa test`` runner: discovery, outcomes, print capture, time limits, ``with`` mocking."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubegate.errors import ErrorList, KubegateError, RegoCompileError, UsageError
from kubegate.evaluator import query as query_module
from kubegate.evaluator.loading import load_paths
from kubegate.evaluator.testing import (
    TestReport,
    TestResult,
    discover_tests,
    number_duplicate_tests,
    run_tests,
)
from kubegate.rego import ast
from kubegate.rego.parser import parse_module

FIXTURES = Path(__file__).parents[1] / "cli" / "fixtures" / "opa_test"


def modules(**sources: str) -> list[ast.Module]:
    return [parse_module(text, f"{name}.rego") for name, text in sources.items()]


def run(data: dict[str, object] | None = None, **sources: str) -> dict[str, TestResult]:
    report = run_tests(modules(**sources), data or {}, timeout_s=5)
    return {r.name: r for r in report.results}


def outcomes(results: dict[str, TestResult]) -> dict[str, str]:
    return {name: r.outcome for name, r in results.items()}


# ------------------------------------------------------------------ discovery


def test_discovery_finds_tests_and_todos_in_file_then_source_order() -> None:
    found = discover_tests(
        modules(
            b_test="package b\n\nimport rego.v1\n\ntest_two if true\n\nhelper := 1\n\ntest_three if true\n",
            a_test="package a\n\nimport rego.v1\n\ntodo_test_one if false\n\ntest_f(x) if x\n",
        )
    )
    assert [(c.package, c.name, c.skip) for c in found] == [
        ("data.a", "todo_test_one", True),
        ("data.b", "test_two", False),
        ("data.b", "test_three", False),
    ]
    assert found[1].full_name == "data.b.test_two"
    assert found[1].location is not None and (found[1].location.file, found[1].location.line) == ("b_test.rego", 5)


def test_a_test_of_several_rules_is_listed_once() -> None:
    found = discover_tests(modules(t="package t\n\nimport rego.v1\n\ntest_s contains 1\n\ntest_s contains 2\n"))
    assert [c.name for c in found] == ["test_s"]


def test_ref_heads_name_the_test_up_to_its_prefix() -> None:
    found = discover_tests(
        modules(t='package t\n\nimport rego.v1\n\ngroup.test_a := true\n\ntest_cases[n] := true if some n in ["x"]\n')
    )
    assert [(c.name, c.path, c.cases) for c in found] == [
        ("group.test_a", ("t", "group", "test_a"), False),
        ("test_cases", ("t", "test_cases"), True),
    ]


def test_duplicate_complete_tests_are_numbered_and_run_separately() -> None:
    mods = modules(t="package t\n\nimport rego.v1\n\ntest_x if true\n\ntest_x if false\n\ntest_x if true\n")
    renamed = number_duplicate_tests(mods)
    assert [r.head.name for r in renamed[0].rules] == ["test_x", "test_x#01", "test_x#02"]
    results = run_tests(mods, {})
    assert [(r.name, r.outcome) for r in results.results] == [
        ("test_x", "pass"),
        ("test_x#01", "fail"),
        ("test_x#02", "pass"),
    ]


def test_modules_without_duplicates_are_unchanged() -> None:
    mods = modules(t="package t\n\nimport rego.v1\n\ntest_x if true\n")
    assert number_duplicate_tests(mods)[0] is mods[0]


# ------------------------------------------------------------------ outcomes


SUITE = """package suite

import rego.v1

test_true if true

test_false := false

test_undefined if input.missing

test_value := 7

test_conflict := x if {
\tsome x in [1, 2]
}

todo_test_later if false
"""


def test_outcomes() -> None:
    results = run(suite_test=SUITE)
    assert outcomes(results) == {
        "test_true": "pass",
        "test_false": "fail",
        "test_undefined": "fail",
        "test_value": "pass",  # defined and not false
        "test_conflict": "error",
        "todo_test_later": "skip",
    }
    assert results["test_false"].message == "the test is false"
    assert results["test_undefined"].message == "the test is undefined"
    conflict = results["test_conflict"]
    assert conflict.code == "eval_conflict_error"
    assert conflict.error_location is not None and conflict.error_location.line == 13
    assert results["todo_test_later"].duration_ms == 0
    assert all(r.duration_ms >= 0 for r in results.values())


def test_report_counts() -> None:
    report = run_tests(modules(suite_test=SUITE), {})
    assert (report.count("pass"), report.count("fail"), report.count("error"), report.count("skip")) == (2, 2, 1, 1)
    assert not report.ok
    assert TestReport(tuple(r for r in report.results if r.outcome in ("pass", "skip"))).ok


def test_test_objects_pass_when_every_case_is_true() -> None:
    results = run(
        t="""package t

import rego.v1

test_all[name] := ok if {
\tsome name, n in {"one": 1, "two": 2}
\tok := n > 0
}

test_some[name] := ok if {
\tsome name, n in {"one": 1, "two": 2, "three": 3}
\tok := n == 1
}
"""
    )
    assert results["test_all"].outcome == "pass"
    assert results["test_some"].outcome == "fail"
    assert results["test_some"].failed_cases == ("three", "two")


def test_print_output_is_captured_per_test() -> None:
    results = run(
        t="package t\n\nimport rego.v1\n\n"
        'test_a if {\n\tprint("from a", 1)\n}\n\n'
        'test_b if {\n\tprint("from b")\n\tprint({"k": [1]})\n}\n'
    )
    assert results["test_a"].output.endswith("from a 1")
    lines = results["test_b"].output.splitlines()
    assert len(lines) == 2 and lines[0].endswith("from b") and lines[1].endswith('{"k": [1]}')


def test_a_slow_test_times_out_and_the_run_goes_on() -> None:
    mods = modules(
        t="""package t

import rego.v1

test_slow if {
\tr := numbers.range(1, 3000)
\tsome i in r
\tsome j in r
\ti + j < 0
}

test_quick if true
"""
    )
    report = run_tests(mods, {}, timeout_s=0.2)
    slow, quick = report.results
    assert (slow.outcome, slow.code, slow.message) == ("error", "eval_cancel_error", "timed out after 0.2s")
    assert slow.duration_ms < 3000
    assert quick.outcome == "pass"


def test_run_filter_searches_the_full_name() -> None:
    mods = modules(
        a="package a\n\nimport rego.v1\n\ntest_one if true\n\ntest_two if true\n",
        b="package b\n\nimport rego.v1\n\ntest_one if true\n",
    )
    assert [r.full_name for r in run_tests(mods, {}, run="one").results] == ["data.a.test_one", "data.b.test_one"]
    assert [r.full_name for r in run_tests(mods, {}, run=r"^data\.a\.").results] == [
        "data.a.test_one",
        "data.a.test_two",
    ]
    with pytest.raises(UsageError) as info:
        run_tests(mods, {}, run="(")
    assert info.value.code == "invalid_regex"


def test_strict_builtin_errors_turn_undefined_into_errors() -> None:
    source = 'package t\n\nimport rego.v1\n\ntest_n if to_number("x") == 1\n'
    assert run_tests(modules(t=source), {}).results[0].outcome == "fail"
    strict = run_tests(modules(t=source), {}, strict_builtin_errors=True).results[0]
    assert (strict.outcome, strict.code) == ("error", "eval_builtin_error")


def test_compile_errors_stop_the_run_with_their_location() -> None:
    with pytest.raises(RegoCompileError) as info:
        run_tests(modules(t="package t\n\nimport rego.v1\n\ntest_x if y > 1\n"), {})
    assert info.value.code == "rego_unsafe_var_error"
    assert info.value.location is not None and (info.value.location.file, info.value.location.line) == ("t.rego", 5)


def test_unknown_functions_stop_the_run() -> None:
    with pytest.raises((RegoCompileError, ErrorList)) as info:
        run_tests(modules(t="package t\n\nimport rego.v1\n\ntest_x if no_such_function(1)\n"), {})
    assert isinstance(info.value, KubegateError) and info.value.code == "rego_type_error"


def test_an_evaluator_defect_is_an_error_outcome(monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(query_module.PreparedQuery, "eval", explode)
    result = run_tests(modules(t="package t\n\nimport rego.v1\n\ntest_x if true\n"), {}).results[0]
    assert (result.outcome, result.code) == ("error", "internal_error")
    assert "RuntimeError: boom" in result.message


def test_results_are_frozen() -> None:
    result = run(t="package t\n\nimport rego.v1\n\ntest_x if true\n")["test_x"]
    with pytest.raises(AttributeError):
        result.outcome = "fail"  # type: ignore[misc]


# ------------------------------------------------------------------ with


POLICY = """package authz

import rego.v1

limit := 3

double(x) := x * 2

allow if input.user == "alice"

over if double(input.n) > data.config.max

now_even if time.now_ns() % 2 == 0
"""


def test_with_input_data_and_functions() -> None:
    tests = """package authz_test

import rego.v1

import data.authz

twenty(_) := 20

test_input if authz.allow with input as {"user": "alice"}

test_input_path if authz.allow with input.user as "alice"

test_input_denied if not authz.allow with input as {"user": "bob"}

test_base_data if authz.over with input as {"n": 2} with data.config.max as 3

test_virtual_data if authz.limit == 10 with data.authz.limit as 10

test_function_by_function if authz.over with input as {"n": 0} with data.config.max as 3 with authz.double as twenty

test_function_by_value if authz.over with input as {"n": 0} with data.config.max as 3 with authz.double as 99

test_mock_is_scoped if {
\tauthz.over with input as {"n": 0} with data.config.max as 3 with authz.double as twenty
\tnot authz.over with input as {"n": 0} with data.config.max as 3
}
"""
    results = run({"config": {"max": 100}}, authz=POLICY, authz_test=tests)
    assert outcomes(results) == dict.fromkeys(results, "pass"), {n: r.message for n, r in results.items()}
    assert len(results) == 8


def test_without_the_mocks_the_same_tests_fail() -> None:
    tests = """package authz_test

import rego.v1

import data.authz

test_input if authz.allow with input as {"user": "bob"}

test_base_data if authz.over with input as {"n": 2}

test_function if authz.over with input as {"n": 0} with data.config.max as 3
"""
    results = run({"config": {"max": 100}}, authz=POLICY, authz_test=tests)
    assert outcomes(results) == dict.fromkeys(results, "fail")


def test_the_fixture_policy_passes() -> None:
    loaded = load_paths([str(FIXTURES / "policy")])
    report = run_tests(loaded.modules, loaded.data)
    assert report.ok, [(r.full_name, r.outcome, r.message) for r in report.results if not r.passed]
    assert report.count("pass") == 10 and report.count("skip") == 1


def test_with_a_builtin_as_a_value() -> None:
    results = run(t="package t\n\nimport rego.v1\n\ntest_now if time.now_ns() == 42 with time.now_ns as 42\n")
    assert results["test_now"].outcome == "pass"


def test_with_a_builtin_as_a_function() -> None:
    results = run(
        t="package t\n\nimport rego.v1\n\nseven(_) := 7\n\ntest_count if count([1, 2]) == 7 with count as seven\n"
    )
    assert results["test_count"].outcome == "pass"


def test_a_function_defined_after_its_caller() -> None:
    results = run(t="package t\n\nimport rego.v1\n\ntest_f if f(1) == 2\n\nf(x) := x + 1\n")
    assert results["test_f"].outcome == "pass"


def test_a_mock_function_defined_after_the_test() -> None:
    results = run(t="package t\n\nimport rego.v1\n\nf(x) := x\n\ntest_m if f(1) == 10 with f as ten\n\nten(_) := 10\n")
    assert results["test_m"].outcome == "pass"


# ------------------------------------------------------------------ evaluator defects
#
# A package split over a policy file and its test file (the usual layout).


def test_a_rule_of_the_same_package_in_another_file() -> None:
    results = run(
        policy='package p\n\nimport rego.v1\n\nallow if input.user == "alice"\n',
        policy_test='package p\n\nimport rego.v1\n\ntest_allow if allow with input as {"user": "alice"}\n',
    )
    assert results["test_allow"].outcome == "pass"


def test_a_function_of_the_same_package_in_another_file() -> None:
    results = run(
        lib="package p\n\nimport rego.v1\n\ninc(x) := x + 1\n",
        lib_test="package p\n\nimport rego.v1\n\ntest_inc if inc(1) == 2\n",
    )
    assert results["test_inc"].outcome == "pass"
