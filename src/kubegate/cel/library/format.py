"""Kubernetes' format library (k8s.io/apiserver ``pkg/cel/library/format.go``;
Kubernetes 1.31+, ``environment/base.go``; https://kubernetes.io/docs/reference/using-api/cel/#kubernetes-format-library):

* ``format.<name>() -> kubernetes.NamedFormat`` for each name of :data:`FORMATS`;
* ``format.named(string) -> optional<kubernetes.NamedFormat>`` (none for an unknown name);
* ``<NamedFormat>.validate(string) -> optional<list<string>>``: none when the
  string is valid, else the messages of k8s.io/apimachinery's validation as of
  Kubernetes 1.34 (apimachinery v0.34 ``util/validation``; later versions say
  "bytes" where 1.34 says "characters"), ``["does not match the UUID format"]``,
  ``["invalid base64"]``, ``["invalid date"]``, ``["invalid datetime"]`` (kube-openapi
  ``strfmt``; dates through Go's ``time.Parse``, ported in the evaluator), or
  Go's ``url.ParseRequestURI`` error (:mod:`kubegate.cel.library._neturl`).

The carrier ``kubernetes.NamedFormat`` holds the format's name, so
``format.named('uri').value() == format.uri()``.

A Python function cannot return an optional (docs/cel-notes.md §3), so
``validate`` and ``format.named`` are declared for type checking only (the
checker treats their ``optional_type`` result as ``dyn``; calling them is an
error value) and :func:`rewrite_validate` turns each call in the evaluated text
into a call of an internal function returning a list (a carrier) or ``null``,
made an optional again with ``cel.bind``.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from typing import Any

from cel_expr_python import cel

from kubegate.cel import carriers
from kubegate.cel.library._neturl import URLError, parse_request_uri
from kubegate.cel.rewrite import _IDENT, _matching, _outside_strings
from kubegate.evaluator.builtins.timefns_go import GoTimeError
from kubegate.evaluator.builtins.timefns_goparse import parse_layout

__all__ = ["FORMATS", "extension", "rewrite_validate", "validate"]

SINCE = (1, 31)
"""The Kubernetes version whose CEL environment has this library (environment/base.go)."""

_CARRIER = "kubernetes.NamedFormat"

# ---------------------------------------------------------------- apimachinery validation (v0.34)

_DNS1123_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN = _DNS1123_LABEL + "(\\." + _DNS1123_LABEL + ")*"
_DNS1035_LABEL = "[a-z]([-a-z0-9]*[a-z0-9])?"
_QUALIFIED_NAME = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE = "(" + _QUALIFIED_NAME + ")?"
_QUALIFIED_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
)


def _matches(pattern: str, value: str) -> bool:
    return re.fullmatch(pattern, value) is not None


def _max_len(n: int) -> str:
    return f"must be no more than {n} characters"


def _regex_error(msg: str, fmt: str, *examples: str) -> str:
    """``validation.RegexError``."""
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    shown = " or ".join(f"'{e}', " for e in examples)
    return f"{msg} (e.g. {shown}regex used for validation is '{fmt}')"


def _too_long(value: str, limit: int) -> list[str]:
    return [_max_len(limit)] if len(value.encode()) > limit else []


def dns1123_label(value: str) -> list[str]:
    """``validation.IsDNS1123Label``."""
    errs = _too_long(value, 63)
    if not _matches(_DNS1123_LABEL, value):
        if _matches(_DNS1123_SUBDOMAIN, value):
            errs.append("must not contain dots")
        else:
            msg = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character"  # noqa: E501
            errs.append(_regex_error(msg, _DNS1123_LABEL, "my-name", "123-abc"))
    return errs


def dns1123_subdomain(value: str) -> list[str]:
    """``validation.IsDNS1123Subdomain``."""
    errs = _too_long(value, 253)
    if not _matches(_DNS1123_SUBDOMAIN, value):
        msg = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"  # noqa: E501
        errs.append(_regex_error(msg, _DNS1123_SUBDOMAIN, "example.com"))
    return errs


def dns1035_label(value: str) -> list[str]:
    """``validation.IsDNS1035Label``."""
    errs = _too_long(value, 63)
    if not _matches(_DNS1035_LABEL, value):
        msg = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character"  # noqa: E501
        errs.append(_regex_error(msg, _DNS1035_LABEL, "my-name", "abc-123"))
    return errs


def qualified_name(value: str) -> list[str]:
    """``validation.IsQualifiedName``: ``[prefix/]name``."""
    errs: list[str] = []
    parts = value.split("/")
    if len(parts) > 2:
        shown = _regex_error(_QUALIFIED_MSG, _QUALIFIED_NAME, "MyName", "my.name", "123-abc")
        return [f"a qualified name {shown} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
    name = parts[-1]
    if len(parts) == 2:
        if not parts[0]:
            errs.append("prefix part must be non-empty")
        else:
            errs.extend("prefix part " + m for m in dns1123_subdomain(parts[0]))
    if not name:
        errs.append("name part must be non-empty")
    elif len(name.encode()) > 63:
        errs.append("name part " + _max_len(63))
    if not _matches(_QUALIFIED_NAME, name):
        errs.append("name part " + _regex_error(_QUALIFIED_MSG, _QUALIFIED_NAME, "MyName", "my.name", "123-abc"))
    return errs


def label_value(value: str) -> list[str]:
    """``validation.IsValidLabelValue``."""
    errs = _too_long(value, 63)
    if not _matches(_LABEL_VALUE, value):
        msg = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"  # noqa: E501
        errs.append(_regex_error(msg, _LABEL_VALUE, "MyValue", "my_value", "12345"))
    return errs


def _prefix(check: Callable[[str], list[str]]) -> Callable[[str], list[str]]:
    """``apimachinery/pkg/api/validation`` ``NameIs*(name, prefix=true)``: a
    trailing dash is masked as ``maskTrailingDash`` does (the last two bytes become ``a``)."""

    def prefixed(value: str) -> list[str]:
        if len(value) > 1 and value.endswith("-"):
            value = value[:-2] + "a"
        return check(value)

    return prefixed


# ---------------------------------------------------------------- kube-openapi strfmt formats

_UUID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}", re.IGNORECASE | re.ASCII)
_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})")
_TIME = re.compile(r"([0-9]{2}):([0-9]{2}):([0-9]{2})(.[0-9]+)?(z|([+-][0-9]{2}:[0-9]{2}))")


def _is_date(value: str) -> bool:
    """``strfmt.IsDate``: Go's ``time.Parse("2006-01-02", value)`` succeeds."""
    try:
        parse_layout("2006-01-02", value, lambda _name, _at: None)
    except GoTimeError:
        return False
    return True


