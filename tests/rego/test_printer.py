"""Printer: v1 output, precedence, idempotence, line maps."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from kubegate.rego import ast
from kubegate.rego.normalize import normalize_module
from kubegate.rego.parser import parse_module, parse_term
from kubegate.rego.printer import print_module, print_term

LIBRARY = Path(__file__).parents[2] / "src" / "kubegate" / "policy" / "library"
CONFORMANCE = Path(__file__).parent / "conformance"


def printed(source: str) -> str:
    return print_module(parse_module(textwrap.dedent(source).lstrip("\n"), "t.rego")).text


def test_v0_module_prints_as_v1() -> None:
    out = printed(
        """
        package a
        import future.keywords.in
        deny[msg] { some x in input.xs; msg := x }
        f(x) = y { y := x }
        p = 1 { false } else = 2
        default q = false
        """
    )
    assert out == textwrap.dedent(
        """\
        package a

        deny contains msg if {
        \tsome x in input.xs
        \tmsg := x
        }

        f(x) = y if {
        \ty := x
        }

        p = 1 if {
        \tfalse
        } else = 2

        default q = false
        """
    )


@pytest.mark.parametrize(
    "source",
    ["(a + b) * c", "a - (b - c)", "a - b - c", "(a == b) == c", "{(a | b)}", "[(k, v in x)]", "x in (y in z)"],
)
def test_precedence_round_trips(source: str) -> None:
    term = parse_term(source)
    assert parse_term(print_term(term)) == term


def test_keyword_keys_use_brackets() -> None:
    term = ast.Ref(ast.Var("input"), (ast.Scalar("if"), ast.Scalar("a-b"), ast.Scalar("ok")))
    assert print_term(term) == 'input["if"]["a-b"].ok'


def _sources() -> list[str]:
    out = [p.read_text() for p in sorted(LIBRARY.glob("*.rego"))]
    for path in sorted(CONFORMANCE.glob("*.yaml")):
        for case in yaml.safe_load(path.read_text())["cases"]:
            out.extend(case["modules"])
    return out


@pytest.mark.parametrize("source", _sources())
def test_normalised_output_reparses_to_itself(source: str) -> None:
    once = print_module(normalize_module(parse_module(source, "t.rego"))).text
    twice = print_module(normalize_module(parse_module(once, "t.rego", "v1"))).text
    assert once == twice


def test_line_map_points_to_source_literals() -> None:
    source = "package a\n\n\np {\n  input.x\n  input.y\n}\n"
    result = print_module(parse_module(source, "src.rego"))
    lines = result.text.splitlines()
    y_line = next(i for i, line in enumerate(lines, 1) if "input.y" in line)
    loc = result.source_location(y_line)
    assert loc is not None and (loc.file, loc.line) == ("src.rego", 6)
