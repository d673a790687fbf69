"""net.* builtins: YAML cases, net.lookup_ip_addr's gate, hostile operands."""

from __future__ import annotations

from typing import Any

import pytest

import kubegate.evaluator.builtins.net as net
from kubegate.evaluator.builtins.registry import IMPLEMENTATIONS, BuiltinError
from kubegate.evaluator.values import Set

from ._timenet_cases import FakeContext, load, run


@pytest.mark.parametrize("case", load("net.yaml"))
def test_case(case: dict[str, Any]) -> None:
    run(case)


def call(name: str, *args: Any) -> Any:
    return IMPLEMENTATIONS[name].impl(*args)


def test_lookup_needs_network_access() -> None:
    ctx = FakeContext(http_send_enabled=False)
    with pytest.raises(BuiltinError, match="not supported"):
        call("net.lookup_ip_addr", ctx, "localhost")


def test_lookup_localhost_is_cached_per_query() -> None:
    ctx = FakeContext(http_send_enabled=True)
    got = call("net.lookup_ip_addr", ctx, "localhost")
    assert isinstance(got, Set)
    assert "127.0.0.1" in got or "::1" in got
    assert call("net.lookup_ip_addr", ctx, "localhost") is got
    assert call("net.lookup_ip_addr", ctx, "127.0.0.1") == Set(["127.0.0.1"])


def test_lookup_unknown_host() -> None:
    ctx = FakeContext(http_send_enabled=True)
    with pytest.raises(BuiltinError, match="no such host"):
        call("net.lookup_ip_addr", ctx, "no-such-host.invalid")
    with pytest.raises(BuiltinError):
        call("net.lookup_ip_addr", ctx, "\x00")


def test_expand_at_the_bound() -> None:
    assert len(call("net.cidr_expand", "10.0.0.0/16")) == net.MAX_EXPAND
    assert len(call("net.cidr_expand", "2001:db8::/112")) == net.MAX_EXPAND


def test_formatting_matches_go() -> None:
    assert (
        net.format_ip(6, int.from_bytes(bytes.fromhex("20010db8000000000001000000000001"), "big"))
        == "2001:db8::1:0:0:1"
    )
    assert net.format_ip(6, 1) == "::1"
    assert str(net.parse_cidr("::1.2.3.4/128")) == "::102:304/128"


@pytest.mark.parametrize(
    "hostile",
    ["", "/", "1.2.3.4/", "1.2.3.4/99999999999999999999", "1.2.3.4/8/8", "::/" + "1" * 10000, "x" * 100000,
     "\ud800/8", "1.2.3.4 /8", " 1.2.3.4/8", "1.2.3.4/\u0668", "\u0661.2.3.4/8"],
)  # fmt: skip
def test_hostile_cidrs(hostile: str) -> None:
    assert call("net.cidr_is_valid", hostile) is False
    with pytest.raises(BuiltinError):
        call("net.cidr_contains", hostile, "1.2.3.4")
    with pytest.raises(BuiltinError):
        call("net.cidr_merge", [hostile])


def test_merge_many() -> None:
    cidrs = [f"10.{i // 256}.{i % 256}.0/24" for i in range(20000)]
    want = Set(["10.0.0.0/10", "10.64.0.0/13", "10.72.0.0/14", "10.76.0.0/15", "10.78.0.0/19"])
    assert call("net.cidr_merge", cidrs) == want
