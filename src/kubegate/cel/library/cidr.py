"""Kubernetes' CIDR library (k8s.io/apiserver ``pkg/cel/library/cidr.go``),
with Go's ``netip.Prefix`` semantics (:mod:`kubegate.cel.library._netip`).
Since: Kubernetes 1.30 adds it to the base environment (``environment/base.go``,
``IntroducedVersion: 1.30``); the CEL reference page
(https://kubernetes.io/docs/reference/using-api/cel/) lists it as "Kubernetes
versions 1.31+".

* ``cidr(string) -> net.CIDR``: an address and a prefix length
  (``192.168.0.0/16``, ``2001:db8::/32``); the address may have bits set past
  the prefix (``cidr('192.168.0.1/24')`` is accepted, as ``netip.ParsePrefix``
  accepts it); an error for an IPv4-mapped address or a zone;
* ``isCIDR(string) -> bool``;
* ``containsIP(net.IP | string) -> bool``, ``containsCIDR(net.CIDR | string)
  -> bool``: members of ``net.CIDR``. ``containsCIDR`` masks the other
  network's address to the receiver's length, as Kubernetes does since the fix
  of kubernetes/kubernetes#130441 (PR #130450, 1.33): before it,
  ``cidr('192.168.0.0/16').containsCIDR('192.168.1.0/24')`` was false. An
  invalid string gives ``containsIP`` Kubernetes' ``no such overload`` and
  ``containsCIDR`` the parse error, as cidr.go does;
* ``ip() -> net.IP`` (the address as written), ``masked() -> net.CIDR`` (host
  bits cleared), ``prefixLength() -> int``: members of ``net.CIDR``;
* ``string(net.CIDR) -> string``: ``<address>/<length>`` (at run time one
  dispatcher with ``string(net.IP)``: :mod:`kubegate.cel.overloads`).

A ``net.CIDR`` carrier holds ``netip.Prefix.String()``, so the runtime's ``==``
is ``netip.Prefix``'s: ``cidr('192.168.0.1/24') != cidr('192.168.0.0/24')``.
"""

from __future__ import annotations

import functools
from typing import Any

from cel_expr_python import cel

from kubegate.cel import carriers
from kubegate.cel.library._netip import Prefix, PrefixError, go_quote, parse_prefix
from kubegate.cel.library.ip import IP_TYPE, ip_carrier, ip_value, parse_ip
from kubegate.cel.overloads import Function, Library, Overload, checking_extension

__all__ = ["CIDR_TYPE", "LIBRARY", "extension", "parse_cidr"]

SINCE = (1, 30)
"""The Kubernetes version whose CEL environment has this library (environment/base.go)."""

CIDR_TYPE = "net.CIDR"
"""The carrier type of ``cidr()`` values."""


def parse_cidr(text: str) -> Prefix:
    """A network as Kubernetes' ``cidr()`` accepts it (not IPv4-mapped).

    Raises:
        ValueError: with Kubernetes' message (an evaluation error in CEL).
    """
    context = "network address parse error during conversion from string"
    try:
        prefix = parse_prefix(text)
    except PrefixError as exc:
        raise ValueError(f"{context}: {context}: {exc}") from None
    if prefix.addr.is_4in6:
        raise ValueError(f"{context}: IPv4-mapped IPv6 address {go_quote(text)} is not allowed")
    return prefix


@functools.lru_cache(maxsize=1024)
def _parsed(canonical: str) -> Prefix:
    return parse_cidr(canonical)


def _prefix(message: Any) -> Prefix:
    return _parsed(carriers.canonical(message))


def _carrier(prefix: Prefix) -> Any:
    return carriers.carrier(CIDR_TYPE, str(prefix))


def string_to_cidr(text: str) -> Any:
    """``cidr(string)``."""
    return _carrier(parse_cidr(text))


def is_cidr(text: str) -> bool:
    """``isCIDR(string)``."""
    try:
        parse_cidr(text)
    except ValueError:
        return False
    return True


def contains_ip(message: Any, ip: Any) -> bool:
    """``<CIDR>.containsIP(<IP>)``."""
    return _prefix(message).contains(ip_value(ip))


def contains_ip_string(message: Any, text: str) -> bool:
    """``<CIDR>.containsIP(string)``; an invalid address is ``no such overload``,
    as cidr.go answers it."""
    try:
        addr = parse_ip(text)
    except ValueError:
        raise TypeError("no such overload") from None
    return _prefix(message).contains(addr)


def contains_cidr(message: Any, other: Any) -> bool:
    """``<CIDR>.containsCIDR(<CIDR>)``."""
    return _prefix(message).contains_prefix(_prefix(other))


def contains_cidr_string(message: Any, text: str) -> bool:
    """``<CIDR>.containsCIDR(string)``; an invalid network is its parse error."""
    return _prefix(message).contains_prefix(parse_cidr(text))


def cidr_ip(message: Any) -> Any:
    """``<CIDR>.ip()``: the address as written (host bits kept)."""
    return ip_carrier(_prefix(message).addr)


def masked(message: Any) -> Any:
    """``<CIDR>.masked()``: the network with the host bits cleared."""
    return _carrier(_prefix(message).masked())


def prefix_length(message: Any) -> int:
    """``<CIDR>.prefixLength()``."""
    return _prefix(message).bits


def cidr_to_string(message: Any) -> str:
    """``string(<CIDR>)``."""
    return str(_prefix(message))


def _member(overload: str, result: Any, params: tuple[Any, ...], impl: Any) -> Overload:
    return Overload(overload, result, (CIDR_TYPE, *params), impl, member=True)


_B, _S = cel.Type.BOOL, cel.Type.STRING

LIBRARY = Library(
    "kubernetes.net.cidr",
    (
        Function("cidr", (Overload("string_to_cidr", CIDR_TYPE, (_S,), string_to_cidr),)),
        Function("isCIDR", (Overload("is_cidr", _B, (_S,), is_cidr),)),
        Function("string", (Overload("cidr_to_string", _S, (CIDR_TYPE,), cidr_to_string),)),
        Function(
            "containsIP",
            (
                _member("cidr_contains_ip_string", _B, (_S,), contains_ip_string),
                _member("cidr_contains_ip_ip", _B, (IP_TYPE,), contains_ip),
            ),
        ),
        Function(
            "containsCIDR",
            (
                _member("cidr_contains_cidr_string", _B, (_S,), contains_cidr_string),
                _member("cidr_contains_cidr", _B, (CIDR_TYPE,), contains_cidr),
            ),
        ),
        Function("ip", (_member("cidr_ip", IP_TYPE, (), cidr_ip),)),
        Function("masked", (_member("cidr_masked", CIDR_TYPE, (), masked),)),
        Function("prefixLength", (_member("cidr_prefix_length", cel.Type.INT, (), prefix_length),)),
    ),
)
"""The library as data (overload ids as in cidr.go)."""


def extension() -> Any:
    """The library's checking extension (evaluation goes through :data:`LIBRARY`)."""
    return checking_extension(LIBRARY)
