"""OPA's ``time.*`` builtins.

Follows https://github.com/open-policy-agent/opa/blob/main/v1/topdown/time.go.
Layouts and durations are Go's (see :mod:`kubegate.evaluator.builtins.timefns_go`);
time zones come from the standard library's :mod:`zoneinfo` (the system's
tz database, or the ``tzdata`` package where the system has none). ``"UTC"``
and ``""`` are UTC, ``"Local"`` is the process's zone as Go's ``time.Local``
(``TZ``, else ``/etc/localtime``).

Times are nanoseconds since the Unix epoch within Go's ``int64`` range
(1677-09-21 to 2262-04-11); results outside it fail with OPA's ``time outside
of valid range``, operands outside it with ``timestamp too big``.
"""

from __future__ import annotations

import functools
import os
from datetime import datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from kubegate.evaluator.builtins.registry import (
    BuiltinContext,
    BuiltinError,
    OperandTypeError,
    arg_int,
    arg_string,
    implements,
)
from kubegate.evaluator.builtins.timefns_go import LONG_DAYS, GoTimeError, Wall, days_from_civil, days_in, format_layout
from kubegate.evaluator.builtins.timefns_goduration import parse_duration
from kubegate.evaluator.builtins.timefns_goparse import parse_layout

__all__ = ["load_location"]

_NS = 1_000_000_000
_MIN_NS = -(1 << 63)
_MAX_NS = (1 << 63) - 1
_TIME_TYPE = "either number (ns) or [number (ns), string (tz)]"

#: OPA's named layouts (``acceptedTimeFormats``); any other string is a layout itself.
NAMED_LAYOUTS = {
    "ANSIC": "Mon Jan _2 15:04:05 2006",
    "UnixDate": "Mon Jan _2 15:04:05 MST 2006",
    "RubyDate": "Mon Jan 02 15:04:05 -0700 2006",
    "RFC822": "02 Jan 06 15:04 MST",
    "RFC822Z": "02 Jan 06 15:04 -0700",
    "RFC850": "Monday, 02-Jan-06 15:04:05 MST",
    "RFC1123": "Mon, 02 Jan 2006 15:04:05 MST",
    "RFC1123Z": "Mon, 02 Jan 2006 15:04:05 -0700",
    "RFC3339": "2006-01-02T15:04:05Z07:00",
    "RFC3339Nano": "2006-01-02T15:04:05.999999999Z07:00",
}
_RFC3339 = NAMED_LAYOUTS["RFC3339"]
_RFC3339_NANO = NAMED_LAYOUTS["RFC3339Nano"]


# ---------------------------------------------------------------- zones


@functools.lru_cache(maxsize=1)
def _local_zone() -> tzinfo | None:
    """Go's ``time.Local``: ``TZ`` (empty means UTC), else ``/etc/localtime``; None is UTC."""
    tz = os.environ.get("TZ")
    try:
        if tz is None:
            with open("/etc/localtime", "rb") as f:
                return ZoneInfo.from_file(f, key="Local")
        tz = tz.removeprefix(":")
        if tz in ("", "UTC"):
            return None
        if tz.startswith("/"):
            with open(tz, "rb") as f:
                return ZoneInfo.from_file(f, key="Local")
        return ZoneInfo(tz)
    except Exception:  # no usable zone data: Go falls back to UTC
        return None


@functools.lru_cache(maxsize=256)
def load_location(name: str) -> tzinfo | None:
    """The zone called ``name`` as OPA resolves it (None is UTC).

    Raises:
        BuiltinError: Go's ``unknown time zone NAME`` / ``time: invalid location name``.
    """
    if name in ("", "UTC"):
        return None
    if name == "Local":
        return _local_zone()
    if ".." in name or name.startswith(("/", "\\")) or "\x00" in name:
        raise BuiltinError("time: invalid location name")
    try:
        return ZoneInfo(name)
    except Exception:
        raise BuiltinError(f"unknown time zone {name}") from None


