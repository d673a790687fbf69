"""Data-driven cases for the regex and glob builtins.

A case file ``cases/<module>.yaml`` holds ``cases:``, each a mapping::

    - name: match anchored              # unique within the file
      call: regex.match                 # the builtin
      args: ["^a$", "a"]                # its operands
      want: true                        # the result (Rego equality) ...
      error: "error parsing regexp: …"  # ... or a BuiltinError with exactly this message
      code: eval_type_error             # ... and this code (default eval_builtin_error)

Values are YAML values, with ``{$set: [...]}`` for a set.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubegate.evaluator.builtins.registry import IMPLEMENTATIONS, BuiltinError
from kubegate.evaluator.values import Set, equal, to_json

from ._strings_cases import load as load  # the shared YAML case loader


def decode(value: Any) -> Any:
    """The Rego value a YAML value stands for."""
    if isinstance(value, dict):
        if set(value) == {"$set"}:
            return Set(decode(v) for v in value["$set"])
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


def run(case: dict[str, Any]) -> None:
    """Runs one case, checks its expectation and that the operands were not changed."""
    args = [decode(a) for a in case["args"]]
    before = copy.deepcopy(args)
    impl = IMPLEMENTATIONS[case["call"]].impl
    if "error" in case:
        with pytest.raises(BuiltinError) as info:
            impl(*args)
        assert info.value.message == case["error"]
        assert info.value.code == case.get("code", "eval_builtin_error")
    else:
        got = impl(*args)
        want = decode(case["want"])
        assert equal(got, want), f"got {to_json(got)!r}, want {to_json(want)!r}"
    assert args == before
