"""Kubernetes' IP address library (k8s.io/apiserver ``pkg/cel/library/ip.go``),
with Go's ``net/netip`` semantics. Since: Kubernetes 1.30 adds it to the base
environment (``environment/base.go``, ``IntroducedVersion: 1.30``); the CEL
reference page (https://kubernetes.io/docs/reference/using-api/cel/) lists it
as "Kubernetes versions 1.31+".

* ``ip(string) -> net.IP``: an IPv4 or IPv6 address; an error for anything
  else, for an IPv4-mapped IPv6 address (``::ffff:1.2.3.4``) and for a zone
  (``fe80::1%eth0``);
* ``isIP(string) -> bool``: whether ``ip()`` would accept the string;
* ``ip.isCanonical(string) -> bool``: whether the string is the address's one
  canonical form (an error when it is not an address);
* ``family()`` (4 or 6), ``isUnspecified()``, ``isLoopback()``,
  ``isLinkLocalMulticast()``, ``isLinkLocalUnicast()``, ``isGlobalUnicast()``:
  members of ``net.IP``, as ``netip.Addr`` defines them (not as Python's
  ``ipaddress.is_global``: private addresses are global unicast here);
* ``string(net.IP) -> string``: the canonical form.

Errors carry Kubernetes' and Go's messages (``IP Address "x" parse error
during conversion from string: ParseAddr("x"): unable to parse IP``), so the
parser is a port of ``netip.ParseAddr`` (:mod:`kubegate.cel.library._netip`);
the parsed value is an :mod:`ipaddress` address. A ``net.IP`` carrier holds
the canonical form, so the runtime's ``==`` is ``netip.Addr``'s.
"""

from __future__ import annotations

import functools
import ipaddress
from typing import Any

from cel_expr_python import cel

from kubegate.cel import carriers
from kubegate.cel.library._netip import Addr, AddrError, go_quote, parse_addr
from kubegate.cel.overloads import Function, Library, Overload, checking_extension

__all__ = [
    "IP_TYPE",
    "LIBRARY",
    "extension",
    "ip_carrier",
    "ip_value",
    "parse_ip",
]

SINCE = (1, 30)
"""The Kubernetes version whose CEL environment has this library (environment/base.go)."""

IP_TYPE = "net.IP"
"""The carrier type of ``ip()`` values."""


def parse_ip(text: str) -> Addr:
    """An address as Kubernetes' ``parseIPAddr`` accepts it: no zone, not IPv4-mapped.

    Raises:
        ValueError: with Kubernetes' message (an evaluation error in CEL).
    """
    try:
        addr = parse_addr(text)
    except AddrError as exc:
        raise ValueError(f"IP Address {go_quote(text)} parse error during conversion from string: {exc}") from None
    if addr.zone:
        raise ValueError(f"IP address {go_quote(text)} with zone value is not allowed")
    if addr.is_4in6:
        raise ValueError(f"IPv4-mapped IPv6 address {go_quote(text)} is not allowed")
    return addr


@functools.lru_cache(maxsize=1024)
def _parsed(canonical: str) -> Addr:
    return parse_ip(canonical)


def ip_value(message: Any) -> Addr:
    """The address a ``net.IP`` carrier holds.

    Raises:
        ValueError: the carrier does not hold an address (a hand-built literal).
    """
    return _parsed(carriers.canonical(message))


def ip_carrier(addr: Addr) -> Any:
    """The ``net.IP`` carrier of ``addr``."""
    return carriers.carrier(IP_TYPE, str(addr))


def string_to_ip(text: str) -> Any:
    """``ip(string)``."""
    return ip_carrier(parse_ip(text))


def is_ip(text: str) -> bool:
    """``isIP(string)``."""
    try:
        parse_ip(text)
    except ValueError:
        return False
    return True


def is_canonical(text: str) -> bool:
    """``ip.isCanonical(string)``; an error when ``text`` is not an address."""
    return str(parse_ip(text)) == text


def family(message: Any) -> int:
    """``<IP>.family()``: 4 or 6."""
    return ip_value(message).ip.version


def is_unspecified(message: Any) -> bool:
    """``<IP>.isUnspecified()``: ``0.0.0.0`` or ``::``."""
    return ip_value(message).ip.is_unspecified


def is_loopback(message: Any) -> bool:
    """``<IP>.isLoopback()``: ``127.0.0.0/8`` or ``::1``."""
    return ip_value(message).unmapped().is_loopback


def is_link_local_multicast(message: Any) -> bool:
    """``<IP>.isLinkLocalMulticast()``: ``224.0.0.0/24``, or IPv6 multicast of
    link-local scope (``ff02::/16`` with any flags: first word ``& 0xff0f == 0xff02``)."""
    packed = ip_value(message).unmapped().packed
    if len(packed) == 4:
        return packed[:3] == b"\xe0\x00\x00"
    return packed[0] == 0xFF and packed[1] & 0x0F == 0x02


def is_link_local_unicast(message: Any) -> bool:
    """``<IP>.isLinkLocalUnicast()``: ``169.254.0.0/16`` or ``fe80::/10``."""
    return ip_value(message).unmapped().is_link_local


def _global_unicast(addr: Addr) -> bool:
    ip = addr.unmapped()
    if isinstance(ip, ipaddress.IPv4Address) and int(ip) in (0, 0xFFFFFFFF):
        return False
    return not (ip.is_unspecified or ip.is_loopback or ip.is_multicast or ip.is_link_local)


def is_global_unicast(message: Any) -> bool:
    """``<IP>.isGlobalUnicast()``, as ``netip.Addr.IsGlobalUnicast``: anything
    but the unspecified, broadcast, loopback, multicast and link-local unicast
    addresses (private and unique-local addresses included)."""
    return _global_unicast(ip_value(message))


def ip_to_string(message: Any) -> str:
    """``string(<IP>)``: the canonical form."""
    return str(ip_value(message))


def _function(name: str, overload: str, result: Any, param: Any, impl: Any) -> Function:
    return Function(name, (Overload(overload, result, (param,), impl),))


def _member(name: str, overload: str, result: Any, impl: Any) -> Function:
    return Function(name, (Overload(overload, result, (IP_TYPE,), impl, member=True),))


_B, _S = cel.Type.BOOL, cel.Type.STRING

LIBRARY = Library(
    "kubernetes.net.ip",
    (
        _function("ip", "string_to_ip", IP_TYPE, _S, string_to_ip),
        _function("isIP", "is_ip", _B, _S, is_ip),
        _function("ip.isCanonical", "ip_is_canonical", _B, _S, is_canonical),
        _function("string", "ip_to_string", _S, IP_TYPE, ip_to_string),
        _member("family", "ip_family", cel.Type.INT, family),
        _member("isUnspecified", "ip_is_unspecified", _B, is_unspecified),
        _member("isLoopback", "ip_is_loopback", _B, is_loopback),
        _member("isLinkLocalMulticast", "ip_is_link_local_multicast", _B, is_link_local_multicast),
        _member("isLinkLocalUnicast", "ip_is_link_local_unicast", _B, is_link_local_unicast),
        _member("isGlobalUnicast", "ip_is_global_unicast", _B, is_global_unicast),
    ),
)
"""The library as data (overload ids as in ip.go): ``string(net.IP)`` shares
its runtime registration with ``string(net.CIDR)`` (:mod:`kubegate.cel.overloads`)."""


def extension() -> Any:
    """The library's checking extension (evaluation goes through :data:`LIBRARY`)."""
    return checking_extension(LIBRARY)
