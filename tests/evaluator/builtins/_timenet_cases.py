"""Runs YAML builtin cases (shared by the time, net, semver and misc tests).

A case: ``note``, ``fn`` (builtin name), ``args`` and one of ``want`` (a Rego
value; ``{$set: [...]}`` is a set), ``undefined: true`` or ``error`` (a
substring of the message; ``error_type`` names the class, BuiltinError by
default). Context builtins get ``ctx`` (a :class:`FakeContext`) first.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubegate.evaluator.builtins import registry
from kubegate.evaluator.builtins.registry import IMPLEMENTATIONS
from kubegate.evaluator.values import UNDEF, Set, equal

CASES_DIR = Path(__file__).parent / "cases"


@dataclass
class FakeContext:
    """A minimal :class:`~kubegate.evaluator.builtins.registry.BuiltinContext`."""

    strict: bool = True
    cache: dict[Any, Any] = field(default_factory=dict)
    http_send_enabled: bool = False
    http_send_timeout_s: float = 5.0
    now: int = 1_700_000_000_000_000_000
    printed: list[str] = field(default_factory=list)

    def now_ns(self) -> int:
        return self.now

    def print(self, text: str) -> None:
        self.printed.append(text)


def value(x: Any) -> Any:
    """A YAML value as a Rego value (``{$set: [...]}`` is a set)."""
    if isinstance(x, dict):
        if set(x) == {"$set"}:
            return Set(value(e) for e in x["$set"])
        return {k: value(v) for k, v in x.items()}
    if isinstance(x, list):
        return [value(e) for e in x]
    return x


def load(name: str) -> list[Any]:
    cases = yaml.safe_load((CASES_DIR / name).read_text(encoding="utf-8"))
    return [pytest.param(c, id=c["note"]) for c in cases]


def run(case: dict[str, Any], ctx: FakeContext | None = None) -> None:
    b = IMPLEMENTATIONS[case["fn"]]
    args = [value(a) for a in case["args"]]
    before = copy.deepcopy(args)
    call_args = [ctx or FakeContext(), *args] if b.context else args
    if "error" in case:
        cls = getattr(registry, case.get("error_type", "BuiltinError"))
        with pytest.raises(cls) as info:
            b.impl(*call_args)
        assert case["error"] in info.value.message
    else:
        got = b.impl(*call_args)
        if case.get("undefined"):
            assert got is UNDEF
        else:
            assert got is not UNDEF
            assert equal(got, value(case["want"])), got
    assert args == before, "operands were mutated"
