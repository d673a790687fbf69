"""JSON values to Rego terms and back."""

from __future__ import annotations

import math

import pytest

from kubegate.rego.parser import parse_term
from kubegate.rego.printer import print_term
from kubegate.rego.values import term_from_value, value_from_term

VALUE = {"a": [1, 2.5, None, True, 's"q'], "b": {"c": []}}


def test_round_trip_through_text() -> None:
    term = term_from_value(VALUE)
    assert value_from_term(parse_term(print_term(term))) == VALUE


@pytest.mark.parametrize("bad", [math.nan, math.inf, object()])
def test_unrepresentable_values(bad: object) -> None:
    with pytest.raises(ValueError):
        term_from_value({"x": bad})


def test_non_ground_term_has_no_value() -> None:
    with pytest.raises(ValueError):
        value_from_term(parse_term("[x]"))
