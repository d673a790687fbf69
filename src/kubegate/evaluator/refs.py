"""Planning references: ``input``, locals, and ``data`` (base and virtual documents).

A reference whose segments are all bound is a value function; a segment that
is an unbound variable (or ``_``) enumerates the collection and binds it.
``data`` references are resolved against the rule tree at plan time: the
longest constant prefix that reaches a rule node is evaluated there (once per
query, see :mod:`kubegate.evaluator.tree`), the rest indexes into its value;
paths no rule covers read the base document in place. ``with data.x as v``
overrides are honoured on every ``data`` read
(https://www.openpolicyagent.org/docs/latest/policy-language/#with-keyword).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from kubegate.evaluator.context import Context
from kubegate.evaluator.operators import index
from kubegate.evaluator.planner import Compiled
from kubegate.evaluator.refwalk import walker
from kubegate.evaluator.scope import Unsafe
from kubegate.evaluator.tree import RuleNode, base_lookup
from kubegate.evaluator.values import UNDEF, to_key
from kubegate.rego import ast

if TYPE_CHECKING:
    from kubegate.evaluator.planner import Planner

__all__ = ["data_getter", "patch_path", "plan_ref"]

Frame = list[Any]


def plan_ref(p: Planner, t: ast.Ref) -> Compiled:
    head, path = t.head, t.path
    if isinstance(head, ast.Var):
        if head.is_wildcard:
            raise Unsafe("_", head.loc)
        slot = p._var_slot(head)
        if slot is not None:
            if slot not in p.bound:
                raise Unsafe(head.name, head.loc)
            return chain_path(p, Compiled(lambda f: f[slot]), path)
        name = head.name
        if name == "input":
            if not path or not (isinstance(path[0], ast.Scalar) and path[0].value != "parameters"):
                p.reads_params = True
            return chain_path(p, Compiled(lambda f: f[0].input), path)
        if name == "data":
            return plan_data(p, path)
        imp = p.module.imports.get(name)
        if imp is not None:
            root, rest = imp
            segs = tuple(ast.Scalar(s, loc=head.loc) for s in rest)
            return plan_ref(p, ast.Ref(ast.Var(root, loc=head.loc), segs + path, loc=t.loc))
        pkg = tuple(ast.Scalar(s, loc=head.loc) for s in (*p.module.package, name))
        return plan_data(p, pkg + path)
    return chain_path(p, p.term(head), path)


def _const_prefix(path: tuple[ast.Term, ...]) -> tuple[str, ...]:
    """The constant names a ``data`` path starts with (``data[2]`` names key
    ``"2"``: the root of ``data`` is always an object)."""
    out: list[str] = []
    for i, seg in enumerate(path):
        if isinstance(seg, ast.Scalar) and type(seg.value) is str:
            out.append(seg.value)
        elif i == 0 and isinstance(seg, ast.Scalar) and type(seg.value) is int:
            out.append(str(seg.value))
        else:
            break
    return tuple(out)


def data_getter(root: RuleNode, prefix: tuple[str, ...], p: Planner | None = None) -> Callable[[Context], Any]:
    """The function computing ``data.<prefix>`` in a context (without overrides)."""
    node = root
    i = 0
    while i < len(prefix):
        child = node.children.get(prefix[i])
        if child is None:
            break
        node = child
        i += 1
        if node.has_rules:
            break
    if node.has_rules or (i == len(prefix) and node.subtree_rules):
        target = node
        rest = prefix[i:]
        if p is not None:
            p.deps.add(target)
        if target.arity == 0 and not rest:
            # A zero-argument function read as a value is called (OPA).
            return lambda ctx: target.call(ctx, ())
        if not rest:
            return target.value

        def at_node(ctx: Context) -> Any:
            v = target.value(ctx)
            for k in rest:
                if v is UNDEF:
                    return UNDEF
                v = index(v, k)
            return v

        return at_node

    def base(ctx: Context) -> Any:
        return base_lookup(ctx.data, prefix)

    return base


def patch_path(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    """A copy of ``value`` with ``new`` at ``path`` (objects created as needed)."""
    if not path:
        return new
    out = dict(value) if type(value) is dict else {}
    k = to_key(path[0])
    out[k] = patch_path(out.get(k, UNDEF), path[1:], new)
    return out


def plan_data(p: Planner, path: tuple[ast.Term, ...]) -> Compiled:
    prefix = _const_prefix(path)
    rest = path[len(prefix) :]
    normal = data_getter(p.program.root, prefix, p)

    def overridden(ctx: Context) -> Any:
        for opath, oval in reversed(ctx.overrides):
            if prefix[: len(opath)] == opath:
                v = oval
                for k in prefix[len(opath) :]:
                    v = index(v, k)
                    if v is UNDEF:
                        return UNDEF
                return v
        v = normal(ctx)
        for opath, oval in ctx.overrides:
            if len(opath) > len(prefix) and opath[: len(prefix)] == prefix:
                v = patch_path(v, opath[len(prefix) :], oval)
        return v

    def get(f: Frame) -> Any:
        ctx = f[0]
        if ctx.overrides:
            return overridden(ctx)
        return normal(ctx)

    # Integer segments of a data path also find string keys of base objects
    # (data.nested[2] reads {"2": ...}), as OPA's data references do.
    rest = tuple(
        ast.Scalar(_DataInt(s.value), loc=s.loc) if isinstance(s, ast.Scalar) and type(s.value) is int else s
        for s in rest
    )
    return chain_path(p, Compiled(get), rest)


class _DataInt(int):
    """An integer segment of a ``data`` reference (see :func:`plan_data`)."""

    __slots__ = ()


def data_index(v: Any, k: Any) -> Any:
    if type(k) is _DataInt:
        if type(v) is dict:
            found = v.get(int(k), UNDEF)
            return v.get(str(int(k)), UNDEF) if found is UNDEF else found
        return index(v, int(k))
    return index(v, k)


def chain_path(p: Planner, base: Compiled, path: tuple[ast.Term, ...]) -> Compiled:
    """Indexes ``base`` by ``path``, enumerating unbound segments."""
    if not path:
        return base
    segs: list[tuple[str, Any]] = []
    for seg in path:
        slot = p._unbound_local(seg)
        if slot is not None:
            if slot >= 0:
                p.bound.add(slot)
            segs.append(("enum", slot))
        elif p.is_pattern(seg):
            segs.append(("match", p.matcher(seg)))
        else:
            c = p.term(seg)
            if c.const is not UNDEF:
                segs.append(("const", c.const))
            elif c.gen:
                segs.append(("gen", c.fn))
            else:
                segs.append(("val", c.fn))
    bfn = base.fn
    idx = data_index if any(kind == "const" and type(x) is _DataInt for kind, x in segs) else index
    if not base.gen and all(kind == "const" for kind, _ in segs):
        keys = tuple(k for _, k in segs)
        if all(type(k) is str for k in keys):
            if len(keys) == 1:
                k0 = keys[0]

                def ref1(f: Frame) -> Any:
                    v = bfn(f)
                    if type(v) is dict:
                        return v.get(k0, UNDEF)
                    return index(v, k0) if v is not UNDEF else UNDEF

                return Compiled(ref1)

            def refs(f: Frame) -> Any:
                v = bfn(f)
                for k in keys:
                    if type(v) is dict:
                        v = v.get(k, UNDEF)
                    elif v is UNDEF:
                        return UNDEF
                    else:
                        v = index(v, k)
                return v

            return Compiled(refs)

        def refc(f: Frame) -> Any:
            v = bfn(f)
            for k in keys:
                if v is UNDEF:
                    return UNDEF
                v = idx(v, k)
            return v

        return Compiled(refc)
    if not base.gen and all(kind in ("const", "val") for kind, _ in segs):
        plan = tuple((kind == "val", x) for kind, x in segs)

        def refv(f: Frame) -> Any:
            v = bfn(f)
            for is_fn, x in plan:
                if v is UNDEF:
                    return UNDEF
                k = x(f) if is_fn else x
                if k is UNDEF:
                    return UNDEF
                v = idx(v, k)
            return v

        return Compiled(refv)
    fast = walker(base.fn, base.gen, segs, idx, p.ordered)
    if fast is not None:
        return Compiled(fast, gen=True)
    walker_fn = _walker(segs, 0, p.enumerator(), idx)
    bgen = base.as_gen()

    def refg(f: Frame) -> Iterator[Any]:
        for v in bgen(f):
            yield from walker_fn(f, v)

    return Compiled(refg, gen=True)


def _done(f: Frame, v: Any) -> Iterator[Any]:
    yield v


def _walker(
    segs: list[tuple[str, Any]],
    i: int,
    enumerate_value: Callable[[Any], Iterator[tuple[Any, Any]]],
    idx: Callable[[Any, Any], Any] = index,
) -> Callable[[Frame, Any], Iterator[Any]]:
    if i == len(segs):
        return _done
    kind, x = segs[i]
    nxt = _walker(segs, i + 1, enumerate_value, idx)
    if kind == "const":

        def wconst(f: Frame, v: Any) -> Iterator[Any]:
            w = idx(v, x)
            if w is not UNDEF:
                yield from nxt(f, w)

        return wconst
    if kind == "val":

        def wval(f: Frame, v: Any) -> Iterator[Any]:
            k = x(f)
            if k is not UNDEF:
                w = index(v, k)
                if w is not UNDEF:
                    yield from nxt(f, w)

        return wval
    if kind == "gen":

        def wgen(f: Frame, v: Any) -> Iterator[Any]:
            for k in x(f):
                w = index(v, k)
                if w is not UNDEF:
                    yield from nxt(f, w)

        return wgen
    if kind == "enum":
        slot = x
        if slot < 0:

            def wany(f: Frame, v: Any) -> Iterator[Any]:
                ctx = f[0]
                for _, w in enumerate_value(v):
                    ctx.tick()
                    yield from nxt(f, w)

            return wany

        def wenum(f: Frame, v: Any) -> Iterator[Any]:
            ctx = f[0]
            for k, w in enumerate_value(v):
                ctx.tick()
                f[slot] = k
                yield from nxt(f, w)

        return wenum

    def wmatch(f: Frame, v: Any) -> Iterator[Any]:
        for k, w in enumerate_value(v):
            if x(f, k):
                yield from nxt(f, w)

    return wmatch
