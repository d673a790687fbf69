"""The ``netip`` port under the IP and CIDR libraries: Go's parser checked
against Python's independent :mod:`ipaddress` parser on random input, Go's
quoting against strconv's own cases, and CIDR containment against its
bit-level definition (the fixed Kubernetes formula)."""

from __future__ import annotations

import ipaddress
import random

import pytest

from kubegate.cel.library._netip import Addr, AddrError, Prefix, PrefixError, go_quote, parse_addr, parse_prefix

_ALPHABET = "0123456789abcdefABCDEF:.x"


def _random_texts(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        if rng.random() < 0.5:  # something address-shaped with a few random edits
            groups = [rng.choice(["0", "1", "ab", "ffff", "00a", "12345", ""]) for _ in range(rng.randint(1, 9))]
            text = ":".join(groups)
            if rng.random() < 0.3:
                text += ":" + ".".join(str(rng.choice([0, 1, 9, 10, 255, 256, 12])) for _ in range(rng.randint(2, 5)))
        else:
            text = "".join(rng.choice(_ALPHABET) for _ in range(rng.randint(0, 14)))
        texts.append(text)
    return texts


@pytest.mark.parametrize("seed", range(4))
def test_parse_addr_accepts_what_ipaddress_accepts(seed: int) -> None:
    for text in _random_texts(2000, seed):
        try:
            expected: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(text)
        except ValueError:
            expected = None
        try:
            got: Addr | None = parse_addr(text)
        except AddrError as exc:
            assert str(exc).startswith(f"ParseAddr({go_quote(text)}): ")
            got = None
        assert (got.ip if got else None) == expected, text


def _random_address(rng: random.Random) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    if rng.random() < 0.4:
        return ipaddress.IPv4Address(rng.getrandbits(32))
    words = [0 if rng.random() < 0.5 else rng.getrandbits(16) for _ in range(8)]
    return ipaddress.IPv6Address(int("".join(f"{w:04x}" for w in words), 16))


def test_every_spelling_parses_to_the_address_and_prints_canonically() -> None:
    rng = random.Random(7)
    for _ in range(1000):
        address = _random_address(rng)
        spellings = {address.exploded, address.compressed, address.exploded.upper()}
        if address.version == 6:
            spellings.add(f"{address.exploded[:30]}{ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)}")
        for text in spellings:
            assert parse_addr(text).ip == address, text
        mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
        assert str(parse_addr(address.exploded)) == (f"::ffff:{mapped}" if mapped else address.compressed)


def test_zones_are_kept() -> None:
    assert parse_addr("fe80::1%eth0") == Addr(ipaddress.IPv6Address("fe80::1"), "eth0")
    assert parse_addr("fe80::1%a%b").zone == "a%b"  # Go splits at the first %
    assert str(parse_addr("::ffff:1.2.3.4%z")) == "::ffff:1.2.3.4%z"


@pytest.mark.parametrize(
    ("text", "quoted"),
    [  # strconv's quote tests (go/src/strconv/quote_test.go)
        ("\a\b\f\r\n\t\v", '"\\a\\b\\f\\r\\n\\t\\v"'),
        ("\\", '"\\\\"'),
        ("abc\udcffdef", '"abc\\xffdef"'),  # an invalid UTF-8 byte, surrogate-escaped
        ("\u263a", '"\u263a"'),
        ("\U0010ffff", '"\\U0010ffff"'),
        ("\x04", '"\\x04"'),
        ("!\u00a0!\u2000!\u3000!", '"!\\u00a0!\\u2000!\\u3000!"'),
        ("\x7f", '"\\x7f"'),
        ('say "hi"', '"say \\"hi\\""'),
    ],
)
def test_go_quote(text: str, quoted: str) -> None:
    assert go_quote(text) == quoted


def _random_prefix(rng: random.Random) -> Prefix:
    address = _random_address(rng)
    while isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = _random_address(rng)
    return Prefix(Addr(address), rng.randint(0, address.max_prefixlen))


def _top(address: ipaddress.IPv4Address | ipaddress.IPv6Address, bits: int) -> int:
    return int(address) >> (address.max_prefixlen - bits)


def test_containment_is_the_masked_comparison() -> None:
    rng = random.Random(11)
    for _ in range(3000):
        outer = _random_prefix(rng)
        inner = _random_prefix(rng)
        if rng.random() < 0.5 and inner.addr.ip.version == outer.addr.ip.version:  # often a real subnet
            length = rng.randint(outer.bits, outer.addr.ip.max_prefixlen)
            inner = Prefix(outer.addr, length)
        same = inner.addr.ip.version == outer.addr.ip.version
        expected = (
            same and outer.bits <= inner.bits and _top(inner.addr.ip, outer.bits) == _top(outer.addr.ip, outer.bits)
        )
        assert outer.contains_prefix(inner) == expected, (outer, inner)
        assert outer.contains(inner.addr) == (
            same and _top(inner.addr.ip, outer.bits) == _top(outer.addr.ip, outer.bits)
        )
        masked = outer.masked()
        assert masked.bits == outer.bits and _top(masked.addr.ip, outer.bits) == _top(outer.addr.ip, outer.bits)
        assert int(masked.addr.ip) & ((1 << (outer.addr.ip.max_prefixlen - outer.bits)) - 1) == 0


def test_parse_prefix_keeps_the_host_bits_and_prints_as_go() -> None:
    prefix = parse_prefix("2001:DB8::1/64")
    assert (str(prefix.addr), prefix.bits, str(prefix), str(prefix.masked())) == (
        "2001:db8::1",
        64,
        "2001:db8::1/64",
        "2001:db8::/64",
    )
    assert str(parse_prefix("10.1.2.3/8").masked()) == "10.0.0.0/8"
    with pytest.raises(PrefixError, match=r'^netip\.ParsePrefix\("1\.2\.3\.4/"\): bad bits after slash: ""$'):
        parse_prefix("1.2.3.4/")
    with pytest.raises(PrefixError, match=r"too long"):
        parse_prefix("1.2.3.4.5/8")
