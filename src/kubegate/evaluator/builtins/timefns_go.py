"""Go's ``time`` layouts and durations, as OPA's time builtins see them.

OPA's ``time.parse_ns``, ``time.format`` and ``time.parse_duration_ns`` hand
their operands to Go's ``time.Parse``, ``Time.Format`` and
``time.ParseDuration``; this module and its companions
:mod:`~kubegate.evaluator.builtins.timefns_goparse` (parsing) and
:mod:`~kubegate.evaluator.builtins.timefns_goduration` reimplement those three
(layout chunks, parsing leniencies and error texts included) so the builtins
in :mod:`kubegate.evaluator.builtins.timefns` behave as OPA's
(https://github.com/open-policy-agent/opa/blob/main/v1/topdown/time.go, which
relies on https://pkg.go.dev/time).

A layout is written in terms of the reference time ``Mon Jan 2 15:04:05 MST
2006``; every Go layout element is recognised: ``2006 06 01 1 Jan January 02 2
_2 002 __2 Mon Monday 15 03 3 04 4 05 5 PM pm MST -0700 -07:00 -07 -070000
-07:00:00 Z0700 Z07:00 Z07 Z070000 Z07:00:00`` and fractional seconds
``.000``/``.999`` (or with a comma).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "GoTimeError",
    "Wall",
    "civil_from_days",
    "days_from_civil",
    "days_in",
    "format_layout",
    "go_quote",
    "is_leap",
]


class GoTimeError(ValueError):
    """A Go ``time`` error; the message is Go's."""


# Layout element codes (Go's std* constants).
_LONG_MONTH = 1
_MONTH = 2
_NUM_MONTH = 3
_ZERO_MONTH = 4
_LONG_WEEKDAY = 5
_WEEKDAY = 6
_DAY = 7
_UNDER_DAY = 8
_ZERO_DAY = 9
_UNDER_YEARDAY = 10
_ZERO_YEARDAY = 11
_HOUR = 12
_HOUR12 = 13
_ZERO_HOUR12 = 14
_MINUTE = 15
_ZERO_MINUTE = 16
_SECOND = 17
_ZERO_SECOND = 18
_LONG_YEAR = 19
_YEAR = 20
_PM = 21
_LPM = 22
_TZ = 23
_ISO_TZ = 24  # Z0700
_ISO_SECONDS_TZ = 25  # Z070000
_ISO_SHORT_TZ = 26  # Z07
_ISO_COLON_TZ = 27  # Z07:00
_ISO_COLON_SECONDS_TZ = 28  # Z07:00:00
_NUM_TZ = 29  # -0700
_NUM_SECONDS_TZ = 30  # -070000
_NUM_SHORT_TZ = 31  # -07
_NUM_COLON_TZ = 32  # -07:00
_NUM_COLON_SECONDS_TZ = 33  # -07:00:00
_FRAC0 = 34  # .000
_FRAC9 = 35  # .999

_ISO_ZONES = frozenset({_ISO_TZ, _ISO_SECONDS_TZ, _ISO_SHORT_TZ, _ISO_COLON_TZ, _ISO_COLON_SECONDS_TZ})
_NUM_ZONES = frozenset({_NUM_TZ, _NUM_SECONDS_TZ, _NUM_SHORT_TZ, _NUM_COLON_TZ, _NUM_COLON_SECONDS_TZ})
_COLON_ZONES = frozenset({_ISO_COLON_TZ, _NUM_COLON_TZ, _ISO_COLON_SECONDS_TZ, _NUM_COLON_SECONDS_TZ})
_SHORT_ZONES = frozenset({_ISO_SHORT_TZ, _NUM_SHORT_TZ})
_SECONDS_ZONES = frozenset({_ISO_SECONDS_TZ, _NUM_SECONDS_TZ, _ISO_COLON_SECONDS_TZ, _NUM_COLON_SECONDS_TZ})

_STD0X = (_ZERO_MONTH, _ZERO_DAY, _ZERO_HOUR12, _ZERO_MINUTE, _ZERO_SECOND, _YEAR)

LONG_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
LONG_DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_SHORT_MONTHS = tuple(m[:3] for m in LONG_MONTHS)
_SHORT_DAYS = tuple(d[:3] for d in LONG_DAYS)
_DAYS_BEFORE = (0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365)


@dataclass(frozen=True, slots=True)
class _Std:
    code: int
    digits: int = 0  # fractional seconds: number of digits
    sep: str = "."  # fractional seconds: separator


def _is_digit(s: str, i: int) -> bool:
    return i < len(s) and "0" <= s[i] <= "9"


def _starts_lower(s: str) -> bool:
    return bool(s) and "a" <= s[0] <= "z"


_CHUNK_STARTS = frozenset("JM0123456_Pp-Z.,")


class _Rest:
    """``layout[i:]`` for ``startswith`` tests, without copying the tail."""

    __slots__ = ("i", "s")

    def __init__(self, s: str, i: int) -> None:
        self.s = s
        self.i = i

    def startswith(self, prefix: str) -> bool:
        return self.s.startswith(prefix, self.i)


