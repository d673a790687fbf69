"""Data-driven cases for the number and collection builtins.

A case file ``cases/<module>.yaml`` holds ``cases:``, each a mapping::

    - name: plus of two integers     # unique within the file
      call: plus                     # the builtin's name
      args: [1, 2]                   # its operands
      want: 3                        # the result (compared with Rego equality) ...
      want_type: int                 # ... optionally of this Python type (int, float)
      undefined: true                # or: the result is undefined
      error: divide by zero          # or: a BuiltinError whose message contains this
      code: eval_builtin_error       # and whose code is this (eval_type_error by default)

Values are YAML values, with ``{$set: [...]}`` for a set and ``{$obj: [[k, v], ...]}``
for an object with non-string keys. A relation (``walk``) is compared as the list of
its results.
"""

from __future__ import annotations

from typing import Any

import pytest

from kubegate.evaluator.builtins.registry import IMPLEMENTATIONS, BuiltinError
from kubegate.evaluator.values import UNDEF, equal, to_json

from ._strings_cases import decode
from ._strings_cases import load as load  # the shared YAML case loader


def call(name: str, *args: Any) -> Any:
    """Calls builtin ``name`` (a relation's results as a list)."""
    builtin = IMPLEMENTATIONS[name]
    result = builtin.impl(*args)
    if builtin.relation:
        return list(result)
    return result


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
    if case.get("undefined"):
        assert got is UNDEF
        return
    want = decode(case["want"])
    assert got is not UNDEF
    assert equal(got, want), f"got {to_json(got)!r}, want {to_json(want)!r}"
    if "want_type" in case:
        assert type(got).__name__ == case["want_type"], f"got {got!r} of type {type(got).__name__}"
