"""Bitwise builtins on integers of any size: ``bits.and``, ``bits.or``, ``bits.xor``,
``bits.negate``, ``bits.lsh`` and ``bits.rsh``.

Follows https://github.com/open-policy-agent/opa/blob/main/v1/topdown/bits.go
(``big.Int`` two's-complement semantics, which Python's ``int`` shares).
"""

from __future__ import annotations

from typing import Any

from kubegate.evaluator.builtins._nc_support import OperandError, big_int_operand, guarded
from kubegate.evaluator.builtins.registry import BuiltinError, implements

__all__ = ["MAX_BITS", "bits_and", "bits_lsh", "bits_negate", "bits_or", "bits_rsh", "bits_xor"]

#: The largest result ``bits.lsh`` builds, in bits (OPA has no limit and would try
#: to allocate whatever a hostile shift asks for).
MAX_BITS = 1 << 20


@implements("bits.and")
@guarded
def bits_and(x: Any, y: Any) -> int:
    """The bitwise AND of two integers."""
    return big_int_operand(x, 1) & big_int_operand(y, 2)


@implements("bits.or")
@guarded
def bits_or(x: Any, y: Any) -> int:
    """The bitwise OR of two integers."""
    return big_int_operand(x, 1) | big_int_operand(y, 2)


@implements("bits.xor")
@guarded
def bits_xor(x: Any, y: Any) -> int:
    """The bitwise XOR of two integers."""
    return big_int_operand(x, 1) ^ big_int_operand(y, 2)


@implements("bits.negate")
@guarded
def bits_negate(x: Any) -> int:
    """The bitwise complement of an integer (``-x - 1``)."""
    return ~big_int_operand(x, 1)


def _shift(y: Any) -> int:
    s = big_int_operand(y, 2)
    if s < 0:
        raise OperandError("operand 2 must be an unsigned integer number but got a negative integer")
    return s


@implements("bits.lsh")
@guarded
def bits_lsh(x: Any, y: Any) -> int:
    """``x`` shifted left by ``y`` bits.

    Raises:
        BuiltinError: the result would have more than :data:`MAX_BITS` bits.
    """
    a = big_int_operand(x, 1)
    s = _shift(y)
    if a == 0:
        return 0
    if a.bit_length() + s > MAX_BITS:
        raise BuiltinError(f"bits.lsh: result larger than {MAX_BITS} bits")
    return a << s


@implements("bits.rsh")
@guarded
def bits_rsh(x: Any, y: Any) -> int:
    """``x`` shifted right by ``y`` bits (arithmetic shift: negative numbers stay negative)."""
    a = big_int_operand(x, 1)
    s = _shift(y)
    if s > a.bit_length():
        return -1 if a < 0 else 0
    return a >> s
