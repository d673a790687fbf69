"""Go's ``net/netip`` address and prefix parsers (``src/net/netip/netip.go``)
and ``strconv.Quote``, under the IP, CIDR and URL libraries.

* :func:`parse_addr`: ``netip.ParseAddr`` (``parseIPv4Fields``,
  ``parseIPv6``): dotted IPv4 without leading zeros, IPv6 with an optional
  embedded IPv4 and ``%zone``, into an :class:`Addr` holding an
  :mod:`ipaddress` address;
* :func:`parse_prefix`: ``netip.ParsePrefix``: ``<address>/<length>``, into a
  :class:`Prefix` that keeps the host bits;
* :func:`go_quote`: ``strconv.Quote``, as ``%q`` writes a value in Go's
  messages.

Errors (:class:`AddrError`, :class:`PrefixError`) carry Go's messages, which
Kubernetes' libraries pass on (``ParseAddr("x"): unable to parse IP``).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

__all__ = ["Addr", "AddrError", "Prefix", "PrefixError", "go_quote", "parse_addr", "parse_prefix"]

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


_INT64_DIGITS = 19


class PrefixError(ValueError):
    """A string ``netip.ParsePrefix`` rejects; ``str()`` is Go's message."""

    def __init__(self, text: str, message: str) -> None:
        super().__init__(f"netip.ParsePrefix({go_quote(text)}): {message}")


@dataclass(frozen=True)
class Prefix:
    """An IP network as ``netip.Prefix`` holds it: an address (host bits kept) and a length."""

    addr: Addr
    bits: int

    def __str__(self) -> str:
        return f"{self.addr}/{self.bits}"

    def network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        """The network with the host bits cleared."""
        return ipaddress.ip_network((self.addr.ip, self.bits), strict=False)

    def masked(self) -> Prefix:
        """``netip.Prefix.Masked()``."""
        return Prefix(Addr(self.network().network_address), self.bits)

    def contains(self, addr: Addr) -> bool:
        """``netip.Prefix.Contains``: same family, no zone, within the network."""
        return not addr.zone and addr.ip in self.network()

    def contains_prefix(self, other: Prefix) -> bool:
        """Whether ``other`` lies within this network (same family, length at
        least this one's, address equal once masked to this length)."""
        if other.addr.ip.version != self.addr.ip.version:
            return False
        return other.network().subnet_of(self.network())  # type: ignore[arg-type]


def _bits(text: str, bits: str) -> int:
    # strconv.Atoi without a sign or leading zeros, as ParsePrefix checks it.
    digits = bits.isascii() and bits.isdigit()
    if not digits or (len(bits) > 1 and bits[0] == "0") or len(bits) > _INT64_DIGITS or int(bits) >= 2**63:
        raise PrefixError(text, f"bad bits after slash: {go_quote(bits)}")
    return int(bits)


def parse_prefix(text: str) -> Prefix:
    """Go's ``netip.ParsePrefix``: ``<address>/<length>``, no zone, no sign or
    leading zero in the length.

    Raises:
        PrefixError: with Go's message.
    """
    slash = text.rfind("/")
    if slash < 0:
        raise PrefixError(text, "no '/'")
    try:
        addr = parse_addr(text[:slash])
    except AddrError as exc:
        raise PrefixError(text, str(exc)) from None
    if addr.zone:
        raise PrefixError(text, "IPv6 zones cannot be present in a prefix")
    bits = _bits(text, text[slash + 1 :])
    if bits > addr.ip.max_prefixlen:
        raise PrefixError(text, "prefix length out of range")
    return Prefix(addr, bits)
