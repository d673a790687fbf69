"""The semver parser against github.com/blang/semver/v4's own tables
(v4/semver_test.go: formatTests, tolerantFormatTests, compareTests,
wrongformatTests, wrongTolerantFormatTests) and the carrier the library
returns. Kubernetes' normalisation is ``ParseTolerant`` without trimming
spaces, so the tolerant inputs with spaces are errors here."""

from __future__ import annotations

import functools
import random

import pytest

from kubegate.cel import carriers
from kubegate.cel.library.semver import SemverError, Version, compare, normalize_and_parse, parse_version
from kubegate.cel.program import EmbeddedCel, activation, compile_expression

# formatTests: (text, the version blang builds).
FORMATS = [
    ("1.2.3", Version(1, 2, 3)),
    ("0.0.1", Version(0, 0, 1)),
    ("0.0.1-alpha.preview+123.456", Version(0, 0, 1, ("alpha", "preview"), ("123", "456"))),
    ("1.2.3-alpha.1+123.456", Version(1, 2, 3, ("alpha", 1), ("123", "456"))),
    ("1.2.3-alpha.1", Version(1, 2, 3, ("alpha", 1))),
    ("1.2.3+123.456", Version(1, 2, 3, (), ("123", "456"))),
    ("1.2.3-alpha.b-eta+123.b-uild", Version(1, 2, 3, ("alpha", "b-eta"), ("123", "b-uild"))),
    ("1.2.3+123.b-uild", Version(1, 2, 3, (), ("123", "b-uild"))),
    ("1.2.3-alpha.b-eta", Version(1, 2, 3, ("alpha", "b-eta"))),
]

# tolerantFormatTests (the one with spaces is below: Kubernetes does not trim).
TOLERANT = [
    ("v1.2.3", Version(1, 2, 3)),
    ("1.2.0-alpha", Version(1, 2, 0, ("alpha",))),
    ("1.2.00", Version(1, 2, 0)),
    ("01.02.03", Version(1, 2, 3)),
    ("00.0.03", Version(0, 0, 3)),
    ("000.0.03", Version(0, 0, 3)),
    ("1.2", Version(1, 2, 0)),
    ("1", Version(1, 0, 0)),
]

# compareTests: (v1, v2, v1.Compare(v2)); the counterpart is checked too.
COMPARES = [
    ("1.0.0", "1.0.0", 0),
    ("2.0.0", "1.0.0", 1),
    ("0.1.0", "0.1.0", 0),
    ("0.2.0", "0.1.0", 1),
    ("0.0.1", "0.0.1", 0),
    ("0.0.2", "0.0.1", 1),
    ("1.2.3", "1.2.3", 0),
    ("2.2.4", "1.2.4", 1),
    ("1.3.3", "1.2.3", 1),
    ("1.2.4", "1.2.3", 1),
    ("1.0.0", "2.0.0", -1),
    ("2.0.0", "2.1.0", -1),
    ("2.1.0", "2.1.1", -1),
    ("1.0.0", "1.0.0-alpha", 1),
    ("1.0.0-alpha", "1.0.0-alpha.1", -1),
    ("1.0.0-alpha.1", "1.0.0-alpha.beta", -1),
    ("1.0.0-alpha.beta", "1.0.0-beta", -1),
    ("1.0.0-beta", "1.0.0-beta.2", -1),
    ("1.0.0-beta.2", "1.0.0-beta.11", -1),
    ("1.0.0-beta.11", "1.0.0-rc.1", -1),
    ("1.0.0-rc.1", "1.0.0", -1),
    ("1.0.0+1.2.3", "1.0.0", 0),
]

# wrongformatTests.
WRONG = [
    "", ".", "1.", ".1", "a.b.c", "1.a.b", "1.1.a", "1.a.1", "a.1.1", "..", "1..", "1.1.", "1..1",
    "1.1.+123", "1.1.-beta", "-1.1.1", "1.-1.1", "1.1.-1",
    "20000000000000000000.1.1", "1.20000000000000000000.1", "1.1.20000000000000000000", "1.1.1-20000000000000000000",
    "01.1.1", "001.1.1", "1.01.1", "1.001.1", "1.1.01", "1.1.001", "1.1.1-01", "1.1.1-001", "1.1.1-beta.01",
    "1.1.1-beta.001", "0.0.0-!", "0.0.0+!", "0.0.0-.alpha", "0.0.0-alpha+", "0.0.0-alpha+test.",
]  # fmt: skip


@pytest.mark.parametrize(("text", "version"), FORMATS)
def test_parse(text: str, version: Version) -> None:
    assert parse_version(text) == version


@pytest.mark.parametrize(("text", "version"), TOLERANT)
def test_normalize(text: str, version: Version) -> None:
    assert normalize_and_parse(text) == version


@pytest.mark.parametrize("text", ["\t1.2.3 ", "1.0+abc", "1.0-rc.1"])
def test_normalize_rejects(text: str) -> None:
    with pytest.raises(SemverError):
        normalize_and_parse(text)


@pytest.mark.parametrize(("left", "right", "result"), COMPARES)
def test_compare(left: str, right: str, result: int) -> None:
    a, b = parse_version(left), parse_version(right)
    assert compare(a, b) == result
    assert compare(b, a) == -result
    assert (a.canonical() == b.canonical()) == (result == 0)  # what makes CEL's == Version.EQ


@pytest.mark.parametrize("text", WRONG)
def test_wrong_format(text: str) -> None:
    with pytest.raises(SemverError):
        parse_version(text)


def test_precedence_sorts_the_spec_example() -> None:
    ordered = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11"]
    ordered += ["1.0.0-rc.1", "1.0.0", "1.0.1", "1.1.0", "2.0.0"]
    shuffled = ordered[:]
    random.Random(13).shuffle(shuffled)

    def by_precedence(a: str, b: str) -> int:
        return compare(parse_version(a), parse_version(b))

    assert sorted(shuffled, key=functools.cmp_to_key(by_precedence)) == ordered


def test_result_is_a_carrier_without_build_metadata() -> None:
    program = compile_expression(EmbeddedCel('semver("v1.2", true)', "t"), ["object"])
    got = program.evaluate(activation(program, {"object": None}))
    assert carriers.is_carrier(got, "kubernetes.Semver")
    assert carriers.canonical(got) == "1.2.0"
    assert parse_version("1.2.3-rc.1+build.7").canonical() == "1.2.3-rc.1"
