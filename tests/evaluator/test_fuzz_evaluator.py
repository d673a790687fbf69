"""Fuzzing the evaluator: no policy and no input may end the process.

Seeds are kubegate's own conformance modules (tests/rego/conformance) and
the benchmark templates' Rego. Policies are mutated as text (deletions,
duplications, swapped tokens, hostile literals); inputs are generated JSON
values, deep nesting and hostile scalars included. Every outcome must be a
value or a :class:`KubegateError` with a stable code; a ``RecursionError``,
``TypeError`` or any other exception is a failure. ``KUBEGATE_FUZZ_EXAMPLES``
scales the number of cases (see tests/policy/fuzzing.py).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from hypothesis import given
from hypothesis import strategies as st

from kubegate.errors import KubegateError
from kubegate.evaluator.query import prepare_query
from tests.policy.fuzzing import CODE, fuzz_settings

ROOT = Path(__file__).parents[2]
HOSTILE = [
    "1e400",
    '"\\ud800"',
    "[[[[[[[[[[1]]]]]]]]]]",
    "{}",
    "set()",
    "-0",
    "null",
    '"%v%!"',
    "9" * 400,
    "_",
    "input",
]


def _seeds() -> list[str]:
    out: list[str] = []
    for path in sorted((ROOT / "tests" / "rego" / "conformance").glob("*.yaml")):
        for case in yaml.safe_load(path.read_text())["cases"]:
            out.extend(case["modules"])
    for path in sorted((ROOT / "benchmarks" / "corpus" / "templates").glob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        for target in doc["spec"]["targets"]:
            if target.get("rego"):
                out.append(target["rego"])
    return out


SEEDS = _seeds()
TOKEN = re.compile(r"\w+|[^\w\s]")


def _outcome_is_clean(module: str, query: str, input_value: Any) -> None:
    try:
        prepared = prepare_query(query, modules={"fuzz.rego": module}, timeout_s=2.0)
    except KubegateError as exc:
        assert CODE.match(exc.code), exc.code
        return
    try:
        prepared.eval(input=input_value)
    except KubegateError as exc:
        assert CODE.match(exc.code), exc.code


@st.composite
def mutated_module(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(SEEDS))
    tokens = TOKEN.findall(text)
    for _ in range(draw(st.integers(1, 4))):
        if not tokens:
            break
        i = draw(st.integers(0, len(tokens) - 1))
        action = draw(st.sampled_from(["delete", "duplicate", "swap", "hostile"]))
        if action == "delete":
            del tokens[i]
        elif action == "duplicate":
            tokens.insert(i, tokens[i])
        elif action == "swap":
            j = draw(st.integers(0, len(tokens) - 1))
            tokens[i], tokens[j] = tokens[j], tokens[i]
        else:
            tokens.insert(i, draw(st.sampled_from(HOSTILE)))
    return " ".join(tokens).replace(" \n ", "\n")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=30,
)


@fuzz_settings(150)
@given(mutated_module())
def test_mutated_policies_load_or_fail_cleanly(module: str) -> None:
    package = re.search(r"package\s+([\w.]+)", module)
    query = f"data.{package.group(1)}" if package else "data"
    _outcome_is_clean(module, query, {"review": {"object": {"kind": "Pod", "metadata": {"name": "x"}}}})


@fuzz_settings(150)
@given(st.sampled_from(SEEDS), json_values)
def test_any_input_is_evaluated_cleanly(module: str, value: Any) -> None:
    package = re.search(r"package\s+([\w.]+)", module)
    assert package is not None
    _outcome_is_clean(module, f"data.{package.group(1)}", value)
    _outcome_is_clean(module, f"data.{package.group(1)}", {"review": {"object": value}, "parameters": value})


def test_deeply_nested_input_is_a_located_error_or_a_value() -> None:
    deep: Any = 1
    for _ in range(20_000):
        deep = [deep]
    module = (
        "package t\n\nimport rego.v1\n\np := json.marshal(input)\n\nq := input == input\n\nr := count(walk(input))\n"
    )
    for query in ("data.t.p", "data.t.q", "data.t.r"):
        _outcome_is_clean(module, query, deep)


def test_runaway_evaluation_ends_with_eval_cancel_error() -> None:
    module = "package t\n\nimport rego.v1\n\np := count([x | some x in numbers.range(1, 5000000); x % 7 == 0])\n"
    prepared = prepare_query("data.t.p", modules={"t.rego": module})
    try:
        prepared.eval(timeout_s=0.2)
    except KubegateError as exc:
        assert exc.code == "eval_cancel_error"
    else:  # pragma: no cover - the machine would have to be very fast
        raise AssertionError("the evaluation was not stopped")
