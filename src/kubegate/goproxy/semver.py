"""Go's semantic versions: parsing, canonical forms, comparison, pseudo-versions.

A comparator of our own following ``golang.org/x/mod/semver`` (Semantic
Versioning 2.0.0 with Go's ``v`` prefix and the ``vMAJOR``/``vMAJOR.MINOR``
shorthands) and the module rules of https://go.dev/ref/mod#versions:
``+incompatible`` is build metadata (ignored by :func:`compare`, kept by
:func:`canonical_module_version`), pseudo-versions
(https://go.dev/ref/mod#pseudo-versions) are pre-releases of the version
they follow. Invalid versions compare below every valid one and equal to
each other, as ``semver.Compare`` does.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "Version",
    "build",
    "canonical",
    "canonical_module_version",
    "compare",
    "is_pseudo",
    "is_valid",
    "major",
    "major_minor",
    "max_version",
    "parse",
    "prerelease",
    "sort_versions",
]

_IDENT = re.compile(r"[0-9A-Za-z-]+")
_PSEUDO = re.compile(
    r"^v[0-9]+\.(0\.0-|\d+\.\d+-([^+]*\.)?0\.)\d{14}-[A-Za-z0-9]+(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$"
)


@dataclass(frozen=True)
class Version:
    """A parsed version: ``major``/``minor``/``patch`` as decimal strings,
    ``prerelease`` with its ``-``, ``build`` with its ``+``, and ``short`` the
    suffix a shorthand omits (``.0.0`` for ``v1``, ``.0`` for ``v1.2``)."""

    major: str
    minor: str
    patch: str
    prerelease: str
    build: str
    short: str


def _number(text: str, i: int) -> tuple[str, int] | None:
    j = i
    while j < len(text) and text[j].isascii() and text[j].isdigit():
        j += 1
    if j == i or (text[i] == "0" and j != i + 1):
        return None
    return text[i:j], j


def _identifiers(text: str, numeric_leading_zero_ok: bool) -> bool:
    for ident in text.split("."):
        if not _IDENT.fullmatch(ident):
            return False
        if not numeric_leading_zero_ok and ident.isdigit() and len(ident) > 1 and ident[0] == "0":
            return False
    return True


def parse(v: str) -> Version | None:
    """Parses ``v`` (``v1``, ``v1.2``, ``v1.2.3-pre+meta``); ``None`` when invalid."""
    if not v.startswith("v"):
        return None
    got = _number(v, 1)
    if got is None:
        return None
    maj, i = got
    if i == len(v):
        return Version(maj, "0", "0", "", "", ".0.0")
    if v[i] != ".":
        return None
    got = _number(v, i + 1)
    if got is None:
        return None
    minor, i = got
    if i == len(v):
        return Version(maj, minor, "0", "", "", ".0")
    if v[i] != ".":
        return None
    got = _number(v, i + 1)
    if got is None:
        return None
    patch, i = got
    rest = v[i:]
    pre = bld = ""
    if rest.startswith("-"):
        end = rest.find("+")
        pre = rest if end < 0 else rest[:end]
        if not _identifiers(pre[1:], numeric_leading_zero_ok=False):
            return None
        rest = rest[len(pre) :]
    if rest.startswith("+"):
        bld = rest
        if not _identifiers(bld[1:], numeric_leading_zero_ok=True):
            return None
        rest = ""
    if rest:
        return None
    return Version(maj, minor, patch, pre, bld, "")


def is_valid(v: str) -> bool:
    """Whether ``v`` is a valid semantic version in Go's syntax."""
    return parse(v) is not None


def canonical(v: str) -> str:
    """``vMAJOR.MINOR.PATCH[-pre]`` (build metadata dropped); ``""`` when invalid."""
    p = parse(v)
    if p is None:
        return ""
    base = v[: len(v) - len(p.build)] if p.build else v
    return base + p.short


def canonical_module_version(v: str) -> str:
    """:func:`canonical`, keeping ``+incompatible`` (``module.CanonicalVersion``)."""
    cv = canonical(v)
    if cv and build(v) == "+incompatible":
        cv += "+incompatible"
    return cv


def major(v: str) -> str:
    p = parse(v)
    return "" if p is None else "v" + p.major


def major_minor(v: str) -> str:
    p = parse(v)
    return "" if p is None else f"v{p.major}.{p.minor}"


def prerelease(v: str) -> str:
    p = parse(v)
    return "" if p is None else p.prerelease


def build(v: str) -> str:
    p = parse(v)
    return "" if p is None else p.build


def _cmp_int(x: str, y: str) -> int:
    if len(x) != len(y):
        return -1 if len(x) < len(y) else 1
    return (x > y) - (x < y)


def _cmp_pre(x: str, y: str) -> int:
    if x == y:
        return 0
    if not x:
        return 1
    if not y:
        return -1
    xs, ys = x[1:].split("."), y[1:].split(".")
    for a, b in zip(xs, ys, strict=False):
        if a == b:
            continue
        an, bn = a.isdigit(), b.isdigit()
        if an != bn:
            return -1 if an else 1
        if an:
            return _cmp_int(a, b)
        return -1 if a < b else 1
    return (len(xs) > len(ys)) - (len(xs) < len(ys))


def compare(v: str, w: str) -> int:
    """-1, 0 or +1 as ``v`` is below, equal to or above ``w`` (build metadata ignored)."""
    pv, pw = parse(v), parse(w)
    if pv is None or pw is None:
        return 0 if pv is None and pw is None else (-1 if pv is None else 1)
    for a, b in ((pv.major, pw.major), (pv.minor, pw.minor), (pv.patch, pw.patch)):
        c = _cmp_int(a, b)
        if c:
            return c
    return _cmp_pre(pv.prerelease, pw.prerelease)


def max_version(v: str, w: str) -> str:
    """The canonical form of the larger of ``v`` and ``w`` (``semver.Max``)."""
    cv, cw = canonical(v), canonical(w)
    return cw if compare(cv, cw) < 0 else cv


def is_pseudo(v: str) -> bool:
    """Whether ``v`` is a pseudo-version (``v0.0.0-20191109021931-daa7c04131f5``...)."""
    return v.count("-") >= 2 and is_valid(v) and _PSEUDO.match(v) is not None


def sort_versions(versions: Iterable[str]) -> list[str]:
    """Sorted ascending by :func:`compare`, ties broken by the string (``semver.Sort``)."""

    def key_cmp(a: str, b: str) -> int:
        c = compare(a, b)
        return c if c else (a > b) - (a < b)

    return sorted(versions, key=functools.cmp_to_key(key_cmp))
