"""Planning the ``with`` modifier: replacing input, data and functions for one literal.

Targets, as OPA accepts them
(https://www.openpolicyagent.org/docs/latest/policy-language/#with-keyword):
``input`` or a path below it; ``data.<path>`` (base or virtual documents);
a user function or a builtin (``with time.now_ns as 1``, ``with f as g``):
a value replaces every call's result, a function name replaces the function.
The literal runs in a child context (fresh virtual-document cache); the
caller's objects are never mutated (paths are patched into copies).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from kubegate.errors import RegoCompileError
from kubegate.evaluator.planner import Compiled, Step
from kubegate.evaluator.refs import patch_path
from kubegate.evaluator.values import UNDEF
from kubegate.rego import ast

if TYPE_CHECKING:
    from kubegate.evaluator.planner import Planner

__all__ = ["Mock", "plan_with"]

Frame = list[Any]


class Mock:
    """A replacement for a function: a constant ``value`` or another ``function``
    (``function(ctx, args) -> value``)."""

    __slots__ = ("function", "value")

    def __init__(self, value: Any = UNDEF, function: Callable[[Any, tuple[Any, ...]], Any] | None = None) -> None:
        self.value = value
        self.function = function

    def apply(self, ctx: Any, args: tuple[Any, ...]) -> Any:
        if self.function is not None:
            return self.function(ctx, args)
        return self.value


def _target_path(t: ast.Term) -> tuple[str, tuple[str, ...]] | None:
    """``("input"|"data"|name, path)`` for a with target of constant segments."""
    if isinstance(t, ast.Var):
        return t.name, ()
    if isinstance(t, ast.Ref) and isinstance(t.head, ast.Var):
        segs: list[str] = []
        for s in t.path:
            if not (isinstance(s, ast.Scalar) and type(s.value) is str):
                return None
            segs.append(s.value)
        return t.head.name, tuple(segs)
    return None


def plan_with(p: Planner, lit: ast.Literal, capture_slot: int | None) -> Step:
    actions: list[tuple[str, Any, Compiled | Mock]] = []
    for w in lit.withs:
        target = _target_path(w.target)
        if target is None:
            raise RegoCompileError(
                "with keyword target must reference existing input, data, or a function",
                w.loc,
                code="rego_compile_error",
            )
        root, path = target
        if root == "input":
            actions.append(("input", path, p.term(w.value)))
            continue
        func = p.program.function_key(p, root, path)
        if func is not None:
            replacement = p.program.function_replacement(p, w.value)
            actions.append(("mock", func, replacement if replacement is not None else p.term(w.value)))
            continue
        if root == "data":
            actions.append(("data", path, p.term(w.value)))
            continue
        imp = p.module.imports.get(root)
        if imp is not None and imp[0] in ("input", "data"):
            actions.append((imp[0], imp[1] + path, p.term(w.value)))
            continue
        if root in p.module.rule_names:
            actions.append(("data", (*p.module.package, root, *path), p.term(w.value)))
            continue
        raise RegoCompileError(
            "with keyword target must reference existing input, data, or a function", w.loc, code="rego_compile_error"
        )
    for _, _, c in actions:
        if isinstance(c, Compiled) and c.gen:
            raise RegoCompileError("with keyword value must not iterate", lit.loc, code="rego_compile_error")
    # Values that do not depend on input.parameters stay valid when only the
    # parameters are replaced (a constraint's dispatch): keep sharing them.
    params_only = all(kind == "input" and path[:1] == ("parameters",) for kind, path, _ in actions)
    inner_step = p.literal(ast.Literal(lit.expr, lit.negated, (), loc=lit.loc), capture_slot)
    inner = inner_step.fn
    is_gen = inner_step.gen
    plan = tuple(actions)

    def derive(f: Frame) -> Any:
        ctx = f[0]
        c2 = ctx.child()
        if params_only:
            c2.shared = ctx.shared
        for kind, path, val in plan:
            if isinstance(val, Mock):
                c2.mocks = {**c2.mocks, path: val}
                continue
            v = val.fn(f)
            if v is UNDEF:
                return None
            if kind == "input":
                c2.input = patch_path(c2.input, path, v) if path else v
            elif kind == "data":
                c2.overrides = (*c2.overrides, (path, v))
            else:
                c2.mocks = {**c2.mocks, path: Mock(value=v)}
        return c2

    def run(f: Frame) -> Iterator[None]:
        ctx = f[0]
        c2 = derive(f)
        if c2 is None:
            return
        f[0] = c2
        try:
            if is_gen:
                for _ in inner(f):
                    f[0] = ctx
                    yield None
                    f[0] = c2
            elif inner(f):
                f[0] = ctx
                yield None
        finally:
            f[0] = ctx

    return Step(run, True)
