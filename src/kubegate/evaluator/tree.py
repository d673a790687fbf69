"""The rule tree: virtual documents under ``data`` and how they are evaluated.

Every rule lives at a path (package path plus the constant part of its head
reference). A :class:`RuleNode` holds the definitions found at its path and
computes the node's value once per query (OPA's virtual-document cache):

* complete rules (``p := v``, ``p if ...``) with ``default`` and ``else``;
  several definitions must agree (``eval_conflict_error``, OPA's
  "complete rules must not produce multiple outputs");
* multi-value rules (``p contains x``, v0 ``p[x]``) build a set;
* rules whose head has variable segments (``p[k] := v``, ``a.b[c].d := v``)
  build an object ("object keys must be unique");
* functions (``f(x) := y``) are called, memoised by their arguments.

An inner node (a package, or the ``a.b`` in ``a.b.c := 1``) evaluates to the
object of its children's defined values merged over the base document at its
path. Semantics: https://www.openpolicyagent.org/docs/latest/policy-language/#rules
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from kubegate.errors import EvaluationError, Location
from kubegate.evaluator.context import Context
from kubegate.evaluator.values import UNDEF, Set, equal, to_key

__all__ = ["SCALARS", "Def", "ElseDef", "RuleNode", "conflict"]

Frame = list[Any]
Runner = Callable[[Frame], Iterator[None]]
ValueFn = Callable[[Frame], Any]
Matcher = Callable[[Frame, Any], bool]

_MISS = object()


def conflict(message: str, location: Location | None) -> EvaluationError:
    return EvaluationError(message, location, code="eval_conflict_error")


class ElseDef:
    """One ``else`` clause: body (``None`` = always) and value."""

    __slots__ = ("body", "loc", "value")

    def __init__(self, body: Runner | None, value: ValueFn, loc: Location | None) -> None:
        self.body = body
        self.value = value
        self.loc = loc


class Def:
    """One compiled rule definition.

    Attributes:
        nslots: frame size (slot 0 holds the :class:`Context`).
        body: yields once per solution, with the frame's slots bound.
        value: the head value (``None`` for multi-value rules).
        key: the element of a multi-value rule.
        dyn: the variable part of the head reference, one function per segment.
        args: matchers binding function arguments.
        const: whether ``value`` is a constant (the first solution decides).
        elses: the ``else`` chain.
    """

    __slots__ = ("args", "body", "const", "dyn", "elses", "key", "loc", "nslots", "rule", "value", "value_gen")

    def __init__(
        self,
        nslots: int,
        body: Runner,
        value: ValueFn | None,
        *,
        key: ValueFn | None = None,
        dyn: tuple[ValueFn, ...] = (),
        args: tuple[Matcher, ...] | None = None,
        const: bool = False,
        elses: tuple[ElseDef, ...] = (),
        loc: Location | None = None,
        value_gen: bool = False,
        rule: str = "",
    ) -> None:
        self.value_gen = value_gen
        self.rule = rule
        self.nslots = nslots
        self.body = body
        self.value = value
        self.key = key
        self.dyn = dyn
        self.args = args
        self.const = const
        self.elses = elses
        self.loc = loc

    def frame(self, ctx: Context) -> Frame:
        f = [UNDEF] * self.nslots
        f[0] = ctx
        return f

    def single(self, f: Frame, what: str) -> Any:
        """The value of a complete rule or function body (then its ``else`` chain)."""
        result = UNDEF
        value = self.value
        assert value is not None
        for _ in self.body(f):
            if self.value_gen:
                for v in value(f):
                    if result is UNDEF:
                        result = v
                    elif not equal(result, v):
                        raise conflict(_conflict_message(what, self.rule), self.loc)
                continue
            v = value(f)
            if v is UNDEF:
                continue
            if result is UNDEF:
                result = v
                if self.const:
                    break
            elif not equal(result, v):
                raise conflict(_conflict_message(what, self.rule), self.loc)
        if result is UNDEF:
            for clause in self.elses:
                if clause.body is None:
                    return clause.value(f)
                for _ in clause.body(f):
                    v = clause.value(f)
                    if v is UNDEF:
                        continue
                    if result is UNDEF:
                        result = v
                    elif not equal(result, v):
                        raise conflict(_conflict_message(what, self.rule), clause.loc)
                if result is not UNDEF:
                    return result
        return result


class RuleNode:
    """The rules and children at one path of the rule tree."""

    __slots__ = (
        "arity",
        "children",
        "complete",
        "default",
        "funcs",
        "has_rules",
        "multi",
        "name",
        "objects",
        "params",
        "path",
        "subtree_rules",
    )

    def __init__(self, path: tuple[str, ...]) -> None:
        self.path = path
        self.name = "data" + "".join(f".{p}" for p in path)
        self.children: dict[str, RuleNode] = {}
        self.complete: list[Def] = []
        self.multi: list[Def] = []
        self.objects: list[Def] = []
        self.funcs: list[Def] = []
        self.default: Def | None = None
        self.has_rules = False
        self.subtree_rules = False
        # Whether the value may depend on input.parameters (set by the compiler;
        # values that do not are shared between the constraints of a review).
        self.params = True
        # The number of arguments when the node's rules are functions (known
        # before planning, so calls can be planned in any order).
        self.arity: int | None = None

    @property
    def is_function(self) -> bool:
        return bool(self.funcs)

    def child(self, name: str) -> RuleNode:
        node = self.children.get(name)
        if node is None:
            node = self.children[name] = RuleNode((*self.path, name))
        return node

    # ------------------------------------------------------------ evaluation

    def value(self, ctx: Context) -> Any:
        """This node's value for the query, or ``UNDEF``.

        Raises:
            EvaluationError: a conflict (``eval_conflict_error``) or an error below.
        """
        memo = ctx.memo if self.params or ctx.shared is None else ctx.shared
        v = memo.get(self, _MISS)
        if v is not _MISS:
            return v
        ctx.tick()
        if self.complete or self.default is not None:
            v = self._complete(ctx)
        elif self.multi:
            v = self._multi(ctx)
        elif self.funcs:
            v = UNDEF
        else:
            v = self.materialize(ctx)
        memo[self] = v
        return v

    def _complete(self, ctx: Context) -> Any:
        result = UNDEF
        for d in self.complete:
            v = d.single(d.frame(ctx), "complete rules")
            if v is UNDEF:
                continue
            if result is UNDEF:
                result = v
            elif not equal(result, v):
                raise conflict(_conflict_message("complete rules", self.name), d.loc)
        if result is UNDEF and self.default is not None:
            d = self.default
            assert d.value is not None
            result = d.value(d.frame(ctx))
        return result

    def _multi(self, ctx: Context) -> Set:
        out: set[Any] = set()
        for d in self.multi:
            f = d.frame(ctx)
            key = d.key
            assert key is not None
            if d.dyn:
                raise EvaluationError("multi-value rules with variable head segments are not supported", d.loc)
            for _ in d.body(f):
                if d.value_gen:
                    out.update(to_key(k) for k in key(f))
                    continue
                k = key(f)
                if k is not UNDEF:
                    out.add(to_key(k))
        return Set.from_keys(frozenset(out))

    def materialize(self, ctx: Context) -> Any:
        """The object of an inner node: object rules, children, base data."""
        out: dict[Any, Any] = {}
        base = base_lookup(ctx.data, self.path)
        if type(base) is dict:
            out.update(base)
        for d in self.objects:
            f = d.frame(ctx)
            value = d.value
            for _ in d.body(f):
                keys = [seg(f) for seg in d.dyn]
                if any(k is UNDEF for k in keys):
                    continue
                if d.key is not None:
                    leaf = d.key(f)
                    if leaf is UNDEF:
                        continue
                    _insert_set(out, keys, leaf)
                    continue
                assert value is not None
                v = value(f)
                if v is not UNDEF:
                    _insert(out, keys, v, d.loc)
        for name, node in self.children.items():
            if node.arity is not None:
                continue
            v = node.value(ctx)
            if v is not UNDEF:
                out[name] = v
        if not out and base is UNDEF and not self.has_rules and not self.subtree_rules:
            return UNDEF
        return out

    def call(self, ctx: Context, args: tuple[Any, ...]) -> Any:
        """Calls this function node with evaluated ``args``.

        Raises:
            EvaluationError: conflicting outputs (``eval_conflict_error``) or an error below.
        """
        ctx.tick()
        fcache = ctx.fcache if self.params or ctx.shared is None else ctx.shared
        # Scalars are keyed by value and type (1, 1.0 and true stay apart);
        # composite values by identity, checked against the kept arguments.
        # calls.CallPlanner._user_call1 repeats the one-argument look-up inline
        # (the hot path): keep the two key schemes the same.
        if len(args) == 1:
            a0 = args[0]
            t0 = type(a0)
            key: Any = (self, t0, a0) if t0 in SCALARS else (self, id(a0))
            hit = fcache.get(key)
            if hit is not None and (t0 in SCALARS or hit[0][0] is a0):
                return hit[1]
        else:
            key = (self, *[(type(a), a) if type(a) in SCALARS else id(a) for a in args])
            hit = fcache.get(key)
            if hit is not None and all(x is y or type(y) in SCALARS for x, y in zip(hit[0], args, strict=True)):
                return hit[1]
        result = UNDEF
        n = len(args)
        for d in self.funcs:
            matchers = d.args
            assert matchers is not None
            if len(matchers) != n:
                continue
            f = [UNDEF] * d.nslots
            f[0] = ctx
            for m, a in zip(matchers, args):  # noqa: B905 - lengths checked
                if not m(f, a):
                    break
            else:
                v = d.single(f, "functions")
                if v is UNDEF:
                    continue
                if result is UNDEF:
                    result = v
                elif not equal(result, v):
                    raise conflict(_conflict_message("functions", self.name), d.loc)
        if result is UNDEF and self.default is not None:
            d = self.default
            assert d.value is not None
            result = d.value(d.frame(ctx))
        fcache[key] = (args, result)
        return result


def _conflict_message(what: str, rule: str) -> str:
    """OPA's conflict texts, older and newer wording together."""
    if what == "functions":
        return (
            "functions must not produce multiple outputs for same inputs: "
            f"function {rule} produced conflicting values for the same inputs"
        )
    return f"complete rules must not produce multiple outputs: rule {rule} produced conflicting values"


