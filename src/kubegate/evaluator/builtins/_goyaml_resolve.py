"""go-yaml v2's scalar resolution (https://github.com/go-yaml/yaml/blob/v2.4.0/resolve.go).

:func:`resolve` gives the tag and value a scalar has in go-yaml v2 (YAML 1.1
booleans such as ``y`` and ``on``, ``0777`` octal, ``1_000``, floats only within
float64, timestamps recognised but kept as text); the writer uses
:func:`resolve_plain` to decide which strings must be quoted.
"""

from __future__ import annotations

import datetime
import math
import re
from typing import Any

from kubegate.evaluator.builtins._gocompat import GoError

__all__ = ["resolve", "resolve_plain"]

_T = "tag:yaml.org,2002:"
_STR, _BOOL, _INT, _FLOAT, _NULL, _TIMESTAMP, _BINARY, _MERGE = (
    _T + t for t in ("str", "bool", "int", "float", "null", "timestamp", "binary", "merge")
)
_PLAIN = "!kubegate:plain"
_INT64 = (-(1 << 63), (1 << 63) - 1)
_UINT64_MAX = (1 << 64) - 1

_RESOLVE_MAP: dict[str, tuple[str, Any]] = {}
for _words, _item in (
    (("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"), (_BOOL, True)),
    (("n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"), (_BOOL, False)),
    (("", "~", "null", "Null", "NULL"), (_NULL, None)),
    ((".nan", ".NaN", ".NAN"), (_FLOAT, math.nan)),
    ((".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"), (_FLOAT, math.inf)),
    (("-.inf", "-.Inf", "-.INF"), (_FLOAT, -math.inf)),
    (("<<",), (_MERGE, "<<")),
):
    for _word in _words:
        _RESOLVE_MAP[_word] = _item

_SURROGATES = re.compile("[\ud800-\udfff]")
_YAML_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_BASE60 = re.compile(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$")
_GO_FLOAT = re.compile(r"^[-+]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|inf|infinity|nan)$", re.IGNORECASE)
_TIMESTAMP_RE = re.compile(
    r"^(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:(?:[Tt](\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2}))"
    r"|(?: (\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.\d{1,9})?))?$"
)


def _go_parse_int(text: str, unsigned: bool = False) -> int | None:
    """``strconv.ParseInt(s, 0, 64)`` (``ParseUint`` with ``unsigned``), ``None`` on error."""
    body = text
    negative = False
    if not unsigned and body[:1] in ("+", "-"):
        negative = body[0] == "-"
        body = body[1:]
    if not body:
        return None
    base = 10
    lower = body.lower()
    if lower.startswith("0x"):
        base, body = 16, body[2:]
    elif lower.startswith("0o"):
        base, body = 8, body[2:]
    elif lower.startswith("0b"):
        base, body = 2, body[2:]
    elif len(body) > 1 and body[0] == "0":
        base, body = 8, body[1:]
    if not body or not all(c in "0123456789abcdefABCDEF"[: base + (6 if base == 16 else 0)] for c in body):
        return None
    if len(body) > 70:
        return None
    value = int(body, base)
    if negative:
        value = -value
    if unsigned:
        return value if value <= _UINT64_MAX else None
    return value if _INT64[0] <= value <= _INT64[1] else None


def _is_timestamp(text: str) -> bool:
    match = _TIMESTAMP_RE.match(text)
    if not match:
        return False
    year, month, day = (int(g) for g in match.groups()[:3])
    try:
        datetime.date(year, month, day)
    except ValueError:
        return False
    clock = [g for g in match.groups()[3:] if g is not None]
    if clock:
        hour, minute, second = (int(g) for g in clock)
        if hour > 23 or minute > 59 or second > 59:
            return False
    return True


def resolve(tag: str, text: str) -> tuple[str, Any]:
    """go-yaml v2's ``resolve``: the tag and value of a scalar (``tag`` ``""`` for a plain one).

    Raises:
        GoError: an explicit tag the text cannot have (``cannot decode !!str `x` as a !!int``).
    """
    if tag not in ("", _STR, _BOOL, _INT, _FLOAT, _NULL, _TIMESTAMP):
        return tag, text
    rtag, out = resolve_plain(tag, text)
    if tag in ("", rtag, _STR, _BINARY):
        return rtag, out
    if tag == _FLOAT and rtag == _INT:
        return _FLOAT, float(out)
    raise GoError(f"yaml: cannot decode {_short(rtag)} `{text}` as a {_short(tag)}")


def _short(tag: str) -> str:
    return "!!" + tag[len(_T) :] if tag.startswith(_T) else tag


def resolve_plain(tag: str, text: str) -> tuple[str, Any]:
    if tag == _STR or not text[:1] or text[0] in "+-0123456789yYnNtTfFoO~.":
        pass
    else:
        return _STR, text
    if tag == _STR:
        return _STR, text
    if text in _RESOLVE_MAP:
        return _RESOLVE_MAP[text]
    first = text[0]
    if first == ".":
        if _GO_FLOAT.match(text):
            value = float(text)
            if math.isfinite(value):
                return _FLOAT, value
        return _STR, text
    if first in "+-0123456789":
        if tag in ("", _TIMESTAMP) and _is_timestamp(text):
            return _TIMESTAMP, text
        plain = text.replace("_", "")
        for unsigned in (False, True):
            number = _go_parse_int(plain, unsigned)
            if number is not None:
                return _INT, number
        if _YAML_FLOAT.match(plain):
            value = float(plain)
            if math.isfinite(value):
                return _FLOAT, value
        if plain.startswith(("0b", "-0b")):
            digits = plain[2:] if plain[0] == "0" else plain[3:]
            if digits and set(digits) <= {"0", "1"} and len(digits) <= 64:
                number = int(digits, 2) * (-1 if plain[0] == "-" else 1)
                if _INT64[0] <= number <= _UINT64_MAX:
                    return _INT, number
    return _STR, text
