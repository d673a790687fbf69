"""CEL programs: compile once, evaluate, errors with stable codes located in the YAML."""

from __future__ import annotations

import pytest

from kubegate.cel.ast import parse
from kubegate.cel.program import CelError, EmbeddedCel, activation, compile_expression, loop_depth
from kubegate.errors import Location

VARS = ("object", "variables")


def run(text: str, obj: object) -> object:
    program = compile_expression(EmbeddedCel(text, "t"), VARS)
    return program.evaluate(activation(program, {"object": obj, "variables": {}}))


def test_values_come_back_as_python_values() -> None:
    assert run("object.spec.replicas <= 5", {"spec": {"replicas": 3}}) is True
    assert run("object.items.map(i, i * 2)", {"items": [1, 2]}) == [2, 4]
    assert run("['a', 'b'].join(', ')", {}) == "a, b"  # strings extension v2
    assert run("object.?spec.?replicas.orValue(1)", {}) == 1  # optionals
    assert run("sets.contains([1, 2, 3], [2])", {}) is True


@pytest.mark.parametrize(
    ("embedded", "text", "code", "where"),
    [
        # a plain one-line scalar at line 7, column 21: the error is 11 characters in
        (EmbeddedCel("object.x +", "v", "t.yaml", 7, 21, ""), "object.x +", "cel_parse_error", (7, 31)),
        # a single-quoted scalar '''a'' + 1' at column 20: the quote and each '' count
        (EmbeddedCel("'a' + 1", "v", "t.yaml", 3, 20, "'"), "'a' + 1", "cel_type_error", (3, 27)),
        # a literal block: the indicator at line 10, content indented 8
        (EmbeddedCel("object.a &&\n  size(1) > 0", "v", "t.yaml", 10, 15, "|", 8), "", "cel_type_error", (12, 15)),
    ],
)
def test_compile_errors_are_located_in_the_file(
    embedded: EmbeddedCel, text: str, code: str, where: tuple[int, int]
) -> None:
    with pytest.raises(CelError) as info:
        compile_expression(embedded, VARS)
    assert info.value.code == code
    assert info.value.location == Location("t.yaml", *where)
    assert info.value.message.startswith("v: ")


def test_every_compile_error_is_kept() -> None:
    with pytest.raises(CelError) as info:
        compile_expression(EmbeddedCel("1 + 'a' && nope", "v"), VARS)
    assert info.value.details["errors"] and "undeclared reference to 'nope'" in info.value.details["errors"][0]


def test_eval_errors_are_located_at_the_expression() -> None:
    program = compile_expression(EmbeddedCel("object.spec.replicas > 1", "v", "t.yaml", 4, 9), VARS)
    with pytest.raises(CelError) as info:
        program.evaluate(activation(program, {"object": {"spec": {}}, "variables": {}}))
    assert info.value.code == "cel_eval_error" and info.value.location == Location("t.yaml", 4, 9)
    assert "replicas" in info.value.message


def test_a_runaway_comprehension_is_cel_cost_exceeded() -> None:
    program = compile_expression(EmbeddedCel("object.items.map(i, i + 1).size()", "v"), VARS)
    with pytest.raises(CelError) as info:
        program.evaluate(activation(program, {"object": {"items": list(range(10_001))}, "variables": {}}))
    assert info.value.code == "cel_cost_exceeded" and "10,000" in info.value.message


def test_presence_tests_follow_cel_go() -> None:
    assert run("has(object.params.x)", {"params": None}) is False
    assert run("has(object.name.x)", {"name": "text"}) is False
    assert run("has(object.params.x)", {"params": {"x": 1}}) is True
    with pytest.raises(CelError):
        run("has(object.missing.x)", {})  # an operand that is itself an error still fails


@pytest.mark.parametrize(
    ("text", "said"),
    [("object" + ".a" * 40, "recursion depth"), ("(" * 500 + "true" + ")" * 500, "recursion limit")],
)
def test_a_nesting_limit_is_a_parse_error_at_the_expression(text: str, said: str) -> None:
    source = EmbeddedCel(text, "spec.validations[0].expression", "policy.yaml", 9, 21)
    with pytest.raises(CelError) as info:
        compile_expression(source, ["object"])
    assert info.value.code == "cel_parse_error"
    assert said in info.value.message
    assert str(info.value.location) == "policy.yaml:9:21"


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("object.a > 1", 0),
        ("object.a.all(x, x > 1)", 1),
        ("object.a.map(x, x).filter(y, y > 0).size() > 0", 1),  # a range is outside the loop
        ("object.a.all(x, object.b.exists(y, y == x))", 2),
        ("object.a.exists(x, x.c.all(y, y.d.exists(z, z)))", 3),
    ],
)
def test_loop_depth_decides_whether_the_cost_bound_may_refuse(text: str, depth: int) -> None:
    program = compile_expression(EmbeddedCel(text, "t"), ["object"])
    assert loop_depth(parse(program.expression, text)) == depth
    assert program.cost is not None and program.nested == (depth >= 2)


def test_a_nested_runaway_is_refused_before_it_starts_and_a_nested_cheap_one_runs() -> None:
    import time

    from kubegate.cel.cost import size_summary

    text = "object.a.all(x, object.b.exists(y, object.s.split(',').size() < 0))"
    program = compile_expression(EmbeddedCel(text, "spec.validations[0].expression", "p.yaml", 4, 9), ["object"])
    assert program.nested
    heavy = {"object": {"a": list(range(99)), "b": list(range(99)), "s": "x," * 50_000}}  # ~3 s if it ran
    start = time.monotonic()
    with pytest.raises(CelError) as info:
        program.evaluate(activation(program, heavy), size_summary(heavy), time.monotonic() + 0.3)
    assert time.monotonic() - start < 0.3
    assert info.value.code == "cel_cost_exceeded" and "cannot be interrupted" in info.value.message
    assert str(info.value.location) == "p.yaml:4:9"
    light = {"object": {"a": [1, 2], "b": [3], "s": "x,y"}}
    assert program.evaluate(activation(program, light), size_summary(light), time.monotonic() + 0.3) is False