# Argument types memoised by value (with their type) rather than by identity.
SCALARS = frozenset((str, int, float, bool, type(None)))


def base_lookup(data: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    """The base document at ``path`` of ``data``, or ``UNDEF``."""
    v: Any = data
    for p in path:
        if type(v) is not dict and not isinstance(v, Mapping):
            return UNDEF
        v = v.get(p, UNDEF)
        if v is UNDEF:
            return UNDEF
    return v


def _insert(out: dict[Any, Any], keys: list[Any], value: Any, loc: Location | None) -> None:
    node = out
    for k in keys[:-1]:
        kk = to_key(k)
        nxt = node.get(kk, UNDEF)
        if nxt is UNDEF:
            nxt = node[kk] = {}
        elif type(nxt) is not dict:
            raise conflict("object keys must be unique", loc)
        node = nxt
    last = to_key(keys[-1])
    old = node.get(last, UNDEF)
    if old is UNDEF:
        node[last] = value
    elif not equal(old, value):
        raise conflict("object keys must be unique", loc)


def _insert_set(out: dict[Any, Any], keys: list[Any], element: Any) -> None:
    node = out
    for k in keys[:-1]:
        node = node.setdefault(to_key(k), {})
    last = to_key(keys[-1])
    old = node.get(last)
    node[last] = Set([*(old.values() if type(old) is Set else ()), element])
