"""The public API is exactly what kubegate/__init__.py re-exports (httpx's pattern)."""

from __future__ import annotations

import kubegate


def test_all_is_sorted_and_complete() -> None:
    exported = [name for name in dir(kubegate) if not name.startswith("_")]
    modules = {
        "audit",
        "cel",
        "cli",
        "dsl",
        "engine",
        "errors",
        "evaluator",
        "goproxy",
        "grpc",
        "images",
        "lifecycle",
        "policy",
        "rego",
        "webhook",
        "yamlio",
    }
    public = sorted(name for name in exported if name not in modules)
    assert kubegate.__all__ == sorted(kubegate.__all__)
    assert public == sorted(kubegate.__all__)


def test_every_exported_member_has_a_docstring() -> None:
    for name in kubegate.__all__:
        member = getattr(kubegate, name)
        assert member.__doc__, f"{name} has no docstring"
