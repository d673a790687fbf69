"""Type builtins: ``is_number``, ``is_string``, ``is_boolean``, ``is_array``,
``is_set``, ``is_object``, ``is_null``, ``type_name`` and the deprecated casts
``cast_array``, ``cast_set``, ``cast_string``, ``cast_boolean``, ``cast_null``
and ``cast_object``.

Follows https://github.com/open-policy-agent/opa/blob/main/v1/topdown/type.go and
https://github.com/open-policy-agent/opa/blob/main/v1/topdown/casts.go.
A boolean is never a number here although Python's ``bool`` is an ``int``.
"""

from __future__ import annotations

from typing import Any

from kubegate.evaluator.builtins._nc_support import OperandError, guarded, one_of_error, safe_type_name
from kubegate.evaluator.builtins.registry import implements
from kubegate.evaluator.values import Set

__all__ = [
    "cast_array",
    "cast_boolean",
    "cast_null",
    "cast_object",
    "cast_set",
    "cast_string",
    "is_array",
    "is_boolean",
    "is_null",
    "is_number",
    "is_object",
    "is_set",
    "is_string",
    "type_name_",
]


@implements("is_number")
def is_number(x: Any) -> bool:
    """Whether ``x`` is a number (booleans are not)."""
    t = type(x)
    return t is int or t is float


@implements("is_string")
def is_string(x: Any) -> bool:
    """Whether ``x`` is a string."""
    return type(x) is str


@implements("is_boolean")
def is_boolean(x: Any) -> bool:
    """Whether ``x`` is a boolean."""
    return type(x) is bool


@implements("is_array")
def is_array(x: Any) -> bool:
    """Whether ``x`` is an array."""
    t = type(x)
    return t is list or t is tuple


@implements("is_set")
def is_set(x: Any) -> bool:
    """Whether ``x`` is a set."""
    return type(x) is Set


@implements("is_object")
def is_object(x: Any) -> bool:
    """Whether ``x`` is an object."""
    return type(x) is dict


@implements("is_null")
def is_null(x: Any) -> bool:
    """Whether ``x`` is null."""
    return x is None


@implements("type_name")
@guarded
def type_name_(x: Any) -> str:
    """``"null"``, ``"boolean"``, ``"number"``, ``"string"``, ``"array"``, ``"object"`` or ``"set"``."""
    name = safe_type_name(x)
    if name == "unknown":
        raise OperandError(f"operand 1 must be any type but got {name}")
    return name


@implements("cast_array")
@guarded
def cast_array(x: Any) -> Any:
    """Deprecated: an array as is, a set as its sorted elements."""
    t = type(x)
    if t is list or t is tuple:
        return x
    if t is Set:
        return x.values()
    raise one_of_error(1, x, "array", "set")


@implements("cast_set")
@guarded
def cast_set(x: Any) -> Set:
    """Deprecated: the set of an array's elements, a set as is."""
    t = type(x)
    if t is list or t is tuple:
        return Set(x)
    if t is Set:
        return x  # type: ignore[no-any-return]
    raise one_of_error(1, x, "array", "set")


def _same(x: Any, expected: str) -> Any:
    if safe_type_name(x) != expected:
        raise one_of_error(1, x, expected)
    return x


@implements("cast_string")
@guarded
def cast_string(x: Any) -> Any:
    """Deprecated: ``x`` if it is a string."""
    return _same(x, "string")


@implements("cast_boolean")
@guarded
def cast_boolean(x: Any) -> Any:
    """Deprecated: ``x`` if it is a boolean."""
    return _same(x, "boolean")


@implements("cast_null")
@guarded
def cast_null(x: Any) -> Any:
    """Deprecated: ``x`` if it is null."""
    return _same(x, "null")


@implements("cast_object")
@guarded
def cast_object(x: Any) -> Any:
    """Deprecated: ``x`` if it is an object."""
    return _same(x, "object")
