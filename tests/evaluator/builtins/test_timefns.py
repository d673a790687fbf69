"""time.* builtins: YAML cases plus the context and zone behaviour."""

from __future__ import annotations

from typing import Any

import pytest

import kubegate.evaluator.builtins.timefns as timefns
from kubegate.evaluator.builtins.registry import IMPLEMENTATIONS, BuiltinError
from kubegate.evaluator.builtins.timefns_go import Wall, civil_from_days, days_from_civil, format_layout

from ._timenet_cases import FakeContext, load, run


@pytest.mark.parametrize("case", load("timefns.yaml"))
def test_case(case: dict[str, Any]) -> None:
    run(case)


def call(name: str, *args: Any) -> Any:
    return IMPLEMENTATIONS[name].impl(*args)


def test_now_ns_is_the_context_time() -> None:
    ctx = FakeContext(now=123)
    assert IMPLEMENTATIONS["time.now_ns"].context
    assert call("time.now_ns", ctx) == 123


def test_civil_round_trip() -> None:
    for days in (-719528, -141428, -1, 0, 1, 11016, 106750, 2932896):
        assert days_from_civil(*civil_from_days(days)) == days
    assert civil_from_days(0) == (1970, 1, 1)
    assert days_from_civil(2000, 14, 1) == days_from_civil(2001, 2, 1)


def test_format_negative_year_and_unknown_zone_name() -> None:
    w = Wall(-5, 3, 4, 0, 0, 0, 0, 0, 1, 3600 + 1800, "")
    assert format_layout(w, "2006 06 MST") == "-0005 05 +0130"


def test_local_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    timefns._local_zone.cache_clear()
    timefns.load_location.cache_clear()
    monkeypatch.setenv("TZ", "America/New_York")
    try:
        assert call("time.clock", [1517832000000000000, "Local"]) == (7, 0, 0)
        # A zone abbreviation of the local zone is resolved with it, as Go does.
        est = call("time.parse_ns", "2006-01-02 15:04 MST", "2021-01-05 10:00 EST")
        assert est == call("time.parse_rfc3339_ns", "2021-01-05T10:00:00-05:00")
        edt = call("time.parse_ns", "2006-01-02 15:04 MST", "2021-07-05 10:00 EDT")
        assert edt == call("time.parse_rfc3339_ns", "2021-07-05T10:00:00-04:00")
    finally:
        timefns._local_zone.cache_clear()
        timefns.load_location.cache_clear()
    monkeypatch.setenv("TZ", "")
    assert call("time.format", [0, "Local"]) == "1970-01-01T00:00:00Z"
    timefns._local_zone.cache_clear()
    timefns.load_location.cache_clear()


@pytest.mark.parametrize(
    "hostile",
    ["\x00", "a" * 5000, "Europe/../../etc/passwd", "/etc/passwd", "\ud800", "Europe"],
)
def test_hostile_zone_names(hostile: str) -> None:
    with pytest.raises(BuiltinError):
        call("time.date", [0, hostile])


@pytest.mark.parametrize(
    ("layout", "value"),
    [
        ("2006" * 1000, "2021" * 999),
        ("." + "0" * 100, "." + "1" * 100),
        ("Z07:00:00", "+99:99:99"),
        ("__2 002", "   0 000"),
        ("", "x" * 10000),
        ("\ud800", "\ud800"),
        ("2006-01-02 MST", "2021-01-02 GMT+99999999999999999999999"),
    ],
)
def test_hostile_parse(layout: str, value: str) -> None:
    try:
        got = call("time.parse_ns", layout, value)
    except BuiltinError:
        return
    assert isinstance(got, int)


def test_hostile_durations() -> None:
    for text in ["9" * 1000 + "h", "1" + "h" * 1000, "-", "+", "\ud800", "100000h" * 1000]:
        with pytest.raises(BuiltinError):
            call("time.parse_duration_ns", text)
    # Fraction digits past int64 are ignored, as Go's leadingFraction does.
    assert call("time.parse_duration_ns", "." + "9" * 1000 + "s") == 1000000000
    assert call("time.parse_duration_ns", "1." + "9" * 100 + "s") == 2000000000


def test_format_bool_and_nan() -> None:
    for bad in (True, float("nan"), float("inf"), [True], None, {"a": 1}):
        with pytest.raises(BuiltinError):
            call("time.format", bad)
