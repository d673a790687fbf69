"""RE2 inline flags rewritten for rego-cpp; checked against Python's re (same semantics here)."""

from __future__ import annotations

import re

import pytest

from kubegate.rego.regex import rewrite_flags

CASES = [
    ("(?i)^latest$", ["LATEST", "Latest", "latest"], ["latest2", "atest"]),
    ("(?i)^[a-f0-9]+$", ["DEADbeef", "0a"], ["xyz"]),
    ("(?i)^app-\\d+\\.Example\\.com$", ["APP-12.example.COM"], ["app-x.example.com"]),
    ("(?i)^(?P<name>[a-z]+)-svc$", ["Orders-SVC"], ["-svc"]),
    ("(?i)[^a-z]", ["1", "_"], ["a", "Z"]),
    ("(?s)^a.b$", ["a\nb", "axb"], ["ab"]),
    ("(?is)^A.B$", ["a\nb"], ["ab"]),
]


@pytest.mark.parametrize(("pattern", "yes", "no"), CASES)
def test_rewritten_pattern_matches_like_the_flagged_one(pattern: str, yes: list[str], no: list[str]) -> None:
    rewritten = rewrite_flags(pattern)
    assert rewritten is not None and not rewritten.startswith("(?")
    for text in yes:
        assert re.search(rewritten, text) and re.search(pattern, text), text
    for text in no:
        assert not re.search(rewritten, text) and not re.search(pattern, text), text


@pytest.mark.parametrize("pattern", ["^plain$", "(?m)^a$", "(?U)a+"])
def test_other_patterns_are_left_alone(pattern: str) -> None:
    assert rewrite_flags(pattern) is None
