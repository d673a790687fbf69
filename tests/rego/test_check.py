"""Static checks: OPA compile errors that rego-cpp would not report (or would crash on)."""

from __future__ import annotations

import textwrap

from kubegate.rego.check import check_modules, check_negation_safety
from kubegate.rego.normalize import normalize_module
from kubegate.rego.parser import parse_module

BUILTINS = {"count", "startswith", "concat", "object.get", "regex.match", "sprintf"}


def findings(*sources: str) -> list[tuple[str, str, int]]:
    modules = [
        (f"m{i}.rego", normalize_module(parse_module(textwrap.dedent(s).lstrip("\n"), f"m{i}.rego")))
        for i, s in enumerate(sources)
    ]
    out = check_modules(modules, BUILTINS.__contains__)
    return [(f.error.code, f.error.message, f.error.location.line if f.error.location else 0) for f in out]


def test_clean_modules_pass() -> None:
    assert (
        findings(
            """
        package lib.util
        import rego.v1
        starts(s, p) if startswith(s, p)
        """,
            """
        package p
        import rego.v1
        import data.lib.util
        deny contains msg if {
            util.starts(input.name, "x")
            data.lib.util.starts("a", "a")
            n := count([1 | some x in input.xs])
            msg := concat("", ["n=", sprintf("%v", [n])])
        }
        """,
        )
        == []
    )


def test_undefined_function_is_reported_with_location() -> None:
    ((code, message, line),) = findings("package p\np { not_a_function(1) }\n")
    assert code == "rego_type_error" and "not_a_function" in message and line == 2


def test_call_on_a_variable_is_reported() -> None:
    ((code, message, _),) = findings("package p\np { x := 1; x(2) }\n")
    assert code == "rego_type_error" and "undefined function x" in message


def test_user_function_arity() -> None:
    result = findings("package p\nf(x) = x { true }\np { f(1, 2, 3) }\nq { f(1, y); y == 1 }\n")
    assert [(c, line) for c, _, line in result] == [("rego_type_error", 3)]


def test_rule_called_as_function() -> None:
    ((code, message, _),) = findings("package p\nq = 1 { true }\np { q(1) }\n")
    assert code == "rego_type_error" and "is a rule" in message


def test_recursion_is_reported() -> None:
    result = findings("package p\np { q }\nq { r }\nr { p }\n")
    assert [c for c, _, _ in result] == ["rego_recursion_error"]
    assert "data.p.p -> data.p.q -> data.p.r -> data.p.p" in result[0][1]


def test_local_variable_named_like_a_rule_is_not_recursion() -> None:
    assert findings("package p\nx = 1 { true }\np = x { x := 2 }\n") == []


def test_unsafe_head_variable() -> None:
    result = findings("package p\np[x] { y := 1 }\nq := [z | z := 1] { true }\n")
    assert result == [("rego_unsafe_var_error", "var x is unsafe", 2)]


def unsafe(source: str) -> list[tuple[str, int]]:
    module = parse_module(textwrap.dedent(source).lstrip("\n"), "m.rego")
    return [(e.message, e.location.line if e.location else 0) for e in check_negation_safety(module)]


def test_wildcard_only_in_negation_is_unsafe_like_opa() -> None:
    assert unsafe("package p\np { not startswith(input.img, input.repos[_]) }\n") == [("var _ is unsafe", 2)]


def test_variable_only_in_negation_is_unsafe() -> None:
    assert unsafe("package p\np { some i; not input.xs[i] }\n") == [("var i is unsafe", 2)]


def test_bound_variables_arguments_and_globals_are_safe() -> None:
    assert (
        unsafe(
            """
        package p
        import data.lib.allowed
        q = 1 { true }
        f(x) { not startswith(x, "a") }
        p { i := 1; not input.xs[i]; not q; not allowed[input.y] }
        r { not input.xs[i]; i := 2 }
        """
        )
        == []
    )


def test_nested_bodies_see_the_enclosing_scope() -> None:
    assert unsafe("package p\nimport rego.v1\np if { x := 1; every y in input.ys { not y == x } }\n") == []
    assert unsafe("package p\nimport rego.v1\nr := [y | some y in input.ys; not input.z[w]]\n") == [
        ("var w is unsafe", 3)
    ]
