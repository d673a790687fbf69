"""Body runners generated per shape (kubegate.evaluator.bodies): the same
solutions as the closure chain, the deadline counted in every loop, and
bodies deeper than Python's block limit."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubegate.errors import EvaluationError
from kubegate.evaluator import bodies
from kubegate.evaluator.bodies import Step, chain
from kubegate.evaluator.context import Context
from kubegate.evaluator.query import prepare_query
from kubegate.evaluator.values import UNDEF


def _frame(n: int) -> list[Any]:
    f: list[Any] = [UNDEF] * n
    f[0] = Context({}, {})
    return f


def _step(kind: str, slot: int, values: list[int]) -> Step:
    """A step of one of the four kinds over slot ``slot`` (a filter passes when the
    slot before holds no number or an even one)."""
    if kind == "F":
        return Step(lambda f: type(f[slot - 1]) is not int or f[slot - 1] % 2 == 0, False)
    if kind == "T":  # a term's value: undefined, false or a number
        value = (lambda f: UNDEF) if not values else (lambda f: False if values[0] == 0 else values[0])
        return Step(lambda f: value(f) is not UNDEF and value(f) is not False, False, value=value)
    if kind == "N":  # not (the slot before holds an odd number)
        odd = lambda f: type(f[slot - 1]) is int and f[slot - 1] % 2 == 1  # noqa: E731
        return Step(lambda f: not odd(f), False, negates=odd)
    if kind == "b":
        return Step(lambda f: True, False, slot, lambda f: values[0] if values else UNDEF)
    if kind == "B":

        def gen(f: list[Any]) -> Iterator[int]:
            yield from values

        return Step(lambda f: iter(()), True, slot, gen)

    def g(f: list[Any]) -> Iterator[None]:
        for v in values:
            f[slot] = v
            yield None

    return Step(g, True)


def _plain_steps(steps: list[Step]) -> list[Step]:
    """The same steps without the inline-binding fields (their ``fn`` binds)."""
    out = []
    for s in steps:
        if s.slot is None:
            out.append(Step(s.fn, s.gen))
            continue
        slot, value = s.slot, s.value
        assert value is not None
        if s.gen:

            def gbind(f: list[Any], value: Any = value, slot: int = slot) -> Iterator[None]:
                for v in value(f):
                    f[slot] = v
                    yield None

            out.append(Step(gbind, True))
        else:

            def bind(f: list[Any], value: Any = value, slot: int = slot) -> bool:
                v = value(f)
                if v is UNDEF:
                    return False
                f[slot] = v
                return True

            out.append(Step(bind, False))
    return out


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("FTNbBG"), st.lists(st.integers(0, 5), max_size=3)), max_size=7))
def test_generated_runner_gives_the_closure_chains_solutions(spec: list[tuple[str, list[int]]]) -> None:
    steps = [_step(kind, i + 1, values) for i, (kind, values) in enumerate(spec)]
    n = len(steps) + 1

    def solutions(runner: Any) -> list[tuple[Any, ...]]:
        f = _frame(n)
        return [tuple(f[1:]) for _ in runner(f)]

    assert solutions(chain(steps)) == solutions(bodies._closure_chain(_plain_steps(steps)))


def test_one_factory_per_shape() -> None:
    chain([_step("F", 1, []), _step("B", 2, [1])])
    before = dict(bodies._factories)
    chain([_step("F", 3, []), _step("B", 4, [2, 3])])
    assert bodies._factories == before  # same shape "FB": the compiled factory is reused


def test_a_body_deeper_than_pythons_block_limit_still_runs() -> None:
    depth = bodies.MAX_LOOPS + 8
    module = (
        "package t\n\nimport rego.v1\n\np contains x if {\n"
        + "".join(f"    some a{i} in [1]\n" for i in range(depth))
        + "    x := "
        + " + ".join(f"a{i}" for i in range(depth))
        + "\n}\n"
    )
    (result,) = prepare_query("data.t.p", modules={"t.rego": module}).eval()
    assert result.expressions == [[depth]]


def test_every_loop_counts_against_the_deadline() -> None:
    module = (
        "package t\n\nimport rego.v1\n\np if {\n"
        "    some x in numbers.range(1, 5000)\n    some y in numbers.range(1, 5000)\n    x + y < 0\n}\n"
    )
    q = prepare_query("data.t.p", modules={"t.rego": module})
    with pytest.raises(EvaluationError) as err:
        q.eval(timeout_s=0.2)
    assert err.value.code == "eval_cancel_error"
