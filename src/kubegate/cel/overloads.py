"""Library functions declared once, built into a checking and a runtime environment.

The runtime registers a Python implementation by its function name and the
*kinds* of its arguments, and every carrier (:mod:`kubegate.cel.carriers`) is of
one kind, a message. Two overloads that differ only in their carrier types,
such as ``isGreaterThan`` on a quantity and on a semver, or ``string`` of an
IP and of a CIDR, therefore cannot both be registered: evaluation fails with
``ALREADY_EXISTS: CelFunction with specified parameters already registered``
(measured with cel-expr-python 0.1.3; docs/cel-notes.md §3). So a library
declares its overloads as data (:class:`Library`), and kubegate builds:

* a **checking** extension with every overload as Kubernetes declares it: user
  text is type-checked against it, so ``quantity('1').isGreaterThan(semver('1.0.0'))``
  is a compile error as in Kubernetes;
* a **runtime** extension where the overloads that share a runtime signature
  become one registration whose implementation dispatches on the carrier
  types of its arguments. Text checked in the first is evaluated in the
  second, parsed without a second check.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from cel_expr_python import cel

from kubegate.cel import carriers

__all__ = ["Function", "Library", "Overload", "checking_extension", "runtime_extension"]

ParamType = Any
"""A ``cel.Type``, or the name of a carrier type (``"net.IP"``)."""


@dataclass(frozen=True)
class Overload:
    """One overload of a library function.

    Attributes:
        id: the overload id Kubernetes uses (``quantity_is_greater_than``).
        result: its result type (a ``cel.Type`` or a carrier type name).
        params: its parameter types, the receiver first for a member overload.
        impl: the Python implementation (plain values and carrier messages in
            and out; an exception becomes a CEL error value).
        member: called as ``receiver.name(args)``.
    """

    id: str
    result: ParamType
    params: tuple[ParamType, ...]
    impl: Callable[..., Any]
    member: bool = False


@dataclass(frozen=True)
class Function:
    """A library function: its name and overloads."""

    name: str
    overloads: tuple[Overload, ...]


@dataclass(frozen=True)
class Library:
    """A Kubernetes CEL library (k8s.io/apiserver ``pkg/cel/library``) as data."""

    name: str
    functions: tuple[Function, ...]


def _type(t: ParamType) -> Any:
    return carriers.carrier_type(t) if isinstance(t, str) else t


def _overload(o: Overload, impl: Callable[..., Any] | None = None) -> Any:
    return cel.Overload(o.id, _type(o.result), [_type(p) for p in o.params], is_member=o.member, impl=impl or o.impl)


def checking_extension(library: Library) -> Any:
    """The library as Kubernetes declares it, for type checking (never evaluated)."""
    return cel.CelExtension(
        library.name, [cel.FunctionDecl(f.name, [_overload(o) for o in f.overloads]) for f in library.functions]
    )


def _signature(function: str, o: Overload) -> tuple[Any, ...]:
    return (function, o.member, tuple("message" if isinstance(p, str) else id(p) for p in o.params))


def _dispatcher(function: str, group: Sequence[Overload]) -> Callable[..., Any]:
    by_types = {tuple(p if isinstance(p, str) else "" for p in o.params): o.impl for o in group}

    def dispatch(*args: Any) -> Any:
        key = tuple(a.DESCRIPTOR.full_name if hasattr(a, "DESCRIPTOR") else "" for a in args)
        impl = by_types.get(key)
        if impl is None:
            names = ", ".join(k or type(a).__name__ for k, a in zip(key, args, strict=True))
            raise TypeError(f"no such overload: {function}({names})")
        return impl(*args)

    return dispatch


def runtime_extension(libraries: Iterable[Library]) -> Any:
    """One extension holding every library's functions for evaluation, the
    overloads that share a runtime signature merged into a dispatcher."""
    groups: dict[tuple[Any, ...], list[Overload]] = {}
    names: dict[str, list[tuple[Any, ...]]] = {}
    for library in libraries:
        for function in library.functions:
            for o in function.overloads:
                key = _signature(function.name, o)
                if key not in groups:
                    groups[key] = []
                    names.setdefault(function.name, []).append(key)
                groups[key].append(o)
    decls = []
    for name, keys in names.items():
        overloads = []
        for key in keys:
            group = groups[key]
            impl = group[0].impl if len(group) == 1 else _dispatcher(name, group)
            overloads.append(_overload(group[0], impl))
        decls.append(cel.FunctionDecl(name, overloads))
    return cel.CelExtension("kubegate.runtime", decls)
