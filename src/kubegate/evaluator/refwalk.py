"""Enumerating references: ``spec[field][_].ports[p]`` as one generator.

A reference with unbound segments yields one value per way its segments
can be bound (OPA's reference evaluation,
https://www.openpolicyagent.org/docs/latest/policy-language/#references).
Its segments are planned by :func:`kubegate.evaluator.refs.chain_path` into
kinds; this module turns a sequence of kinds into Python source, once per
*shape*, cached, so that a reference is one generator with one nested loop
per enumerated segment instead of a generator per segment:

``c`` constant key; ``v`` key from a value function; ``g`` keys from a
generator; ``e`` any element (``_``); ``s`` each key bound to a slot;
``m`` each key matched against a pattern.

Every enumerated element counts one step against the deadline
(:meth:`kubegate.evaluator.context.Context.tick`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from kubegate.evaluator.bodies import MAX_LOOPS
from kubegate.evaluator.operators import enumerate_any, enumerate_value, index, values_any, values_ordered
from kubegate.evaluator.values import UNDEF

__all__ = ["MAX_LOOPS", "walk_source", "walker"]

Frame = list[Any]
GenFn = Callable[[Frame], Iterator[Any]]


_factories: dict[str, Callable[..., GenFn]] = {}


def walker(
    base: Callable[[Frame], Any],
    base_gen: bool,
    segs: list[tuple[str, Any]],
    idx: Callable[[Any, Any], Any],
    ordered: bool,
) -> GenFn | None:
    """The generator of a reference's values, or ``None`` when it has too many loops.

    Args:
        base: the value function (or generator when ``base_gen``) of the head.
        segs: ``(kind, x)`` per segment as :func:`~kubegate.evaluator.refs.chain_path`
            plans them: ``("const", key)``, ``("val", fn)``, ``("gen", fn)``,
            ``("enum", slot)`` (slot -1: ``_``), ``("match", matcher)``.
        idx: indexing for constant segments (``data`` references find
            string keys for integer segments).
        ordered: enumerate in OPA's sorted order.
    """
    shape = ["G" if base_gen else "B"]
    args: list[Any] = [base]
    for kind, x in segs:
        if kind == "enum":
            shape.append("e" if x < 0 else "s")
            if x >= 0:
                args.append(x)
        else:
            shape.append({"const": "c", "val": "v", "gen": "g", "match": "m"}[kind])
            args.append(x)
    loops = sum(k in "Gegsm" for k in shape)
    if loops > MAX_LOOPS:
        return None
    key = "".join(shape)
    factory = _factories.get(key)
    if factory is None:
        factory = _factories[key] = _compile(key)
    return factory(idx, values_ordered if ordered else values_any, enumerate_value if ordered else enumerate_any, *args)


def walk_source(shape: str) -> str:
    """The Python source of the factory for ``shape`` (see the module docstring)."""
    params = ["idx", "values", "enum", "base"]
    lines: list[str] = []
    depth = 2
    in_loop = False

    def emit(line: str) -> None:
        lines.append("    " * depth + line)

    emit("ctx = f[0]")
    if shape[0] == "B":
        emit("w0 = base(f)")
        emit("if w0 is UNDEF: return")
    else:
        emit("for w0 in base(f):")
        depth += 1
        in_loop = True
    for i, kind in enumerate(shape[1:]):
        src, dst = f"w{i}", f"w{i + 1}"
        fail = "continue" if in_loop else "return"
        if kind == "c":
            params.append(f"p{i}")
            emit(f"{dst} = idx({src}, p{i})")
            emit(f"if {dst} is UNDEF: {fail}")
            continue
        if kind == "v":
            params.append(f"p{i}")
            emit(f"k = p{i}(f)")
            emit(f"if k is UNDEF: {fail}")
            emit(f"{dst} = index({src}, k)")
            emit(f"if {dst} is UNDEF: {fail}")
            continue
        if kind != "e":
            params.append(f"p{i}")
        if kind == "g":
            emit(f"for k in p{i}(f):")
            depth += 1
            emit(f"{dst} = index({src}, k)")
            emit(f"if {dst} is UNDEF: continue")
        elif kind == "e":
            emit(f"for {dst} in values({src}):")
            depth += 1
        elif kind == "s":
            emit(f"for k, {dst} in enum({src}):")
            depth += 1
            emit(f"f[p{i}] = k")
        else:  # m
            emit(f"for k, {dst} in enum({src}):")
            depth += 1
            emit(f"if not p{i}(f, k): continue")
        emit("ctx.budget -= 1")
        emit("if ctx.budget <= 0: ctx.check_deadline()")
        in_loop = True
    emit(f"yield w{len(shape) - 1}")
    return f"def factory({', '.join(params)}):\n    def walk(f):\n" + "\n".join(lines) + "\n    return walk\n"


def _compile(shape: str) -> Callable[..., GenFn]:
    namespace: dict[str, Any] = {"UNDEF": UNDEF, "index": index}
    code = compile(walk_source(shape), f"<kubegate ref {shape}>", "exec")
    exec(code, namespace)  # our own generated source
    factory: Callable[..., GenFn] = namespace["factory"]
    return factory
