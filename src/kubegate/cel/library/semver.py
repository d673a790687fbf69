"""Kubernetes' semver library (k8s.io/apiserver ``pkg/cel/library/semverlib.go``;
Kubernetes 1.33+ with the ``normalize`` overloads of library version 1,
https://kubernetes.io/docs/reference/using-api/cel/#kubernetes-semver-library):

* ``semver(string) -> kubernetes.Semver`` (an error for an invalid version),
  ``semver(string, bool normalize)``; ``isSemver(string)``, ``isSemver(string, bool)``;
* ``v.major()``, ``v.minor()``, ``v.patch()`` -> int;
* ``v.isGreaterThan(v2)``, ``v.isLessThan(v2)`` -> bool, ``v.compareTo(v2)`` -> -1/0/1.

Parsing is github.com/blang/semver/v4 ``Parse`` (its checks in its order, its
error messages); ``normalize`` is Kubernetes' ``normalizeAndParse``: one
leading ``v`` removed, leading zeros dropped, a missing minor and patch
filled with ``0``. Precedence is blang's ``Compare`` (SemVer 2.0.0 §11:
numeric pre-release identifiers below alphanumeric ones, a release above its
pre-releases, build metadata ignored). Numbers are uint64 as in blang; ``major()``
and the others return them as Go's ``types.Int(v.Major)`` does (wrapping past
2^63-1).

The value travels as a ``kubernetes.Semver`` carrier holding
``MAJOR.MINOR.PATCH[-PRERELEASE]`` without the build metadata, so the
runtime's ``==`` is Kubernetes' ``Semver.Equal`` (``Version.EQ``: equal
precedence; ``semver('1.0.0+a') == semver('1.0.0+b')``). Kubernetes defines no
``string(semver)``. The comparisons are declared on ``dyn`` by
:mod:`kubegate.cel.library.quantity` (the runtime keeps one implementation per
argument shape, and both libraries' carriers are messages).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cel_expr_python import cel

from kubegate.cel import carriers
from kubegate.cel.overloads import Function, Library, Overload
from kubegate.evaluator.builtins._gostrconv import go_quote

__all__ = ["LIBRARY", "SEMVER", "SemverError", "Version", "compare", "normalize_and_parse", "parse_version"]

SINCE = (1, 33)
"""The Kubernetes version whose CEL environment has this library (environment/base.go)."""

SEMVER = "kubernetes.Semver"
"""The carrier type name."""

_NUMBERS = frozenset("0123456789")
_ALPHANUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-") | _NUMBERS
_UINT64_MAX = (1 << 64) - 1


class SemverError(ValueError):
    """A string blang/semver's ``Parse`` rejects; ``str()`` is its message."""


@dataclass(frozen=True)
class Version:
    """A parsed version: uint64 numbers, pre-release identifiers (``int`` when
    numeric) and build metadata."""

    major: int
    minor: int
    patch: int
    pre: tuple[int | str, ...] = ()
    build: tuple[str, ...] = ()

    def canonical(self) -> str:
        """``MAJOR.MINOR.PATCH[-PRE]``: equal for versions of equal precedence."""
        core = f"{self.major}.{self.minor}.{self.patch}"
        return core + "-" + ".".join(str(p) for p in self.pre) if self.pre else core


def _uint(text: str) -> int:
    """``strconv.ParseUint(text, 10, 64)`` on digits."""
    if not text:
        raise SemverError(f"strconv.ParseUint: parsing {go_quote(text)}: invalid syntax")
    digits = text.lstrip("0") or "0"
    if len(digits) > 20 or int(digits) > _UINT64_MAX:
        raise SemverError(f"strconv.ParseUint: parsing {go_quote(text)}: value out of range")
    return int(digits)


def _number(text: str, what: str) -> int:
    if not set(text) <= _NUMBERS:
        raise SemverError(f"Invalid character(s) found in {what} number {go_quote(text)}")
    if len(text) > 1 and text[0] == "0":
        raise SemverError(f"{what.capitalize()} number must not contain leading zeroes {go_quote(text)}")
    return _uint(text)


def _prerelease(text: str) -> int | str:
    """``NewPRVersion``."""
    if not text:
        raise SemverError("Prerelease is empty")
    if set(text) <= _NUMBERS:
        if len(text) > 1 and text[0] == "0":
            raise SemverError(f"Numeric PreRelease version must not contain leading zeroes {go_quote(text)}")
        return _uint(text)
    if not set(text) <= _ALPHANUM:
        raise SemverError(f"Invalid character(s) found in prerelease {go_quote(text)}")
    return text


