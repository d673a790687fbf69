"""Planning array, set and object comprehensions.

A comprehension is a closure: variables bound in the enclosing body are read,
every other variable is local to it. Its value is computed each time the
enclosing literal is evaluated (OPA: "Comprehensions",
https://www.openpolicyagent.org/docs/latest/policy-language/#comprehensions).
Object comprehensions with one key and two values raise
``eval_conflict_error`` ("object keys must be unique").
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from kubegate.evaluator.planner import Compiled
from kubegate.evaluator.scope import Scope, declared_names
from kubegate.evaluator.tree import conflict
from kubegate.evaluator.values import UNDEF, Set, equal, to_key
from kubegate.rego import ast

if TYPE_CHECKING:
    from kubegate.evaluator.planner import Planner

__all__ = ["plan_comprehension"]

Frame = list[Any]


def plan_comprehension(p: Planner, t: ast.Term) -> Compiled:
    assert isinstance(t, ast.ArrayCompr | ast.SetCompr | ast.ObjectCompr)
    saved_scope, saved_bound, saved_ordered = p.scope, set(p.bound), p.ordered
    p.scope = Scope(p.layout, saved_scope)
    p.ordered = saved_ordered or isinstance(t, ast.ArrayCompr)
    heads: list[ast.Term] = [t.key, t.value] if isinstance(t, ast.ObjectCompr) else [t.head]
    try:
        p.prepare_scope([*t.body, *heads], declared_names(t.body))
        body = p.body(t.body)
        planned = [p.term(h) for h in heads]
    finally:
        p.scope, p.bound, p.ordered = saved_scope, saved_bound, saved_ordered
    loc = t.loc
    if isinstance(t, ast.ObjectCompr):
        kc, vc = planned
        kg, vg = kc.as_gen(), vc.as_gen()

        def obj(f: Frame) -> Any:
            out: dict[Any, Any] = {}
            for _ in body(f):
                for k in kg(f):
                    for v in vg(f):
                        kk = to_key(k)
                        old = out.get(kk, UNDEF)
                        if old is UNDEF:
                            out[kk] = v
                        elif not equal(old, v):
                            raise conflict("object keys must be unique", loc)
            return out

        return Compiled(obj)
    (hc,) = planned
    if isinstance(t, ast.SetCompr):
        if hc.gen:
            hg = hc.fn

            def gset(f: Frame) -> Any:
                return Set([v for _ in body(f) for v in hg(f)])

            return Compiled(gset)
        hf = hc.fn

        def vset(f: Frame) -> Any:
            out = set()
            for _ in body(f):
                v = hf(f)
                if v is not UNDEF:
                    out.add(to_key(v))
            return Set.from_keys(frozenset(out))

        return Compiled(vset)
    if hc.gen:
        hg2 = hc.fn

        def garr(f: Frame) -> Any:
            return tuple(v for _ in body(f) for v in hg2(f))

        return Compiled(garr)
    hf2 = hc.fn

    def arr(f: Frame) -> Any:
        out = []
        for _ in body(f):
            v = hf2(f)
            if v is not UNDEF:
                out.append(v)
        return tuple(out)

    return Compiled(arr)


def _unused(_: Iterator[Any]) -> None:  # pragma: no cover - keeps Iterator imported for typing
    return None
