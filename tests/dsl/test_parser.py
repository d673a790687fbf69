"""DSL parsing: the AST, quantities, message templates, syntax errors."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kubegate.dsl import ast
from kubegate.dsl.parser import DslError, parse_dsl, parse_quantity


@pytest.mark.parametrize(
    ("text", "value"),
    [("2Gi", 2 * 1024**3), ("500m", Decimal("0.5")), ("1.5Ki", 1536), ("3G", 3 * 10**9), ("100", 100), ("1E", 10**18)],
)
def test_quantities_follow_kubernetes_suffixes(text: str, value: Decimal | int) -> None:
    assert parse_quantity(text) == value


def test_rule_clauses_and_precedence() -> None:
    module = parse_dsl(
        'PARAM tags: list[string] = ["a", "b"]\n'
        'RULE "team-label" ON Pod, Deployment SEVERITY low DESCRIPTION "d" IN NAMESPACES ("prod-*") '
        'EXCEPT NAMESPACES ("kube-system")\n'
        '  WHEN labels["team"] MISSING OR NOT labels["team"] IN tags\n'
        '   AND ANY container c: c.name == "x" AND c.image EXISTS\n'
        '  THEN WARN("{c.name}") AND CALL page("oncall", 2)\n',
        "f.kgr",
    )
    (param,) = module.params
    assert param.type.text() == "list[string]" and [c.value for c in param.default] == ["a", "b"]  # type: ignore[union-attr]
    (rule,) = module.rules
    assert rule.id == "team-label" and [k for k, _ in rule.kinds] == ["Pod", "Deployment"]
    assert (rule.severity, rule.description, rule.namespaces, rule.excluded_namespaces) == (
        "low",
        "d",
        ("prod-*",),
        ("kube-system",),
    )
    # OR binds loosest; AND groups NOT and the ANY; the ANY body runs to the end.
    assert isinstance(rule.when, ast.Or)
    missing, rest = rule.when.items
    assert isinstance(missing, ast.Exists) and not missing.present
    assert isinstance(rest, ast.And) and isinstance(rest.items[0], ast.Not)
    quantified = rest.items[1]
    assert (
        isinstance(quantified, ast.Any_) and quantified.binder == "container" and isinstance(quantified.body, ast.And)
    )
    verdict, hook = rule.actions
    assert isinstance(verdict, ast.Verdict) and verdict.kind == "WARN"
    assert isinstance(hook, ast.Hook) and hook.name == "page" and len(hook.args) == 2
    assert str(rule.loc) == "f.kgr:2:6"


def test_message_templates() -> None:
    (rule,) = parse_dsl(
        'RULE r ON Pod WHEN labels["a"] == "b" THEN DENY("x {labels[\\"a\\"]} {{y}} \\"q\\"")', "t.kgr"
    ).rules
    verdict = rule.actions[0]
    assert isinstance(verdict, ast.Verdict)
    text, path, rest = verdict.message.parts
    assert text == "x " and isinstance(path, ast.Path) and path.root == "labels" and path.segments[0].key == "a"
    assert rest == ' {y} "q"'


@pytest.mark.parametrize(
    ("source", "where", "fragment"),
    [
        ('RULE r ON Pod WHEN THEN DENY("x")', "t.kgr:1:20", "unexpected 'THEN'"),
        ('RULE r ON Pod WHEN a == 1 THEN DENY("x") junk', "t.kgr:1:42", "expected AND, PARAM, RULE"),
        ("RULE r ON Pod WHEN a == 1", "t.kgr:1:", "unexpected end of file"),
        ('RULE r ON Pod WHEN a == 1 THEN DENY("{a.}")', "t.kgr:1:39", "must be a path or a function call"),
        ('RULE r ON Pod WHEN a == 1 THEN DENY("x") $', "t.kgr:1:42", "unexpected character '$'"),
    ],
)
def test_syntax_errors_are_located(source: str, where: str, fragment: str) -> None:
    with pytest.raises(DslError) as info:
        parse_dsl(source, "t.kgr")
    assert info.value.code == "dsl_parse_error"
    assert str(info.value.location).startswith(where) and fragment in info.value.message
