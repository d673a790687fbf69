"""Parser: both syntaxes, layout rules, annotations, and located errors."""

from __future__ import annotations

import textwrap

import pytest

from kubegate.errors import RegoParseError
from kubegate.rego import ast
from kubegate.rego.parser import parse_body, parse_module, parse_term


def parse(source: str, version: ast.RegoVersion | None = None) -> ast.Module:
    return parse_module(textwrap.dedent(source).lstrip("\n"), "test.rego", version)


def error(source: str, version: ast.RegoVersion | None = None) -> RegoParseError:
    with pytest.raises(RegoParseError) as info:
        parse(source, version)
    return info.value


# ---------------------------------------------------------------- versions


def test_v0_module_is_detected() -> None:
    module = parse(
        """
        package a
        deny[msg] { msg := "x" }
        """
    )
    assert module.version == "v0"
    head = module.rules[0].head
    assert head.name == "deny"
    assert head.key == ast.Var("msg")
    assert head.ref.path == ()


def test_v1_module_is_detected() -> None:
    module = parse(
        """
        package a
        deny contains msg if { msg := "x" }
        """
    )
    assert module.version == "v1"
    assert module.rules[0].has_if


def test_rego_v1_import_means_v1() -> None:
    module = parse(
        """
        package a
        import rego.v1
        p if true
        """
    )
    assert module.version == "v1"


def test_declared_v1_requires_if() -> None:
    err = error(
        """
        package a
        p { true }
        """,
        "v1",
    )
    assert err.code == "rego_parse_error"
    assert "`if` keyword is required" in err.message
    assert err.location is not None and err.location.line == 2


def test_v0_without_imports_reads_keywords_as_names() -> None:
    module = parse(
        """
        package a
        p { contains("abc", "b"); in := 1; in == 1 }
        """
    )
    assert module.version == "v0"
    first = module.rules[0].body[0].expr  # type: ignore[index]
    assert isinstance(first, ast.Call) and first.func == ("contains",)


def test_future_keywords_import_enables_keywords_in_v0() -> None:
    module = parse(
        """
        package a
        import future.keywords.in
        p { "x" in input.xs }
        """
    )
    assert module.version == "v0"
    expr = module.rules[0].body[0].expr  # type: ignore[index]
    assert isinstance(expr, ast.Member)


def test_contains_call_in_v1_stays_a_call() -> None:
    module = parse(
        """
        package a
        import rego.v1
        p if contains("abc", "b")
        """
    )
    expr = module.rules[0].body[0].expr  # type: ignore[index]
    assert isinstance(expr, ast.Call)


# ---------------------------------------------------------------- rule forms


def test_multi_body_rules_become_several_rules() -> None:
    module = parse(
        """
        package a
        p[x] { x := 1 } { x := 2 }
        """
    )
    assert len(module.rules) == 2
    assert module.rules[0].head == module.rules[1].head
    assert module.rules[0].head.key == ast.Var("x")


def test_partial_object_keeps_ref() -> None:
    head = parse("package a\np[k] = v { k := 1; v := 2 }\n").rules[0].head
    assert head.key is None
    assert head.ref.path == (ast.Var("k"),)
    assert head.value == ast.Var("v")


def test_ref_with_if_is_a_single_value_rule() -> None:
    head = parse("package a\nimport rego.v1\np[x] if { x := 1 }\n").rules[0].head
    assert head.key is None and head.value is None
    assert head.ref.path == (ast.Var("x"),)


def test_else_chain() -> None:
    rule = parse(
        """
        package a
        p = 1 { false } else = 2 { false } else = 3
        """
    ).rules[0]
    assert rule.else_ is not None and rule.else_.value == ast.Scalar(2, "2")
    assert rule.else_.else_ is not None and rule.else_.else_.body is None


def test_else_on_multi_value_rule_is_an_error() -> None:
    err = error("package a\np[x] { x := 1 } else = 2 { true }\n")
    assert "multi-value" in err.message


def test_functions_and_defaults() -> None:
    module = parse(
        """
        package a
        default allow := false
        f(x, y) := x + y
        """
    )
    assert module.rules[0].default
    assert module.rules[1].head.args == (ast.Var("x"), ast.Var("y"))


