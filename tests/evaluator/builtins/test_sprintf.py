"""The sprintf builtin (kubegate.evaluator.builtins.sprintf), driven by cases/sprintf.yaml,
plus the Go fmt engine behind it, hostile formats and fuzzing."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kubegate.evaluator.builtins.sprintf  # noqa: F401  (registers the implementation)
from kubegate.evaluator.builtins import _gofmt
from kubegate.evaluator.builtins.registry import BuiltinError
from kubegate.evaluator.builtins.sprintf import rego_text
from kubegate.evaluator.values import Set

from ._strings_cases import call, load, run


@pytest.mark.parametrize("case", load("sprintf"))
def test_case(case: dict[str, Any]) -> None:
    run(case)


@pytest.mark.parametrize(
    ("fmt", "args", "want"),
    [
        ("%v", [True], "true"),
        ("%d", [True], "%!d(bool=true)"),
        ("%v %d", [None, None], "<nil> %!d(<nil>)"),
        ("%v", [[1, "a", None]], "[1 a <nil>]"),
        ("%v", [{"b": 1, "a": [True]}], "map[a:[true] b:1]"),
        ("%d", [_gofmt.JsonNumber("5")], "%!d(json.Number=5)"),
        ("%v|%5s", [_gofmt.JsonNumber("5"), _gofmt.JsonNumber("6")], "5|    6"),
        ("%s", [_gofmt.GoInt(3)], "%!s(int=3)"),
        ("%*d", [_gofmt.GoInt(3), 1], "  1"),
        ("%v", [float("inf")], "+Inf"),
        ("%5.1f|", [float("nan")], "  NaN|"),
        ("%010v", [-float("inf")], "      -Inf"),
        ("%w", [18446744073709551616], "%!w(*big.Int=&{false [0 1]})"),
    ],
)
def test_go_values(fmt: str, args: list[Any], want: str) -> None:
    assert _gofmt.sprintf(fmt, args) == want


def test_rego_text() -> None:
    assert rego_text({"a": Set([1, "x"]), "b": [None, 1.5]}) == '{"a": {1, "x"}, "b": [null, 1.5]}'
    assert rego_text("\u00a0\U0001f600\u200b") == '"\\u00a0\U0001f600\\u200b"'


def test_output_is_bounded() -> None:
    with pytest.raises(BuiltinError, match="result longer than"):
        call("sprintf", "%9999999d" * 3, [1, 2, 3])


def test_large_but_legal_output() -> None:
    assert len(call("sprintf", "%.999999f", [1.5])) == 1_000_001
    assert call("sprintf", "%d", [10**5000]) == "1" + "0" * 5000


def test_deep_values() -> None:
    deep: Any = 1
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(BuiltinError, match="too deeply nested"):
        call("sprintf", "%v", [deep])


def test_operands_are_not_mutated() -> None:
    values = [{"b": [1], "a": 2}, [3]]
    call("sprintf", "%v %v", values)
    assert values == [{"b": [1], "a": 2}, [3]]


_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)
_formats = st.text(alphabet="%-+# 0123456789.*[]vdsqxXobcUeEfFgGtTpw é", max_size=30)


@settings(max_examples=400, deadline=None)
@given(fmt=_formats, args=st.lists(_values, max_size=4))
def test_fuzz_formats(fmt: str, args: list[Any]) -> None:
    try:
        out = call("sprintf", fmt, args)
    except BuiltinError as exc:
        assert "result longer than" in exc.message
        return
    assert isinstance(out, str)


_SIMPLE_ARGS = st.one_of(
    st.text(max_size=12),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True),
    st.booleans(),
    st.none(),
    st.lists(st.integers(0, 5), max_size=3),
)


@settings(max_examples=400, deadline=None)
@given(
    pieces=st.lists(
        st.sampled_from(["", "a", " ", "%v", "%s", "%d", "%q", "%%", "%x", "%5v", "%", 'é\n"']), max_size=8
    ),
    args=st.lists(_SIMPLE_ARGS, max_size=5),
)
def test_simple_formats_take_the_fast_path_with_go_results(pieces: list[str], args: list[Any]) -> None:
    """The fast path for bare %v/%s/%d/%q gives exactly what the Go printer gives, or defers to it."""
    from kubegate.evaluator.builtins.sprintf import _go_arg, _simple_sprintf, sprintf

    fmt = "".join(pieces)
    go_args = [_go_arg(a) for a in args]
    fast = _simple_sprintf(fmt, go_args)
    full = _gofmt.sprintf(fmt, go_args)
    if fast is not None:
        assert fast == full
    assert sprintf(fmt, args) == full


def test_fast_path_is_taken_for_a_violation_message() -> None:
    from kubegate.evaluator.builtins.sprintf import _simple_sprintf

    assert _simple_sprintf("%v %q of %v: %d%%", ["container", "web", "Pod shop/web", 3]) == (
        'container "web" of Pod shop/web: 3%'
    )
    assert _simple_sprintf("%v", [1.5]) is None  # floats go to the Go printer
    assert _simple_sprintf("%v %v", ["one"]) is None  # a missing argument too