def _next_chunk(layout: str) -> tuple[str, _Std | None, str]:
    """Go's ``nextStdChunk``: the literal prefix, the element, the rest."""
    n = len(layout)
    for i in range(n):
        c = layout[i]
        if c not in _CHUNK_STARTS:
            continue
        rest = _Rest(layout, i)
        if c == "J":
            if rest.startswith("Jan"):
                if rest.startswith("January"):
                    return layout[:i], _Std(_LONG_MONTH), layout[i + 7 :]
                if not _starts_lower(layout[i + 3 :]):
                    return layout[:i], _Std(_MONTH), layout[i + 3 :]
        elif c == "M":
            if rest.startswith("Mon"):
                if rest.startswith("Monday"):
                    return layout[:i], _Std(_LONG_WEEKDAY), layout[i + 6 :]
                if not _starts_lower(layout[i + 3 :]):
                    return layout[:i], _Std(_WEEKDAY), layout[i + 3 :]
            if rest.startswith("MST"):
                return layout[:i], _Std(_TZ), layout[i + 3 :]
        elif c == "0":
            if i + 1 < n and "1" <= layout[i + 1] <= "6":
                return layout[:i], _Std(_STD0X[ord(layout[i + 1]) - ord("1")]), layout[i + 2 :]
            if rest.startswith("002"):
                return layout[:i], _Std(_ZERO_YEARDAY), layout[i + 3 :]
        elif c == "1":
            if rest.startswith("15"):
                return layout[:i], _Std(_HOUR), layout[i + 2 :]
            return layout[:i], _Std(_NUM_MONTH), layout[i + 1 :]
        elif c == "2":
            if rest.startswith("2006"):
                return layout[:i], _Std(_LONG_YEAR), layout[i + 4 :]
            return layout[:i], _Std(_DAY), layout[i + 1 :]
        elif c == "_":
            if rest.startswith("_2"):
                if rest.startswith("_2006"):
                    return layout[: i + 1], _Std(_LONG_YEAR), layout[i + 5 :]
                return layout[:i], _Std(_UNDER_DAY), layout[i + 2 :]
            if rest.startswith("__2"):
                return layout[:i], _Std(_UNDER_YEARDAY), layout[i + 3 :]
        elif c == "3":
            return layout[:i], _Std(_HOUR12), layout[i + 1 :]
        elif c == "4":
            return layout[:i], _Std(_MINUTE), layout[i + 1 :]
        elif c == "5":
            return layout[:i], _Std(_SECOND), layout[i + 1 :]
        elif c == "P":
            if rest.startswith("PM"):
                return layout[:i], _Std(_PM), layout[i + 2 :]
        elif c == "p":
            if rest.startswith("pm"):
                return layout[:i], _Std(_LPM), layout[i + 2 :]
        elif c == "-":
            for text, code in (
                ("-070000", _NUM_SECONDS_TZ),
                ("-07:00:00", _NUM_COLON_SECONDS_TZ),
                ("-0700", _NUM_TZ),
                ("-07:00", _NUM_COLON_TZ),
                ("-07", _NUM_SHORT_TZ),
            ):
                if rest.startswith(text):
                    return layout[:i], _Std(code), layout[i + len(text) :]
        elif c == "Z":
            for text, code in (
                ("Z070000", _ISO_SECONDS_TZ),
                ("Z07:00:00", _ISO_COLON_SECONDS_TZ),
                ("Z0700", _ISO_TZ),
                ("Z07:00", _ISO_COLON_TZ),
                ("Z07", _ISO_SHORT_TZ),
            ):
                if rest.startswith(text):
                    return layout[:i], _Std(code), layout[i + len(text) :]
        elif c in ".," and i + 1 < n and layout[i + 1] in "09":
            ch = layout[i + 1]
            j = i + 1
            while j < n and layout[j] == ch:
                j += 1
            if not _is_digit(layout, j):
                code = _FRAC0 if ch == "0" else _FRAC9
                return layout[:i], _Std(code, j - (i + 1), c), layout[j:]
    return layout, None, ""


def go_quote(s: str) -> str:
    """Go ``time``'s own ``quote``: non-ASCII and control bytes as ``\\xNN``."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        if o >= 0x80 or o < 0x20:
            out.extend(f"\\x{b:02x}" for b in ch.encode("utf-8", "surrogatepass"))
        else:
            if ch in '"\\':
                out.append("\\")
            out.append(ch)
    out.append('"')
    return "".join(out)


# ---------------------------------------------------------------- calendar


def is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def days_in(month: int, year: int) -> int:
    """Days in ``month`` (1-12) of ``year``."""
    if month == 2 and is_leap(year):
        return 29
    return _DAYS_BEFORE[month] - _DAYS_BEFORE[month - 1]


def days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date; ``month`` may be
    out of 1-12 and ``day`` out of the month (normalised like Go's ``Date``)."""
    y, m0 = divmod(month - 1, 12)
    year += y
    month = m0 + 1
    # Howard Hinnant's days_from_civil for the first of the month.
    yy = year - (1 if month <= 2 else 0)
    era = yy // 400
    yoe = yy - era * 400
    mp = (month + 9) % 12
    doy = (153 * mp + 2) // 5
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468 + (day - 1)


