"""Go's ``time.Parse``, as OPA's ``time.parse_ns`` and ``time.parse_rfc3339_ns`` use it.

Part of :mod:`kubegate.evaluator.builtins.timefns_go` (layout elements and
formatting); follows Go's ``time/format.go`` (https://pkg.go.dev/time#Parse),
leniencies and error texts included, for the builtins of
https://github.com/open-policy-agent/opa/blob/main/v1/topdown/time.go.
"""

from __future__ import annotations

from collections.abc import Callable

from kubegate.evaluator.builtins.timefns_go import (
    _DAY,
    _DAYS_BEFORE,
    _FRAC0,
    _FRAC9,
    _HOUR,
    _HOUR12,
    _ISO_COLON_SECONDS_TZ,
    _ISO_COLON_TZ,
    _ISO_SECONDS_TZ,
    _ISO_ZONES,
    _LONG_MONTH,
    _LONG_WEEKDAY,
    _LONG_YEAR,
    _LPM,
    _MINUTE,
    _MONTH,
    _NUM_COLON_SECONDS_TZ,
    _NUM_COLON_TZ,
    _NUM_MONTH,
    _NUM_SECONDS_TZ,
    _NUM_ZONES,
    _PM,
    _SECOND,
    _SHORT_DAYS,
    _SHORT_MONTHS,
    _SHORT_ZONES,
    _TZ,
    _UNDER_DAY,
    _UNDER_YEARDAY,
    _WEEKDAY,
    _YEAR,
    _ZERO_DAY,
    _ZERO_HOUR12,
    _ZERO_MINUTE,
    _ZERO_MONTH,
    _ZERO_SECOND,
    _ZERO_YEARDAY,
    LONG_DAYS,
    LONG_MONTHS,
    GoTimeError,
    _is_digit,
    _next_chunk,
    days_from_civil,
    days_in,
    go_quote,
    is_leap,
)

__all__ = ["LocalLookup", "parse_layout"]


class _Bad(Exception):
    """Go's ``errBad``: the element could not be parsed."""


_INT63 = 1 << 63


def _leading_int(s: str) -> tuple[int, str]:
    """Go's ``leadingInt``; raises :class:`_Bad` on overflow."""
    x = 0
    i = 0
    while i < len(s) and "0" <= s[i] <= "9":
        if x > _INT63 // 10:
            raise _Bad
        x = x * 10 + ord(s[i]) - 48
        if x > _INT63:
            raise _Bad
        i += 1
    return x, s[i:]


def _atoi(s: str) -> int:
    neg = False
    if s and s[0] in "+-":
        neg = s[0] == "-"
        s = s[1:]
    q, rem = _leading_int(s)
    if rem:
        raise _Bad
    return -q if neg else q


def _getnum(s: str, fixed: bool) -> tuple[int, str]:
    if not _is_digit(s, 0):
        raise _Bad
    if not _is_digit(s, 1):
        if fixed:
            raise _Bad
        return ord(s[0]) - 48, s[1:]
    return (ord(s[0]) - 48) * 10 + ord(s[1]) - 48, s[2:]


def _getnum3(s: str, fixed: bool) -> tuple[int, str]:
    n = 0
    i = 0
    while i < 3 and _is_digit(s, i):
        n = n * 10 + ord(s[i]) - 48
        i += 1
    if i == 0 or (fixed and i != 3):
        raise _Bad
    return n, s[i:]


def _lookup(tab: tuple[str, ...], val: str) -> tuple[int, str]:
    for i, v in enumerate(tab):
        if len(val) >= len(v) and _match(val[: len(v)], v):
            return i, val[len(v) :]
    raise _Bad


def _match(s1: str, s2: str) -> bool:
    for c1, c2 in zip(s1, s2, strict=True):
        if c1 != c2:
            l1, l2 = ord(c1) | 0x20, ord(c2) | 0x20
            if l1 != l2 or not (97 <= l1 <= 122):
                return False
    return True


def _skip(value: str, prefix: str) -> str:
    """Go's ``skip``: ``value`` after the literal ``prefix`` (a space matches any run of spaces)."""
    v = p = 0
    nv, np_ = len(value), len(prefix)
    while p < np_:
        if prefix[p] == " ":
            if v < nv and value[v] != " ":
                raise _Bad
            while p < np_ and prefix[p] == " ":
                p += 1
            while v < nv and value[v] == " ":
                v += 1
            continue
        if v >= nv or value[v] != prefix[p]:
            raise _Bad
        p += 1
        v += 1
    return value[v:]


def _parse_nanoseconds(value: str, nbytes: int) -> tuple[int, str]:
    """(ns, range error) of the fraction ``value[:nbytes]`` (separator first)."""
    if value[0] not in ".,":
        raise _Bad
    if nbytes > 10:
        value = value[:10]
        nbytes = 10
    ns = _atoi(value[1:nbytes])
    if ns < 0:
        return 0, "fractional second"
    return ns * 10 ** (10 - nbytes), ""


def _parse_signed_offset(value: str) -> int:
    if not value or value[0] not in "+-":
        return 0
    try:
        x, rem = _leading_int(value[1:])
    except _Bad:
        return 0
    if rem == value[1:] or x > 12:
        return 0
    return len(value) - len(rem)


