"""Normaliser: each rewrite, on the printed form."""

from __future__ import annotations

import textwrap

from kubegate.rego import ast
from kubegate.rego.normalize import normalize_module, split_sprintf
from kubegate.rego.parser import parse_module, parse_term
from kubegate.rego.printer import print_module, print_term


def norm(source: str, globals_: frozenset[str] = frozenset()) -> str:
    module = parse_module(textwrap.dedent(source).lstrip("\n"), "t.rego")
    return print_module(normalize_module(module, globals_)).text


def body_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.startswith("\t")]


def test_iterating_ref_in_call_argument_is_hoisted() -> None:
    lines = body_lines(norm("package a\np { startswith(input.s, input.repos[_]) }\n"))
    assert lines == ["__kg0 = input.repos[_]", "startswith(input.s, __kg0)"]


def test_ground_ref_in_call_argument_stays() -> None:
    lines = body_lines(norm("package a\np { startswith(input.s, input.prefix) }\n"))
    assert lines == ["startswith(input.s, input.prefix)"]


def test_negated_call_operands_move_out_like_opa() -> None:
    lines = body_lines(norm("package a\np { img := input.img; not startswith(img, input.cfg.prefix) }\n"))
    assert lines == ["img := input.img", "__kg0 := input.cfg.prefix", "not startswith(img, __kg0)"]


def test_negated_collection_operands_move_out() -> None:
    lines = body_lines(norm("package a\np { not [input.missing] }\n"))
    assert lines == ["__kg0 := input.missing", "not [__kg0]"]


def test_divergent_builtins_go_through_compat() -> None:
    text = norm(
        'package a\np { concat(",", input.s); concat(",", ["a"])\n'
        'replace(input.x, "", "-"); replace(input.x, "a", "b") }\n'
    )
    assert 'data.kubegate.compat.join(",", input.s)' in text and 'concat(",", ["a"])' in text
    assert 'data.kubegate.compat.replace_all(input.x, "", "-")' in text and 'replace(input.x, "a", "b")' in text


def test_negated_plain_ref_stays_negated() -> None:
    lines = body_lines(norm("package a\np { not input.x.y }\n"))
    assert lines == ["not input.x.y"]


def test_assignment_from_iteration_goes_through_a_fresh_variable() -> None:
    lines = body_lines(norm("package a\np { c := input.cs[_]; input.m[c] }\n"))
    assert lines == ["__kg0 = input.cs[_]", "c := __kg0", "input.m[c]"]


def test_unification_with_unbound_local_becomes_declaration() -> None:
    lines = body_lines(norm('package a\np { x = concat("", ["a"]); y := 1; y = 1 }\n'))
    assert lines == ['x := concat("", ["a"])', "y := 1", "y = 1"]


def test_unification_with_rule_name_is_kept() -> None:
    lines = body_lines(norm("package a\nq := 1\np { q = 1 }\n"))
    assert lines == ["q = 1"]
    lines = body_lines(norm("package a\np { other = 1 }\n", frozenset({"other"})))
    assert lines == ["other = 1"]


def test_sprintf_is_split_around_verbs() -> None:
    term = parse_term('sprintf("at %v: %d%%", [a, b])')
    assert isinstance(term, ast.Call)
    split = split_sprintf(term)
    assert split is not None
    assert print_term(split) == 'concat("", ["at ", sprintf("%v", [a]), ": ", sprintf("%d", [b]), "%"])'


def test_sprintf_missing_argument_is_marked_like_go() -> None:
    term = parse_term('sprintf("%v and %v", [a])')
    assert isinstance(term, ast.Call)
    split = split_sprintf(term)
    assert split is not None and "%!v(MISSING)" in print_term(split)


def test_sprintf_q_quotes_the_v_form_and_lone_verb_stays() -> None:
    q = parse_term('sprintf("name %q", [n])')
    lone = parse_term('sprintf("%v", [n])')
    assert isinstance(q, ast.Call) and isinstance(lone, ast.Call)
    split = split_sprintf(q)
    assert split is not None and '"\\"", sprintf("%v", [n]), "\\""' in print_term(split)
    assert split_sprintf(lone) is None


def test_deprecated_builtins_are_rewritten() -> None:
    text = norm('package a\np { re_match("a", "a"); set_diff({1}, {2}); x := cast_array({1}); all([true]) }\n')
    assert "regex.match" in text and "{1} - {2}" in text and "some __kg" in text and "re_match" not in text


def test_local_function_named_like_deprecated_builtin_is_left_alone() -> None:
    text = norm("package a\nany(x) = true { x }\np { any(true) }\n")
    assert "any(true)" in text


def test_kv_some_in_comprehension_is_split() -> None:
    text = norm('package a\nimport rego.v1\nr := [v | some k, v in {"a": 1}]\n')
    assert "some k, v in" not in text
    assert "some k;" in text


def test_v0_variables_named_like_keywords_are_renamed() -> None:
    text = norm("package a\np = in { in := 1 }\n")
    assert "__kw_in" in text and " in :=" not in text


def test_comprehension_head_with_outer_variable_is_bound_in_the_body() -> None:
    text = norm("package a\nf(x) = [x | y := [1][_]]\ng = {v | v := [1][_]}\n")
    assert "[__kg0 | __kg1 = [1][_]; y := __kg1; __kg0 := x]" in text
    assert "{v | __kg" in text  # a head bound by the body stays as it is


LIFTABLE = """
package a
import rego.v1
labels(obj) := {k | some k, _ in obj.metadata.labels}
deny contains c.name if {
  some c in input.review.object.spec.containers
  count(labels(input.review.object)) < 3
  not labels(input.review.object)["team"]
}
"""


def test_call_on_global_arguments_is_lifted_into_one_complete_rule() -> None:
    text = norm(LIFTABLE)
    assert "__kgcall0 := labels(input.review.object)" in text
    assert "count(__kgcall0) < 3" in text
    assert "__kg1 := __kgcall0" in text and "not __kg1.team" in text  # negated operands move out first
    assert "__kgcall1" not in text  # the same call twice is one rule


def test_call_on_local_arguments_is_not_lifted() -> None:
    text = norm(
        "package a\nimport rego.v1\nf(x) := x\np if { some c in input.cs; f(c) }\nq(y) := f(y)\nr := f(input.x)\n"
    )
    assert "__kgcall" not in text


def test_builtin_calls_are_not_lifted() -> None:
    assert "__kgcall" not in norm("package a\nimport rego.v1\np if { some c in input.cs; count(input.xs) > c }\n")


def test_lifted_name_avoids_existing_names() -> None:
    text = norm("package a\nimport rego.v1\nf(x) := x\n__kgcall0 := 1\np if { some c in input.cs; f(input.x) == c }\n")
    assert "__kgcall1 := f(input.x)" in text
