"""How builtin implementations are registered and what they may raise.

Signatures are declared apart from implementations, as OPA does
(``v1/ast/builtins.go`` declares, ``v1/topdown/*.go`` implements): the
declared table is :mod:`kubegate.evaluator.builtins.signatures`; each family
module (``strings``, ``regex``, ``time`` ...) registers implementations with
:func:`implements`.

An implementation is a plain function of already evaluated operands (Rego
values, see :mod:`kubegate.evaluator.values`) returning a Rego value, or
:data:`~kubegate.evaluator.values.UNDEF` when the result is undefined. It
reports bad operands by raising :class:`BuiltinError` (or its subclass
:class:`OperandTypeError`); the evaluator turns these into undefined, or into
``eval_builtin_error`` / ``eval_type_error`` under ``strict_builtin_errors``,
as OPA's topdown does. An implementation registered with ``context=True``
receives a :class:`BuiltinContext` as its first argument. A *relation*
(``walk``, registered with ``relation=True``) returns an iterable of results,
each of which the evaluator unifies with the output in turn.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from kubegate.evaluator.values import Set, type_name

__all__ = [
    "IMPLEMENTATIONS",
    "Builtin",
    "BuiltinContext",
    "BuiltinError",
    "HaltError",
    "OperandTypeError",
    "arg_array",
    "arg_int",
    "arg_number",
    "arg_object",
    "arg_set",
    "arg_string",
    "guard_error",
    "implements",
]


class BuiltinError(Exception):
    """A builtin cannot produce a value for its operands.

    ``code`` is OPA's: ``eval_builtin_error`` by default, ``eval_type_error``
    for operand type errors.
    """

    code = "eval_builtin_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class OperandTypeError(BuiltinError):
    """Operand ``position`` (1-based) has the wrong type; the message is OPA's:
    ``operand 1 must be string but got number``."""

    code = "eval_type_error"

    def __init__(self, position: int, expected: str, value: Any) -> None:
        super().__init__(f"operand {position} must be {expected} but got {type_name(value)}")
        self.position = position


class HaltError(Exception):
    """An error that ends the evaluation whatever the strictness (OPA's ``topdown.Halt``),
    for example ``http.send`` failing with ``raise_error`` or an explicit ``eval_cancel_error``."""

    def __init__(self, message: str, code: str = "eval_builtin_error") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class BuiltinContext(Protocol):
    """What context-aware builtins may use (``time.now_ns``, ``rand.intn``, ``print``, ``http.send``).

    Attributes:
        strict: ``strict_builtin_errors`` of the query.
        cache: per-query memo shared by non-deterministic builtins, so
            ``time.now_ns()`` and ``rand.intn("k", 10)`` give one value per query
            (OPA's ``BuiltinContext.Cache``).
        http_send_enabled: whether ``http.send`` may reach the network.
        http_send_timeout_s: its default timeout in seconds.
    """

    strict: bool
    cache: dict[Any, Any]
    http_send_enabled: bool
    http_send_timeout_s: float

    def now_ns(self) -> int:
        """The query's start time in nanoseconds since the epoch (one value per query)."""

    def print(self, text: str) -> None:
        """Writes one line of ``print`` output to the configured sink."""


@dataclass(frozen=True, slots=True)
class Builtin:
    """An implementation: ``name`` as Rego calls it, the function, whether it takes a context."""

    name: str
    impl: Callable[..., Any]
    context: bool = False
    relation: bool = False


IMPLEMENTATIONS: dict[str, Builtin] = {}


def implements(
    *names: str, context: bool = False, relation: bool = False
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Registers the decorated function as the implementation of ``names``.

    Raises:
        ValueError: a name is registered twice (a programming error).
    """

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        for name in names:
            if name in IMPLEMENTATIONS:
                raise ValueError(f"builtin {name} implemented twice")
            IMPLEMENTATIONS[name] = Builtin(name, fn, context, relation)
        return fn

    return register


def arg_string(value: Any, position: int) -> str:
    if type(value) is not str:
        raise OperandTypeError(position, "string", value)
    return value


def arg_number(value: Any, position: int) -> int | float:
    t = type(value)
    if t is not int and t is not float:
        raise OperandTypeError(position, "number", value)
    return value  # type: ignore[no-any-return]


def arg_int(value: Any, position: int) -> int:
    """A number operand that must be integral (returned as ``int``)."""
    n = arg_number(value, position)
    if type(n) is float:
        if not n.is_integer():
            raise BuiltinError(f"operand {position} must be integer number but got floating-point number")
        return int(n)
    return n  # type: ignore[return-value]


def arg_array(value: Any, position: int) -> list[Any] | tuple[Any, ...]:
    t = type(value)
    if t is not list and t is not tuple:
        raise OperandTypeError(position, "array", value)
    return value  # type: ignore[no-any-return,unused-ignore]


def arg_object(value: Any, position: int) -> dict[Any, Any]:
    if type(value) is not dict:
        raise OperandTypeError(position, "object", value)
    return value  # type: ignore[no-any-return,unused-ignore]


def arg_set(value: Any, position: int) -> Set:
    if type(value) is not Set:
        raise OperandTypeError(position, "set", value)
    return value  # type: ignore[no-any-return,unused-ignore]


def guard_error(exc: BaseException) -> BuiltinError | None:
    """The :class:`BuiltinError` a :func:`guarded` implementation turns ``exc`` into, if any."""
    if isinstance(exc, RecursionError):
        return BuiltinError("value too deeply nested")
    if isinstance(exc, MemoryError):
        return BuiltinError("out of memory")
    if isinstance(exc, (ArithmeticError, ValueError, TypeError, KeyError, IndexError)):
        return BuiltinError(f"illegal value: {exc}")
    return None
