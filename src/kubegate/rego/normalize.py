"""Rewrite a parsed module into the form the regopy backend evaluates correctly.

Each rewrite keeps OPA's meaning and works around a measured defect of
rego-cpp (regopy 1.3.1 to 1.5.2; regression tests in
``tests/engine/test_backend_defects.py``):

1. **Hoisting.** A reference with a variable in its path used inside a call
   argument or a collection literal is mis-evaluated (``startswith(s,
   xs[i])`` yields nothing; ``f(xs[_])`` is rejected with "Invalid bracket
   argument"). Such references are moved into a fresh variable bound just
   before the literal: ``__kg0 = xs[i]; startswith(s, __kg0)``.
2. **Negation.** OPA's compiler moves the operands of a call out of the
   expression before evaluating it (``rewriteExprTerms`` and
   ``rewriteDynamics`` in ``v1/ast/compile.go``), negated expressions
   included: ``not f(x.missing)`` makes the body fail, while ``not
   x.missing`` (a plain ref) succeeds. rego-cpp evaluates the operands inside
   the negation, so kubegate applies OPA's rewrite to negated literals. (A
   negated literal with a variable bound nowhere else, ``not f(xs[_])``, is a
   ``rego_unsafe_var_error`` in OPA and in kubegate: see
   :func:`kubegate.rego.check.check_negation_safety`.)
3. **Generator assignment.** ``c := xs[_]`` followed by ``ys[c]`` crashes the
   backend (SIGSEGV at compile time). An assignment whose right side iterates is
   split into a unification with a fresh variable and a plain assignment:
   ``__kg0 = xs[_]; c := __kg0``.
4. **sprintf.** With text around a verb, rego-cpp formats a string argument
   in its quoted JSON form (``v := "x"; sprintf("at %v", [v])`` gives
   ``at "x"``). A literal format is split so each verb is formatted on its own
   (``sprintf("%v", [v])`` passes strings through) and the parts are joined:
   ``concat("", ["at ", sprintf("%v", [v])])``. rego-cpp has no ``%q``; it is
   rendered as the ``%v`` form between double quotes (Go's ``%q`` for strings
   without quotes or escapes).
5. **Divergent builtins.** ``concat`` over a set (OPA joins sorted), ``sort``
   of a set (rego-cpp returns a set),
   ``time.parse_rfc3339_ns`` (rego-cpp rejects ``Z``) and ``replace`` (rego-cpp
   hangs on an empty pattern) are routed through ``data.kubegate.compat``
   (``compat.rego``), unless the call's arguments make the difference impossible.
6. **Deprecated builtins.** v0 modules may call builtins OPA 1.0 only keeps
   for v0 (https://www.openpolicyagent.org/docs/latest/policy-reference/#deprecated-built-in-functions)
   and rego-cpp lacks: ``re_match``, ``net.cidr_overlap``, ``any``, ``all``,
   ``set_diff``, ``cast_array``, ``cast_set``. They are rewritten to their v1
   equivalents. ``print`` and ``trace`` calls, which rego-cpp does not provide,
   become ``true`` (what they return in OPA); their output is lost.
7. **Comprehension heads.** A comprehension whose head uses a variable bound
   outside it yields nothing in rego-cpp (``f(x) := [x | some _ in xs]``);
   the head is bound inside the body instead (``[__kg0 | some _ in xs;
   __kg0 := x]``), which the backend evaluates correctly.
8. **Key-value iteration in comprehensions.** rego-cpp cannot parse
   ``some k, v in xs`` inside a comprehension body ("Invalid collection"), so
   there it becomes ``some k; v := xs[k]`` (both forms declare fresh locals).
9. **Regex flags.** rego-cpp rejects RE2 inline flags; a literal pattern
   starting with ``(?i)`` or ``(?s)`` is rewritten without them
   (:mod:`kubegate.rego.regex`).
10. **Memoised calls** (a speed-up, not a defect): rego-cpp memoises complete
    rules within a query but evaluates every function call again. A call to a
    user function whose arguments are all global (``input``, ``data``, rules,
    constants) becomes a reference to a generated rule ``__kgcall0 :=
    f(args)``, evaluated once per query; equal calls share it.
11. **Keywords as names.** A v0 module may name a variable ``in``, ``if``,
   ``contains`` or ``every``; v1 reserves them, so they are renamed.

The v0 to v1 syntax changes (``contains``, ``if``, split multi-body rules) are
already explicit in the AST; the printer emits them.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import replace

from kubegate.errors import Location
from kubegate.rego import ast
from kubegate.rego.printer import print_term
from kubegate.rego.regex import PATTERN_ARGUMENT, rewrite_flags
from kubegate.rego.rewrite import map_module_terms

__all__ = ["is_ground", "map_terms", "normalize_module", "walk_terms"]

_VERB = re.compile(r"%(?:%|[-+# 0]*(?:\d+|\*)?(?:\.(?:\d+|\*))?[a-zA-Z])")
COMPAT_PACKAGE = ("kubegate", "compat")
_COMPAT_CALLS = {
    ("concat",): "join",
    ("sort",): "sorted",
    ("time", "parse_rfc3339_ns"): "rfc3339_ns",
    ("replace",): "replace_all",
}
_RENAMED_BUILTINS = {("re_match",): ("regex", "match"), ("net", "cidr_overlap"): ("net", "cidr_contains")}
_TRUE_BUILTINS = frozenset({("print",), ("trace",)})
_V0_NAMES_RESERVED_IN_V1 = frozenset({"in", "if", "contains", "every"})
_FRESH_PREFIX = "__kg"


# ------------------------------------------------------------------ generic walks


def walk_terms(node: object) -> Iterator[ast.Term]:
    """Yields every term under ``node`` (pre-order), entering nested bodies."""
    stack: list[object] = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, (tuple, list)):
            stack.extend(reversed(item))
            continue
        if isinstance(item, ast.Scalar | ast.Var):
            yield item
        elif isinstance(item, ast.Ref):
            yield item
            stack.extend([item.head, item.path])
        elif isinstance(item, ast.Call):
            yield item
            stack.append(item.args)
        elif isinstance(item, ast.InfixCall):
            yield item
            stack.extend([item.lhs, item.rhs])
        elif isinstance(item, ast.Member):
            yield item
            stack.extend([item.key, item.value, item.collection])
        elif isinstance(item, ast.ArrayTerm | ast.SetTerm):
            yield item
            stack.append(item.items)
        elif isinstance(item, ast.ObjectTerm):
            yield item
            stack.append([x for pair in item.items for x in pair])
        elif isinstance(item, ast.ArrayCompr | ast.SetCompr):
            yield item
            stack.extend([item.head, item.body])
        elif isinstance(item, ast.ObjectCompr):
            yield item
            stack.extend([item.key, item.value, item.body])
        elif isinstance(item, ast.Literal):
            stack.extend([item.expr, [w.target for w in item.withs], [w.value for w in item.withs]])
        elif isinstance(item, ast.Assign):
            stack.extend([item.lhs, item.rhs])
        elif isinstance(item, ast.SomeDecl):
            stack.append(item.vars)
        elif isinstance(item, ast.SomeIn):
            stack.extend([item.key, item.value, item.domain])
        elif isinstance(item, ast.Every):
            stack.extend([item.key, item.value, item.domain, item.body])
        elif isinstance(item, ast.Rule):
            h = item.head
            stack.extend([h.ref, h.args, h.key, h.value, item.body])
            chain = item.else_
            while chain is not None:
                stack.extend([chain.value, chain.body])
                chain = chain.else_


def is_ground(term: ast.Term) -> bool:
    """True when ``term`` contains no variable (comprehensions count as non-ground)."""
    return not any(isinstance(t, ast.Var | ast.ArrayCompr | ast.SetCompr | ast.ObjectCompr) for t in walk_terms(term))


def map_terms(term: ast.Term, fn: Callable[[ast.Term], ast.Term | None]) -> ast.Term:
    """Rebuilds ``term`` bottom-up-first: ``fn`` may return a replacement or ``None``.

    ``fn`` is tried on each node before its children; when it returns a term,
    that replacement is kept as is. Nested bodies are not entered.
    """
    replaced = fn(term)
    if replaced is not None:
        return replaced
    if isinstance(term, ast.Ref):
        return replace(term, head=map_terms(term.head, fn), path=tuple(map_terms(p, fn) for p in term.path))
    if isinstance(term, ast.Call):
        return replace(term, args=tuple(map_terms(a, fn) for a in term.args))
    if isinstance(term, ast.InfixCall):
        return replace(term, lhs=map_terms(term.lhs, fn), rhs=map_terms(term.rhs, fn))
    if isinstance(term, ast.Member):
        key = map_terms(term.key, fn) if term.key is not None else None
        return replace(term, key=key, value=map_terms(term.value, fn), collection=map_terms(term.collection, fn))
    if isinstance(term, ast.ArrayTerm | ast.SetTerm):
        return replace(term, items=tuple(map_terms(i, fn) for i in term.items))
    if isinstance(term, ast.ObjectTerm):
        return replace(term, items=tuple((map_terms(k, fn), map_terms(v, fn)) for k, v in term.items))
    return term


# ------------------------------------------------------------------ normaliser


def split_sprintf(call: ast.Call) -> ast.Term | None:
    """``sprintf("a %v b", [x])`` -> ``concat("", ["a ", sprintf("%v", [x]), " b"])``.

    Returns ``None`` when the call is not a literal format with an array of
    arguments, or has more arguments than verbs (left to the backend as
    written). A verb without an argument becomes ``%!v(MISSING)``, as in Go.
    """
    if call.func != ("sprintf",) or len(call.args) != 2:
        return None
    fmt, args = call.args
    if not (isinstance(fmt, ast.Scalar) and isinstance(fmt.value, str) and isinstance(args, ast.ArrayTerm)):
        return None
    text = fmt.value
    verbs = [m for m in _VERB.finditer(text) if m.group(0) != "%%"]
    if len(verbs) < len(args.items) or not verbs:
        return None
    if len(verbs) == 1 and verbs[0].group(0) == text and text != "%q":
        return None  # a lone verb already formats strings as OPA does
    parts: list[ast.Term] = []
    pos = 0
    for i, verb in enumerate(verbs):
        literal = text[pos : verb.start()].replace("%%", "%")
        if literal:
            parts.append(ast.Scalar(literal, loc=fmt.loc))
        if i < len(args.items) and verb.group(0) == "%q":
            # rego-cpp has no %q: quote the %v form (json.marshal would be undefined
            # for input arrays in the backend).
            value = ast.Call(("sprintf",), (ast.Scalar("%v"), ast.ArrayTerm((args.items[i],))), loc=call.loc)
            parts.extend((ast.Scalar('"'), value, ast.Scalar('"')))
        elif i < len(args.items):
            arg = ast.ArrayTerm((args.items[i],))
            parts.append(ast.Call(("sprintf",), (ast.Scalar(verb.group(0)), arg), loc=call.loc))
        else:
            # Go's fmt (and so OPA) marks a verb without an argument.
            parts.append(ast.Scalar(f"%!{verb.group(0)[-1]}(MISSING)", loc=fmt.loc))
        pos = verb.end()
    tail = text[pos:].replace("%%", "%")
    if tail:
        parts.append(ast.Scalar(tail, loc=fmt.loc))
    return ast.Call(("concat",), (ast.Scalar(""), ast.ArrayTerm(tuple(parts))), loc=call.loc)


def term_vars(node: object) -> set[str]:
    """Names of the variables in ``node`` outside nested comprehension bodies."""
    return {t.name for t in ast.shallow_nodes(node) if isinstance(t, ast.Var) and not t.is_wildcard}


_COMPARISONS = frozenset({"==", "!=", "<", "<=", ">", ">="})


class _Scope:
    """Which variables are bound at the current literal of a body.

    An over-approximation in the safe direction: after a non-negated literal,
    every variable it mentions (outside nested bodies) counts as bound, which is
    what OPA's safety analysis guarantees for a valid module.
    """

    def __init__(self, bound: set[str]) -> None:
        self.bound = set(bound)
        self.declared: set[str] = set()

    def child(self, extra: set[str] | None = None) -> _Scope:
        scope = _Scope(self.bound | (extra or set()))
        return scope

    def is_generator(self, ref: ast.Ref) -> bool:
        """True when a path segment has a variable not bound yet (the ref iterates)."""
        for seg in ref.path:
            for t in walk_terms(seg):
                if isinstance(t, ast.Var) and (t.is_wildcard or t.name not in self.bound):
                    return True
        return False

    def is_unbound_local(self, term: ast.Term) -> bool:
        return (
            isinstance(term, ast.Var)
            and not term.is_wildcard
            and term.name not in self.bound
            and term.name not in self.declared
        )


class _Normalizer:
    def __init__(self, module: ast.Module, globals_: frozenset[str]) -> None:
        taken = {t.name for t in walk_terms(module.rules) if isinstance(t, ast.Var)}
        self._counter = itertools.count()
        self._taken = taken
        self._rename = module.version == "v0"
        names = {"input", "data"} | set(globals_)
        names |= {r.head.name for r in module.rules}
        names |= {i.alias or i.path[-1] for i in module.imports}
        self._globals = names
        self._locals = frozenset(r.head.name for r in module.rules) | frozenset(globals_)

    def comprehension(self, term: ast.ArrayCompr | ast.SetCompr | ast.ObjectCompr, scope: _Scope) -> ast.Term:
        """Normalises a comprehension: its body, and heads that use outer variables."""
        body = self.split_kv_some(term.body)
        local = term_vars(body)
        heads = [term.key, term.value] if isinstance(term, ast.ObjectCompr) else [term.head]
        bound_heads: list[ast.Term] = []
        extra: list[ast.Literal] = []
        for head in heads:
            if not term_vars(head) - local:
                bound_heads.append(head)
                continue
            var = self.fresh(getattr(head, "loc", None))
            extra.append(ast.Literal(ast.Assign(":=", var, head, loc=var.loc), loc=var.loc))
            bound_heads.append(var)
        inner = scope.child()
        new_body = self.body((*body, *extra), inner)
        if isinstance(term, ast.ObjectCompr):
            key, value = (self.nested(h, inner) for h in bound_heads)
            return replace(term, key=key, value=value, body=new_body)
        return replace(term, head=self.nested(bound_heads[0], inner), body=new_body)

    def split_kv_some(self, body: ast.Body) -> ast.Body:
        """``some k, v in xs`` -> ``some k; v := xs[k]`` (comprehension bodies only)."""
        out: list[ast.Literal] = []
        for lit in body:
            expr = lit.expr
            if not (isinstance(expr, ast.SomeIn) and expr.key is not None):
                out.append(lit)
                continue
            key = expr.key if isinstance(expr.key, ast.Var) and not expr.key.is_wildcard else self.fresh(expr.loc)
            loc = expr.loc
            out.append(ast.Literal(ast.SomeDecl((key,), loc=loc), loc=loc))
            element = ast.Ref(expr.domain, (key,), loc=loc)
            value = expr.value
            if isinstance(value, ast.Var) and not value.is_wildcard:
                out.append(ast.Literal(ast.Assign(":=", value, element, loc=loc), withs=lit.withs, loc=loc))
            else:
                # Patterns and wildcards unify with the element, as in OPA.
                target = value if not (isinstance(value, ast.Var) and value.is_wildcard) else self.fresh(loc)
                out.append(ast.Literal(ast.Assign("=", target, element, loc=loc), withs=lit.withs, loc=loc))
            if key is not expr.key:
                out.append(ast.Literal(ast.Assign("=", expr.key, key, loc=loc), loc=loc))
        return tuple(out)

    def needs_compat(self, call: ast.Call) -> bool:
        """Whether a call may hit a divergent builtin (literal arguments that cannot are left alone)."""
        if len(call.func) == 1 and call.func[0] in self._locals:
            return False
        if call.func == ("concat",):
            return len(call.args) == 2 and not isinstance(call.args[1], ast.ArrayTerm | ast.ArrayCompr)
        if call.func == ("sort",):
            return len(call.args) == 1 and not isinstance(call.args[0], ast.ArrayTerm | ast.ArrayCompr)
        if call.func == ("replace",):
            old = call.args[1] if len(call.args) == 3 else None
            return not (isinstance(old, ast.Scalar) and isinstance(old.value, str) and old.value)
        return True

    def deprecated(self, call: ast.Call) -> ast.Term | None:
        """The v1 form of a deprecated builtin call, or ``None``."""
        if len(call.func) == 1 and call.func[0] in self._locals:
            return None
        renamed = _RENAMED_BUILTINS.get(call.func)
        if renamed is not None:
            return replace(call, func=renamed)
        if call.func in _TRUE_BUILTINS:
            return ast.Scalar(True, loc=call.loc)
        name = call.func[0] if len(call.func) == 1 else ""
        if name == "set_diff" and len(call.args) == 2:
            return ast.InfixCall("-", call.args[0], call.args[1], loc=call.loc)
        if name in ("cast_set", "cast_array", "any", "all") and len(call.args) == 1:
            v = self.fresh(call.loc)
            gen = (ast.Literal(ast.SomeIn(None, v, call.args[0], loc=call.loc), loc=call.loc),)
            if name == "cast_set":
                return ast.SetCompr(v, gen, loc=call.loc)
            if name == "cast_array":
                return ast.ArrayCompr(v, gen, loc=call.loc)
            test = ast.InfixCall("==" if name == "any" else "!=", v, ast.Scalar(True), loc=call.loc)
            count = ast.Call(("count",), (ast.ArrayCompr(ast.Scalar(True), (*gen, ast.Literal(test)), loc=call.loc),))
            if name == "any":
                return ast.InfixCall(">", count, ast.Scalar(0, "0"), loc=call.loc)
            return ast.InfixCall("==", count, ast.Scalar(0, "0"), loc=call.loc)
        return None

    def fresh(self, loc: Location | None = None) -> ast.Var:
        while True:
            name = f"{_FRESH_PREFIX}{next(self._counter)}"
            if name not in self._taken:
                self._taken.add(name)
                return ast.Var(name, loc=loc)

    # ---- terms
    def nested(self, term: ast.Term, scope: _Scope) -> ast.Term:
        """Normalises comprehension bodies inside ``term`` and renames reserved vars."""

        def fn(t: ast.Term) -> ast.Term | None:
            if isinstance(t, ast.Var) and self._rename and t.name in _V0_NAMES_RESERVED_IN_V1:
                return replace(t, name=f"__kw_{t.name}")
            if isinstance(t, ast.Call) and (
                t.func in _RENAMED_BUILTINS
                or t.func in _TRUE_BUILTINS
                or (len(t.func) == 1 and t.func[0] in ("set_diff", "cast_set", "cast_array", "any", "all"))
            ):
                modern = self.deprecated(t)
                if modern is not None:
                    return map_terms(modern, fn) if not isinstance(modern, ast.Scalar) else modern
            if isinstance(t, ast.Call) and t.func in _COMPAT_CALLS and self.needs_compat(t):
                target = ("data", *COMPAT_PACKAGE, _COMPAT_CALLS[t.func])
                return replace(t, func=target, args=tuple(map_terms(a, fn) for a in t.args))
            if isinstance(t, ast.Call) and t.func in PATTERN_ARGUMENT:
                index = PATTERN_ARGUMENT[t.func]
                pattern = t.args[index] if index < len(t.args) else None
                if isinstance(pattern, ast.Scalar) and isinstance(pattern.value, str):
                    rewritten = rewrite_flags(pattern.value)
                    if rewritten is not None:
                        args = list(t.args)
                        args[index] = replace(pattern, value=rewritten)
                        return replace(t, args=tuple(map_terms(a, fn) for a in args))
            if isinstance(t, ast.Call) and t.func == ("sprintf",):
                split = split_sprintf(t)
                if split is not None:
                    assert isinstance(split, ast.Call)
                    return replace(split, args=tuple(map_terms(a, fn) for a in split.args))
            if isinstance(t, ast.ArrayCompr | ast.SetCompr | ast.ObjectCompr):
                return self.comprehension(t, scope)
            return None

        return map_terms(term, fn)

    def hoist(self, term: ast.Term, in_args: bool, out: list[ast.Literal], scope: _Scope) -> ast.Term:
        """Replaces iterating refs in argument/collection position with fresh vars."""
        if isinstance(term, ast.Ref):
            head = self.hoist(term.head, False, out, scope)
            path = tuple(self.hoist(p, False, out, scope) for p in term.path)
            ref = replace(term, head=head, path=path)
            if in_args and scope.is_generator(ref):
                var = self.fresh(term.loc)
                out.append(ast.Literal(ast.Assign("=", var, ref, loc=term.loc), loc=term.loc))
                return var
            return ref
        if isinstance(term, ast.Call):
            return replace(term, args=tuple(self.hoist(a, True, out, scope) for a in term.args))
        if isinstance(term, ast.InfixCall):
            # rego-cpp finds nothing for a comparison whose two sides both iterate
            # (`input[i].k == input[j].k`); binding the left side first means the same.
            both = term.op in _COMPARISONS and all(
                isinstance(t, ast.Ref) and scope.is_generator(t) for t in (term.lhs, term.rhs)
            )
            return replace(
                term,
                lhs=self.hoist(term.lhs, in_args or both, out, scope),
                rhs=self.hoist(term.rhs, in_args, out, scope),
            )
        if isinstance(term, ast.Member):
            key = self.hoist(term.key, True, out, scope) if term.key is not None else None
            return replace(
                term,
                key=key,
                value=self.hoist(term.value, True, out, scope),
                collection=self.hoist(term.collection, True, out, scope),
            )
        if isinstance(term, ast.ArrayTerm | ast.SetTerm):
            return replace(term, items=tuple(self.hoist(i, True, out, scope) for i in term.items))
        if isinstance(term, ast.ObjectTerm):
            return replace(
                term,
                items=tuple((self.hoist(k, True, out, scope), self.hoist(v, True, out, scope)) for k, v in term.items),
            )
        return term

    # ---- literals and bodies
    def assign(self, expr: ast.Assign, out: list[ast.Literal], scope: _Scope) -> ast.Assign:
        lhs = self.hoist(self.nested(expr.lhs, scope), False, out, scope)
        rhs = self.hoist(self.nested(expr.rhs, scope), False, out, scope)
        op = expr.op
        if op == "=":
            # Unifying an unbound local with a computed value fails in the backend
            # ("unable to unify due to cycle"); declaring it means the same thing.
            target, value = (rhs, lhs) if scope.is_unbound_local(rhs) else (lhs, rhs)
            if (
                isinstance(target, ast.Var)
                and scope.is_unbound_local(target)
                and target.name not in self._globals
                and target.name not in term_vars(value)
                and not (isinstance(value, ast.Ref) and scope.is_generator(value))
            ):
                op, lhs, rhs = ":=", target, value
        if op == ":=" and isinstance(rhs, ast.Ref) and scope.is_generator(rhs):
            var = self.fresh(expr.loc)
            out.append(ast.Literal(ast.Assign("=", var, rhs, loc=expr.loc), loc=expr.loc))
            rhs = var
        return replace(expr, op=op, lhs=lhs, rhs=rhs)

    def expression(self, expr: ast.Expression, out: list[ast.Literal], scope: _Scope) -> ast.Expression:
        if isinstance(expr, ast.Assign):
            return self.assign(expr, out, scope)
        if isinstance(expr, ast.SomeDecl):
            return expr
        if isinstance(expr, ast.SomeIn):
            key = self.nested(expr.key, scope) if expr.key is not None else None
            domain = self.hoist(self.nested(expr.domain, scope), False, out, scope)
            return replace(expr, key=key, value=self.nested(expr.value, scope), domain=domain)
        if isinstance(expr, ast.Every):
            domain = self.hoist(self.nested(expr.domain, scope), False, out, scope)
            names = {expr.value.name} | ({expr.key.name} if expr.key is not None else set())
            return replace(expr, domain=domain, body=self.body(expr.body, scope.child(names)))
        return self.hoist(self.nested(expr, scope), False, out, scope)

    def dynamic(self, term: ast.Term, out: list[ast.Literal], scope: _Scope, hoist_refs: bool = True) -> ast.Term:
        """OPA ``rewriteDynamicsOne`` plus call expansion: binds an operand's refs,
        nested calls and comprehensions to fresh variables (in ``out``)."""
        if isinstance(term, ast.Ref):
            head = term.head
            if isinstance(head, ast.Call | ast.InfixCall):
                head = self.dynamic(head, out, scope)
            path = tuple(self.dynamic(p, out, scope) for p in term.path)
            ref = replace(term, head=head, path=path)
            if not hoist_refs:
                return ref
            return self.bind(ref, out, scope)
        if isinstance(term, ast.Call | ast.InfixCall | ast.Member):
            return self.bind(self.nested(term, scope), out, scope)
        if isinstance(term, ast.ArrayTerm | ast.SetTerm):
            return replace(term, items=tuple(self.dynamic(i, out, scope) for i in term.items))
        if isinstance(term, ast.ObjectTerm):
            return replace(
                term, items=tuple((self.dynamic(k, out, scope), self.dynamic(v, out, scope)) for k, v in term.items)
            )
        if isinstance(term, ast.ArrayCompr | ast.SetCompr | ast.ObjectCompr):
            return self.bind(self.nested(term, scope), out, scope)
        return term

    def bind(self, term: ast.Term, out: list[ast.Literal], scope: _Scope) -> ast.Var:
        """Appends ``__kgN = term`` (``:=`` unless ``term`` iterates) and returns ``__kgN``."""
        var = self.fresh(getattr(term, "loc", None))
        iterates = isinstance(term, ast.Ref) and scope.is_generator(term)
        op = "=" if iterates else ":="
        out.append(ast.Literal(ast.Assign(op, var, term, loc=var.loc), loc=var.loc))
        return var

    def negated(self, expr: ast.Expression, out: list[ast.Literal], scope: _Scope) -> ast.Expression:
        """Moves the operands of a negated expression out of it, as OPA does."""
        if isinstance(expr, ast.Call):
            modern = self.deprecated(expr)
            if modern is not None:
                return self.negated(modern, out, scope)
            split = split_sprintf(expr)
            if split is not None:
                return self.negated(split, out, scope)
            return replace(expr, args=tuple(self.dynamic(a, out, scope) for a in expr.args))
        if isinstance(expr, ast.InfixCall):
            return replace(expr, lhs=self.dynamic(expr.lhs, out, scope), rhs=self.dynamic(expr.rhs, out, scope))
        if isinstance(expr, ast.Member):
            key = self.dynamic(expr.key, out, scope) if expr.key is not None else None
            return replace(
                expr,
                key=key,
                value=self.dynamic(expr.value, out, scope),
                collection=self.dynamic(expr.collection, out, scope),
            )
        if isinstance(expr, ast.Ref):
            return self.dynamic(expr, out, scope, hoist_refs=False)
        if isinstance(expr, ast.ArrayTerm | ast.SetTerm | ast.ObjectTerm):
            # OPA rewriteDynamicsTermExpr: refs inside a negated collection move out.
            return self.dynamic(expr, out, scope)
        if isinstance(expr, ast.Assign | ast.SomeDecl | ast.SomeIn | ast.Every):
            return expr
        return self.nested(expr, scope)

    def literal(self, lit: ast.Literal, scope: _Scope) -> list[ast.Literal]:
        withs = tuple(replace(w, value=self.nested(w.value, scope)) for w in lit.withs)
        if lit.negated:
            moved: list[ast.Literal] = []
            expr = self.negated(lit.expr, moved, scope)
            # The moved operands are ordinary literals (with the same modifiers).
            prefix = [lit2 for m in moved for lit2 in self.literal(replace(m, withs=lit.withs), scope)]
            return [*prefix, replace(lit, expr=expr, withs=withs)]
        prefix = []
        expr = self.expression(lit.expr, prefix, scope)
        for p in prefix:
            scope.bound |= term_vars(p.expr)
        if isinstance(expr, ast.SomeDecl):
            scope.declared |= {v.name for v in expr.vars}
        else:
            scope.bound |= term_vars(expr)
        return [*prefix, replace(lit, expr=expr, withs=withs)]

    def body(self, body: ast.Body, scope: _Scope) -> ast.Body:
        out: list[ast.Literal] = []
        for lit in body:
            out.extend(self.literal(lit, scope))
        return tuple(out)

    # ---- rules
    def rule_scope(self, head: ast.RuleHead) -> _Scope:
        bound = set(self._globals)
        if head.args is not None:
            bound |= term_vars(head.args)
        return _Scope(bound)

    def else_clause(self, clause: ast.ElseClause, head: ast.RuleHead) -> ast.ElseClause:
        scope = self.rule_scope(head)
        body = self.body(clause.body, scope) if clause.body is not None else None
        return replace(
            clause,
            value=self.nested(clause.value, scope) if clause.value is not None else None,
            body=body,
            else_=self.else_clause(clause.else_, head) if clause.else_ is not None else None,
        )

    def rule(self, rule: ast.Rule) -> ast.Rule:
        head = rule.head
        scope = self.rule_scope(head)
        body = self.body(rule.body, scope) if rule.body is not None else None
        new_head = replace(
            head,
            ref=_as_ref(self.nested(head.ref, scope)),
            args=tuple(self.nested(a, scope) for a in head.args) if head.args is not None else None,
            key=self.nested(head.key, scope) if head.key is not None else None,
            value=self.nested(head.value, scope) if head.value is not None else None,
        )
        return replace(
            rule,
            head=new_head,
            body=body,
            else_=self.else_clause(rule.else_, head) if rule.else_ is not None else None,
        )


def _as_ref(term: ast.Term) -> ast.Ref:
    assert isinstance(term, ast.Ref)
    return term


def declared_names(rule: ast.Rule) -> set[str]:
    """Names a rule declares locally: arguments, ``:=`` and ``=`` targets, ``some``,
    ``some ... in`` and ``every`` variables, in its bodies and nested bodies."""
    names: set[str] = set()
    for term in rule.head.args or ():
        names |= term_vars(term)
    bodies: list[ast.Body] = []
    if rule.body is not None:
        bodies.append(rule.body)
    chain = rule.else_
    while chain is not None:
        if chain.body is not None:
            bodies.append(chain.body)
        chain = chain.else_
    for term in walk_terms(rule):
        if isinstance(term, ast.ArrayCompr | ast.SetCompr | ast.ObjectCompr):
            bodies.append(term.body)
    while bodies:
        body = bodies.pop()
        for lit in body:
            expr = lit.expr
            if isinstance(expr, ast.Assign):
                names |= term_vars(expr.lhs)
                if expr.op == "=":
                    names |= term_vars(expr.rhs) if isinstance(expr.rhs, ast.Var) else set()
            elif isinstance(expr, ast.SomeDecl):
                names |= {v.name for v in expr.vars}
            elif isinstance(expr, ast.SomeIn):
                names |= term_vars([p for p in (expr.key, expr.value) if p is not None])
            elif isinstance(expr, ast.Every):
                names |= {expr.value.name} | ({expr.key.name} if expr.key is not None else set())
                bodies.append(expr.body)
            else:
                # Variables bound by iterating a ref (xs[i]) are local too.
                for t in walk_terms(expr):
                    if isinstance(t, ast.Ref):
                        for seg in t.path:
                            names |= term_vars(seg)
    return names


class _CallLifter:
    """Rewrite 10: lifts global-argument calls to user functions into complete rules."""

    def __init__(self, module: ast.Module, globals_: frozenset[str]) -> None:
        self.functions = {r.head.name for r in module.rules if r.head.args is not None}
        self.values = {r.head.name for r in module.rules if r.head.args is None} | set(globals_)
        self.aliases = {imp.alias or imp.path[-1] for imp in module.imports}
        self.generated: dict[str, ast.Rule] = {}
        taken = {t.name for t in walk_terms(module.rules) if isinstance(t, ast.Var)}
        taken |= {r.head.name for r in module.rules}
        self.counter = itertools.count()
        self.taken = taken

    def user_function(self, call: ast.Call) -> bool:
        head = call.func[0]
        if head == "data":
            return True
        if head in self.aliases:
            return True  # an imported function (``import data.lib.f``)
        return len(call.func) == 1 and head in self.functions

    def global_term(self, term: ast.Term, local: set[str]) -> bool:
        for t in walk_terms(term):
            if isinstance(t, ast.Var):
                if t.is_wildcard or t.name in local:
                    return False
                if t.name not in ("input", "data") and t.name not in self.values and t.name not in self.aliases:
                    return False
            elif isinstance(t, ast.ArrayCompr | ast.SetCompr | ast.ObjectCompr | ast.Call | ast.InfixCall):
                return False
        return True

    def lift(self, call: ast.Call) -> ast.Var:
        key = print_term(call)
        rule = self.generated.get(key)
        if rule is None:
            while True:
                name = f"__kgcall{next(self.counter)}"
                if name not in self.taken:
                    break
            head = ast.RuleHead(ast.Ref(ast.Var(name), ()), value=call, assign=":=", loc=call.loc)
            rule = ast.Rule(head, None, loc=call.loc)
            self.generated[key] = rule
        return ast.Var(rule.head.name, loc=call.loc)

    def rule(self, rule: ast.Rule) -> ast.Rule:
        if rule.body is None and rule.head.args is None and rule.head.key is None:
            return rule  # a complete rule is memoised already (``x := f(input)``)
        local = declared_names(rule)

        def fn(term: ast.Term) -> ast.Term:
            if (
                isinstance(term, ast.Call)
                and self.user_function(term)
                and all(self.global_term(a, local) for a in term.args)
            ):
                return self.lift(term)
            return term

        module = ast.Module(ast.Package(("_",)), (), (rule,), "v1", "")
        return map_module_terms(module, fn).rules[0]


def normalize_module(module: ast.Module, globals_: frozenset[str] = frozenset()) -> ast.Module:
    """Returns ``module`` rewritten for the backend (see the module docstring).

    Args:
        module: a parsed module.
        globals_: names of rules defined by other modules of the same package;
            a body variable with such a name refers to the rule, so it is never
            turned into a local declaration.

    The result has the same meaning under OPA's semantics; locations of
    rewritten literals point at the literal they came from.
    """
    n = _Normalizer(module, globals_)
    normalized = replace(module, rules=tuple(n.rule(r) for r in module.rules))
    lifter = _CallLifter(normalized, globals_)
    rules = tuple(lifter.rule(r) for r in normalized.rules)
    return replace(normalized, rules=rules + tuple(lifter.generated.values()))
