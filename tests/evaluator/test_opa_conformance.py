"""OPA's conformance cases against kubegate's evaluator, and tests of the runner itself.

* ``test_opa_corpus``: every case under ``$KUBEGATE_OPA_CASES`` (OPA's
  ``v1/test/cases/testdata`` mirrored there: ``<dir>/v1/<family>/*.yaml``, ``<dir>/v0/...``),
  one test per case; skipped when the variable is not set.
* ``test_own_cases_real_api``: our own cases in OPA's format (``cases/opa_format/*.yaml``)
  against the real query API.
* the rest: the loader, the comparison and the verdicts of ``opa_cases``, driven by a fake
  ``prepare_query``.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from kubegate.errors import KubegateError, Location
from tests.evaluator import opa_cases
from tests.evaluator.opa_cases import (
    MISSING,
    CaseOutcome,
    OpaCase,
    compare_result_sets,
    load_dir,
    load_error_outcomes,
    load_file,
    load_yaml,
    opa_sort_key,
    parse_term,
    run_case,
    run_cases,
    summarize,
)

HERE = Path(__file__).parent
OWN_CASES = HERE / "cases" / "opa_format"
CORPUS_ENV = "KUBEGATE_OPA_CASES"


def _real_prepare() -> opa_cases.PrepareFn | None:
    try:
        return opa_cases.default_prepare()
    except ImportError:
        return None


# --------------------------------------------------------------------------- the gathered corpus


def _corpus_params() -> list[Any]:
    root = os.environ.get(CORPUS_ENV)
    if not root:
        reason = f"{CORPUS_ENV} is not set (point it at a directory of OPA's case files, e.g. /work/opa-cases)"
        return [pytest.param(None, id="corpus", marks=pytest.mark.skip(reason=reason))]
    if not Path(root).is_dir():
        reason = f"{CORPUS_ENV}={root} is not a directory"
        return [pytest.param(None, id="corpus", marks=pytest.mark.skip(reason=reason))]
    loaded = load_dir(root)
    params: list[Any] = [pytest.param(c, id=c.case_id) for c in loaded.cases]
    params += [pytest.param(o, id=f"{o.family}/{o.note}#load") for o in load_error_outcomes(loaded.errors)]
    return params


@pytest.mark.parametrize("item", _corpus_params())
def test_opa_corpus(item: OpaCase | CaseOutcome | None) -> None:
    assert item is not None
    if isinstance(item, CaseOutcome):
        pytest.fail(item.reason)
    prepare = _real_prepare()
    if prepare is None:
        pytest.skip("kubegate's query API (kubegate.evaluator.query.prepare_query) is not available")
    outcome = run_case(item, prepare=prepare)
    if outcome.status == "skip":
        pytest.skip(outcome.reason)
    assert outcome.passed, f"{item.note}: {outcome.reason}\n{outcome.diff}"


# --------------------------------------------------------------------------- our own cases


def _own_cases() -> list[OpaCase]:
    loaded = load_dir(OWN_CASES)
    assert not loaded.errors, loaded.errors
    return loaded.cases


@pytest.mark.parametrize("case", _own_cases(), ids=lambda c: c.note)
def test_own_cases_real_api(case: OpaCase) -> None:
    prepare = _real_prepare()
    if prepare is None:
        pytest.skip("kubegate's query API (kubegate.evaluator.query.prepare_query) is not available")
    outcome = run_case(case, prepare=prepare)
    assert outcome.passed, f"{outcome.reason}\n{outcome.diff}"


def test_own_cases_load_as_written() -> None:
    cases = {c.note: c for c in _own_cases()}
    assert len(cases) == len(_own_cases()), "notes are unique"
    assert {c.family for c in cases.values()} == {"opa_format"}
    assert cases["rego_version/v0 partial set rule"].rego_version == "v0"
    assert cases["rego_version/v0 syntax is a parse error in v1"].rego_version == "v1"
    assert cases["input_term/set input"].input_term == "{3, 1, 2}"
    assert cases["undefined/input null means no input"].input is MISSING
    assert cases["undefined/no input given"].input is MISSING
    assert cases["results/data and input"].input == {"user": "bob"}
    assert cases["sort_bindings/values of an object"].sort_bindings
    assert cases["strict/division by zero"].strict_error
    assert cases["errors/conflicting complete rule values"].want_error_code == "eval_conflict_error"
    assert cases["results/query without variables"].want_result == [{}]
    assert cases["undefined/rule body false"].want_result == []
    assert cases["results/a variable named y needs quoting in YAML 1.1"].want_result == [{"y": 1}]


# --------------------------------------------------------------------------- a fake prepare_query


@dataclass
class FakeResult:
    bindings: dict[str, Any]
    expressions: list[Any] = field(default_factory=list)


Answer = list[dict[str, Any]] | BaseException | Callable[[Any], Any]


@dataclass
class FakePrepared:
    answer: Answer
    calls: list[Any]

    def eval(self, **kwargs: Any) -> list[FakeResult]:
        self.calls.append(("eval", kwargs))
        answer = self.answer
        if isinstance(answer, BaseException):
            raise answer
        if callable(answer):
            answer = answer(kwargs.get("input", MISSING))
        assert isinstance(answer, list)
        return [FakeResult(dict(b)) for b in answer]


class FakeEngine:
    """Stands in for ``prepare_query``: answers each query from a table, records each call.

    An answer is a list of bindings, an exception raised by ``eval``, a callable of the input,
    or ``("prepare", exception)`` for an exception raised by ``prepare_query`` itself.
    """

    def __init__(self, answers: Mapping[str, Any]) -> None:
        self.answers = dict(answers)
        self.calls: list[Any] = []

    def __call__(self, query: str, **kwargs: Any) -> FakePrepared:
        self.calls.append(("prepare", query, kwargs))
        answer = self.answers[query]
        if isinstance(answer, tuple) and answer[0] == "prepare":
            raise answer[1]
        return FakePrepared(answer, self.calls)


def _oracle(case: OpaCase, *, perturb: bool = False) -> FakeEngine:
    """A fake that answers a case the way it expects (or, with ``perturb``, the wrong way),
    shuffled: results reversed and duplicated, array bindings reversed when sorted."""
    if case.want_error_code is not None or case.want_error is not None:
        if perturb:
            return FakeEngine({case.query: [{"x": "no error"}]})
        message = case.want_error or "something went wrong"
        return FakeEngine({case.query: KubegateError(message, code=case.want_error_code or "eval_error")})
    rows = list(case.want_result or [])
    if perturb:
        rows = [*rows, {"unexpected": True}] if rows else [{"x": "defined after all"}]
    got = []
    for row in reversed(rows):
        out = dict(row)
        if case.sort_bindings:
            out = {k: list(reversed(v)) if isinstance(v, list) else v for k, v in out.items()}
        got.append(out)
    return FakeEngine({case.query: got + got[:1]})


@pytest.mark.parametrize("case", _own_cases(), ids=lambda c: c.note)
def test_own_cases_pass_against_an_oracle(case: OpaCase) -> None:
    outcome = run_case(case, prepare=_oracle(case))
    assert outcome.passed, f"{outcome.reason}\n{outcome.diff}"


@pytest.mark.parametrize("case", _own_cases(), ids=lambda c: c.note)
def test_own_cases_fail_against_a_wrong_oracle(case: OpaCase) -> None:
    outcome = run_case(case, prepare=_oracle(case, perturb=True))
    assert outcome.status == "fail"
    assert outcome.reason


def _write(tmp_path: Path, rel: str, text: str) -> Path:
    path = tmp_path / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _case(tmp_path: Path, body: str, rel: str = "v1/fam/case.yaml") -> OpaCase:
    loaded = load_file(_write(tmp_path, rel, "cases:\n" + body), root=tmp_path)
    assert not loaded.errors, loaded.errors
    assert len(loaded.cases) == 1
    return loaded.cases[0]


# --------------------------------------------------------------------------- comparison


def test_result_sets_ignore_order_and_duplicates() -> None:
    want = [{"x": 1, "y": "a"}, {"x": 2, "y": "b"}]
    got = [{"y": "b", "x": 2}, {"x": 1, "y": "a"}, {"x": 2, "y": "b"}]
    assert compare_result_sets(want, got) == (True, "")


def test_numbers_compare_by_value_but_booleans_are_not_numbers() -> None:
    assert compare_result_sets([{"x": 1}], [{"x": 1.0}])[0]
    assert compare_result_sets([{"x": [2.0, {"a": 3}]}], [{"x": [2, {"a": 3.0}]}])[0]
    assert not compare_result_sets([{"x": 1}], [{"x": True}])[0]
    assert not compare_result_sets([{"x": 0}], [{"x": False}])[0]
    assert not compare_result_sets([{"x": 0.5}], [{"x": 0.25}])[0]


def test_numbers_past_float_precision_compare_as_float64() -> None:
    # OPA reads expected YAML numbers through float64.
    assert compare_result_sets([{"x": 1.2345678901234568e22}], [{"x": 12345678901234567890123}])[0]
    assert compare_result_sets([{"x": 12345678901234567890123}], [{"x": 12345678901234567890123}])[0]
    assert not compare_result_sets([{"x": 12}], [{"x": 13}])[0]


def test_sort_bindings_sorts_the_results_not_the_expectation() -> None:
    assert compare_result_sets([{"x": [1, 2, 3]}], [{"x": [3, 1, 2]}], sort_bindings=True)[0]
    assert not compare_result_sets([{"x": [1, 2, 3]}], [{"x": [3, 1, 2]}])[0]
    assert not compare_result_sets([{"x": [3, 1, 2]}], [{"x": [3, 1, 2]}], sort_bindings=True)[0]
    # only arrays are sorted
    assert compare_result_sets([{"x": "b", "y": [1, 2]}], [{"x": "b", "y": [2, 1]}], sort_bindings=True)[0]


def test_a_difference_comes_with_a_diff() -> None:
    ok, diff = compare_result_sets([{"x": 1}], [{"x": 2}])
    assert not ok
    assert '-{"x": 1}' in diff
    assert '+{"x": 2}' in diff


def test_missing_and_extra_bindings_are_differences() -> None:
    assert not compare_result_sets([{"x": 1}], [{"x": 1, "y": 2}])[0]
    assert not compare_result_sets([{"x": 1, "y": 2}], [{"x": 1}])[0]
    assert not compare_result_sets([], [{}])[0]
    assert compare_result_sets([{}], [{}])[0]


def test_generated_variables_can_be_ignored() -> None:
    got = [{"x": 1, "__localq0__": 5}]
    assert not compare_result_sets([{"x": 1}], got)[0]
    assert compare_result_sets([{"x": 1}], got, ignore_generated_vars=True)[0]


def test_opa_order_of_values() -> None:
    values: list[Any] = [{"b": 1}, {"a": 2}, [1, 2], [1], "b", "a", 2.5, 1, True, False, None, {"a": 1}]
    assert sorted(values, key=opa_sort_key) == [
        None,
        False,
        True,
        1,
        2.5,
        "a",
        "b",
        [1],
        [1, 2],
        {"a": 1},
        {"a": 2},
        {"b": 1},
    ]


def test_results_with_sets_or_tuples_are_read_as_json() -> None:
    from kubegate.evaluator.values import Set

    assert compare_result_sets([{"x": [1, 2]}], [{"x": Set([2, 1])}])[0]
    assert compare_result_sets([{"x": [1, [2]]}], [{"x": (1, (2,))}])[0]


# --------------------------------------------------------------------------- YAML and terms


def test_yaml_is_read_as_opa_reads_it() -> None:
    # go-yaml v2 (YAML 1.1) then JSON: y/n/on/off are booleans, so as keys they become "true"/"false"
    assert load_yaml("y: 1\nn: 2\n'y': 3") == {"true": 1, "false": 2, "y": 3}
    assert load_yaml("a: [yes, no, off, on, ~, .inf]") == {"a": [True, False, False, True, None, float("inf")]}
    # 1e3 is a number; timestamps and sexagesimal-looking values stay strings
    assert load_yaml("num: 1e3\nday: 2001-12-14\ntime: 12:30") == {"num": 1000.0, "day": "2001-12-14", "time": "12:30"}
    assert load_yaml("big: 18446744073709551617\nhex: 0x1f\noct: 017") == {
        "big": 18446744073709551617,
        "hex": 31,
        "oct": 15,
    }
    assert load_yaml("a: {1: x, 2.5: 'y', true: z, null: w}") == {"a": {"1": "x", "2.5": "y", "true": "z", "null": "w"}}
    assert load_yaml('{"json": [1, "two"]}') == {"json": [1, "two"]}


def test_parse_term_builds_sets_and_non_string_keys() -> None:
    from kubegate.evaluator.values import Set

    term = parse_term('{"a": {1, 2, 1}, "b": [null, true, -1.5e1, `raw\\s`], "c": set()}')
    assert term["a"] == Set([1, 2])
    assert term["b"] == [None, True, -15.0, "raw\\s"]
    assert term["c"] == Set([])
    keyed = parse_term('{[1, 2]: "pair", 3: "three", "s": "str",}')
    assert len(keyed) == 3
    assert parse_term("{1, {2, 3},}") == Set([1, Set([2, 3])])
    assert parse_term(" # comment\n [1, 2] ") == [1, 2]
    assert parse_term("{}") == {}


@pytest.mark.parametrize("text", ["input.x", "{1, 2", "[1 2]", '"open', "f(1)", "1 2"])
def test_parse_term_rejects_what_it_cannot_read(text: str) -> None:
    with pytest.raises(opa_cases.TermSyntaxError):
        parse_term(text)


# --------------------------------------------------------------------------- loading


def test_rego_version_comes_from_the_path_or_the_case(tmp_path: Path) -> None:
    body = "  - note: n\n    query: x := 1\n    want_result: [{x: 1}]\n"
    assert _case(tmp_path, body, "v0/fam/a.yaml").rego_version == "v0"
    assert _case(tmp_path, body, "v1/fam/b.yaml").rego_version == "v1"
    assert _case(tmp_path, body, "other/c.yaml").rego_version == "v1"
    assert _case(tmp_path, body + "    rego_version: v0\n", "v1/fam/d.yaml").rego_version == "v0"
    assert _case(tmp_path, body + "    v0_compatible: true\n", "v1/fam/e.yaml").rego_version == "v0"


def test_family_is_the_directory_below_the_root(tmp_path: Path) -> None:
    _write(tmp_path, "v1/aggregates/a.yaml", "cases:\n  - note: a\n    query: x := 1\n    want_result: []\n")
    _write(tmp_path, "v0/strings/b.yml", "cases:\n  - note: b\n    query: x := 1\n    want_result: []\n")
    _write(tmp_path, "v1/.hidden/c.yaml", "cases: nonsense\n")
    _write(tmp_path, "v1/aggregates/README.md", "not a case file")
    loaded = load_dir(tmp_path)
    assert sorted(c.family for c in loaded.cases) == ["v0/strings", "v1/aggregates"]
    assert not loaded.errors
    # a family directory as the root
    assert {c.family for c in load_dir(tmp_path / "v1").cases} == {"aggregates"}


def test_unreadable_files_are_reported_not_raised(tmp_path: Path) -> None:
    _write(tmp_path, "v1/fam/good.yaml", "cases:\n  - note: good\n    query: x := 1\n    want_result: [{x: 1}]\n")
    _write(tmp_path, "v1/fam/bad-yaml.yaml", "cases:\n  - note: [unclosed\n")
    _write(tmp_path, "v1/fam/no-cases.yaml", "something: else\n")
    _write(tmp_path, "v1/fam/bad-case.yaml", "cases:\n  - note: no query\n  - query: 1\n")
    loaded = load_dir(tmp_path)
    assert [c.note for c in loaded.cases] == ["good"]
    assert sorted(e.file.name for e in loaded.errors) == [
        "bad-case.yaml",
        "bad-case.yaml",
        "bad-yaml.yaml",
        "no-cases.yaml",
    ]
    outcomes = load_error_outcomes(loaded.errors)
    assert all(o.status == "fail" and o.reason.startswith("load error") for o in outcomes)


def test_null_fields_count_as_absent(tmp_path: Path) -> None:
    case = _case(tmp_path, "  - note: n\n    query: x := 1\n    input: null\n    data: null\n    want_result:\n")
    assert case.input is MISSING
    assert case.data is None
    assert case.want_result is None


# --------------------------------------------------------------------------- running and judging


def test_arguments_reach_prepare_query(tmp_path: Path) -> None:
    case = _case(
        tmp_path,
        "  - note: n\n    query: data.a.p = x\n    modules: ['package a', 'package b']\n"
        "    data: {k: 1}\n    strict_error: true\n    want_result: [{x: 1}]\n",
        "v0/fam/a.yaml",
    )
    engine = FakeEngine({"data.a.p = x": [{"x": 1}]})
    assert run_case(case, prepare=engine, backend="compiled").passed
    (_, query, kwargs), (_, eval_kwargs) = engine.calls
    assert query == "data.a.p = x"
    assert kwargs == {
        "modules": {"case_0.rego": "package a", "case_1.rego": "package b"},
        "data": {"k": 1},
        "rego_version": "v0",
        "strict_builtin_errors": True,
        "backend": "compiled",
    }
    assert eval_kwargs == {}, "no input= when the case has none"


def test_input_and_input_term_are_passed(tmp_path: Path) -> None:
    from kubegate.evaluator.values import Set

    seen: list[Any] = []

    def answer(value: Any) -> list[dict[str, Any]]:
        seen.append(value)
        return [{}]

    plain = _case(tmp_path, "  - note: a\n    query: q\n    input: {a: [1]}\n    want_result: [{}]\n", "v1/f/a.yaml")
    term = _case(
        tmp_path, "  - note: b\n    query: q\n    input_term: '{1, 2}'\n    want_result: [{}]\n", "v1/f/b.yaml"
    )
    assert run_case(plain, prepare=FakeEngine({"q": answer})).passed
    assert run_case(term, prepare=FakeEngine({"q": answer})).passed
    assert seen == [{"a": [1]}, Set([1, 2])]


def test_an_input_term_the_runner_cannot_read_fails_the_case(tmp_path: Path) -> None:
    case = _case(tmp_path, "  - note: a\n    query: q\n    input_term: data.x\n    want_result: []\n")
    outcome = run_case(case, prepare=FakeEngine({"q": []}))
    assert outcome.status == "fail"
    assert outcome.reason.startswith("unsupported input_term")


def test_undefined_versus_defined(tmp_path: Path) -> None:
    want_undefined = _case(tmp_path, "  - note: a\n    query: q\n    want_result: []\n")
    assert run_case(want_undefined, prepare=FakeEngine({"q": []})).passed
    outcome = run_case(want_undefined, prepare=FakeEngine({"q": [{"x": 1}]}))
    assert outcome.reason == "expected undefined (no results), got results"
    want_defined = _case(tmp_path, "  - note: b\n    query: q\n    want_result: [{x: 1}]\n", "v1/f/b.yaml")
    assert run_case(want_defined, prepare=FakeEngine({"q": []})).reason == "got undefined (no results)"


def test_want_defined_alone(tmp_path: Path) -> None:
    case = _case(tmp_path, "  - note: a\n    query: q\n    want_defined: true\n")
    assert run_case(case, prepare=FakeEngine({"q": [{"x": 1}]})).passed
    assert run_case(case, prepare=FakeEngine({"q": []})).status == "fail"


def test_error_code_and_text(tmp_path: Path) -> None:
    case = _case(
        tmp_path,
        "  - note: a\n    query: q\n    want_error_code: eval_type_error\n"
        "    want_error: 'test-0.rego:4: eval_type_error: count: operand 1 must be string'\n    strict_error: true\n",
    )
    loc = Location("case_0.rego", 4, 7)
    good = KubegateError("count: operand 1 must be string but got number", loc, code="eval_type_error")
    assert run_case(case, prepare=FakeEngine({"q": good})).passed
    at_line = KubegateError(
        "count: operand 1 must be string but got number", Location("case_0.rego", 4), code="eval_type_error"
    )
    assert run_case(case, prepare=FakeEngine({"q": at_line})).passed
    wrong_code = KubegateError("count: operand 1 must be string", loc, code="eval_builtin_error")
    outcome = run_case(case, prepare=FakeEngine({"q": wrong_code}))
    assert outcome.reason == "wrong error text", "the text is checked first, and it names the code"
    by_code = _case(tmp_path, "  - note: b\n    query: q\n    want_error_code: eval_type_error\n", "v1/f/b.yaml")
    outcome = run_case(by_code, prepare=FakeEngine({"q": wrong_code}))
    assert outcome.reason == "expected error code eval_type_error, got eval_builtin_error"
    wrong_text = KubegateError("something else", loc, code="eval_type_error")
    outcome = run_case(case, prepare=FakeEngine({"q": wrong_text}))
    assert outcome.reason == "wrong error text"
    assert "something else" in outcome.diff
    outcome = run_case(case, prepare=FakeEngine({"q": [{"x": 1}]}))
    assert outcome.reason.startswith("expected an error containing")


def test_compile_errors_from_prepare_are_judged_too(tmp_path: Path) -> None:
    case = _case(tmp_path, "  - note: a\n    query: q\n    want_error_code: rego_parse_error\n")
    parse_error = KubegateError("unexpected token", code="rego_parse_error")
    assert run_case(case, prepare=FakeEngine({"q": ("prepare", parse_error)})).passed


def test_unexpected_errors_fail(tmp_path: Path) -> None:
    case = _case(tmp_path, "  - note: a\n    query: q\n    want_result: [{x: 1}]\n")
    error = KubegateError("no", code="eval_conflict_error")
    outcome = run_case(case, prepare=FakeEngine({"q": ("prepare", error)}))
    assert outcome.reason == "unexpected error (prepare): eval_conflict_error: no"
    outcome = run_case(case, prepare=FakeEngine({"q": error}))
    assert outcome.reason == "unexpected error (eval): eval_conflict_error: no"


def test_an_error_with_results_wanted_too_is_judged_on_the_error(tmp_path: Path) -> None:
    case = _case(
        tmp_path, "  - note: a\n    query: q\n    want_result: [{x: 1}]\n    want_error_code: eval_builtin_error\n"
    )
    error = KubegateError("divide by zero", code="eval_builtin_error")
    outcome = run_case(case, prepare=FakeEngine({"q": error}))
    assert outcome.passed
    assert "not comparable" in outcome.reason


def test_a_crash_fails_the_case_and_nothing_else(tmp_path: Path) -> None:
    cases = [
        _case(tmp_path, "  - note: a\n    query: a\n    want_result: []\n", "v1/f/a.yaml"),
        _case(tmp_path, "  - note: b\n    query: b\n    want_result: []\n", "v1/f/b.yaml"),
        _case(tmp_path, "  - note: c\n    query: c\n    want_result: []\n", "v1/f/c.yaml"),
    ]
    engine = FakeEngine({"a": ValueError("boom"), "b": ("prepare", RecursionError("deep")), "c": []})
    outcomes = run_cases(cases, prepare=engine)
    assert [o.status for o in outcomes] == ["fail", "fail", "pass"]
    assert outcomes[0].reason == "crash: ValueError: boom"
    assert outcomes[1].reason.startswith("crash: RecursionError")
    assert "ValueError" in outcomes[0].diff, "the traceback tail is kept"


def test_a_case_past_its_time_fails_with_timeout(tmp_path: Path) -> None:
    case = _case(tmp_path, "  - note: a\n    query: q\n    want_result: []\n")

    def slow(_: Any) -> list[Any]:
        time.sleep(5)
        return []

    start = time.perf_counter()
    outcome = run_case(case, prepare=FakeEngine({"q": slow}), timeout=0.2)
    assert outcome.reason == "timeout: still running after 0.2 s"
    assert time.perf_counter() - start < 2


def test_timeout_outside_the_main_thread(tmp_path: Path) -> None:
    case = _case(tmp_path, "  - note: a\n    query: q\n    want_result: []\n")

    def slow(_: Any) -> list[Any]:
        time.sleep(0.6)
        return []

    box: list[CaseOutcome] = []
    worker = threading.Thread(target=lambda: box.append(run_case(case, prepare=FakeEngine({"q": slow}), timeout=0.1)))
    worker.start()
    worker.join(5)
    assert box and box[0].reason.startswith("timeout")
    time.sleep(0.7)  # let the abandoned evaluation finish


def test_env_is_set_while_the_case_runs(tmp_path: Path) -> None:
    name = "KUBEGATE_OPA_CASES_TEST_VAR"
    os.environ.pop(name, None)
    case = _case(tmp_path, f"  - note: a\n    query: q\n    env: {{{name}: hello}}\n    want_result: [{{v: hello}}]\n")
    outcome = run_case(case, prepare=FakeEngine({"q": lambda _: [{"v": os.environ.get(name)}]}))
    assert outcome.passed, outcome.reason
    assert name not in os.environ


def test_skip_and_invalid_cases(tmp_path: Path) -> None:
    skipped = _case(tmp_path, "  - note: a\n    query: q\n    skip: not yet\n    want_result: []\n")
    assert run_case(skipped, prepare=FakeEngine({})).status == "skip"
    assert run_case(skipped, prepare=FakeEngine({"q": []}), run_skipped=True).passed
    invalid = _case(tmp_path, "  - note: b\n    query: q\n", "v1/f/b.yaml")
    assert run_case(invalid, prepare=FakeEngine({"q": []})).reason.startswith("invalid case")


def test_summary_counts_families(tmp_path: Path) -> None:
    for rel, want in (("v1/a/1.yaml", "[]"), ("v1/a/2.yaml", "[{x: 1}]"), ("v0/b/3.yaml", "[]")):
        _write(tmp_path, rel, f"cases:\n  - note: {rel}\n    query: q\n    want_result: {want}\n")
    _write(tmp_path, "v0/b/4.yaml", "cases:\n  - note: s\n    query: q\n    skip: true\n    want_result: []\n")
    loaded = load_dir(tmp_path)
    summary = summarize(run_cases(loaded.cases, prepare=FakeEngine({"q": []})))
    assert summary.total_line() == "2/3 passed (66.7 %), 1 skipped"
    assert {n: (c.passed, c.failed, c.skipped) for n, c in summary.families.items()} == {
        "v0/b": (1, 0, 1),
        "v1/a": (1, 1, 0),
    }
    assert summary.to_dict()["percent"] == 66.67


# --------------------------------------------------------------------------- the command line


@pytest.fixture
def cli_dir(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "cases"
    _write(root, "v1/good/a.yaml", "cases:\n  - note: good/one\n    query: q1\n    want_result: [{x: 1}]\n")
    _write(root, "v1/bad/b.yaml", "cases:\n  - note: bad/one\n    query: q2\n    want_result: [{x: 1}]\n")
    yield root


def test_cli_reports_families_total_and_failures(
    cli_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from benchmarks import opa_conformance

    engine = FakeEngine({"q1": [{"x": 1}], "q2": [{"x": 2}]})
    monkeypatch.setattr(opa_conformance, "default_prepare", lambda: engine)
    failures, report = tmp_path / "failures.txt", tmp_path / "report.json"
    code = opa_conformance.main([str(cli_dir), "--failures", str(failures), "--json", str(report)])
    out = capsys.readouterr().out
    assert code == 0
    assert "v1/good" in out and "v1/bad" in out
    assert "total: 1/2 passed (50.0 %)" in out
    text = failures.read_text()
    assert "=== v1/bad :: bad/one" in text
    assert "reason: unexpected query result" in text
    assert '+{"x": 2}' in text
    doc = json.loads(report.read_text())
    assert doc["summary"]["passed"] == 1 and doc["summary"]["run"] == 2
    assert {o["note"]: o["status"] for o in doc["outcomes"]} == {"good/one": "pass", "bad/one": "fail"}


def test_cli_refuses_a_missing_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from benchmarks import opa_conformance

    assert opa_conformance.main([str(tmp_path / "nowhere")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_cli_filter_and_backend(
    cli_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from benchmarks import opa_conformance

    engine = FakeEngine({"q1": [{"x": 1}], "q2": [{"x": 2}]})
    monkeypatch.setattr(opa_conformance, "default_prepare", lambda: engine)
    assert opa_conformance.main([str(cli_dir), "--filter", "good", "--backend", "compiled", "--quiet"]) == 0
    assert capsys.readouterr().out.strip() == "1/1 passed (100.0 %)"
    assert engine.calls[0][2]["backend"] == "compiled"