def parse_version(text: str) -> Version:
    """blang/semver/v4 ``Parse``.

    Args:
        text: ``MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]``.

    Raises:
        SemverError: blang's message (``Version string empty``, ``No
            Major.Minor.Patch elements found``, ``Invalid character(s) found
            in major number "x"``...).
    """
    if not text:
        raise SemverError("Version string empty")
    parts = text.split(".", 2)
    if len(parts) != 3:
        raise SemverError("No Major.Minor.Patch elements found")
    major = _number(parts[0], "major")
    minor = _number(parts[1], "minor")
    rest, build, pre = parts[2], "", ""
    rest, plus, build = rest.partition("+")
    rest, minus, pre = rest.partition("-")
    patch = _number(rest, "patch")
    prerelease = tuple(_prerelease(p) for p in pre.split(".")) if minus else ()
    builds = tuple(build.split(".")) if plus else ()
    for item in builds:
        if not item:
            raise SemverError("Build meta data is empty")
        if not set(item) <= _ALPHANUM:
            raise SemverError(f"Invalid character(s) found in build meta data {go_quote(item)}")
    return Version(major, minor, patch, prerelease, builds)


def normalize_and_parse(text: str) -> Version:
    """Kubernetes' ``normalizeAndParse`` (``ParseTolerant`` without trimming spaces).

    Raises:
        SemverError: as :func:`parse_version`, or ``short version cannot
            contain PreRelease/Build meta data``.
    """
    parts = text.removeprefix("v").split(".", 2)
    for i, part in enumerate(parts):
        if len(part) > 1:
            part = part.lstrip("0")
            parts[i] = part if part[:1] in _NUMBERS else "0" + part
    if len(parts) < 3:
        if "+" in parts[-1] or "-" in parts[-1]:
            raise SemverError("short version cannot contain PreRelease/Build meta data")
        parts += ["0"] * (3 - len(parts))
    return parse_version(".".join(parts))


def _compare_pre(a: int | str, b: int | str) -> int:
    if isinstance(a, int) and isinstance(b, int):
        return (a > b) - (a < b)
    if isinstance(a, str) and isinstance(b, str):
        return (a > b) - (a < b)
    return -1 if isinstance(a, int) else 1  # numeric identifiers sort first


def compare(a: Version, b: Version) -> int:
    """blang's ``Version.Compare``: -1, 0 or 1."""
    if (a.major, a.minor, a.patch) != (b.major, b.minor, b.patch):
        return 1 if (a.major, a.minor, a.patch) > (b.major, b.minor, b.patch) else -1
    if not a.pre or not b.pre:
        return (not a.pre) - (not b.pre)
    for x, y in zip(a.pre, b.pre, strict=False):
        if found := _compare_pre(x, y):
            return found
    return (len(a.pre) > len(b.pre)) - (len(a.pre) < len(b.pre))


def version_of(message: Any) -> Version:
    """The version a ``kubernetes.Semver`` carrier holds.

    Raises:
        TypeError: ``message`` is not a semver carrier (a mismatched ``dyn`` argument).
        SemverError: a hand-built carrier whose text is not a version.
    """
    if not carriers.is_carrier(message, SEMVER):
        raise TypeError(f"expected {SEMVER}, got {type(message).__name__}")
    return parse_version(carriers.canonical(message))


def compare_carriers(left: Any, right: Any) -> int:
    """:func:`compare` on two carriers."""
    return compare(version_of(left), version_of(right))


def _semver(text: str, normalize: bool = False) -> Any:
    version = normalize_and_parse(text) if normalize else parse_version(text)
    return carriers.carrier(SEMVER, version.canonical())


def _is_semver(text: str, normalize: bool = False) -> bool:
    try:
        _semver(text, normalize)
    except SemverError:
        return False
    return True


def _int64(value: int) -> int:
    return value - (1 << 64) if value > (1 << 63) - 1 else value


def _part(name: str) -> Overload:
    return Overload(f"semver_{name}", cel.Type.INT, (SEMVER,), lambda m: _int64(getattr(version_of(m), name)), True)


def _compared(name: str, overload: str, result: Any, test: Callable[[int], Any]) -> Function:
    return Function(
        name, (Overload(overload, result, (SEMVER, SEMVER), lambda a, b: test(compare_carriers(a, b)), True),)
    )


_T = cel.Type
LIBRARY = Library(
    "kubernetes.Semver",
    (
        Function(
            "semver",
            (
                Overload("string_to_semver", SEMVER, (_T.STRING,), _semver),
                Overload("string_bool_to_semver", SEMVER, (_T.STRING, _T.BOOL), _semver),
            ),
        ),
        Function(
            "isSemver",
            (
                Overload("is_semver_string", _T.BOOL, (_T.STRING,), _is_semver),
                Overload("is_semver_string_bool", _T.BOOL, (_T.STRING, _T.BOOL), _is_semver),
            ),
        ),
        Function("major", (_part("major"),)),
        Function("minor", (_part("minor"),)),
        Function("patch", (_part("patch"),)),
        _compared("isGreaterThan", "semver_is_greater_than", _T.BOOL, lambda c: c == 1),
        _compared("isLessThan", "semver_is_less_than", _T.BOOL, lambda c: c == -1),
        _compared("compareTo", "semver_compare_to", _T.INT, lambda c: c),
    ),
)
"""The library (Kubernetes' overload ids; :mod:`kubegate.cel.overloads`)."""
