"""Data-driven cases for the string, sprintf and units builtins.

A case file ``cases/<module>.yaml`` holds ``cases:``, each a mapping::

    - name: substring to the end       # unique within the file
      call: substring                  # the builtin's name
      args: ["abcdef", 2, -1]          # its operands
      want: cdef                       # the result; numbers must match in type too
      error: negative offset           # or: a BuiltinError whose message contains this
      code: eval_builtin_error         # and whose code is this (eval_type_error by default)

Values are YAML values, with ``{$set: [...]}`` for a set and ``{$obj: [[k, v], ...]}``
for an object with non-string keys. An ``int`` result is never accepted for a
``float`` one or the other way round (the evaluator's numbers keep that apart).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from kubegate.evaluator.builtins.registry import IMPLEMENTATIONS, BuiltinError
from kubegate.evaluator.values import Set, to_key

CASES = Path(__file__).parent / "cases"


def decode(value: Any) -> Any:
    """The Rego value a YAML value stands for."""
    if isinstance(value, dict):
        if set(value) == {"$set"}:
            return Set(decode(v) for v in value["$set"])
        if set(value) == {"$obj"}:
            return {to_key(decode(k)): decode(v) for k, v in value["$obj"]}
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


def same(got: Any, want: Any) -> bool:
    """Rego equality that also tells ``1`` from ``1.0``."""
    tg, tw = type(got), type(want)
    if tw in (list, tuple):
        return tg in (list, tuple) and len(got) == len(want) and all(map(same, got, want))
    if tw is dict:
        return tg is dict and got.keys() == want.keys() and all(same(got[k], want[k]) for k in want)
    if tw is Set:
        return tg is Set and got == want
    return tg is tw and got == want


def load(module: str) -> list[Any]:
    """The cases of ``cases/<module>.yaml`` as pytest params."""
    doc = yaml.safe_load((CASES / f"{module}.yaml").read_text(encoding="utf-8"))
    names = [case["name"] for case in doc["cases"]]
    assert len(names) == len(set(names)), "case names must be unique"
    return [pytest.param(case, id=case["name"]) for case in doc["cases"]]


def call(name: str, *args: Any) -> Any:
    """Calls builtin ``name``."""
    return IMPLEMENTATIONS[name].impl(*args)


def run(case: dict[str, Any]) -> None:
    """Runs one case and asserts its expectation."""
    args = [decode(a) for a in case.get("args", [])]
    if "error" in case:
        with pytest.raises(BuiltinError) as info:
            call(case["call"], *args)
        assert case["error"] in info.value.message
        assert info.value.code == case.get("code", "eval_type_error")
        return
    got = call(case["call"], *args)
    want = decode(case["want"])
    assert same(got, want), f"got {got!r}, want {want!r}"
