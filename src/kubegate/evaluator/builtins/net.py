"""OPA's ``net.*`` builtins.

Follows https://github.com/open-policy-agent/opa/blob/main/v1/topdown/cidr.go
(and ``net.go`` for ``net.lookup_ip_addr``), with Go's ``net.ParseCIDR`` /
``net.ParseIP`` / ``IPNet.Contains`` semantics rebuilt on the standard
library's :mod:`ipaddress`:

* addresses and prefixes are parsed as Go's ``netip`` does (no zones, no
  leading zeros in IPv4 fields; the prefix length is decimal and may have
  leading zeros);
* an IPv4-mapped IPv6 address (``::ffff:1.2.3.4``), or an IPv6 network whose
  masked address is one, behaves as IPv4, as in Go, and is printed as IPv4;
* ``net.cidr_merge`` keeps OPA's quirks: a bare IPv4 address gets its classful
  default mask (``10.0.0.1`` alone merges to ``10.0.0.1/8``), a bare IPv6
  address is an error.

``net.cidr_expand`` is bounded: OPA expands any range (until the query is
cancelled); kubegate refuses ranges of more than :data:`MAX_EXPAND` addresses
with an error instead of exhausting memory.

``net.lookup_ip_addr`` resolves names through the system resolver, which is
network access: it is only available when the query enables outbound access
(``ctx.http_send_enabled``, the same switch as ``http.send``); otherwise it
fails with a "not supported" builtin error.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import Any

from kubegate.evaluator.builtins.registry import (
    BuiltinContext,
    BuiltinError,
    arg_string,
    implements,
)
from kubegate.evaluator.values import Set, hkey, items

__all__ = ["MAX_EXPAND", "Net", "format_ip", "parse_cidr", "parse_ip"]

#: The most addresses ``net.cidr_expand`` produces (a /16 of IPv4).
MAX_EXPAND = 1 << 16

_V4_MAPPED = 0xFFFF << 32
_BIG = 0xFFFFFF  # Go's dtoi limit


@dataclass(frozen=True, slots=True)
class Net:
    """A network as Go compares it: family 4 or 6, masked address, prefix length."""

    family: int
    addr: int
    prefix: int

    @property
    def bits(self) -> int:
        return 32 if self.family == 4 else 128

    @property
    def last(self) -> int:
        return self.addr | ((1 << (self.bits - self.prefix)) - 1)

    def contains(self, family: int, addr: int) -> bool:
        if family != self.family:
            return False
        shift = self.bits - self.prefix
        return (addr >> shift) == (self.addr >> shift)

    def __str__(self) -> str:
        return f"{format_ip(self.family, self.addr)}/{self.prefix}"


def _addr(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if "%" in text:  # Go's ParseIP / ParseCIDR refuse zones
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def parse_ip(text: str) -> tuple[int, int] | None:
    """Go's ``net.ParseIP``: (family, address), IPv4-mapped addresses as IPv4; None if invalid."""
    a = _addr(text)
    if a is None:
        return None
    v = int(a)
    if a.version == 4:
        return 4, v
    if v >> 32 == 0xFFFF:
        return 4, v & 0xFFFFFFFF
    return 6, v


def parse_cidr(text: str) -> Net:
    """Go's ``net.ParseCIDR`` (the network part).

    Raises:
        BuiltinError: Go's ``invalid CIDR address: TEXT``.
    """
    ip, sep, mask = text.partition("/")
    a = _addr(ip) if sep else None
    if a is None:
        raise BuiltinError(f"invalid CIDR address: {text}")
    bits = 32 if a.version == 4 else 128
    n = 0
    i = 0
    while i < len(mask) and "0" <= mask[i] <= "9":
        n = n * 10 + ord(mask[i]) - 48
        if n >= _BIG:
            raise BuiltinError(f"invalid CIDR address: {text}")
        i += 1
    if i == 0 or i != len(mask) or n > bits:
        raise BuiltinError(f"invalid CIDR address: {text}")
    masked = int(a) & ~((1 << (bits - n)) - 1)
    if bits == 128 and masked >> 32 == 0xFFFF:  # the network number is IPv4-mapped
        return Net(4, masked & 0xFFFFFFFF, n - 96)
    return Net(4 if bits == 32 else 6, masked, n)


