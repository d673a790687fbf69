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
