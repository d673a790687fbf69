"""The units builtins (kubegate.evaluator.builtins.units), driven by cases/units.yaml,
plus big.Float rounding and hostile amounts."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kubegate.evaluator.builtins.units  # noqa: F401  (registers the implementations)
from kubegate.evaluator.builtins._gostrings import parse_big_float
from kubegate.evaluator.builtins.registry import BuiltinError

from ._strings_cases import call, load, run


@pytest.mark.parametrize("case", load("units"))
def test_case(case: dict[str, Any]) -> None:
    run(case)


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("1.1", Fraction(0x8CCCCCCCCCCCCCCD, 2**63)),
        ("0.1", Fraction(0xCCCCCCCCCCCCCCCD, 2**67)),
        ("1e23", Fraction(10**23)),
        ("-5", Fraction(-5)),
        ("18446744073709551617", Fraction(2**64)),
    ],
)
def test_big_float_rounding(text: str, want: Fraction) -> None:
    # The values Go's big.Float.SetString gives at 64 bits (round to nearest even).
    f = parse_big_float(text)
    assert f is not None
    assert f.fraction() == want


def test_huge_exponents() -> None:
    assert call("units.parse_bytes", "1e999999").bit_length() == (10**999999).bit_length()
    assert call("units.parse", "1e999999") == 10**999999
    assert call("units.parse", "1e-999999") == 0.0


def test_too_many_decimals_refused_as_go_does() -> None:
    with pytest.raises(BuiltinError, match="could not parse amount"):
        call("units.parse", ".000001e-999999")


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet='0123456789.eE+-kKmMgGiIbB" ', max_size=15))
def test_fuzz(text: str) -> None:
    for name in ("units.parse", "units.parse_bytes"):
        try:
            out = call(name, text)
        except BuiltinError:
            continue
        assert type(out) in (int, float)