def format_ip(family: int, addr: int) -> str:
    """Go's ``IP.String()`` (IPv4 dotted, IPv6 in RFC 5952 form)."""
    if family == 4:
        return str(ipaddress.IPv4Address(addr))
    if addr >> 32 == 0xFFFF:
        return str(ipaddress.IPv4Address(addr & 0xFFFFFFFF))
    return ipaddress.IPv6Address(addr).compressed


def _net_operand(value: Any) -> Net:
    # OPA's getNetFromOperand reports every operand as operand 1.
    return parse_cidr(arg_string(value, 1))


def _contains(cidr: Any, other: Any) -> bool:
    a = _net_operand(cidr)
    text = arg_string(other, 1)
    ip = parse_ip(text)
    if ip is not None:
        return a.contains(*ip)
    try:
        b = parse_cidr(text)
    except BuiltinError:
        raise BuiltinError(f"not a valid textual representation of an IP address or CIDR: {text}") from None
    return a.contains(b.family, b.addr) and a.contains(b.family, b.last)


@implements("net.cidr_contains", "net.cidr_overlap")
def cidr_contains(cidr: Any, cidr_or_ip: Any) -> bool:
    """Whether the network ``cidr`` contains the address or network ``cidr_or_ip``
    (``net.cidr_overlap`` is its deprecated name)."""
    return _contains(cidr, cidr_or_ip)


@implements("net.cidr_intersects")
def cidr_intersects(a: Any, b: Any) -> bool:
    """Whether two networks share an address."""
    na = _net_operand(a)
    nb = _net_operand(b)
    return na.contains(nb.family, nb.addr) or nb.contains(na.family, na.addr)


@implements("net.cidr_is_valid")
def cidr_is_valid(cidr: Any) -> bool:
    """Whether ``cidr`` is a string Go's ``net.ParseCIDR`` accepts (false for other types)."""
    if type(cidr) is not str:
        return False
    try:
        parse_cidr(cidr)
    except BuiltinError:
        return False
    return True


@implements("net.cidr_expand")
def cidr_expand(cidr: Any) -> Set:
    """The set of every address in ``cidr`` (at most :data:`MAX_EXPAND` of them)."""
    text = arg_string(cidr, 1)
    n = parse_cidr(text)
    count = 1 << (n.bits - n.prefix)
    if count > MAX_EXPAND:
        raise BuiltinError(f"{text} has {count} addresses, more than the {MAX_EXPAND} net.cidr_expand allows")
    return Set(format_ip(n.family, a) for a in range(n.addr, n.addr + count))


def _match_items(position: int, value: Any) -> list[tuple[Any, Any]]:
    """(cidr, index) pairs of a ``net.cidr_contains_matches`` operand."""
    t = type(value)
    if t is str:
        return [(value, value)]
    if t is list or t is tuple:
        return [(_match_cidr(position, e), i) for i, e in enumerate(value)]
    if t is Set:
        return [(_match_cidr(position, e), e) for e in value]
    if t is dict:
        return [(_match_cidr(position, v), k) for k, v in items(value)]
    return []  # OPA yields nothing for other types


def _match_cidr(position: int, element: Any) -> Any:
    t = type(element)
    if t is str:
        return element
    if (t is list or t is tuple) and element:
        return element[0]
    raise BuiltinError(f"operand {position}: element must be string or non-empty array")