def test_contains_on_function_is_an_error() -> None:
    err = error("package a\nimport rego.v1\nf(x) contains y if { y := x }\n")
    assert "contains keyword can only be used" in err.message


# ---------------------------------------------------------------- layout


def test_newline_separates_literals_only_when_needed() -> None:
    body = parse_body("x := input.a +\n  input.b\ny := [1]\n[a] := y")
    assert len(body) == 3
    first = body[0].expr
    assert isinstance(first, ast.Assign) and isinstance(first.rhs, ast.InfixCall)


def test_bracket_after_whitespace_is_not_a_reference() -> None:
    term = parse_term("f(x)[0]")
    assert isinstance(term, ast.Ref) and isinstance(term.head, ast.Call)
    with pytest.raises(RegoParseError):
        parse_body("x := y [0]")


def test_semicolons_and_comments() -> None:
    body = parse_body("a := 1; b := 2  # trailing comment\nc := a + b")
    assert len(body) == 3


def test_operator_precedence() -> None:
    term = parse_term("1 + 2 * 3 == 7")
    assert isinstance(term, ast.InfixCall) and term.op == "=="
    assert isinstance(term.lhs, ast.InfixCall) and term.lhs.op == "+"
    assert isinstance(term.lhs.rhs, ast.InfixCall) and term.lhs.rhs.op == "*"


def test_comprehension_wins_over_union() -> None:
    term = parse_term("{x | x := 1}")
    assert isinstance(term, ast.SetCompr)
    term = parse_term("{(a | b)}")
    assert isinstance(term, ast.SetTerm)


def test_strings_numbers_and_sets() -> None:
    term = parse_term('[`raw\\n`, "esc\\"aped", -1.5e3, set(), null, true]')
    assert isinstance(term, ast.ArrayTerm)
    values = [t.value for t in term.items if isinstance(t, ast.Scalar)]
    assert values == ["raw\\n", 'esc"aped', -1500.0, None, True]
    assert term.items[3] == ast.SetTerm(())


# ---------------------------------------------------------------- annotations


def test_metadata_annotations_attach_to_package_and_rules() -> None:
    module = parse(
        """
        # METADATA
        # title: Package title
        # custom:
        #   id: my-policy
        package a

        # METADATA
        # title: Rule title
        deny contains "x" if true
        """
    )
    assert module.package.annotations is not None
    assert module.package.annotations.scope == "package"
    assert module.package.annotations.custom == {"id": "my-policy"}
    assert module.rules[0].annotations is not None
    assert module.rules[0].annotations.title == "Rule title"
    assert len(module.annotations) == 2


def test_invalid_metadata_yaml_is_located() -> None:
    err = error(
        """
        # METADATA
        # title: [unclosed
        package a
        """
    )
    assert "METADATA" in err.message
    assert err.location is not None and err.location.line >= 1


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("source", "line", "column", "fragment"),
    [
        ("package a\np { x := 1\n", 2, 11, "end of input"),
        ("package a\np := }\n", 2, 6, "unexpected } token"),
        ('package a\np := "abc\n', 2, 6, "non-terminated string"),
        ('package a\np := $"x{1}"\n', 2, 6, "template strings"),
        ("package a\np := 1 +\n", 2, 9, "end of input"),
        ("package a\np := @\n", 2, 6, "illegal token"),
    ],
)
def test_parse_errors_carry_location_and_code(source: str, line: int, column: int, fragment: str) -> None:
    with pytest.raises(RegoParseError) as info:
        parse_module(source, "bad.rego")
    err = info.value
    assert err.code == "rego_parse_error"
    assert err.location is not None
    assert (err.location.file, err.location.line, err.location.column) == ("bad.rego", line, column)
    assert fragment in err.message


def test_error_renders_a_caret_snippet() -> None:
    with pytest.raises(RegoParseError) as info:
        parse_module("package a\np := }\n", "bad.rego")
    text = str(info.value)
    assert text.startswith("bad.rego:2:6: rego_parse_error:")
    assert "p := }" in text and "     ^" in text


def test_empty_module() -> None:
    err = error("\n# only a comment\n")
    assert "empty module" in err.message