def _parse_time_zone(value: str) -> int:
    """Go's ``parseTimeZone``: the length of a zone abbreviation, 0 if none."""
    if len(value) < 3:
        return 0
    if value[:4] in ("ChST", "MeST"):
        return 4
    if value[:3] == "GMT":
        rest = value[3:]
        return 3 if not rest else 3 + _parse_signed_offset(rest)
    if value[0] in "+-":
        return _parse_signed_offset(value)
    n = 0
    while n < 6 and n < len(value) and "A" <= value[n] <= "Z":
        n += 1
    if n == 5 and value[4] == "T":
        return 5
    if n == 4 and (value[3] == "T" or value[:4] == "WITA"):
        return 4
    if n == 3:
        return 3
    return 0


def _parse_error(layout: str, value: str, layout_elem: str, value_elem: str, message: str = "") -> GoTimeError:
    if message:
        return GoTimeError("parsing time " + go_quote(value) + message)
    return GoTimeError(
        "parsing time "
        + go_quote(value)
        + " as "
        + go_quote(layout)
        + ": cannot parse "
        + go_quote(value_elem)
        + " as "
        + go_quote(layout_elem)
    )


#: ``lookup_name(abbreviation, unix_seconds) -> offset`` of the local zone, or None.
LocalLookup = Callable[[str, int], "int | None"]


def parse_layout(layout: str, value: str, lookup_name: LocalLookup) -> tuple[int, int]:
    """Go's ``time.Parse(layout, value)``: (unix seconds, nanoseconds).

    ``lookup_name`` resolves a zone abbreviation (``MST``) with the local zone,
    as Go does with ``time.Local``.

    Raises:
        GoTimeError: with Go's message.
    """
    alayout, avalue = layout, value
    range_err = ""
    am_set = pm_set = False
    year = 0
    month = day = yday = -1
    hour = minute = sec = nsec = 0
    utc = False
    zone_offset = -1
    zone_name = ""
    while True:
        prefix, std, suffix = _next_chunk(layout)
        stdstr = layout[len(prefix) : len(layout) - len(suffix)]
        try:
            value = _skip(value, prefix)
        except _Bad:
            raise _parse_error(alayout, avalue, prefix, value) from None
        if std is None:
            if value:
                raise _parse_error(alayout, avalue, "", value, ": extra text: " + go_quote(value))
            break
        layout = suffix
        hold = value
        code = std.code
        try:
            if code == _YEAR:
                if len(value) < 2:
                    raise _Bad
                p, value = value[:2], value[2:]
                year = _atoi(p)
                year += 1900 if year >= 69 else 2000
            elif code == _LONG_YEAR:
                if len(value) < 4 or not _is_digit(value, 0):
                    raise _Bad
                p, value = value[:4], value[4:]
                year = _atoi(p)
            elif code == _MONTH:
                month, value = _lookup(_SHORT_MONTHS, value)
                month += 1
            elif code == _LONG_MONTH:
                month, value = _lookup(LONG_MONTHS, value)
                month += 1
            elif code in (_NUM_MONTH, _ZERO_MONTH):
                month, value = _getnum(value, code == _ZERO_MONTH)
                if month <= 0 or month > 12:
                    range_err = "month"
            elif code == _WEEKDAY:
                _, value = _lookup(_SHORT_DAYS, value)
            elif code == _LONG_WEEKDAY:
                _, value = _lookup(LONG_DAYS, value)
            elif code in (_DAY, _UNDER_DAY, _ZERO_DAY):
                if code == _UNDER_DAY and value[:1] == " ":
                    value = value[1:]
                day, value = _getnum(value, code == _ZERO_DAY)
            elif code in (_UNDER_YEARDAY, _ZERO_YEARDAY):
                for _ in range(2):
                    if code == _UNDER_YEARDAY and value[:1] == " ":
                        value = value[1:]
                yday, value = _getnum3(value, code == _ZERO_YEARDAY)
            elif code == _HOUR:
                hour, value = _getnum(value, False)
                if hour >= 24:
                    range_err = "hour"
            elif code in (_HOUR12, _ZERO_HOUR12):
                hour, value = _getnum(value, code == _ZERO_HOUR12)
                if hour > 12:
                    range_err = "hour"
            elif code in (_MINUTE, _ZERO_MINUTE):
                minute, value = _getnum(value, code == _ZERO_MINUTE)
                if minute >= 60:
                    range_err = "minute"
            elif code in (_SECOND, _ZERO_SECOND):
                sec, value = _getnum(value, code == _ZERO_SECOND)
                if sec >= 60:
                    range_err = "second"
                elif len(value) >= 2 and value[0] in ".," and _is_digit(value, 1):
                    _, nxt, _ = _next_chunk(layout)
                    if nxt is None or nxt.code not in (_FRAC0, _FRAC9):
                        n = 2
                        while n < len(value) and _is_digit(value, n):
                            n += 1
                        nsec, range_err = _parse_nanoseconds(value, n)
                        value = value[n:]
            elif code in (_PM, _LPM):
                if len(value) < 2:
                    raise _Bad
                p, value = value[:2], value[2:]
                pm, am = ("PM", "AM") if code == _PM else ("pm", "am")
                if p == pm:
                    pm_set = True
                elif p == am:
                    am_set = True
                else:
                    raise _Bad
            elif code in _ISO_ZONES and value[:1] == "Z":
                value = value[1:]
                utc = True
            elif code in _ISO_ZONES or code in _NUM_ZONES:
                value, zone_offset, range_err, bad = _parse_offset(value, code, range_err)
                if bad and not range_err:
                    raise _Bad
            elif code == _TZ:
                if value[:3] == "UTC":
                    utc = True
                    value = value[3:]
                else:
                    n = _parse_time_zone(value)
                    if n == 0:
                        raise _Bad
                    zone_name, value = value[:n], value[n:]
            elif code == _FRAC0:
                ndigit = 1 + std.digits
                if len(value) < ndigit:
                    raise _Bad
                nsec, range_err = _parse_nanoseconds(value, ndigit)
                value = value[ndigit:]
            elif code == _FRAC9 and len(value) >= 2 and value[0] in ".," and "0" <= value[1] <= "9":
                # the fraction is optional; any number of digits is taken
                i = 0
                while i + 1 < len(value) and "0" <= value[i + 1] <= "9":
                    i += 1
                nsec, range_err = _parse_nanoseconds(value, 1 + i)
                value = value[1 + i :]
        except _Bad:
            raise _parse_error(alayout, avalue, stdstr, hold) from None
        if range_err:
            raise _parse_error(alayout, avalue, stdstr, value, ": " + range_err + " out of range")

    if pm_set and hour < 12:
        hour += 12
    elif am_set and hour == 12:
        hour = 0

    if yday >= 0:
        m = d = 0
        if is_leap(year):
            if yday == 31 + 29:
                m, d = 2, 29
            elif yday > 31 + 29:
                yday -= 1
        if yday < 1 or yday > 365:
            raise _parse_error(alayout, avalue, "", value, ": day-of-year out of range")
        if m == 0:
            m = (yday - 1) // 31 + 1
            if _DAYS_BEFORE[m] < yday:
                m += 1
            d = yday - _DAYS_BEFORE[m - 1]
        if month >= 0 and month != m:
            raise _parse_error(alayout, avalue, "", value, ": day-of-year does not match month")
        month = m
        if day >= 0 and day != d:
            raise _parse_error(alayout, avalue, "", value, ": day-of-year does not match day")
        day = d
    else:
        if month < 0:
            month = 1
        if day < 0:
            day = 1
    if day < 1 or day > days_in(month, year):
        raise _parse_error(alayout, avalue, "", value, ": day out of range")

    unix = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + sec
    if utc:
        return unix, nsec
    if zone_offset != -1:
        return unix - zone_offset, nsec
    if zone_name:
        offset = lookup_name(zone_name, unix)
        if offset is None:
            offset = 0
            if len(zone_name) > 3 and zone_name[:3] == "GMT":
                offset = _atoi(zone_name[3:]) * 3600
        return unix - offset, nsec
    return unix, nsec


