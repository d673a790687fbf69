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
parser is a port of ``netip.ParseAddr``; the parsed value is an
:mod:`ipaddress` address. A ``net.IP`` carrier holds the canonical form, so
the runtime's ``==`` is ``netip.Addr``'s.
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass
from typing import Any

from cel_expr_python import cel

from kubegate.cel import carriers
from kubegate.cel.overloads import Function, Library, Overload, checking_extension

__all__ = [
    "IP_TYPE",
    "LIBRARY",
    "Addr",
    "AddrError",
    "extension",
    "go_quote",
    "ip_carrier",
    "ip_value",
    "parse_addr",
    "parse_ip",
]

IP_TYPE = "net.IP"
"""The carrier type of ``ip()`` values."""

_HEX = {c: int(c, 16) for c in "0123456789abcdefABCDEF"}
_QUOTED = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}
_QUOTED |= {"\\": "\\\\", '"': '\\"'}


def go_quote(text: str) -> str:
    """``text`` as Go's ``strconv.Quote`` writes it (``%q`` in messages); a
    surrogate-escaped byte (``\\udcff``) is written ``\\xff`` as Go writes an
    invalid UTF-8 byte."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in _QUOTED:
            out.append(_QUOTED[ch])
        elif 0xDC80 <= code <= 0xDCFF:
            out.append(f"\\x{code - 0xDC00:02x}")
        elif ch.isprintable():
            out.append(ch)
        elif code < 0x80:
            out.append(f"\\x{code:02x}")
        else:
            out.append(f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


class AddrError(ValueError):
    """A string ``netip.ParseAddr`` rejects; ``str()`` is Go's message."""

    def __init__(self, text: str, message: str, at: str = "") -> None:
        where = f" (at {go_quote(at)})" if at else ""
        super().__init__(f"ParseAddr({go_quote(text)}): {message}{where}")


@dataclass(frozen=True)
class Addr:
    """An IP address as ``netip.Addr`` holds it: the address and its IPv6 zone."""

    ip: ipaddress.IPv4Address | ipaddress.IPv6Address
    zone: str = ""

    def __str__(self) -> str:
        """``netip.Addr.String()``: dotted IPv4, RFC 5952 IPv6, ``::ffff:a.b.c.d``
        for an IPv4-mapped address, ``%zone`` appended."""
        zone = f"%{self.zone}" if self.zone else ""
        if isinstance(self.ip, ipaddress.IPv6Address) and self.ip.ipv4_mapped is not None:
            return f"::ffff:{self.ip.ipv4_mapped}{zone}"
        return f"{self.ip.compressed}{zone}"

    @property
    def is_4in6(self) -> bool:
        """Whether this is an IPv4-mapped IPv6 address (``::ffff:0:0/96``)."""
        return isinstance(self.ip, ipaddress.IPv6Address) and self.ip.ipv4_mapped is not None

    def unmapped(self) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
        """The address with an IPv4-mapped prefix removed (``netip.Addr.Unmap``)."""
        if isinstance(self.ip, ipaddress.IPv6Address) and self.ip.ipv4_mapped is not None:
            return self.ip.ipv4_mapped
        return self.ip


def _ipv4_fields(text: str, s: str) -> bytes:
    """The four octets of ``s`` (a part of ``text``), as ``parseIPv4Fields``."""
    fields: list[int] = []
    value = digits = 0
    for i, ch in enumerate(s):
        if "0" <= ch <= "9":
            if digits == 1 and value == 0:
                raise AddrError(text, "IPv4 field has octet with leading zero")
            value = value * 10 + ord(ch) - 48
            digits += 1
            if value > 255:
                raise AddrError(text, "IPv4 field has value >255")
        elif ch == ".":
            if i == 0 or i == len(s) - 1 or s[i - 1] == ".":
                raise AddrError(text, "IPv4 field must have at least one digit", s[i:])
            if len(fields) == 3:
                raise AddrError(text, "IPv4 address too long")
            fields.append(value)
            value = digits = 0
        else:
            raise AddrError(text, "unexpected character", s[i:])
    if len(fields) < 3:
        raise AddrError(text, "IPv4 address too short")
    return bytes([*fields, value])


def _ipv6(text: str) -> Addr:
    s, _, zone = text.partition("%")
    if "%" in text and not zone:
        raise AddrError(text, "zone must be a non-empty string")
    ip = bytearray(16)
    ellipsis = -1
    if s.startswith("::"):
        ellipsis, s = 0, s[2:]
        if not s:
            return Addr(ipaddress.IPv6Address(0), zone)
    i = 0
    while i < 16:
        off = acc = 0
        while off < len(s) and s[off] in _HEX:
            acc = acc * 16 + _HEX[s[off]]
            if off > 3:
                raise AddrError(text, "each group must have 4 or less digits", s)
            off += 1
        if off == 0:
            raise AddrError(text, "each colon-separated field must have at least one digit", s)
        if off < len(s) and s[off] == ".":
            if ellipsis < 0 and i != 12:
                raise AddrError(text, "embedded IPv4 address must replace the final 2 fields of the address", s)
            if i + 4 > 16:
                raise AddrError(text, "too many hex fields to fit an embedded IPv4 at the end of the address", s)
            ip[i : i + 4] = _ipv4_fields(text, s)
            s, i = "", i + 4
            break
        ip[i : i + 2] = acc.to_bytes(2, "big")
        i += 2
        s = s[off:]
        if not s:
            break
        if s[0] != ":":
            raise AddrError(text, "unexpected character, want colon", s)
        if len(s) == 1:
            raise AddrError(text, "colon must be followed by more characters", s)
        s = s[1:]
        if s[0] == ":":
            if ellipsis >= 0:
                raise AddrError(text, "multiple :: in address", s)
            ellipsis, s = i, s[1:]
            if not s:
                break
    if s:
        raise AddrError(text, "trailing garbage after address", s)
    if i < 16:
        if ellipsis < 0:
            raise AddrError(text, "address string too short")
        ip[ellipsis:] = bytes(16 - i) + ip[ellipsis:i]
    elif ellipsis >= 0:
        raise AddrError(text, "the :: must expand to at least one field of zeros")
    return Addr(ipaddress.IPv6Address(bytes(ip)), zone)


def parse_addr(text: str) -> Addr:
    """Go's ``netip.ParseAddr``: dotted IPv4 (no leading zeros), IPv6 with an
    optional embedded IPv4 and ``%zone``.

    Raises:
        AddrError: with Go's message.
    """
    for ch in text:
        if ch == ".":
            return Addr(ipaddress.IPv4Address(_ipv4_fields(text, text)))
        if ch == ":":
            return _ipv6(text)
        if ch == "%":
            raise AddrError(text, "missing IPv6 address")
    raise AddrError(text, "unable to parse IP")


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
