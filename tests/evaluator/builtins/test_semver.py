"""semver.* builtins: YAML cases plus hostile operands."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest

import kubegate.evaluator.builtins.semver as semver
from kubegate.evaluator.builtins.registry import IMPLEMENTATIONS, BuiltinError

from ._timenet_cases import load, run


@pytest.mark.parametrize("case", load("semver.yaml"))
def test_case(case: dict[str, Any]) -> None:
    run(case)


def test_precedence_chain_from_the_spec() -> None:
    chain = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11",
             "1.0.0-rc.1", "1.0.0", "2.0.0", "2.1.0", "2.1.1"]  # fmt: skip
    compare = IMPLEMENTATIONS["semver.compare"].impl
    for i, a in enumerate(chain):
        for j, b in enumerate(chain):
            assert compare(a, b) == (i > j) - (i < j), (a, b)


@pytest.mark.parametrize(
    "hostile", ["1." * 10000 + "0", "1.0.0-" + "a." * 50000 + "a", "9" * 100000 + ".0.0", "\ud800"]
)
def test_hostile(hostile: str) -> None:
    assert IMPLEMENTATIONS["semver.is_valid"].impl(hostile) in (True, False)
    with contextlib.suppress(BuiltinError):
        IMPLEMENTATIONS["semver.compare"].impl(hostile, hostile)


def test_go_quote() -> None:
    assert semver.go_strconv_quote("\t\u00a0\U0001f600\x7f") == '"\\t\\u00a0\U0001f600\\x7f"'