def _is_datetime(value: str) -> bool:
    """``strfmt.IsDateTime``: a date, ``t``, then ``DateTimePattern`` (case-insensitive)."""
    if len(value) < 4:
        return False
    parts = value.lower().split("t")
    if len(parts) < 2 or not _is_date(parts[0]):
        return False
    found = _TIME.fullmatch(parts[1])
    return found is not None and found[1] <= "23" and found[2] <= "59" and found[3] <= "59"


def _uri(value: str) -> list[str]:
    """Go's ``url.ParseRequestURI`` error, as format.go reports it."""
    try:
        parse_request_uri(value)
    except URLError as exc:
        return [str(exc)]
    return []


def _check(test: Callable[[str], bool], message: str) -> Callable[[str], list[str]]:
    return lambda value: [] if test(value) else [message]


FORMATS: dict[str, Callable[[str], list[str]]] = {
    "dns1123Label": dns1123_label,
    "dns1123Subdomain": dns1123_subdomain,
    "dns1035Label": dns1035_label,
    "qualifiedName": qualified_name,
    "dns1123LabelPrefix": _prefix(dns1123_label),
    "dns1123SubdomainPrefix": _prefix(dns1123_subdomain),
    "dns1035LabelPrefix": _prefix(dns1035_label),
    "labelValue": label_value,
    "uri": _uri,
    "uuid": _check(lambda v: _UUID.fullmatch(v) is not None, "does not match the UUID format"),
    "byte": _check(lambda v: _BASE64.fullmatch(v) is not None, "invalid base64"),
    "date": _check(_is_date, "invalid date"),
    "datetime": _check(_is_datetime, "invalid datetime"),
}
"""Each named format and its validation (``ConstantFormats`` in format.go):
the error messages for a string, ``[]`` when it is valid."""


def validate(fmt: Any, value: str) -> list[str] | None:
    """``<format>.validate(value)`` as a list or ``None`` (the internal function
    :func:`rewrite_validate` calls); ``fmt`` is a NamedFormat carrier.

    Raises:
        ValueError: the carrier names no format (a hand-built literal).
    """
    name = carriers.canonical(fmt)
    if name not in FORMATS:
        raise ValueError(f"unknown format {name!r}")
    return FORMATS[name](value) or None


def named(name: str) -> Any:
    """The carrier of format ``name``, or ``None`` when there is no such format."""
    return carriers.carrier(_CARRIER, name) if name in FORMATS else None


def _needs_rewrite(*_args: Any) -> Any:
    raise NotImplementedError("format.named and validate are evaluated through kubegate's rewrite_validate")


