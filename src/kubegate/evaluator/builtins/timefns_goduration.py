"""Go's ``time.ParseDuration``, as OPA's ``time.parse_duration_ns`` and
``http.send``'s ``timeout`` use it (https://pkg.go.dev/time#ParseDuration;
https://github.com/open-policy-agent/opa/blob/main/v1/topdown/time.go).
"""

from __future__ import annotations

from kubegate.evaluator.builtins.timefns_go import GoTimeError, go_quote
from kubegate.evaluator.builtins.timefns_goparse import _INT63, _Bad, _leading_int

__all__ = ["parse_duration"]

_UNITS = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,
    "\u03bcs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}


def _leading_fraction(s: str) -> tuple[int, float, str]:
    x = 0
    scale = 1.0
    overflow = False
    i = 0
    while i < len(s) and "0" <= s[i] <= "9":
        if not overflow:
            if x > (_INT63 - 1) // 10:
                overflow = True
            else:
                y = x * 10 + ord(s[i]) - 48
                if y > _INT63:
                    overflow = True
                else:
                    x = y
                    scale *= 10
        i += 1
    return x, scale, s[i:]


def parse_duration(s: str) -> int:
    """Go's ``time.ParseDuration``: nanoseconds.

    Raises:
        GoTimeError: with Go's message.
    """
    orig = s
    invalid = GoTimeError("time: invalid duration " + go_quote(orig))
    neg = False
    if s and s[0] in "+-":
        neg = s[0] == "-"
        s = s[1:]
    if s == "0":
        return 0
    if not s:
        raise invalid
    d = 0
    while s:
        if not (s[0] == "." or "0" <= s[0] <= "9"):
            raise invalid
        pl = len(s)
        try:
            v, s = _leading_int(s)
        except _Bad:
            raise invalid from None
        pre = pl != len(s)
        post = False
        f, scale = 0, 1.0
        if s and s[0] == ".":
            s = s[1:]
            pl = len(s)
            f, scale, s = _leading_fraction(s)
            post = pl != len(s)
        if not pre and not post:
            raise invalid
        i = 0
        while i < len(s) and not (s[i] == "." or "0" <= s[i] <= "9"):
            i += 1
        if i == 0:
            raise GoTimeError("time: missing unit in duration " + go_quote(orig))
        u, s = s[:i], s[i:]
        unit = _UNITS.get(u)
        if unit is None:
            raise GoTimeError("time: unknown unit " + go_quote(u) + " in duration " + go_quote(orig))
        if v > _INT63 // unit:
            raise invalid
        v *= unit
        if f > 0:
            v += int(float(f) * (float(unit) / scale))
            if v > _INT63:
                raise invalid
        d += v
        if d > _INT63:
            raise invalid
    if neg:
        return -d
    if d > _INT63 - 1:
        raise invalid
    return d
