"""The planner: Rego terms and bodies to Python closures, once, at load time.

A body becomes a *runner*, ``run(frame) -> Iterator[None]`` that yields once
per solution with the frame's slots bound; a term becomes either a *value
function* ``fn(frame) -> value | UNDEF`` (no iteration) or a *generator*
``fn(frame) -> Iterator[value]`` (a reference with unbound variables such as
``input.containers[i]`` enumerates and binds ``i``). Literals are ordered so
every variable is bound before it is read (OPA's safety reordering); which
slots are bound is therefore static, and unification compiles into either an
equality test or a pattern match that binds. Evaluation never parses or
plans.

Semantics follow OPA's topdown evaluator
(https://www.openpolicyagent.org/docs/latest/policy-language/).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, cast

from kubegate.errors import EvaluationError, Location, RegoCompileError
from kubegate.evaluator.bodies import Step, chain, run_none
from kubegate.evaluator.context import Context
from kubegate.evaluator.operators import compare_op, contains, enumerate_any, enumerate_value, index, member3, truthy
from kubegate.evaluator.scope import Layout, Scope, Unsafe, body_var_names, declared_names
from kubegate.evaluator.values import UNDEF, Set, equal, to_key
from kubegate.rego import ast

__all__ = ["Compiled", "Planner", "Runner"]

Frame = list[Any]
Runner = Callable[[Frame], Iterator[None]]
ValueFn = Callable[[Frame], Any]
GenFn = Callable[[Frame], Iterator[Any]]
Matcher = Callable[[Frame, Any], bool]
Filter = Callable[[Frame], bool]


class Compiled:
    """A planned term: ``gen`` is true when ``fn`` is a generator."""

    __slots__ = ("const", "fn", "gen")

    def __init__(self, fn: Callable[[Frame], Any], gen: bool = False, const: Any = UNDEF) -> None:
        self.fn = fn
        self.gen = gen
        self.const = const

    def as_gen(self) -> GenFn:
        if self.gen:
            return self.fn
        fn = self.fn

        def one(f: Frame) -> Iterator[Any]:
            v = fn(f)
            if v is not UNDEF:
                yield v

        return one


def _const(value: Any) -> Compiled:
    return Compiled(lambda f: value, const=value)


class Planner:
    """Plans the rules of one module (or a query) against a program.

    ``program`` resolves global names (rules, imports, functions, builtins);
    see :class:`kubegate.evaluator.program.Program`.
    """

    def __init__(self, program: Any, module: Any) -> None:
        self.program = program
        self.module = module  # ModuleInfo: package path, imports, rule names
        self.layout = Layout()
        self.scope = Scope(self.layout)
        self.bound: set[int] = set()
        self.reads_params = False
        self.rule_loc: Location | None = None
        self.deps: set[Any] = set()
        self._fresh = 0
        # Whether iteration order can show in a result (array comprehensions,
        # queries, print): then collections iterate in OPA's sorted order.
        self.ordered = False

    # ------------------------------------------------------------ names

    def _is_global(self, name: str) -> bool:
        return name in ("input", "data") or name in self.module.globals

    def _var_slot(self, var: ast.Var) -> int | None:
        """The slot of a local variable, or ``None`` when the name is global."""
        slot = self.scope.lookup(var.name)
        if slot is not None:
            return slot
        if self._is_global(var.name):
            return None
        return self.scope.declare(var.name)

    def _unbound_local(self, term: ast.Term) -> int | None:
        """The slot of ``term`` when it is an unbound local variable."""
        if isinstance(term, ast.Var):
            if term.is_wildcard:
                return -1
            slot = self._var_slot(term)
            if slot is not None and slot not in self.bound:
                return slot
        return None

    def is_pattern(self, term: ast.Term) -> bool:
        """Whether unifying ``term`` binds variables (it holds unbound locals outside refs)."""
        if isinstance(term, ast.Var):
            return self._unbound_local(term) is not None
        if isinstance(term, ast.ArrayTerm):
            return any(self.is_pattern(t) for t in term.items)
        if isinstance(term, ast.ObjectTerm):
            return any(self.is_pattern(v) for _, v in term.items)
        return False

    def prepare_scope(self, nodes: list[object], declared: list[ast.Var]) -> None:
        """Allocates this scope's variables before planning a body."""
        for v in declared:
            if not v.is_wildcard:
                self.scope.declare(v.name)
        for v in body_var_names(nodes):
            if v.is_wildcard or self.scope.lookup(v.name) is not None or self._is_global(v.name):
                continue
            self.scope.declare(v.name)

    # ------------------------------------------------------------ bodies

    def body(self, body: ast.Body, *, query: bool = False) -> Runner:
        """Plans ``body`` in the current scope, reordering literals for safety.

        Raises:
            RegoCompileError: ``rego_unsafe_var_error`` or another compile error.
        """
        return chain(self.steps(body, query=query))

    def steps(self, body: ast.Body, *, query: bool = False, capture: list[int] | None = None) -> list[Step]:
        pending = list(enumerate(body))
        out: list[Step] = []
        while pending:
            first_unsafe: Unsafe | None = None
            for n, (i, lit) in enumerate(pending):
                saved = set(self.bound)
                try:
                    step = self.literal(lit, capture_slot=capture[i] if capture is not None else None)
                except Unsafe as e:
                    self.bound = saved
                    if first_unsafe is None:
                        first_unsafe = e
                    continue
                out.append(step)
                del pending[n]
                break
            else:
                assert first_unsafe is not None
                if self.scope.parent is not None and first_unsafe.name not in self.scope.vars:
                    raise first_unsafe
                raise RegoCompileError(
                    f"var {first_unsafe.name} is unsafe",
                    first_unsafe.loc or pending[0][1].loc,
                    code="rego_unsafe_var_error",
                )
        return out

    def literal(self, lit: ast.Literal, capture_slot: int | None = None) -> Step:
        if lit.withs:
            return self._with(lit, capture_slot)
        if lit.negated:
            return self._negation(lit)
        return self._expr(lit.expr, capture_slot)

    def _negation(self, lit: ast.Literal) -> Step:
        # An undefined operand makes the negated expression undefined, so the
        # negation succeeds: `not c.securityContext.x == false` holds when the
        # field is missing (as OPA evaluates it; gatekeeper-library's unit
        # tests and OPA's not-body conformance cases depend on it).
        expr = lit.expr
        prefix: list[Step] = []
        if isinstance(expr, ast.Call) and self.program.is_user_function(self, expr):
            # ... except that the reference operands of a user function call are
            # evaluated first, outside the negation (gatekeeper-library's
            # `not accept_value(rule, v, params.ranges)` must fail when
            # `params.ranges` is missing).
            args: list[ast.Term] = []
            for a in expr.args:
                if isinstance(a, ast.Ref):
                    var = ast.Var(self.fresh_name(), loc=a.loc)
                    prefix.append(self.literal(ast.Literal(ast.Assign("=", var, a, loc=a.loc), loc=a.loc)))
                    args.append(var)
                else:
                    args.append(a)
            expr = ast.Call(expr.func, tuple(args), loc=expr.loc)
        # Variables of a negated expression must be bound outside (OPA's
        # safety rule), except wildcards.
        for v in body_var_names([expr]):
            if v.is_wildcard or self._is_global(v.name):
                continue
            slot = self.scope.lookup(v.name)
            if slot is not None and slot not in self.bound:
                raise Unsafe(v.name, v.loc)
        saved = set(self.bound)
        step = self.literal(ast.Literal(expr, False, lit.withs, loc=lit.loc))
        self.bound = saved
        negates = None
        if not step.gen:
            test = negates = step.fn

            def neg(f: Frame) -> bool:
                return not test(f)

        else:
            inner = step.fn

            def neg(f: Frame) -> bool:
                for _ in inner(f):
                    return False
                return True

        if not prefix:
            return Step(neg, False, negates=negates)
        return Step(chain([*prefix, Step(neg, False, negates=negates)]), True)

    def enumerator(self) -> Callable[[Any], Iterator[tuple[Any, Any]]]:
        return enumerate_value if self.ordered else enumerate_any

    def fresh_name(self) -> str:
        self._fresh += 1
        return f"$n{self._fresh}"

    def _with(self, lit: ast.Literal, capture_slot: int | None) -> Step:
        from kubegate.evaluator.modifiers import plan_with

        return plan_with(self, lit, capture_slot)

    def _expr(self, e: ast.Expression, capture_slot: int | None) -> Step:
        if isinstance(e, ast.SomeDecl):
            for v in e.vars:
                if isinstance(v, ast.Var):
                    slot = self.scope.declare(v.name)
                    self.bound.discard(slot)
            return Step(lambda f: True, False)
        if isinstance(e, ast.Assign):
            step = self._assign(e)
            if capture_slot is not None:
                return self._capture_true(step, capture_slot)
            return step
        if isinstance(e, ast.SomeIn):
            return self._some_in(e)
        if isinstance(e, ast.Every):
            return self._every(e)
        return self._term_literal(e, capture_slot)

    def _capture_true(self, step: Step, slot: int) -> Step:
        fn = step.fn
        if step.gen:

            def g(f: Frame) -> Iterator[None]:
                for _ in fn(f):
                    f[slot] = True
                    yield None

            return Step(g, True)

        def flt(f: Frame) -> bool:
            if fn(f):
                f[slot] = True
                return True
            return False

        return Step(flt, False)

    def _term_literal(self, t: ast.Term, capture_slot: int | None) -> Step:
        if isinstance(t, ast.Call) and self.program.is_call_with_output(self, t):
            step = self.program.call_with_output(self, t)
            return self._capture_true(step, capture_slot) if capture_slot is not None else step
        c = self.term(t)
        fn = c.fn
        if capture_slot is not None:
            return _bind_slot(capture_slot, c)
        if c.gen:

            def gt(f: Frame) -> Iterator[None]:
                for v in fn(f):
                    if v is not False:
                        yield None

            return Step(gt, True)
        if isinstance(t, ast.InfixCall) and t.op in ("==", "!="):
            return Step(fn, False)  # already a bool (or UNDEF, falsy)

        def ft(f: Frame) -> bool:
            v = fn(f)
            return v is not UNDEF and v is not False

        return Step(ft, False, value=fn)

    # ------------------------------------------------------------ unification

    def _assign(self, e: ast.Assign) -> Step:
        if e.op == ":=":
            for v in body_var_names([e.lhs]):
                if v.is_wildcard:
                    continue
                slot = self.scope.lookup(v.name)
                if slot is not None and slot in self.bound:
                    raise RegoCompileError(f"var {v.name} assigned above", v.loc, code="rego_compile_error")
            if not self.is_pattern(e.lhs) and not isinstance(e.lhs, ast.Var):
                raise RegoCompileError("cannot assign to " + type(e.lhs).__name__.lower(), e.loc)
            rhs = self.term(e.rhs)
            return self._bind(e.lhs, rhs)
        return self.unify(e.lhs, e.rhs)

    def unify(self, lhs: ast.Term, rhs: ast.Term) -> Step:
        lp, rp = self.is_pattern(lhs), self.is_pattern(rhs)
        if not lp and not rp:
            a, b = self.term(lhs), self.term(rhs)
            return self._equal_step(a, b)
        if lp and not rp:
            return self._bind(lhs, self.term(rhs))
        if rp and not lp:
            return self._bind(rhs, self.term(lhs))
        if isinstance(lhs, ast.ArrayTerm) and isinstance(rhs, ast.ArrayTerm):
            if len(lhs.items) != len(rhs.items):
                return Step(lambda f: False, False)
            body = tuple(
                ast.Literal(ast.Assign("=", a, b, loc=a.loc), loc=a.loc)
                for a, b in zip(lhs.items, rhs.items, strict=True)
            )
            return Step(chain(self.steps(body)), True)
        if isinstance(lhs, ast.ObjectTerm) and isinstance(rhs, ast.ObjectTerm):
            lk = [self._ground_key(k) for k, _ in lhs.items]
            rk = [self._ground_key(k) for k, _ in rhs.items]
            if sorted(map(repr, lk)) != sorted(map(repr, rk)):
                return Step(lambda f: False, False)
            rmap = {repr(k): v for k, (_, v) in zip(rk, rhs.items, strict=True)}
            body = tuple(
                ast.Literal(ast.Assign("=", v, rmap[repr(k)], loc=v.loc), loc=v.loc)
                for k, (_, v) in zip(lk, lhs.items, strict=True)
            )
            return Step(chain(self.steps(body)), True)
        first = next(v for v in body_var_names([lhs]) if self._unbound_local(v) is not None)
        raise Unsafe(first.name, first.loc)

    def _ground_key(self, k: ast.Term) -> Any:
        c = self.term(k)
        if c.const is UNDEF:
            raise RegoCompileError("object keys in unification must be constants", getattr(k, "loc", None))
        return c.const

    def _equal_step(self, a: Compiled, b: Compiled) -> Step:
        af, bf = a.fn, b.fn
        if not a.gen and not b.gen:
            if b.const is not UNDEF and type(b.const) is str:
                return Step(_eq_const_str(af, b.const), False)

            def eq(f: Frame) -> bool:
                x = af(f)
                if x is UNDEF:
                    return False
                y = bf(f)
                return y is not UNDEF and equal(x, y)

            return Step(eq, False)
        ag, bg = a.as_gen(), b.as_gen()

        def geq(f: Frame) -> Iterator[None]:
            for x in ag(f):
                for y in bg(f):
                    if equal(x, y):
                        yield None

        return Step(geq, True)

    def _bind(self, pattern: ast.Term, value: Compiled) -> Step:
        """Matches ``pattern`` (which binds) against the values of ``value``."""
        slot = self._unbound_local(pattern) if isinstance(pattern, ast.Var) else None
        fn = value.fn
        if slot is not None and slot >= 0:
            self.bound.add(slot)
            return _bind_slot(slot, value)
        if slot == -1:
            if value.gen:
                return Step(lambda f: (None for _ in fn(f)), True)
            return Step(lambda f: fn(f) is not UNDEF, False)
        m = self.matcher(pattern)
        if value.gen:

            def gmatch(f: Frame) -> Iterator[None]:
                for v in fn(f):
                    if m(f, v):
                        yield None

            return Step(gmatch, True)

        def match(f: Frame) -> bool:
            v = fn(f)
            return v is not UNDEF and m(f, v)

        return Step(match, False)

    def matcher(self, pattern: ast.Term) -> Matcher:
        """A function binding the unbound variables of ``pattern`` to a value (or failing)."""
        if isinstance(pattern, ast.Var):
            slot = self._unbound_local(pattern)
            if slot == -1:
                return lambda f, v: True
            if slot is not None:
                self.bound.add(slot)

                def bind(f: Frame, v: Any) -> bool:
                    f[slot] = v
                    return True

                return bind
        if isinstance(pattern, ast.ArrayTerm) and self.is_pattern(pattern):
            ms = [self.matcher(t) for t in pattern.items]
            n = len(ms)

            def arr(f: Frame, v: Any) -> bool:
                t = type(v)
                if (t is not list and t is not tuple) or len(v) != n:
                    return False
                return all(m(f, x) for m, x in zip(ms, v, strict=True))

            return arr
        if isinstance(pattern, ast.ObjectTerm) and self.is_pattern(pattern):
            keys = [to_key(self._ground_key(k)) for k, _ in pattern.items]
            vms = [self.matcher(v) for _, v in pattern.items]
            nk = len(keys)

            def obj(f: Frame, v: Any) -> bool:
                if type(v) is not dict or len(v) != nk:
                    return False
                for k, m in zip(keys, vms, strict=True):
                    x = v.get(k, UNDEF)
                    if x is UNDEF or not m(f, x):
                        return False
                return True

            return obj
        c = self.term(pattern)
        if c.gen:
            g = c.fn

            def anyeq(f: Frame, v: Any) -> bool:
                return any(equal(x, v) for x in g(f))

            return anyeq
        fn = c.fn

        def eq(f: Frame, v: Any) -> bool:
            x = fn(f)
            return x is not UNDEF and equal(x, v)

        return eq

    # ------------------------------------------------------------ some / every

    def _some_in(self, e: ast.SomeIn) -> Step:
        domain = self.term(e.domain)
        for v in body_var_names([e.key, e.value]):
            if not v.is_wildcard:
                self.bound.discard(self.scope.declare(v.name))
        km = self.matcher(e.key) if e.key is not None else None
        vm = self.matcher(e.value)
        dg = domain.as_gen()
        enumerate_value = self.enumerator()

        def some_in(f: Frame) -> Iterator[None]:
            for d in dg(f):
                for k, v in enumerate_value(d):
                    if km is not None and not km(f, k):
                        continue
                    if vm(f, v):
                        yield None

        return Step(some_in, True)

    def _every(self, e: ast.Every) -> Step:
        domain = self.term(e.domain)
        saved_scope, saved_bound = self.scope, set(self.bound)
        self.scope = Scope(self.layout, saved_scope)
        kslot = self.scope.declare(e.key.name) if e.key is not None and not e.key.is_wildcard else None
        vslot = self.scope.declare(e.value.name) if not e.value.is_wildcard else None
        for s in (kslot, vslot):
            if s is not None:
                self.bound.add(s)
        self.prepare_scope(list(e.body), declared_names(e.body))
        try:
            body = self.body(e.body)
        finally:
            self.scope, self.bound = saved_scope, saved_bound
        dfn = domain.as_gen()
        enumerate_value = enumerate_any

        def every(f: Frame) -> bool:
            for d in dfn(f):
                for k, v in enumerate_value(d):
                    if kslot is not None:
                        f[kslot] = k
                    if vslot is not None:
                        f[vslot] = v
                    for _ in body(f):
                        break
                    else:
                        return False
                return True
            return False

        return Step(every, False)

    # ------------------------------------------------------------ terms

    def term(self, t: ast.Term) -> Compiled:
        """Plans a term in value position.

        Raises:
            Unsafe: it reads an unbound variable.
        """
        if isinstance(t, ast.Scalar):
            return _const(self.program.scalar(t))
        if isinstance(t, ast.Var):
            return self._var(t)
        if isinstance(t, ast.Ref):
            from kubegate.evaluator.refs import plan_ref

            return plan_ref(self, t)
        if isinstance(t, ast.Call):
            return cast(Compiled, self.program.plan_call(self, t))
        if isinstance(t, ast.InfixCall):
            return self._infix(t)
        if isinstance(t, ast.Member):
            return self._member(t)
        if isinstance(t, ast.ArrayTerm):
            return self._collection(t.items, tuple, t)
        if isinstance(t, ast.SetTerm):
            return self._collection(t.items, Set, t)
        if isinstance(t, ast.ObjectTerm):
            return self._object(t)
        from kubegate.evaluator.comprehensions import plan_comprehension

        return plan_comprehension(self, t)

    def _var(self, t: ast.Var) -> Compiled:
        if t.is_wildcard:
            raise Unsafe("_", t.loc)
        slot = self._var_slot(t)
        if slot is None:
            return self.term(ast.Ref(t, (), loc=t.loc))
        if slot not in self.bound:
            raise Unsafe(t.name, t.loc)
        return Compiled(lambda f: f[slot])

    def values_of(self, terms: tuple[ast.Term, ...]) -> tuple[list[Compiled], bool]:
        cs = [self.term(x) for x in terms]
        return cs, any(c.gen for c in cs)

    def _collection(self, items: tuple[ast.Term, ...], make: Callable[[Any], Any], t: ast.Term) -> Compiled:
        cs, gen = self.values_of(items)
        if all(c.const is not UNDEF for c in cs):
            return _const(make([c.const for c in cs]))
        if not gen:
            fns = tuple(c.fn for c in cs)

            def coll(f: Frame) -> Any:
                out = []
                for fn in fns:
                    v = fn(f)
                    if v is UNDEF:
                        return UNDEF
                    out.append(v)
                return make(out)

            return Compiled(coll)
        gens = [c.as_gen() for c in cs]

        def gcoll(f: Frame) -> Iterator[Any]:
            for combo in product(f, gens):
                yield make(list(combo))

        return Compiled(gcoll, gen=True)

    def _object(self, t: ast.ObjectTerm) -> Compiled:
        ks, kgen = self.values_of(tuple(k for k, _ in t.items))
        vs, vgen = self.values_of(tuple(v for _, v in t.items))
        if all(c.const is not UNDEF for c in ks + vs):
            return _const({to_key(k.const): v.const for k, v in zip(ks, vs, strict=True)})
        if not kgen and not vgen:
            pairs = tuple((k.fn, v.fn) for k, v in zip(ks, vs, strict=True))

            def obj(f: Frame) -> Any:
                out = {}
                for kf, vf in pairs:
                    k = kf(f)
                    v = vf(f)
                    if k is UNDEF or v is UNDEF:
                        return UNDEF
                    out[to_key(k)] = v
                return out

            return Compiled(obj)
        gens = [c.as_gen() for c in ks + vs]
        n = len(ks)

        def gobj(f: Frame) -> Iterator[Any]:
            for combo in product(f, gens):
                yield {to_key(combo[i]): combo[n + i] for i in range(n)}

        return Compiled(gobj, gen=True)

    def _member(self, t: ast.Member) -> Compiled:
        coll = self.term(t.collection)
        val = self.term(t.value)
        if t.key is None:
            return cast(Compiled, self.program.apply(lambda v, c: contains(c, v), [val, coll]))
        key = self.term(t.key)
        return cast(Compiled, self.program.apply(member3, [key, val, coll]))

    def _infix(self, t: ast.InfixCall) -> Compiled:
        a, b = self.term(t.lhs), self.term(t.rhs)
        op = t.op
        if op == "==" or op == "!=":
            neg = op == "!="
            if not a.gen and not b.gen:
                af, bf = a.fn, b.fn
                if b.const is not UNDEF and type(b.const) is str and not neg:
                    return Compiled(_eq_const_str(af, b.const))

                def eq(f: Frame) -> Any:
                    x = af(f)
                    if x is UNDEF:
                        return UNDEF
                    y = bf(f)
                    if y is UNDEF:
                        return UNDEF
                    return equal(x, y) is not neg

                return Compiled(eq)
            return cast(Compiled, self.program.apply(lambda x, y: equal(x, y) is not neg, [a, b]))
        if op in ("<", "<=", ">", ">="):
            return cast(Compiled, self.program.apply(lambda x, y: compare_op(op, x, y), [a, b]))
        name = {"+": "plus", "-": "minus", "*": "mul", "/": "div", "%": "rem", "&": "and", "|": "or"}[op]
        return cast(Compiled, self.program.builtin_apply(self, name, [a, b], t.loc))


def _bind_slot(slot: int, value: Compiled) -> Step:
    """A step storing each value of ``value`` in frame slot ``slot``."""
    fn = value.fn
    if value.gen:

        def gbind(f: Frame) -> Iterator[None]:
            for v in fn(f):
                f[slot] = v
                yield None

        return Step(gbind, True, slot, fn)

    def bind(f: Frame) -> bool:
        v = fn(f)
        if v is UNDEF:
            return False
        f[slot] = v
        return True

    return Step(bind, False, slot, fn)


def _eq_const_str(af: ValueFn, cb: str) -> Filter:
    def eqs(f: Frame) -> Any:
        x = af(f)
        if x is UNDEF:
            return UNDEF
        return type(x) is str and x == cb

    return eqs


def product(f: Frame, gens: list[GenFn]) -> Iterator[tuple[Any, ...]]:
    """Every combination of the values the generators give (left to right)."""
    if not gens:
        yield ()
        return
    first, rest = gens[0], gens[1:]
    for v in first(f):
        for tail in product(f, rest):
            yield (v, *tail)


def undefined_error(message: str, loc: Location | None) -> EvaluationError:
    return EvaluationError(message, loc)


__all__ += ["Context", "Step", "chain", "index", "product", "run_none", "truthy"]
