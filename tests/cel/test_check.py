"""Kubernetes' compile-time checks (``kubegate.cel.check``): the cases in
``cases/check.yaml`` and the position mapping of the cross-type rewrite."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from cel_expr_python import cel

from kubegate.cel import library
from kubegate.cel.ast import parse
from kubegate.cel.check import Finding, cross_type_literals, validate
from kubegate.cel.env import EXTENSIONS_YAML, environment

CASES = yaml.safe_load((Path(__file__).parent / "cases" / "check.yaml").read_text())
VARIABLES = ["object", "x", "name"]
# The comparisons' semantics are the runtime's own: evaluated without Kubernetes' libraries.
PLAIN = cel.NewEnv(config=cel.NewEnvConfigFromYaml(EXTENSIONS_YAML), variables={"object": cel.Type.DYN})


def _skip_unless_library(case: dict[str, Any]) -> None:
    needed = case.get("requires")
    if needed and all(module.__name__.rsplit(".", 1)[-1] != needed for module in library.LIBRARIES):
        pytest.skip(f"library {needed} is not in kubegate's environment")


@pytest.mark.parametrize("case", CASES["validate"], ids=[c["expr"][:60] for c in CASES["validate"]])
def test_validate(case: dict[str, Any]) -> None:
    _skip_unless_library(case)
    text = case["expr"]
    found = validate(parse(environment(VARIABLES).compile(text), text), text)
    got = [f"{f.line}:{f.col}: {f.message}" for f in found]
    assert len(got) == len(case["errors"]), got
    for line, want in zip(got, case["errors"], strict=True):
        assert line.startswith(want), (line, want)
    assert all(f.code == "cel_type_error" for f in found)


def test_cel_bind_is_refused_in_user_text() -> None:
    text = "cel.bind(v, object.a, v.size() > 1)"
    with pytest.raises(RuntimeError, match="undeclared reference"):
        environment(VARIABLES).compile(text)  # the user env has no bindings: a confusing message
    parsed = parse(environment(VARIABLES).compile(text, disable_check=True), text)
    checked = parse(environment(VARIABLES, internal=True).compile(text), text)
    for node in (parsed, checked):
        assert validate(node, text) == [
            Finding(1, 9, "cel.bind is not available in Kubernetes CEL (no bindings extension)")
        ]


def test_a_parsed_only_ast_gets_the_literal_checks_but_not_the_type_checks() -> None:
    text = "[1, 'a'].size() > 0 && duration('1x') > duration('1s')"
    found = validate(parse(environment(VARIABLES).compile(text, disable_check=True), text), text)
    assert [(f.line, f.col) for f in found] == [(1, 33)]


@pytest.mark.parametrize("case", CASES["cross_type"], ids=[c["expr"][:60] for c in CASES["cross_type"]])
def test_cross_type_literals(case: dict[str, Any]) -> None:
    text = case["expr"]
    env = environment(VARIABLES)
    with pytest.raises(RuntimeError) as info:
        env.compile(text)
    fix = cross_type_literals(text, str(info.value))
    if case["want"] is None:
        assert fix is None
        return
    assert fix is not None and fix.text == case["want"] and fix.original == text
    env.compile(fix.text)  # now accepted, as Kubernetes accepts it
    got = PLAIN.compile(fix.text).eval(PLAIN.Activation({"object": {"items": [1, 2]}})).plain_value()
    assert got is case["value"]


def test_findings_in_a_rewritten_text_are_located_in_the_users_text() -> None:
    text = "1 < 1.5 &&\n  2.0 > 1 && [1, 'a'].size() > 0"
    env = environment(VARIABLES)
    with pytest.raises(RuntimeError) as info:
        env.compile(text)
    fix = cross_type_literals(text, str(info.value))
    assert fix is not None and fix.text == "1 < dyn(1.5) &&\n  2.0 > dyn(1) && [1, 'a'].size() > 0"
    found = validate(parse(env.compile(fix.text), fix.text), text, fix)
    assert [(f.line, f.col) for f in found] == [(2, 18)]
    assert text.split("\n")[1][17:20] == "'a'"
    assert fix.locate(1, 5) == (1, 5)  # inside "dyn(": where it was inserted
    assert fix.locate(1, 9) == (1, 5)  # the 1.5
    assert fix.locate(2, 13) == (2, 9)  # the 1 after "dyn("