def civil_from_days(days: int) -> tuple[int, int, int]:
    """(year, month, day) of ``days`` since 1970-01-01."""
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return (y + 1 if m <= 2 else y), m, d


@dataclass(frozen=True, slots=True)
class Wall:
    """A time as shown in a zone: the civil fields plus the zone's offset and name."""

    year: int
    month: int
    day: int
    hour: int
    minute: int
    second: int
    nsec: int
    weekday: int  # 0 = Sunday
    yday: int  # 1-based
    offset: int  # seconds east of UTC
    zone: str

    @classmethod
    def of(cls, unix: int, nsec: int, offset: int, zone: str) -> Wall:
        local = unix + offset
        days, secs = divmod(local, 86400)
        y, m, d = civil_from_days(days)
        yday = days - days_from_civil(y, 1, 1) + 1
        return cls(y, m, d, secs // 3600, secs // 60 % 60, secs % 60, nsec, (days + 4) % 7, yday, offset, zone)


# ---------------------------------------------------------------- format


def _int(x: int, width: int) -> str:
    if x < 0:
        return "-" + str(-x).rjust(width, "0")
    return str(x).rjust(width, "0")


def _nano(nsec: int, std: _Std) -> str:
    trim = std.code == _FRAC9
    if trim and (std.digits == 0 or nsec == 0):
        return ""
    s = std.sep + str(nsec).rjust(9, "0")[: std.digits]
    if trim:
        s = s.rstrip("0")
        if s == std.sep:
            return ""
    return s


def format_layout(w: Wall, layout: str) -> str:
    """Go's ``Time.Format(layout)`` for the time ``w``."""
    out: list[str] = []
    while layout:
        prefix, std, layout = _next_chunk(layout)
        out.append(prefix)
        if std is None:
            break
        code = std.code
        if code == _YEAR:
            out.append(_int(abs(w.year) % 100, 2))
        elif code == _LONG_YEAR:
            out.append(_int(w.year, 4))
        elif code == _MONTH:
            out.append(_SHORT_MONTHS[w.month - 1])
        elif code == _LONG_MONTH:
            out.append(LONG_MONTHS[w.month - 1])
        elif code == _NUM_MONTH:
            out.append(str(w.month))
        elif code == _ZERO_MONTH:
            out.append(_int(w.month, 2))
        elif code == _WEEKDAY:
            out.append(_SHORT_DAYS[w.weekday])
        elif code == _LONG_WEEKDAY:
            out.append(LONG_DAYS[w.weekday])
        elif code == _DAY:
            out.append(str(w.day))
        elif code == _UNDER_DAY:
            out.append(str(w.day).rjust(2))
        elif code == _ZERO_DAY:
            out.append(_int(w.day, 2))
        elif code == _UNDER_YEARDAY:
            out.append(str(w.yday).rjust(3))
        elif code == _ZERO_YEARDAY:
            out.append(_int(w.yday, 3))
        elif code == _HOUR:
            out.append(_int(w.hour, 2))
        elif code in (_HOUR12, _ZERO_HOUR12):
            hr = w.hour % 12 or 12
            out.append(str(hr) if code == _HOUR12 else _int(hr, 2))
        elif code == _MINUTE:
            out.append(str(w.minute))
        elif code == _ZERO_MINUTE:
            out.append(_int(w.minute, 2))
        elif code == _SECOND:
            out.append(str(w.second))
        elif code == _ZERO_SECOND:
            out.append(_int(w.second, 2))
        elif code == _PM:
            out.append("PM" if w.hour >= 12 else "AM")
        elif code == _LPM:
            out.append("pm" if w.hour >= 12 else "am")
        elif code in _ISO_ZONES or code in _NUM_ZONES:
            out.append(_format_offset(w.offset, code))
        elif code == _TZ:
            if w.zone:
                out.append(w.zone)
            else:
                zone = abs(w.offset) // 60
                out.append(("-" if w.offset < 0 else "+") + _int(zone // 60, 2) + _int(zone % 60, 2))
        else:  # fractional seconds
            out.append(_nano(w.nsec, std))
    return "".join(out)


def _format_offset(offset: int, code: int) -> str:
    if offset == 0 and code in _ISO_ZONES:
        return "Z"
    sign = "-" if offset < 0 else "+"
    absoff = abs(offset)
    zone = absoff // 60
    s = sign + _int(zone // 60, 2)
    if code in _COLON_ZONES:
        s += ":"
    if code not in _SHORT_ZONES:
        s += _int(zone % 60, 2)
    if code in _SECONDS_ZONES:
        if code in (_NUM_COLON_SECONDS_TZ, _ISO_COLON_SECONDS_TZ):
            s += ":"
        s += _int(absoff % 60, 2)
    return s