def _parse_offset(value: str, code: int, range_err: str) -> tuple[str, int, str, bool]:
    """A numeric zone offset: (rest, offset seconds, range error, whether malformed).

    Raises:
        _Bad: too short for the element (nothing consumed).
    """
    if code in (_ISO_COLON_TZ, _NUM_COLON_TZ):
        if len(value) < 6 or value[3] != ":":
            raise _Bad
        sign, hh, mm, ss, value = value[0], value[1:3], value[4:6], "00", value[6:]
    elif code in _SHORT_ZONES:
        if len(value) < 3:
            raise _Bad
        sign, hh, mm, ss, value = value[0], value[1:3], "00", "00", value[3:]
    elif code in (_ISO_COLON_SECONDS_TZ, _NUM_COLON_SECONDS_TZ):
        if len(value) < 9 or value[3] != ":" or value[6] != ":":
            raise _Bad
        sign, hh, mm, ss, value = value[0], value[1:3], value[4:6], value[7:9], value[9:]
    elif code in (_ISO_SECONDS_TZ, _NUM_SECONDS_TZ):
        if len(value) < 7:
            raise _Bad
        sign, hh, mm, ss, value = value[0], value[1:3], value[3:5], value[5:7], value[7:]
    else:
        if len(value) < 5:
            raise _Bad
        sign, hh, mm, ss, value = value[0], value[1:3], value[3:5], "00", value[5:]
    bad = False
    hr = mi = se = 0
    try:
        hr = _getnum(hh, True)[0]
        mi = _getnum(mm, True)[0]
        se = _getnum(ss, True)[0]
    except _Bad:
        bad = True
    if hr > 24:
        range_err = "time zone offset hour"
    if mi > 60:
        range_err = "time zone offset minute"
    if se > 60:
        range_err = "time zone offset second"
    offset = (hr * 60 + mi) * 60 + se
    if sign == "-":
        offset = -offset
    elif sign != "+":
        bad = True
    return value, offset, range_err, bad
