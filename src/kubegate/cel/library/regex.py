"""Kubernetes' regex library: ``find`` and ``findAll`` on strings
(k8s.io/apiserver ``pkg/cel/library/regex.go``), with Go's regexp semantics
(RE2, as kubegate's Rego ``regex.*`` builtins: ``evaluator.builtins._regex_re2``).

* ``s.find(re) -> string``: the first match, ``""`` when none;
* ``s.findAll(re) -> list(string)``: every match;
* ``s.findAll(re, n) -> list(string)``: at most ``n`` matches (all when ``n < 0``).

An invalid pattern is an evaluation error carrying Go's message.
"""

from __future__ import annotations

from cel_expr_python import cel

from kubegate.evaluator.builtins._regex_re2 import compile_go, decode, encode
from kubegate.evaluator.builtins.registry import BuiltinError

__all__ = ["extension"]

SINCE = (1, 0)
"""The Kubernetes version whose CEL environment has this library (environment/base.go)."""


def _compiled(pattern: str) -> object:
    try:
        return compile_go(pattern)
    except BuiltinError as exc:
        raise ValueError(f"invalid regex {pattern!r}: {exc}") from None


def find(text: str, pattern: str) -> str:
    """The first match of ``pattern`` in ``text``, or ``""``."""
    data = encode(text)
    spans = _compiled(pattern).search(data)  # type: ignore[attr-defined]
    return "" if spans is None else decode(data[spans[0][0] : spans[0][1]])


def find_all(text: str, pattern: str, limit: int = -1) -> list[str]:
    """Up to ``limit`` matches (all when negative), as Go's ``FindAllString``."""
    if limit == 0:
        return []
    data = encode(text)
    return [decode(data[s[0][0] : s[0][1]]) for s in _compiled(pattern).find_all(data, limit)]  # type: ignore[attr-defined]


def extension() -> object:
    """The library as a ``CelExtension``."""
    t = cel.Type
    return cel.CelExtension(
        "kubernetes.regex",
        [
            cel.FunctionDecl(
                "find", [cel.Overload("string_find_string", t.STRING, [t.STRING, t.STRING], is_member=True, impl=find)]
            ),
            cel.FunctionDecl(
                "findAll",
                [
                    cel.Overload(
                        "string_find_all_string", t.List(t.STRING), [t.STRING, t.STRING], is_member=True, impl=find_all
                    ),
                    cel.Overload(
                        "string_find_all_string_int",
                        t.List(t.STRING),
                        [t.STRING, t.STRING, t.INT],
                        is_member=True,
                        impl=find_all,
                    ),
                ],
            ),
        ],
    )
