"""Go's semver rules against our YAML cases (modelled on golang.org/x/mod/semver's tests)."""

from __future__ import annotations

import itertools
import random
from pathlib import Path
from typing import Any

import pytest

from kubegate.goproxy import semver
from kubegate.yamlio import read_yaml

FIXTURE = Path(__file__).parent / "fixtures" / "semver_cases.yaml"
_DOC = read_yaml(FIXTURE.read_text(), str(FIXTURE))
assert _DOC is not None
CASES: dict[str, Any] = _DOC.value
ORDERED: list[dict[str, str]] = CASES["ordered"]


@pytest.mark.parametrize("case", ORDERED, ids=[c["in"] for c in ORDERED])
def test_valid_and_canonical(case: dict[str, str]) -> None:
    assert semver.is_valid(case["in"]) == bool(case["canonical"])
    assert semver.canonical(case["in"]) == case["canonical"]


@pytest.mark.parametrize("case", ORDERED, ids=[c["in"] for c in ORDERED])
def test_parts(case: dict[str, str]) -> None:
    v, out = case["in"], case["canonical"]
    if not out:
        assert (semver.major(v), semver.major_minor(v), semver.prerelease(v), semver.build(v)) == ("", "", "", "")
        return
    assert semver.major(v) == out.split(".")[0]
    assert semver.major_minor(v) == ".".join(out.split("-")[0].split(".")[:2])
    assert semver.prerelease(v) == (out[out.index("-") :] if "-" in out else "")
    assert semver.build(v) == (v[v.index("+") :] if "+" in v else "")


def test_compare_follows_the_order() -> None:
    for i, a in enumerate(ORDERED):
        for j, b in enumerate(ORDERED):
            want = 0 if a["canonical"] == b["canonical"] else (-1 if i < j else 1)
            assert semver.compare(a["in"], b["in"]) == want, (a["in"], b["in"])
            bigger = b if i < j else a
            assert semver.max_version(a["in"], b["in"]) == (
                semver.canonical(bigger["in"]) if a["canonical"] != b["canonical"] else semver.canonical(a["in"])
            )


@pytest.mark.parametrize(("v", "w", "want"), CASES["compare"])
def test_explicit_compare(v: str, w: str, want: int) -> None:
    assert semver.compare(v, w) == want
    assert semver.compare(w, v) == -want


def test_sort_is_sorted() -> None:
    versions = [c["in"] for c in ORDERED]
    rng = random.Random(7)
    rng.shuffle(versions)
    out = semver.sort_versions(versions)
    assert all(semver.compare(a, b) <= 0 for a, b in itertools.pairwise(out))
    assert sorted(out) == sorted(versions)


@pytest.mark.parametrize(("v", "want"), CASES["module_canonical"])
def test_module_canonical(v: str, want: str) -> None:
    assert semver.canonical_module_version(v) == want


@pytest.mark.parametrize(("v", "want"), CASES["pseudo"])
def test_pseudo(v: str, want: bool) -> None:
    assert semver.is_pseudo(v) is want
