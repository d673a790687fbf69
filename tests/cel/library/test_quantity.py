"""The quantity parser against k8s.io/apimachinery's own table
(pkg/api/resource/quantity_test.go, TestQuantityParse: the value of every
input, its negation and its explicit ``+`` form; the invalid inputs), and the
carrier the library returns."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kubegate.cel import carriers
from kubegate.cel.library.quantity import (
    DIGITS,
    FORMAT_WRONG,
    NUMERIC,
    SUFFIX,
    QuantityError,
    decimal_of,
    parse_quantity,
    quantity_carrier,
)
from kubegate.cel.program import CelError, EmbeddedCel, activation, compile_expression

MAX_ALLOWED = Decimal(2**63 - 1)


def dec(mantissa: int | float, scale: int) -> Decimal:
    """Go's ``decQuantity(mantissa, scale, format)``: mantissa * 10^scale."""
    return Decimal(int(mantissa)).scaleb(scale)


# TestQuantityParse's table: (input, expected value).
PARSE_TABLE = [
    ("0", dec(0, 0)),
    ("0n", dec(0, 0)),
    ("0u", dec(0, 0)),
    ("0m", dec(0, 0)),
    ("0Ki", dec(0, 0)),
    ("0k", dec(0, 0)),
    ("0Mi", dec(0, 0)),
    ("0M", dec(0, 0)),
    ("0Gi", dec(0, 0)),
    ("0G", dec(0, 0)),
    ("0Ti", dec(0, 0)),
    ("0T", dec(0, 0)),
    ("1", dec(1, 0)),
    ("1Ki", dec(1024, 0)),
    ("8Ki", dec(8 * 1024, 0)),
    ("7Mi", dec(7 * 1024**2, 0)),
    ("6Gi", dec(6 * 1024**3, 0)),
    ("5Ti", dec(5 * 1024**4, 0)),
    ("4Pi", dec(4 * 1024**5, 0)),
    ("3Ei", dec(3 * 1024**6, 0)),
    ("10Ti", dec(10 * 1024**4, 0)),
    ("100Ti", dec(100 * 1024**4, 0)),
    ("5n", dec(5, -9)),
    ("4u", dec(4, -6)),
    ("3m", dec(3, -3)),
    ("9", dec(9, 0)),
    ("8k", dec(8, 3)),
    ("50k", dec(5, 4)),
    ("7M", dec(7, 6)),
    ("6G", dec(6, 9)),
    ("5T", dec(5, 12)),
    ("40T", dec(4, 13)),
    ("300T", dec(3, 14)),
    ("2P", dec(2, 15)),
    ("1E", dec(1, 18)),
    ("1E-3", dec(1, -3)),
    ("1e3", dec(1, 3)),
    ("1E6", dec(1, 6)),
    ("1e9", dec(1, 9)),
    ("1E12", dec(1, 12)),
    ("1e15", dec(1, 15)),
    ("1E18", dec(1, 18)),
    ("1e14", dec(1, 14)),
    ("1e13", dec(1, 13)),
    ("100.035k", dec(100035, 0)),
    ("0.001", dec(1, -3)),
    ("0.0005k", dec(5, -1)),
    ("0.005", dec(5, -3)),
    ("0.05", dec(5, -2)),
    ("0.5", dec(5, -1)),
    ("0.00050k", dec(5, -1)),
    ("0.00500", dec(5, -3)),
    ("0.05000", dec(5, -2)),
    ("0.50000", dec(5, -1)),
    ("0.5e0", dec(5, -1)),
    ("0.5e-1", dec(5, -2)),
    ("0.5e-2", dec(5, -3)),
    ("10.035M", dec(10035, 3)),
    ("1.2e3", dec(12, 2)),
    ("1.3E+6", dec(13, 5)),
    ("1.40e9", dec(14, 8)),
    ("1.53E12", dec(153, 10)),
    ("1.6e15", dec(16, 14)),
    ("1.7E18", dec(17, 17)),
    ("9.01", dec(901, -2)),
    ("8.1k", dec(81, 2)),
    ("7.123456M", dec(7123456, 0)),
    ("6.987654321G", dec(6987654321, 0)),
    ("5.444T", dec(5444, 9)),
    ("40.1T", dec(401, 11)),
    ("300.2T", dec(3002, 11)),
    ("2.5P", dec(25, 14)),
    ("1.01E", dec(101, 16)),
    ("3.001n", dec(4, -9)),
    ("1.1E-9", dec(2, -9)),
    ("0.0000000001", dec(1, -9)),
    ("0.0000000005", dec(1, -9)),
    ("0.00000000050", dec(1, -9)),
    ("0.5e-9", dec(1, -9)),
    ("0.9n", dec(1, -9)),
    ("0.00000012345", dec(124, -9)),
    ("0.00000012354", dec(124, -9)),
    ("9Ei", MAX_ALLOWED),
    ("9223372036854775807Ki", MAX_ALLOWED),
    ("12E", dec(12, 18)),
    ("100.035Ki", dec(10243584, -2)),
    ("0.5Mi", dec(0.5 * 1024 * 1024, 0)),
    ("0.05Gi", dec(536870912, -1)),
    ("0.025Ti", dec(274877906944, -1)),
    ("0.000000000001Ki", dec(2, -9)),
    (".001", dec(1, -3)),
    (".0001k", dec(100, -3)),
    ("1.", dec(1, 0)),
    ("1.G", dec(1, 9)),
]

