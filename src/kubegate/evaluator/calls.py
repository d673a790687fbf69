"""Planning calls: user functions, builtins, ``print``, and mocks.

Name resolution follows OPA: a call's dotted name is a function of the
module's package, an import alias, an absolute ``data`` path, or a builtin
(https://www.openpolicyagent.org/docs/latest/policy-language/#functions).
A call with one argument more than the function's arity binds its result to
the last argument (``count(xs, n)``). Builtin errors become undefined, or
``eval_builtin_error``/``eval_type_error`` under ``strict_builtin_errors``;
``HaltError`` always ends the query (OPA's ``topdown.Halt``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from kubegate.errors import EvaluationError, KubegateError, Location, RegoCompileError
from kubegate.evaluator.builtins import (
    IMPLEMENTATIONS,
    UNSUPPORTED,
    BuiltinError,
    HaltError,
    available,
    guard_error,
    lookup_signature,
)
from kubegate.evaluator.modifiers import Mock
from kubegate.evaluator.planner import Compiled, Step, product
from kubegate.evaluator.printing import format_print_value
from kubegate.evaluator.tree import SCALARS
from kubegate.evaluator.values import UNDEF
from kubegate.rego import ast

if TYPE_CHECKING:
    from kubegate.evaluator.planner import Planner
    from kubegate.evaluator.tree import RuleNode

__all__ = ["CallPlanner"]

Frame = list[Any]


def _error(name: str, e: BuiltinError | HaltError, loc: Location | None) -> EvaluationError:
    return EvaluationError(f"{name}: {e.message}", loc, code=e.code)


def builtin_caller(name: str, loc: Location | None) -> Callable[[Any, tuple[Any, ...]], Any]:
    """``call(ctx, args)`` for builtin ``name``, with OPA's error handling and mocks."""
    b = IMPLEMENTATIONS[name]
    # A guarded implementation is called unwrapped; its error mapping is applied here.
    raw = getattr(b.impl, "__kubegate_unguarded__", None)
    impl = raw if raw is not None else b.impl
    context = b.context

    def call(ctx: Any, args: tuple[Any, ...]) -> Any:
        mocks = ctx.mocks
        if mocks:
            m = mocks.get(name)
            if m is not None:
                return m.apply(ctx, args)
        try:
            return impl(ctx, *args) if context else impl(*args)
        except BuiltinError as e:
            if ctx.strict:
                raise _error(name, e, loc) from None
            return UNDEF
        except HaltError as e:
            raise _error(name, e, loc) from None
        except KubegateError:
            raise
        except Exception as e:
            guard = guard_error(e) if raw is not None else None
            if guard is None:
                return _unexpected(ctx, name, e, loc)
            if ctx.strict:
                raise _error(name, guard, loc) from None
            return UNDEF

    return call


def _unexpected(ctx: Any, name: str, e: Exception, loc: Location | None) -> Any:
    """A stray exception of an unguarded builtin: an error, never a crash.

    Raises:
        EvaluationError: ``eval_builtin_error`` (too deep a value always; other
            defects in strict mode, else the call is undefined).
    """
    if isinstance(e, RecursionError):
        raise EvaluationError(f"{name}: value nested too deeply", loc, code="eval_builtin_error") from None
    if ctx.strict:
        raise EvaluationError(f"{name}: {type(e).__name__}: {e}", loc, code="eval_builtin_error") from None
    return UNDEF


