"""Body runners: a planned body's literal steps joined into one generator.

A body is a sequence of *steps*, each either a filter (``step(frame) ->
bool``, no iteration) or a generator (``step(frame) -> Iterator``, one item
per way the literal can hold, binding frame slots). :func:`chain` joins them
into a runner ``run(frame) -> Iterator[None]`` that yields once per solution.

The runner is generated as Python source, once per body *shape* (the
sequence of step kinds), and cached: every generator step becomes a nested
``for`` loop in one generator function, every filter an ``if`` that moves
on to the next solution, and a step binding a slot stores the value inline.
Compared with a chain of closures (one generator frame per literal and a
``yield from`` per level) this halves the calls per solution. Bodies with
more generator steps than Python's static block limit (20 nested blocks)
fall back to the closure chain.

Every loop iteration counts one step against the deadline
(:meth:`kubegate.evaluator.context.Context.tick`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from kubegate.evaluator.values import UNDEF

__all__ = ["MAX_LOOPS", "Step", "chain", "run_none"]

Frame = list[Any]
Runner = Callable[[Frame], Iterator[None]]

#: Loops one generated function may nest: Python allows 20 statically nested
#: blocks; keep room for the caller's. Also used by :mod:`.refwalk`.
MAX_LOOPS = 16


class Step:
    """One planned literal.

    ``fn`` is a filter (``gen`` false) or a generator of solutions (``gen``
    true). A step that binds one frame slot from a value also carries
    ``slot`` and ``value`` (the value function, or generator of values when
    ``gen``), so :func:`chain` can store the value inline. A filter that
    tests a term's value (defined and not ``false``) carries ``value`` alone;
    a negation of a filter carries that filter as ``negates``.
    """

    __slots__ = ("fn", "gen", "negates", "slot", "value")

    def __init__(
        self,
        fn: Callable[[Frame], Any],
        gen: bool,
        slot: int | None = None,
        value: Callable[[Frame], Any] | None = None,
        negates: Callable[[Frame], Any] | None = None,
    ) -> None:
        self.fn = fn
        self.gen = gen
        self.slot = slot
        self.value = value
        self.negates = negates


def run_none(f: Frame) -> Iterator[None]:
    """The runner of an empty body: one solution."""
    yield None


_factories: dict[str, Callable[..., Runner]] = {}


def chain(steps: list[Step]) -> Runner:
    """Joins literal steps into a body runner (see the module docstring)."""
    if not steps:
        return run_none
    if sum(s.gen for s in steps) > MAX_LOOPS:
        return _closure_chain(steps)
    shape = []
    args: list[Any] = []
    for s in steps:
        if s.slot is not None and s.value is not None:
            shape.append("B" if s.gen else "b")
            args += [s.value, s.slot]
        elif s.value is not None and not s.gen:
            shape.append("T")
            args.append(s.value)
        elif s.negates is not None and not s.gen:
            shape.append("N")
            args.append(s.negates)
        else:
            shape.append("G" if s.gen else "F")
            args.append(s.fn)
    key = "".join(shape)
    factory = _factories.get(key)
    if factory is None:
        factory = _factories[key] = _factory(key)
    return factory(*args)


def _factory(shape: str) -> Callable[..., Runner]:
    """Compiles the runner factory for one body shape.

    ``F``: filter; ``T``: a term's value is defined and not ``false``;
    ``N``: a filter fails; ``G``: generator; ``b``: bind a value to a slot;
    ``B``: bind each value of a generator to a slot.
    """
    params: list[str] = []
    body: list[str] = []
    depth = 1
    in_loop = False
    ctx_loaded = False

    def emit(line: str) -> None:
        body.append("    " * depth + line)

    for i, kind in enumerate(shape):
        fail = "continue" if in_loop else "return"
        if kind == "F":
            params.append(f"s{i}")
            emit(f"if not s{i}(f): {fail}")
        elif kind == "T":
            params.append(f"t{i}")
            emit(f"x = t{i}(f)")
            emit(f"if x is UNDEF or x is False: {fail}")
        elif kind == "N":
            params.append(f"n{i}")
            emit(f"if n{i}(f): {fail}")
        elif kind == "b":
            params += [f"v{i}", f"k{i}"]
            emit(f"x = v{i}(f)")
            emit(f"if x is UNDEF: {fail}")
            emit(f"f[k{i}] = x")
        else:
            if not ctx_loaded:
                emit("ctx = f[0]")
                ctx_loaded = True
            if kind == "G":
                params.append(f"s{i}")
                emit(f"for _ in s{i}(f):")
            else:
                params += [f"v{i}", f"k{i}"]
                emit(f"for x in v{i}(f):")
            depth += 1
            emit("ctx.budget -= 1")
            emit("if ctx.budget <= 0: ctx.check_deadline()")
            if kind == "B":
                emit(f"f[k{i}] = x")
            in_loop = True
    emit("yield None")
    src = (
        f"def factory({', '.join(params)}):\n    def run(f):\n"
        + "\n".join("    " + line for line in body)
        + "\n    return run\n"
    )
    namespace: dict[str, Any] = {"UNDEF": UNDEF}
    exec(compile(src, f"<kubegate body {shape}>", "exec"), namespace)  # our own generated source
    factory: Callable[..., Runner] = namespace["factory"]
    return factory


def _closure_chain(steps: list[Step]) -> Runner:
    """The runner as nested closures (bodies too deep for one function)."""
    if not steps:
        return run_none
    i = 0
    filters: list[Callable[[Frame], Any]] = []
    while i < len(steps) and not steps[i].gen:
        filters.append(steps[i].fn)
        i += 1
    fs = tuple(filters)
    if i == len(steps):

        def runf(f: Frame) -> Iterator[None]:
            for flt in fs:
                if not flt(f):
                    return
            yield None

        return runf
    gen = steps[i].fn
    rest = _closure_chain(steps[i + 1 :])

    def run(f: Frame) -> Iterator[None]:
        for flt in fs:
            if not flt(f):
                return
        ctx = f[0]
        for _ in gen(f):
            ctx.tick()
            yield from rest(f)

    return run
