"""spec.match semantics, driven by match_cases.yaml; and validation errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from kubegate.errors import PolicyLoadError
from kubegate.policy.match import Match, MatchTarget, wildcard_matches

CASES = yaml.safe_load((Path(__file__).parent / "match_cases.yaml").read_text())["cases"]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_match_case(case: dict[str, Any]) -> None:
    match = Match.from_spec(case["match"])
    targets = [MatchTarget(case["object"], case.get("namespace"))]
    if "oldObject" in case:
        targets.append(MatchTarget(case["oldObject"], case.get("namespace")))
    got = match.matches_any(targets)
    want = {True: True, False: False, "undecided": None}[case["want"]]
    assert got is want


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ({"scope": "cluster"}, "scope 'cluster'"),
        ({"kinds": "Pod"}, "kinds must be a list"),
        ({"kinds": [{"kinds": [1]}]}, "must be a list of strings"),
        ({"labelSelector": {"matchExpressions": [{"key": "a", "operator": "Has"}]}}, "operator 'Has'"),
        ({"labelSelector": {"matchExpressions": [{"key": "a", "operator": "In"}]}}, "values must be non-empty"),
        (
            {"labelSelector": {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}},
            "must be empty",
        ),
        ({"source": "Mutated"}, "source 'Mutated'"),
        ({"namespaces": "prod"}, "namespaces must be a list"),
    ],
)
def test_invalid_match_is_reported(spec: dict[str, Any], fragment: str) -> None:
    with pytest.raises(PolicyLoadError) as info:
        Match.from_spec(spec, "constraint X/y: spec.match")
    assert info.value.code == "invalid_match"
    assert fragment in info.value.message and "constraint X/y" in info.value.message


@pytest.mark.parametrize(
    ("pattern", "candidate", "want"),
    [
        ("a*", "abc", True),
        ("*c", "abc", True),
        ("*b*", "abc", True),
        ("abc", "abc", True),
        ("a*", "xa", False),
        ("*", "x", True),
    ],
)
def test_wildcards(pattern: str, candidate: str, want: bool) -> None:
    assert wildcard_matches(pattern, candidate) is want