def _offset(tz: tzinfo | None, unix: int) -> tuple[int, str]:
    """(offset seconds, abbreviation) of ``tz`` at the instant ``unix``."""
    if tz is None:
        return 0, "UTC"
    try:
        dt = datetime.fromtimestamp(unix, tz)
    except (OverflowError, OSError, ValueError):
        return 0, "UTC"
    off = dt.utcoffset()
    return (int(off.total_seconds()) if off is not None else 0), (dt.tzname() or "")


def _local_lookup_name(name: str, unix: int) -> int | None:
    """Go's ``Location.lookupName`` on ``time.Local``, from the zone's behaviour
    around ``unix`` (wall clock read as UTC): an abbreviation in effect then
    wins, else one used within a year of it."""
    tz = _local_zone()
    if tz is None:
        return 0 if name == "UTC" else None
    seen: dict[int, None] = {}
    for delta in (0, -182, 182, -91, 91, -273, 273, -365, 365):
        off, abbr = _offset(tz, unix + delta * 86400)
        if abbr == name:
            seen[off] = None
    for off in seen:
        if _offset(tz, unix - off)[1] == name:
            return _offset(tz, unix - off)[0]
    return next(iter(seen), None)


# ---------------------------------------------------------------- operands


def _ns_operand(value: Any) -> int:
    """A number operand as int64 nanoseconds (OPA's ``timestamp too big`` otherwise)."""
    t = type(value)
    if t is not int and t is not float:
        raise OperandTypeError(1, "number", value)
    if t is float:
        if not value.is_integer():  # also NaN and infinities
            raise BuiltinError("timestamp too big")
        value = int(value)
    if not _MIN_NS <= value <= _MAX_NS:
        raise BuiltinError("timestamp too big")
    return int(value)


def _tz_time(value: Any) -> tuple[int, tzinfo | None, str]:
    """OPA's ``tzTime``: (ns, zone, layout) of ``ns``, ``[ns, tz]`` or ``[ns, tz, layout]``."""
    t = type(value)
    tz: tzinfo | None = None
    layout = ""
    if t is list or t is tuple:
        if not value:
            raise OperandTypeError(1, _TIME_TYPE, value)
        ns_value = value[0]
        if type(ns_value) is not int and type(ns_value) is not float:
            raise OperandTypeError(1, "number", ns_value)
        if len(value) > 1:
            tz = load_location(arg_string(value[1], 1))
        if len(value) > 2:
            layout = arg_string(value[2], 1)
    elif t is int or t is float:
        ns_value = value
    else:
        raise OperandTypeError(1, _TIME_TYPE, value)
    return _ns_operand(ns_value), tz, layout


def _wall(ns: int, tz: tzinfo | None) -> Wall:
    unix, nsec = divmod(ns, _NS)
    offset, name = _offset(tz, unix)
    return Wall.of(unix, nsec, offset, name)


def _safe_ns(unix: int, nsec: int) -> int:
    ns = unix * _NS + nsec
    if not _MIN_NS <= ns <= _MAX_NS:
        raise BuiltinError("time outside of valid range")
    return ns


def _parse(layout: str, value: str) -> int:
    try:
        unix, nsec = parse_layout(layout, value, _local_lookup_name)
    except GoTimeError as e:
        raise BuiltinError(str(e)) from None
    return _safe_ns(unix, nsec)


# ---------------------------------------------------------------- builtins


@implements("time.now_ns", context=True)
def now_ns(ctx: BuiltinContext) -> int:
    """The query's start time in nanoseconds (one value per query)."""
    return ctx.now_ns()


@implements("time.parse_ns")
def parse_ns(layout: Any, value: Any) -> int:
    """``value`` parsed with the Go ``layout`` (or a named one such as ``RFC3339``)."""
    layout_s = arg_string(layout, 1)
    value_s = arg_string(value, 2)
    return _parse(NAMED_LAYOUTS.get(layout_s, layout_s), value_s)


