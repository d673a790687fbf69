"""The string builtins (kubegate.evaluator.builtins.strings), driven by cases/strings.yaml,
plus hostile operands and fuzzing: an implementation only ever returns a value or
raises BuiltinError, never mutates its operands, and bounds its output."""

from __future__ import annotations

import contextlib
import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kubegate.evaluator.builtins.strings  # noqa: F401  (registers the implementations)
from kubegate.evaluator.builtins._gotemplate import MAX_STEPS
from kubegate.evaluator.builtins.registry import IMPLEMENTATIONS, BuiltinError
from kubegate.evaluator.values import Set

from ._strings_cases import call, load, run

NAMES = [
    "concat",
    "contains",
    "endswith",
    "format_int",
    "indexof",
    "indexof_n",
    "lower",
    "replace",
    "split",
    "startswith",
    "strings.any_prefix_match",
    "strings.any_suffix_match",
    "strings.count",
    "strings.render_template",
    "strings.replace_n",
    "strings.reverse",
    "strings.split_n",
    "substring",
    "to_number",
    "trim",
    "trim_left",
    "trim_prefix",
    "trim_right",
    "trim_space",
    "trim_suffix",
    "upper",
]


@pytest.mark.parametrize("case", load("strings"))
def test_case(case: dict[str, Any]) -> None:
    run(case)


def test_all_registered() -> None:
    for name in NAMES:
        assert name in IMPLEMENTATIONS, name


def test_concat_of_a_set_follows_opa_order() -> None:
    assert call("concat", "", Set(["b", "a", "c"])) == "abc"


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("replace", ["a" * 100_000, "", "b" * 1000]),
        ("strings.replace_n", [{"": "x" * 1000, "a": "b"}, "é" * 100_000]),
        ("concat", ["x" * 100_000, ["a"] * 1000]),
    ],
)
def test_results_are_bounded(name: str, args: list[Any]) -> None:
    with pytest.raises(BuiltinError, match="result longer than"):
        call(name, *args)


def test_template_work_is_bounded() -> None:
    nested = "{{range .a}}{{range $.a}}{{range $.a}}x{{end}}{{end}}{{end}}"
    with pytest.raises(BuiltinError, match=f"more than {MAX_STEPS} steps"):
        call("strings.render_template", nested, {"a": list(range(200))})


def test_template_recursion_is_bounded() -> None:
    looping = '{{define "t"}}{{template "t" .}}{{end}}{{template "t" .}}'
    with pytest.raises(BuiltinError, match="maximum template depth"):
        call("strings.render_template", looping, {})
    with pytest.raises(BuiltinError):
        call("strings.render_template", "{{if 1}}" * 5000 + "{{end}}" * 5000, {})


def test_deep_template_variables() -> None:
    deep: Any = 1
    for _ in range(5000):
        deep = {"a": deep}
    with pytest.raises(BuiltinError):
        call("strings.render_template", "{{.a}}", deep)


def test_huge_inputs_stay_fast() -> None:
    assert len(call("indexof_n", "a" * 200_000, "a")) == 200_000
    assert call("format_int", 10**5000, 10) == "1" + "0" * 5000
    assert len(call("upper", "ß" * 100_000)) == 100_000
    with pytest.raises(BuiltinError, match="value out of range"):
        call("to_number", "1" * 100_000)


def test_operands_are_not_mutated() -> None:
    patterns = {"b": "x", "a": "y"}
    strs = ["c", "a", "b"]
    before = (copy.deepcopy(patterns), list(strs))
    call("strings.replace_n", patterns, "abc")
    call("strings.any_prefix_match", strs, ["a"])
    call("strings.any_suffix_match", strs, ["a"])
    call("concat", ",", strs)
    assert (patterns, strs) == before


_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=10,
)


@settings(max_examples=150, deadline=None)
@given(name=st.sampled_from(NAMES), args=st.lists(_values, min_size=1, max_size=3))
def test_fuzz_only_values_or_builtin_errors(name: str, args: list[Any]) -> None:
    try:
        call(name, *args)
    except BuiltinError:
        pass
    except TypeError as exc:  # a wrong number of operands is the evaluator's business
        assert "argument" in str(exc)


@settings(max_examples=200, deadline=None)
@given(template=st.text(alphabet="{}.$|()-= ifendrangewith\"'`abc123", max_size=40), var=_values)
def test_fuzz_templates(template: str, var: Any) -> None:
    with contextlib.suppress(BuiltinError):
        call("strings.render_template", template, {"a": var, "b": [var]})


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=20))
def test_fuzz_to_number_and_case_mapping(text: str) -> None:
    try:
        n = call("to_number", text)
        assert type(n) in (int, float)
    except BuiltinError:
        pass
    assert len(call("upper", text)) >= 0
    assert len(call("lower", text)) == len(text) or "\u0130" in text