class CallPlanner:
    """The call-planning half of :class:`~kubegate.evaluator.program.Program`."""

    root: RuleNode

    # ------------------------------------------------------------ resolution

    def resolve(self, p: Planner, func: tuple[str, ...], loc: Location | None) -> tuple[str, Any]:
        """``("user", node)`` or ``("builtin", name)``.

        Raises:
            RegoCompileError: ``rego_type_error`` for an undefined function.
        """
        head = func[0]
        path: tuple[str, ...] | None = None
        if p.scope.lookup(head) is not None:
            raise RegoCompileError(f"undefined function {'.'.join(func)}", loc, code="rego_type_error")
        if head == "data":
            path = func[1:]
        elif head in p.module.imports:
            root, base = p.module.imports[head]
            if root == "data":
                path = base + func[1:]
        elif head in p.module.rule_names:
            path = (*p.module.package, *func)
        if path is not None:
            node = self.node_at(path)  # type: ignore[attr-defined]
            if node is not None and node.arity is not None:
                return "user", node
            if node is not None and node.has_rules:
                raise RegoCompileError(f"{'.'.join(func)} is not a function", loc, code="rego_type_error")
        name = ".".join(func)
        if available(name, p.module.version):
            return "builtin", name
        if name in UNSUPPORTED:
            raise RegoCompileError(
                f"builtin {name} is not supported by kubegate: {UNSUPPORTED[name]}", loc, code="rego_type_error"
            )
        if path is not None:
            raise RegoCompileError(f"undefined function data.{'.'.join(path)}", loc, code="rego_type_error")
        raise RegoCompileError(f"undefined function {name}", loc, code="rego_type_error")

    def arity(self, kind: str, target: Any) -> int | None:
        if kind == "user":
            return target.arity  # type: ignore[no-any-return]
        sig = lookup_signature(target, "v0")
        if sig:
            return len(sig.args)
        b = IMPLEMENTATIONS[target]
        params = list(inspect.signature(b.impl).parameters.values())
        if any(x.kind == x.VAR_POSITIONAL for x in params):
            return None
        return len(params) - (1 if b.context else 0)

    def is_user_function(self, p: Planner, t: ast.Call) -> bool:
        if t.name in ("print", "internal.print"):
            return False
        try:
            kind, _ = self.resolve(p, t.func, t.loc)
        except RegoCompileError:
            return False
        return kind == "user"

    def is_call_with_output(self, p: Planner, t: ast.Call) -> bool:
        if t.name == "print":
            return False
        kind, target = self.resolve(p, t.func, t.loc)
        n = self.arity(kind, target)
        return n is not None and len(t.args) == n + 1

    # ------------------------------------------------------------ planning

    def plan_call(self, p: Planner, t: ast.Call) -> Compiled:
        if t.name in ("print", "internal.print"):
            return self._print(p, t)
        kind, target = self.resolve(p, t.func, t.loc)
        n = self.arity(kind, target)
        if n is not None and len(t.args) != n:
            raise RegoCompileError(
                f"{t.name}: arity mismatch: have {len(t.args)} argument(s), want {n}", t.loc, code="rego_type_error"
            )
        args = [p.term(a) for a in t.args]
        if kind == "user":
            p.deps.add(target)
            if len(args) == 1 and not args[0].gen:
                return self._user_call1(target, args[0].fn)
            return self.apply_ctx(self._user_caller(target), args)
        return self.builtin_apply(p, target, args, t.loc)

    def _user_call1(self, node: RuleNode, arg: Callable[[Frame], Any]) -> Compiled:
        """A call of a one-argument user function (the common case, one call layer fewer)."""
        key = node.name
        node_call = node.call
        scalars = SCALARS

        def ucall1(f: Frame) -> Any:
            x = arg(f)
            if x is UNDEF:
                return UNDEF
            ctx = f[0]
            mocks = ctx.mocks
            if mocks:
                m = mocks.get(key)
                if m is not None:
                    return m.apply(ctx, (x,))
            # The memo look-up of RuleNode.call, inline: most calls are hits.
            cache = ctx.fcache if node.params or ctx.shared is None else ctx.shared
            t = type(x)
            hit = cache.get((node, t, x) if t in scalars else (node, id(x)))
            if hit is not None and (t in scalars or hit[0][0] is x):
                return hit[1]
            return node_call(ctx, (x,))

        return Compiled(ucall1)

    def call_with_output(self, p: Planner, t: ast.Call) -> Step:
        call = ast.Call(t.func, t.args[:-1], loc=t.loc)
        value = self.plan_call(p, call)
        return p._bind(t.args[-1], value)

    def _user_caller(self, node: RuleNode) -> Callable[[Any, tuple[Any, ...]], Any]:
        key = node.name

        def call(ctx: Any, args: tuple[Any, ...]) -> Any:
            mocks = ctx.mocks
            if mocks:
                m = mocks.get(key)
                if m is not None:
                    return m.apply(ctx, args)
            return node.call(ctx, args)

        return call

    def builtin_apply(self, p: Planner, name: str, args: list[Compiled], loc: Location | None) -> Compiled:
        b = IMPLEMENTATIONS.get(name)
        if b is None:
            raise RegoCompileError(f"undefined function {name}", loc, code="rego_type_error")
        call = builtin_caller(name, loc)
        if b.relation:
            return self._relation(call, args)
        return self.apply_ctx(call, args)

    def _relation(self, call: Callable[[Any, tuple[Any, ...]], Any], args: list[Compiled]) -> Compiled:
        gens = [a.as_gen() for a in args]

        def rel(f: Frame) -> Iterator[Any]:
            for combo in product(f, gens):
                out = call(f[0], combo)
                if out is not UNDEF:
                    yield from out

        return Compiled(rel, gen=True)

    def apply_ctx(self, call: Callable[[Any, tuple[Any, ...]], Any], args: list[Compiled]) -> Compiled:
        """A term applying ``call(ctx, values)`` to the argument terms' values."""
        if any(a.gen for a in args):
            gens = [a.as_gen() for a in args]

            def gcall(f: Frame) -> Iterator[Any]:
                for combo in product(f, gens):
                    v = call(f[0], combo)
                    if v is not UNDEF:
                        yield v

            return Compiled(gcall, gen=True)
        fns = tuple(a.fn for a in args)
        if len(fns) == 1:
            (a0,) = fns

            def call1(f: Frame) -> Any:
                x = a0(f)
                if x is UNDEF:
                    return UNDEF
                return call(f[0], (x,))

            return Compiled(call1)
        if len(fns) == 2:
            b0, b1 = fns

            def call2(f: Frame) -> Any:
                x = b0(f)
                if x is UNDEF:
                    return UNDEF
                y = b1(f)
                if y is UNDEF:
                    return UNDEF
                return call(f[0], (x, y))

            return Compiled(call2)

        def calln(f: Frame) -> Any:
            vals = []
            for fn in fns:
                v = fn(f)
                if v is UNDEF:
                    return UNDEF
                vals.append(v)
            return call(f[0], tuple(vals))

        return Compiled(calln)

    def apply(self, fn: Callable[..., Any], args: list[Compiled]) -> Compiled:
        """A term applying a plain function of values (operators)."""
        return self.apply_ctx(lambda ctx, vals: fn(*vals), args)

    def _print(self, p: Planner, t: ast.Call) -> Compiled:
        gens = []
        for a in t.args:
            try:
                gens.append(p.term(a).as_gen())
            except Exception:
                raise
        loc = t.loc

        def do_print(f: Frame) -> Any:
            parts = []
            for g in gens:
                vals = list(g(f))
                parts.append(" ".join(format_print_value(v) for v in vals) if vals else "<undefined>")
            # file:line: message, as OPA's test runner shows print output.
            prefix = f"{loc.file}:{loc.line}: " if loc is not None and loc.line else ""
            f[0].print(prefix + " ".join(parts))
            return True

        return Compiled(do_print)

    # ------------------------------------------------------------ with

    def function_key(self, p: Planner, root: str, path: tuple[str, ...]) -> str | None:
        """The mock key of a ``with`` target naming a function, else ``None``."""
        func = (root, *path)
        try:
            kind, target = self.resolve(p, func, None)
        except RegoCompileError:
            return None
        return target.name if kind == "user" else str(target)

    def function_replacement(self, p: Planner, value: ast.Term) -> Mock | None:
        """A :class:`Mock` calling another function when ``value`` names one."""
        if isinstance(value, ast.Var):
            if p.scope.lookup(value.name) is not None:
                return None
            func: tuple[str, ...] = (value.name,)
        elif isinstance(value, ast.Ref) and isinstance(value.head, ast.Var):
            segs = []
            for s in value.path:
                if not (isinstance(s, ast.Scalar) and type(s.value) is str):
                    return None
                segs.append(s.value)
            func = (value.head.name, *segs)
        else:
            return None
        try:
            kind, target = self.resolve(p, func, None)
        except RegoCompileError:
            return None
        if kind == "user":
            p.deps.add(target)
            node = target
            return Mock(function=lambda ctx, args: node.call(ctx, args))
        return Mock(function=builtin_caller(target, getattr(value, "loc", None)))
