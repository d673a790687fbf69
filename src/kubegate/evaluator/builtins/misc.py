"""OPA's ``uuid.*``, ``opa.runtime`` and ``trace`` builtins.

Follows https://github.com/open-policy-agent/opa/blob/main/v1/topdown/uuid.go
(with OPA's ``internal/uuid`` and ``github.com/google/uuid``'s parser),
https://github.com/open-policy-agent/opa/blob/main/v1/topdown/runtime.go and
https://github.com/open-policy-agent/opa/blob/main/v1/topdown/trace.go.
``http.send`` lives in :mod:`kubegate.evaluator.builtins.misc_http`.

* ``opa.runtime()`` returns ``{"env": {}}``: OPA's answer carries the process
  environment and the server configuration, which may hold secrets, so
  kubegate exposes neither (and has no OPA version or commit to report).
* ``trace(note)`` is a no-op returning true: kubegate's evaluator has no
  tracer to send notes to.
* Not implemented here: ``rego.parse_module`` (it returns OPA's JSON AST,
  which needs an OPA-compatible parser and AST serialiser), and
  ``rego.metadata.chain`` / ``rego.metadata.rule`` (they read the calling
  rule's annotations, which only the compiler knows).
"""

from __future__ import annotations

import secrets
from typing import Any

from kubegate.evaluator.builtins.registry import BuiltinContext, arg_string, implements
from kubegate.evaluator.values import UNDEF, hkey

__all__ = ["parse_uuid"]

_HEX = frozenset("0123456789abcdefABCDEF")
_GREGORIAN_OFFSET = 122192928000000000  # 100 ns intervals from 1582-10-15 to 1970-01-01


def parse_uuid(s: str) -> bytes | None:
    """The 16 bytes of ``s`` as ``github.com/google/uuid``'s ``Parse`` reads it, None if invalid."""
    b = s.encode("utf-8", "surrogatepass")
    n = len(b)
    if n == 36 + 9:
        if b[:9].lower() != b"urn:uuid:":
            return None
        b = b[9:]
    elif n == 36 + 2:
        b = b[1:]  # google/uuid drops the first byte without checking it is a brace
    elif n == 32:
        return _hex_bytes(b)
    elif n != 36:
        return None
    if b[8:9] != b"-" or b[13:14] != b"-" or b[18:19] != b"-" or b[23:24] != b"-":
        return None
    return _hex_bytes(b[0:8] + b[9:13] + b[14:18] + b[19:23] + b[24:36])


def _hex_bytes(b: bytes) -> bytes | None:
    try:
        text = b.decode("ascii")
    except UnicodeDecodeError:
        return None
    if len(text) != 32 or not _HEX.issuperset(text):
        return None
    return bytes.fromhex(text)


def _variant(u: bytes) -> str:
    if u[8] & 0xC0 == 0x80:
        return "RFC4122"
    if u[8] & 0xE0 == 0xC0:
        return "Microsoft"
    if u[8] & 0xE0 == 0xE0:
        return "Future"
    return "Reserved"


def _mac_vars(b: int) -> str:
    if b & 0b11 == 0b11:
        return "local:multicast"
    if b & 0b01:
        return "global:multicast"
    if b & 0b10:
        return "local:unicast"
    return "global:unicast"


def _go_divmod(a: int, b: int) -> tuple[int, int]:
    """Go's truncating division and remainder."""
    q = abs(a) // b
    q = -q if a < 0 else q
    return q, a - q * b


@implements("uuid.parse")
def uuid_parse(uuid: Any) -> Any:
    """The fields of a UUID (``version``, ``variant``; for versions 1 and 2 also
    ``time``, ``nodeid``, ``macvariables``, ``clocksequence``; for 2 ``id``, ``domain``),
    undefined when ``uuid`` is not one."""
    u = parse_uuid(arg_string(uuid, 1))
    if u is None:
        return UNDEF
    version = u[6] >> 4
    out: dict[Any, Any] = {"version": version, "variant": _variant(u)}
    if version in (1, 2):
        t = int.from_bytes(u[0:4], "big") | int.from_bytes(u[4:6], "big") << 32
        t |= (int.from_bytes(u[6:8], "big") & 0xFFF) << 48
        sec, rem = _go_divmod(t - _GREGORIAN_OFFSET, 10_000_000)
        out["time"] = sec * 1_000_000_000 + rem * 100
        out["nodeid"] = "-".join(f"{x:02x}" for x in u[10:16])
        out["macvariables"] = _mac_vars(u[10])
        out["clocksequence"] = int.from_bytes(u[8:10], "big") & 0x3FFF
        if version == 2:
            out["id"] = int.from_bytes(u[0:4], "big")
            out["domain"] = {0: "Person", 1: "Group", 2: "Org"}.get(u[9], f"Domain{u[9]}")
    return out


@implements("uuid.rfc4122", context=True)
def uuid_rfc4122(ctx: BuiltinContext, k: Any) -> str:
    """A random version 4 UUID, the same for the same ``k`` within a query."""
    key = ("uuid.rfc4122", hkey(k))
    cached = ctx.cache.get(key)
    if type(cached) is str:
        return cached
    b = bytearray(secrets.token_bytes(16))
    b[8] = (b[8] & 0x3F) | 0x80
    b[6] = (b[6] & 0x0F) | 0x40
    h = b.hex()
    result = f"{h[0:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"
    ctx.cache[key] = result
    return result


@implements("opa.runtime")
def opa_runtime() -> dict[Any, Any]:
    """``{"env": {}}``: what of OPA's runtime information is safe to show (see the module docs)."""
    return {"env": {}}


@implements("trace", context=True)
def trace(ctx: BuiltinContext, note: Any) -> bool:
    """True; the note (a string) goes nowhere, as kubegate has no tracer."""
    arg_string(note, 1)
    return True
