"""Data-driven cases for the encoding, crypto and token builtins.

A case file ``cases/<module>.yaml`` holds ``cases:``, each a mapping::

    - name: base64 encode           # unique within the file
      call: base64.encode           # the builtin
      args: ["there"]               # its operands; ${NAME} in strings is replaced (see _pki.py)
      want: dGhlcmU=                # the result (Rego equality) ...
      want_paths:                   # ... or some parts of it: "/"-separated keys and indexes
        0/Subject/CommonName: leaf
      want_len: 3                   # ... and/or the length of the result
      undefined: true               # or: the result is undefined
      error: "illegal base64"       # or: a BuiltinError whose message contains this ...
      code: eval_type_error         # ... with this code (default eval_builtin_error)
      now_ns: 1700000000000000000   # the query time a context builtin sees

Values are YAML values, with ``{$set: [...]}`` for a set, ``{$obj: [[k, v], ...]}``
for an object with non-string keys and ``{$num: NAME}`` for a generated number.
Quote YAML 1.1 words (``"y"``, ``"on"``) meant as strings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from kubegate.evaluator.builtins.registry import IMPLEMENTATIONS, BuiltinError
from kubegate.evaluator.values import UNDEF, Set, equal, from_key, to_json, to_key

from ._pki import material, substitute

CASES = Path(__file__).parent / "cases"
NOW_NS = 1_700_000_000_000_000_000


class FakeContext:
    """The part of ``BuiltinContext`` these builtins use."""

    strict = False
    http_send_enabled = False
    http_send_timeout_s = 5.0

    def __init__(self, now_ns: int = NOW_NS) -> None:
        self._now = now_ns
        self.cache: dict[Any, Any] = {}

    def now_ns(self) -> int:
        return self._now

    def print(self, text: str) -> None:  # pragma: no cover - not used by these builtins
        pass


def decode(value: Any) -> Any:
    """The Rego value a YAML value stands for."""
    if isinstance(value, dict):
        if set(value) == {"$set"}:
            return Set(decode(v) for v in value["$set"])
        if set(value) == {"$num"}:
            return int(material()[value["$num"]])
        if set(value) == {"$obj"}:
            return {to_key(decode(k)): decode(v) for k, v in value["$obj"]}
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


def load(module: str) -> list[Any]:
    """The cases of ``cases/<module>.yaml`` as pytest params."""
    doc = yaml.safe_load((CASES / f"{module}.yaml").read_text(encoding="utf-8"))
    return [pytest.param(case, id=case["name"]) for case in doc["cases"]]


def call(name: str, *args: Any, now_ns: int = NOW_NS) -> Any:
    """Calls builtin ``name`` (with a :class:`FakeContext` when it takes one)."""
    builtin = IMPLEMENTATIONS[name]
    if builtin.context:
        return builtin.impl(FakeContext(now_ns), *args)
    return builtin.impl(*args)


def at(value: Any, path: str) -> Any:
    """The part of ``value`` at a ``/``-separated path of keys and indexes."""
    for part in path.split("/") if path else []:
        if type(value) in (list, tuple):
            value = value[int(part)]
        elif type(value) is Set:
            value = value.values()[int(part)]
        else:
            assert type(value) is dict, f"{part}: not an object: {value!r}"
            key = int(part) if part.lstrip("-").isdigit() and to_key(part) not in value else part
            value = value[to_key(key)]
    return value


def run(case: dict[str, Any]) -> None:
    """Runs one case and asserts its expectation."""
    args = [decode(substitute(a)) for a in case.get("args", [])]
    now = case.get("now_ns", NOW_NS)
    if "error" in case:
        with pytest.raises(BuiltinError) as info:
            call(case["call"], *args, now_ns=now)
        assert substitute(case["error"]) in info.value.message, info.value.message
        assert info.value.code == case.get("code", "eval_builtin_error")
        return
    got = call(case["call"], *args, now_ns=now)
    if case.get("undefined"):
        assert got is UNDEF
        return
    assert got is not UNDEF
    if "want" in case:
        want = decode(substitute(case["want"]))
        assert equal(got, want), f"got {to_json(got)!r}, want {to_json(want)!r}"
    for path, expected in (case.get("want_paths") or {}).items():
        part = at(got, path)
        want = decode(substitute(expected))
        assert equal(part, want), f"{path}: got {to_json(part)!r}, want {to_json(want)!r}"
    if "want_len" in case:
        assert len(got) == case["want_len"]
    if "want_keys" in case:
        assert sorted(str(from_key(k)) for k in got) == sorted(case["want_keys"])