# TestQuantityParse's invalid inputs, with the error resource.ParseQuantity returns.
INVALID = [
    ("", FORMAT_WRONG),
    ("1.1.M", FORMAT_WRONG),
    ("1+1.0M", FORMAT_WRONG),
    ("0.1mi", SUFFIX),
    ("0.1am", FORMAT_WRONG),
    ("aoeu", FORMAT_WRONG),
    (".5i", SUFFIX),
    ("1i", SUFFIX),
    ("-3.01i", SUFFIX),
    ("-3.01e-", SUFFIX),
    (" 1", FORMAT_WRONG),
    ("1 ", FORMAT_WRONG),
]


@pytest.mark.parametrize(("text", "value"), PARSE_TABLE, ids=[t for t, _ in PARSE_TABLE])
def test_parse_table(text: str, value: Decimal) -> None:
    assert parse_quantity(text) == value
    assert parse_quantity("-" + text) == -value
    assert parse_quantity("+" + text) == value


@pytest.mark.parametrize(("text", "message"), INVALID, ids=[t or "empty" for t, _ in INVALID])
def test_invalid(text: str, message: str) -> None:
    with pytest.raises(QuantityError) as info:
        parse_quantity(text)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (".e-10", NUMERIC),  # no digit and off the int64 fast path: inf.Dec.SetString fails
        ("+e-10", NUMERIC),
        ("Pi", NUMERIC),  # 2^50 is past the fast path's precision
        ("1e", SUFFIX),
        ("1ee3", SUFFIX),
        ("1e99999999999999999999", SUFFIX),  # strconv.ParseInt: out of range
        ("1e3.5", FORMAT_WRONG),
        ("\uff11", FORMAT_WRONG),  # a fullwidth digit: only ASCII digits count
    ],
)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(QuantityError) as info:
        parse_quantity(text)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Mi", Decimal(0)),  # no digits on the fast path: the number 0
        ("k", Decimal(0)),
        ("-", Decimal(0)),
        (".", Decimal(0)),
        ("e5", Decimal(0)),
        ("1e+3", Decimal(1000)),
        ("1e0000000000000000000000003", Decimal(1000)),  # leading zeros do not count for ParseInt
        ("1e4294967299", Decimal(1000)),  # int32(parsed)
        ("1e-4294967296", Decimal(1)),
        ("-0.0000000001", Decimal("-1E-9")),
    ],
)
def test_edge_values(text: str, value: Decimal) -> None:
    assert parse_quantity(text) == value


def test_precision_bound() -> None:
    assert parse_quantity("1" + "0" * (2 * DIGITS)) == Decimal(10) ** (2 * DIGITS)  # one significant digit
    with pytest.raises(QuantityError, match="significant digits"):
        parse_quantity("1" * (DIGITS + 1))


def test_carrier_text_is_canonical() -> None:
    spellings = ["1Gi", "1024Mi", "1073741824", "1.073741824G", "1073741824000m", "+1Gi"]
    assert {carriers.canonical(quantity_carrier(parse_quantity(s))) for s in spellings} == {"1073741824"}
    assert carriers.canonical(quantity_carrier(parse_quantity("500m"))) == "0.5"
    assert carriers.canonical(quantity_carrier(parse_quantity("-0"))) == "0"
    big = quantity_carrier(parse_quantity("1e40"))
    assert carriers.canonical(big) == "1E+40"
    assert decimal_of(big) == Decimal(10) ** 40


def test_hand_built_carrier_is_an_error() -> None:
    with pytest.raises(ValueError, match="not a quantity"):
        decimal_of(carriers.carrier("kubernetes.Quantity", "NaN"))
    with pytest.raises(TypeError):
        decimal_of(carriers.carrier("kubernetes.Semver", "1.0.0"))


def evaluate(text: str) -> object:
    program = compile_expression(EmbeddedCel(text, "t"), ["object"])
    return program.evaluate(activation(program, {"object": None}))


def test_result_is_a_carrier() -> None:
    got = evaluate('quantity("1.5Gi").add(quantity("512Mi"))')
    assert carriers.is_carrier(got, "kubernetes.Quantity")
    assert carriers.canonical(got) == "2147483648"


def test_comparisons_of_carriers_reached_through_dyn_are_checked_when_evaluated() -> None:
    # Typed text is refused at compile time (cases/library/quantity.yaml); through
    # dyn the checker cannot tell, and the runtime dispatcher refuses.
    program = compile_expression(EmbeddedCel("object.a.compareTo(object.b)", "t"), ["object"])
    bindings = activation(
        program,
        {
            "object": {
                "a": carriers.carrier("kubernetes.Semver", "1.0.0"),
                "b": carriers.carrier("kubernetes.Quantity", "1"),
            }
        },
    )
    with pytest.raises(CelError, match=r"no such overload: compareTo\(kubernetes.Semver, kubernetes.Quantity\)"):
        program.evaluate(bindings)


def test_arithmetic_past_the_bound_is_an_error() -> None:
    with pytest.raises(CelError, match="significant digits"):
        evaluate(f'quantity("1e{DIGITS * 2}").add(1)')