@implements("time.parse_rfc3339_ns")
def parse_rfc3339_ns(value: Any) -> int:
    """``value`` parsed as RFC 3339 (fractional seconds allowed, as Go's ``time.RFC3339``)."""
    return _parse(_RFC3339, arg_string(value, 1))


@implements("time.parse_duration_ns")
def parse_duration_ns(duration: Any) -> int:
    """A Go duration (``1h2m3.5s``, units ``ns us µs ms s m h``) in nanoseconds."""
    try:
        return parse_duration(arg_string(duration, 1))
    except GoTimeError as e:
        raise BuiltinError(str(e)) from None


@implements("time.format")
def format_(x: Any) -> str:
    """``ns``, ``[ns, tz]`` or ``[ns, tz, layout]`` formatted (RFC 3339 with nanoseconds by default)."""
    ns, tz, layout = _tz_time(x)
    layout = _RFC3339_NANO if layout == "" else NAMED_LAYOUTS.get(layout, layout)
    return format_layout(_wall(ns, tz), layout)


@implements("time.date")
def date(x: Any) -> tuple[int, int, int]:
    """``[year, month, day]`` of the time."""
    w = _wall(*_tz_time(x)[:2])
    return w.year, w.month, w.day


@implements("time.clock")
def clock(x: Any) -> tuple[int, int, int]:
    """``[hour, minute, second]`` of the time."""
    w = _wall(*_tz_time(x)[:2])
    return w.hour, w.minute, w.second


@implements("time.weekday")
def weekday(x: Any) -> str:
    """The English name of the time's day of the week."""
    w = _wall(*_tz_time(x)[:2])
    return LONG_DAYS[w.weekday]


def _go_int(value: Any, position: int) -> int:
    """OPA's ``IntOperand``: an integral number that fits Go's ``int``."""
    n = arg_int(value, position)
    if not _MIN_NS <= n <= _MAX_NS:
        raise BuiltinError(f"operand {position} must be integer number but got floating-point number")
    return n


@implements("time.add_date")
def add_date(x: Any, years: Any, months: Any, days: Any) -> int:
    """The time plus ``years``, ``months`` and ``days`` (Go's ``AddDate``: Oct 31 + 1 month is Dec 1)."""
    ns, tz, _ = _tz_time(x)
    y = _go_int(years, 2)
    mo = _go_int(months, 3)
    d = _go_int(days, 4)
    w = _wall(ns, tz)
    month = w.month + mo
    # The wall clock moved, read as UTC; then placed in the zone as Go's Date does.
    unix = days_from_civil(w.year + y, month, w.day + d) * 86400 + w.hour * 3600 + w.minute * 60 + w.second
    if not _MIN_NS // _NS - 2 * 86400 <= unix <= _MAX_NS // _NS + 2 * 86400:
        raise BuiltinError("time outside of valid range")
    if tz is not None:
        offset = _offset(tz, unix)[0]
        if offset:
            offset2 = _offset(tz, unix - offset)[0]
            unix -= offset2
    return _safe_ns(unix, w.nsec)


@implements("time.diff")
def diff(a: Any, b: Any) -> tuple[int, int, int, int, int, int]:
    """``[years, months, days, hours, minutes, seconds]`` between two times, in the first one's zone."""
    ns1, tz1, _ = _tz_time(a)
    ns2, _, _ = _tz_time(b)
    if ns1 > ns2:
        ns1, ns2 = ns2, ns1
    w1 = _wall(ns1, tz1)
    w2 = _wall(ns2, tz1)
    year = w2.year - w1.year
    month = w2.month - w1.month
    day = w2.day - w1.day
    hour = w2.hour - w1.hour
    minute = w2.minute - w1.minute
    sec = w2.second - w1.second
    if sec < 0:
        sec += 60
        minute -= 1
    if minute < 0:
        minute += 60
        hour -= 1
    if hour < 0:
        hour += 24
        day -= 1
    if day < 0:
        day += days_in(w1.month, w1.year)
        month -= 1
    if month < 0:
        month += 12
        year -= 1
    return year, month, day, hour, minute, sec