@implements("net.cidr_contains_matches")
def cidr_contains_matches(cidrs: Any, cidrs_or_ips: Any) -> Set:
    """``{[i, j]}`` for every network ``cidrs[i]`` containing ``cidrs_or_ips[j]``;
    operands are strings, arrays, sets or objects (keys index), elements strings
    or arrays whose first element is the network."""
    left = _match_items(1, cidrs)
    right = _match_items(2, cidrs_or_ips)
    out = []
    for c1, i1 in left:
        for c2, i2 in right:
            if _contains(c1, c2):
                out.append((i1, i2))
    return Set(out)


# ---------------------------------------------------------------- cidr_merge


def _classful_prefix(addr: int) -> int:
    first = addr >> 24
    return 8 if first < 0x80 else (16 if first < 0xC0 else 24)


def _merge_range(element: Any) -> tuple[int, int, str]:
    """(first, last, Go's String() of the network) in the 128-bit space, IPv4 mapped."""
    if type(element) is not str:
        raise BuiltinError("element must be string")
    ip = parse_ip(element)
    if ip is not None:
        family, addr = ip
        if family == 6:
            raise BuiltinError("IPv6 invalid: needs prefix length")
        prefix = _classful_prefix(addr)
        first = _V4_MAPPED | (addr & ~((1 << (32 - prefix)) - 1) & 0xFFFFFFFF)
        return first, first | ((1 << (32 - prefix)) - 1), f"{format_ip(4, addr)}/{prefix}"
    n = parse_cidr(element)
    base = _V4_MAPPED if n.family == 4 else 0
    return base | n.addr, base | n.last, str(n)


def _previous(x: int) -> int:
    return x if x in (0, _V4_MAPPED) else x - 1


def _block_string(addr: int, prefix: int) -> str:
    if prefix >= 96 and addr >> 32 == 0xFFFF:
        return f"{format_ip(4, addr & 0xFFFFFFFF)}/{prefix - 96}"
    return f"{ipaddress.IPv6Address(addr).compressed}/{prefix}"


def _range_to_cidrs(first: int, last: int) -> list[str]:
    out = []
    while first <= last:
        k = 128 if first == 0 else (first & -first).bit_length() - 1
        while first + (1 << k) - 1 > last:
            k -= 1
        out.append(_block_string(first, 128 - k))
        first += 1 << k
    return out


@implements("net.cidr_merge")
def cidr_merge(addrs: Any) -> Set:
    """The smallest set of networks covering the addresses and networks ``addrs``."""
    t = type(addrs)
    if t is list or t is tuple or t is Set:
        ranges = [_merge_range(e) for e in addrs]
    else:
        raise BuiltinError("operand must be an array")
    ranges.sort(key=lambda r: (r[1], r[0]))
    groups: list[tuple[int, int, str | None]] = [(f, la, s) for f, la, s in ranges]
    i = len(groups) - 1
    while i > 0:
        first, last, _ = groups[i]
        pfirst, plast, _ = groups[i - 1]
        if _previous(first) <= plast:
            groups[i - 1] = (min(first, pfirst), last, None)
            del groups[i]
        i -= 1
    out: list[str] = []
    for first, last, text in groups:
        if text is not None:
            out.append(text)
        else:
            out.extend(_range_to_cidrs(first, last))
    return Set(out)


# ---------------------------------------------------------------- lookup


@implements("net.lookup_ip_addr", context=True)
def lookup_ip_addr(ctx: BuiltinContext, name: Any) -> Set:
    """The IP addresses ``name`` resolves to (only with network access enabled)."""
    host = arg_string(name, 1)
    if not ctx.http_send_enabled:
        raise BuiltinError("not supported: network access is disabled (enable http.send to resolve names)")
    key = ("net.lookup_ip_addr", hkey(host))
    cached = ctx.cache.get(key)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError, ValueError):
        raise BuiltinError(f"lookup {host}: no such host") from None
    result = Set(str(info[4][0]) for info in infos)
    ctx.cache[key] = result
    return result