def extension() -> object:
    """The library as a ``CelExtension`` (Kubernetes' overload ids), plus the
    internal ``__kg_format_validate`` / ``__kg_format_named`` that
    :func:`rewrite_validate` targets."""
    t = cel.Type
    fmt_type = carriers.carrier_type(_CARRIER)
    decls = [
        cel.FunctionDecl(
            "validate",
            [
                cel.Overload(
                    "format-validate",
                    t.AbstractType("optional_type", [t.List(t.STRING)]),
                    [fmt_type, t.STRING],
                    is_member=True,
                    impl=_needs_rewrite,
                )
            ],
        ),
        cel.FunctionDecl(
            "format.named",
            [
                cel.Overload(
                    "format-named", t.AbstractType("optional_type", [fmt_type]), [t.STRING], impl=_needs_rewrite
                )
            ],
        ),
        cel.FunctionDecl(_VALIDATE, [cel.Overload(_VALIDATE, t.DYN, [fmt_type, t.STRING], impl=validate)]),
        cel.FunctionDecl(_NAMED, [cel.Overload(_NAMED, t.DYN, [t.STRING], impl=named)]),
    ]
    for name in FORMATS:
        impl = _constant(carriers.carrier(_CARRIER, name))
        decls.append(cel.FunctionDecl(f"format.{name}", [cel.Overload(f"format.{name}", fmt_type, [], impl=impl)]))
    return cel.CelExtension("kubernetes.format", decls)


def _constant(value: Any) -> Callable[[], Any]:
    return lambda: value


# ---------------------------------------------------------------- the rewrite

_VALIDATE = "__kg_format_validate"
_NAMED = "__kg_format_named"
_VALIDATE_CALL = re.compile(r"\.\s*validate\s*\(")
_NAMED_CALL = re.compile(r"(?<![\w.])format\s*\.\s*named\s*\(")


def _group_start(plain: str, close: int) -> int:
    """The index of the bracket opening the one closing at ``close``."""
    depth = 0
    for i in range(close, -1, -1):
        if plain[i] in ")]}":
            depth += 1
        elif plain[i] in "([{":
            depth -= 1
            if depth == 0:
                return i
    return -1


def _back_space(plain: str, i: int) -> int:
    while i >= 0 and plain[i].isspace():
        i -= 1
    return i


def _receiver_start(plain: str, dot: int) -> int:
    """Where the member chain ending just before ``plain[dot]`` (a ``.``) starts."""
    i, start = _back_space(plain, dot - 1), dot
    while i >= 0:
        if plain[i] in ")]}":
            opened = _group_start(plain, i)
            if opened < 0:
                return -1
            start, i = opened, _back_space(plain, opened - 1)
            if i < 0 or plain[i] not in _IDENT:
                break
        elif plain[i] in _IDENT:
            j = i
            while j >= 0 and plain[j] in _IDENT:
                j -= 1
            if plain[j + 1 : i + 1] == "in":
                break
            start, i = j + 1, _back_space(plain, j)
            if i < 0 or plain[i] != ".":
                break
            i = _back_space(plain, i - 1)
        else:
            break
    return start if start < dot else -1


def _sites(text: str) -> Iterator[tuple[int, int, str, str]]:
    """The ``validate`` and ``format.named`` calls of ``text``: (start, end, receiver, argument)."""
    plain = _outside_strings(text)
    for found in _VALIDATE_CALL.finditer(plain):
        close = _matching(plain, found.end() - 1)
        start = _receiver_start(plain, found.start())
        if close > 0 and start >= 0:
            yield start, close + 1, text[start : found.start()].rstrip(), text[found.end() : close]
    for found in _NAMED_CALL.finditer(plain):
        close = _matching(plain, found.end() - 1)
        if close > 0:
            yield found.start(), close + 1, "", text[found.end() : close]


def rewrite_validate(text: str) -> str:
    """``text`` with every ``X.validate(Y)`` and ``format.named(Z)`` rewritten into
    calls that return a list (or a carrier) or ``null``, made optional again:
    ``cel.bind(__kgf0, __kg_format_validate(X, Y), __kgf0 == null ? optional.none() : optional.of(__kgf0))``.

    The text must already type-check in the user's environment (so every
    ``.validate(`` is the format library's); the result compiles in an internal
    environment (``environment(variables, internal=True)``). Text without such
    calls is returned unchanged.
    """
    return _rewrite(text, itertools.count())


def _rewrite(text: str, counter: Iterator[int]) -> str:
    out, last = [], 0
    for start, end, receiver, argument in sorted(_sites(text), key=lambda s: (s[0], -s[1])):
        if start < last:
            continue  # inside a call rewritten as a whole
        n = next(counter)
        arg = _rewrite(argument, counter)
        call = f"{_VALIDATE}({_rewrite(receiver, counter)}, {arg})" if receiver else f"{_NAMED}({arg})"
        out.append(text[last:start])
        out.append(f"cel.bind(__kgf{n}, {call}, __kgf{n} == null ? optional.none() : optional.of(__kgf{n}))")
        last = end
    out.append(text[last:])
    return "".join(out)
