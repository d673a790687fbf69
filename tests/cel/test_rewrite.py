"""The cel-go presence-test rewrite, on text."""

from __future__ import annotations

import pytest

from kubegate.cel.rewrite import presence_tests


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("has(a.b)", "(type(a) == map ? has(a.b) : false)"),
        ("has(a.b.c) && x", "(type(a.b) == map ? has(a.b.c) : false) && x"),
        ("has(a[0].b)", "(type(a[0]) == map ? has(a[0].b) : false)"),
        ("f(has(a.b))", "f((type(a) == map ? has(a.b) : false))"),
        ("'has(a.b)' + x", "'has(a.b)' + x"),  # inside a string: untouched
        ('"has(" + has(a.b)', '"has(" + (type(a) == map ? has(a.b) : false)'),
        ("x.has(a.b)", "x.has(a.b)"),  # a member call, not the macro
        ("rehas(a.b)", "rehas(a.b)"),
        ("has(a)", "has(a)"),  # no select: left to the compiler
        ("has(a.b", "has(a.b"),  # unbalanced: left to the compiler
    ],
)
def test_rewrite(text: str, want: str) -> None:
    assert presence_tests(text) == want


def test_variables_are_inlined_in_order_and_only_when_read() -> None:
    from kubegate.cel.rewrite import inline_variables

    definitions = [("a", "object.x"), ("b", "variables.a + 1"), ("unused", "1 / 0")]
    assert inline_variables("variables.b > 2 && 'variables.a' != ''", definitions) == (
        "cel.bind(__kgv_a, object.x, cel.bind(__kgv_b, __kgv_a + 1, __kgv_b > 2 && 'variables.a' != ''))"
    )
    assert inline_variables("variables['a']", definitions) is None  # not a plain select
    assert inline_variables("has(variables.a)", definitions) is None
    assert inline_variables("variables.missing", definitions) is None
