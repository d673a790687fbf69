"""OPA's ``semver.*`` builtins.

Follows https://github.com/open-policy-agent/opa/blob/main/v1/topdown/semver.go
(and OPA's ``internal/semver``) with SemVer 2.0.0's grammar
(https://semver.org/#backusnaur-form-grammar-for-valid-semver-versions) as
OPA's conformance cases pin it: ``MAJOR.MINOR.PATCH`` without a leading
``v``, no leading zeros in the three numbers or in numeric pre-release
identifiers, non-empty pre-release and build sections; the numbers must fit
Go's ``int64``. Precedence is SemVer's (§11); build metadata is ignored.
"""

from __future__ import annotations

import re
from typing import Any

from kubegate.evaluator.builtins.registry import BuiltinError, arg_string, implements

__all__ = ["SemVer", "go_strconv_quote", "parse_semver"]

_NUM = r"(?:0|[1-9][0-9]*)"
_PRE_ID = r"(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"
_BUILD_ID = r"[0-9A-Za-z-]+"
_SEMVER = re.compile(
    rf"({_NUM})\.({_NUM})\.({_NUM})"
    rf"(?:-({_PRE_ID}(?:\.{_PRE_ID})*))?"
    rf"(?:\+({_BUILD_ID}(?:\.{_BUILD_ID})*))?",
    re.ASCII,
)
_INT64_MAX = (1 << 63) - 1

SemVer = tuple[int, int, int, tuple[str, ...]]


def parse_semver(text: str) -> SemVer | None:
    """(major, minor, patch, pre-release identifiers) of a SemVer 2.0.0 string, None if invalid."""
    m = _SEMVER.fullmatch(text)
    if m is None:
        return None
    if max(len(m[1]), len(m[2]), len(m[3])) > 19:  # beyond int64 (and Python's int() digit limit)
        return None
    major, minor, patch = int(m[1]), int(m[2]), int(m[3])
    if max(major, minor, patch) > _INT64_MAX:
        return None
    return major, minor, patch, tuple(m[4].split(".")) if m[4] else ()


def _compare_pre(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    if a == b:
        return 0
    if not a:
        return 1  # a release is greater than its pre-releases
    if not b:
        return -1
    for x, y in zip(a, b, strict=False):
        xd, yd = x.isdigit(), y.isdigit()
        if xd and yd:  # no leading zeros: compare by length, then digits
            xi, yi = (len(x), x), (len(y), y)
            if xi != yi:
                return 1 if xi > yi else -1
        elif xd != yd:
            return -1 if xd else 1  # numeric identifiers sort first
        elif x != y:
            return 1 if x > y else -1
    return (len(a) > len(b)) - (len(a) < len(b))


def _compare(a: SemVer, b: SemVer) -> int:
    if a[:3] != b[:3]:
        return 1 if a[:3] > b[:3] else -1
    return _compare_pre(a[3], b[3])


def go_strconv_quote(s: str) -> str:
    """Go's ``strconv.Quote`` (how OPA prints a string value in a message)."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\x{o:02x}")
        elif ch.isprintable() or ch == " ":
            out.append(ch)
        elif o < 0x10000:
            out.append(f"\\u{o:04x}")
        else:
            out.append(f"\\U{o:08x}")
    out.append('"')
    return "".join(out)


_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


@implements("semver.is_valid")
def is_valid(vsn: Any) -> bool:
    """Whether ``vsn`` is a valid SemVer 2.0.0 string (false for any other value)."""
    return type(vsn) is str and parse_semver(vsn) is not None


@implements("semver.compare")
def compare(a: Any, b: Any) -> int:
    """-1, 0 or 1 as version ``a`` precedes, equals or follows ``b``."""
    sa = arg_string(a, 1)
    sb = arg_string(b, 2)
    va = parse_semver(sa)
    if va is None:
        raise BuiltinError(f"operand 1: string {go_strconv_quote(sa)} is not a valid SemVer")
    vb = parse_semver(sb)
    if vb is None:
        raise BuiltinError(f"operand 2: string {go_strconv_quote(sb)} is not a valid SemVer")
    return _compare(va, vb)
