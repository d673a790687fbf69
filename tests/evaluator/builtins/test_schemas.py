"""The JSON Schema builtins (kubegate.evaluator.builtins.schemas), driven by
cases/schemas.yaml, plus references that must never leave the process."""

from __future__ import annotations

import contextlib
import socket
from typing import Any

import pytest

import kubegate.evaluator.builtins.schemas  # noqa: F401  (registers the implementations)
from kubegate.evaluator.builtins.registry import IMPLEMENTATIONS, BuiltinError

from ._nc_cases import load, run


@pytest.mark.parametrize("case", load("schemas"))
def test_case(case: dict[str, Any]) -> None:
    run(case)


def test_refs_never_reach_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a schema reference opened a connection")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    schema = {"properties": {"a": {"$ref": "http://example.invalid/s.json"}}}
    with pytest.raises(BuiltinError):
        IMPLEMENTATIONS["json.match_schema"].impl({"a": 1}, schema)
    ok, why = IMPLEMENTATIONS["json.verify_schema"].impl(schema)
    assert ok is False and "unable to resolve reference" in why


def test_deeply_nested_document_does_not_crash() -> None:
    doc: Any = 1
    for _ in range(5_000):
        doc = [doc]
    with contextlib.suppress(BuiltinError):  # a refusal is fine, a crash is not
        IMPLEMENTATIONS["json.match_schema"].impl(doc, {"type": "array"})


def test_sets_in_documents_are_arrays() -> None:
    from kubegate.evaluator.values import Set

    ok, errors = IMPLEMENTATIONS["json.match_schema"].impl({"a": Set([1, 2])}, {"properties": {"a": {"type": "array"}}})
    assert ok is True and errors == ()
