"""Generate Rego from checked DSL rules: one self-contained Rego v1 module per rule.

The generator builds :mod:`kubegate.rego.ast` nodes (never Rego text) and the
front-end's printer writes them. For a rule::

    # METADATA
    # title: payment_pods_require_seccomp
    # custom:
    #   id: payment_pods_require_seccomp
    #   severity: high
    #   enforcement: deny
    #   input: review
    #   match: {kinds: [{apiGroups: [""], kinds: [Pod]}, ...]}
    #   source: {file: pci.kgr, line: 3, column: 6}
    package kubegate_dsl.payment_pods_require_seccomp

    violation contains {"msg": msg, "details": {...}} if { ... }

Semantics (documented for users in docs/dsl.md):

* a path reads ``object.get(root, [segments], null)``: a missing field is
  ``null``, so ``==``/``!=``/``IN`` never fail on it, ``EXISTS`` is ``!= null``;
* ordering (``< <= > >=``), ``MATCHES`` and the string tests hold only for a
  value of the right type (a missing value makes them false);
* quantities are compared in base units (``dsl_quantity``: OPA's ``units.parse``);
* ``OR`` becomes several rule bodies (disjunctive normal form); ``NOT x``
  becomes ``not helper(vars)`` where ``helper`` holds ``x``, so a negated
  condition is true when ``x`` is false *or undefined* (OPA's ``not`` on a
  call, without the pitfalls of negating an expression over missing fields);
* ``ANY v IN xs: c`` is ``some v in xs`` followed by ``c``; ``ALL`` is
  ``every v in xs { helper(v, ...) }`` over ``xs`` or ``[]`` (true when empty);
* one violation per way the condition holds (per container for
  ``ANY container c``), with the message's interpolations.

Helpers from ``runtime.rego`` are copied into each module as needed, so the
output runs on OPA or Gatekeeper without kubegate.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from typing import Any

from kubegate.dsl import ast as d
from kubegate.dsl.check import RuleInfo
from kubegate.dsl.schema import Type
from kubegate.rego import ast as r
from kubegate.rego.parser import parse_module
from kubegate.rego.printer import print_module
from kubegate.rego.values import term_from_value

__all__ = ["PACKAGE_PREFIX", "generate_rule", "parameters_schema", "print_rule"]

PACKAGE_PREFIX = ("kubegate_dsl",)
_ENFORCEMENT = {"DENY": "deny", "WARN": "warn", "AUDIT": "dryrun"}
_REVIEW = r.Ref(r.Var("input"), (r.Scalar("review"),))
_OBJECT = r.Ref(r.Var("input"), (r.Scalar("review"), r.Scalar("object")))
_NULL = r.Scalar(None)
_REGO_RESERVED = frozenset(
    {
        "as",
        "contains",
        "data",
        "default",
        "else",
        "every",
        "false",
        "if",
        "import",
        "in",
        "input",
        "not",
        "null",
        "package",
        "some",
        "true",
        "with",
    }
)


@functools.lru_cache(maxsize=1)
def _runtime() -> dict[str, list[r.Rule]]:
    text = resources.files("kubegate.dsl").joinpath("runtime.rego").read_text("utf-8")
    module = parse_module(text, "kubegate/dsl/runtime.rego", "v1")
    out: dict[str, list[r.Rule]] = {}
    for rule in module.rules:
        out.setdefault(rule.head.name, []).append(rule)
    return out


def _runtime_closure(names: Iterable[str]) -> list[r.Rule]:
    """The runtime rules named, and every runtime rule they use, in runtime.rego's order."""
    return list(_closure(frozenset(names)))


@functools.lru_cache(maxsize=256)
def _closure(names: frozenset[str]) -> tuple[r.Rule, ...]:
    runtime = _runtime()
    wanted: set[str] = set()
    pending = list(names)
    while pending:
        name = pending.pop()
        if name in wanted or name not in runtime:
            continue
        wanted.add(name)
        for rule in runtime[name]:
            for term in _walk(rule):
                if isinstance(term, r.Call) and len(term.func) == 1:
                    pending.append(term.func[0])
                elif isinstance(term, r.Var):
                    pending.append(term.name)
    return tuple(rule for name, rules in runtime.items() if name in wanted for rule in rules)


def _walk(rule: r.Rule) -> Iterable[Any]:
    from kubegate.rego.normalize import walk_terms

    return walk_terms(rule)


def _number(value: Decimal) -> r.Scalar:
    if value == value.to_integral_value():
        return r.Scalar(int(value), str(int(value)))
    return r.Scalar(float(value), format(value.normalize(), "f"))


def _var_name(name: str) -> str:
    return f"v_{name}" if name in _REGO_RESERVED or name.startswith("__") else name


@dataclass
class _Scope:
    """Variables in scope while generating: DSL name -> Rego term."""

    vars: dict[str, r.Term]


class _Generator:
    def __init__(self, info: RuleInfo, params: Mapping[str, d.Param], param_types: Mapping[str, Type]) -> None:
        self.info = info
        self.rule = info.rule
        self.params = params
        self.param_types = param_types
        self.helpers: list[r.Rule] = []
        self.runtime: set[str] = set()
        self._counter = itertools.count(1)

    def fresh(self, prefix: str = "x") -> r.Var:
        return r.Var(f"__{prefix}{next(self._counter)}")

    def call(self, name: str, *args: r.Term) -> r.Call:
        self.runtime.add(name)
        return r.Call((name,), tuple(args))

    # ---- operands: (literals that bind temporaries, term)
    def operand(self, op: d.Operand, scope: _Scope) -> r.Term:
        if isinstance(op, d.Constant):
            if op.kind in ("number", "quantity"):
                assert isinstance(op.value, Decimal)
                return _number(op.value)
            return r.Scalar(op.value)  # type: ignore[arg-type]
        if isinstance(op, d.ListOperand):
            return r.ArrayTerm(tuple(self.operand(i, scope) for i in op.items))
        if isinstance(op, d.Call):
            return self.function(op, scope)
        return self.path(op, scope)

    def root(self, name: str, scope: _Scope) -> tuple[r.Term, tuple[str, ...]]:
        """The Rego term a path starts from, and segments implied by the root."""
        if name in scope.vars:
            return scope.vars[name], ()
        if name in self.params:
            p = self.params[name]
            default = _default_value(p, self.param_types.get(name))
            return r.Call(
                ("object", "get"),
                (r.Var("input"), r.ArrayTerm((r.Scalar("parameters"), r.Scalar(name))), term_from_value(default)),
            ), ()
        if name == "object":
            return _OBJECT, ()
        if name == "old":
            return r.Call(("object", "get"), (_REVIEW, r.Scalar("oldObject"), _NULL)), ()
        if name in ("metadata", "spec"):
            return _OBJECT, (name,)
        if name == "pod":
            return self.call("dsl_pod_spec", _OBJECT), ()
        if name == "labels":
            return self.call("dsl_labels", _OBJECT), ()
        if name == "annotations":
            return self.call("dsl_annotations", _OBJECT), ()
        if name == "namespace":
            return self.call("dsl_namespace", _REVIEW), ()
        if name == "name":
            return _OBJECT, ("metadata", "name")
        if name == "kind":
            return _OBJECT, ("kind",)
        if name == "operation":
            return _REVIEW, ("operation",)
        if name == "user":
            return _REVIEW, ("userInfo", "username")
        if name == "groups":
            return _REVIEW, ("userInfo", "groups")
        if name == "namespaceObject":
            return self.call("dsl_namespace_object", _REVIEW), ()
        raise AssertionError(f"unchecked root {name}")

    def path(self, path: d.Path, scope: _Scope) -> r.Term:
        head, implied = self.root(path.root, scope)
        keys: list[r.Term] = [r.Scalar(s) for s in implied]
        keys += [r.Scalar(seg.key) for seg in path.segments]
        if not keys:
            return head
        if path.root in ("old", "namespaceObject"):  # null when absent: read paths from {}
            head = self.call("dsl_object", head)
        return r.Call(("object", "get"), (head, r.ArrayTerm(tuple(keys)), _NULL))

    def function(self, call: d.Call, scope: _Scope) -> r.Term:
        args = [self.operand(a, scope) for a in call.args]
        if call.name == "len":
            return self.call("dsl_len", args[0])
        if call.name in ("lower", "upper", "floor", "ceil"):
            return r.Call((call.name,), (args[0],))
        if call.name in ("max", "min"):
            return r.Call((call.name,), (r.ArrayTerm(tuple(args)),))
        if call.name == "number":
            return r.Call(("to_number",), (args[0],))
        if call.name == "quantity":
            return self.call("dsl_quantity", args[0])
        if call.name in ("image_verified", "image_reason"):  # the answer verified before evaluation
            verification = r.Call(("kubegate", "image", "verify"), (args[0], args[1]))
            field, missing = ("verified", False) if call.name == "image_verified" else ("reason", "")
            return r.Call(("object", "get"), (verification, r.Scalar(field), r.Scalar(missing)))
        result = args[-1]
        for arg in reversed(args[:-1]):
            result = self.call("dsl_coalesce", arg, result)
        return result

    def _type(self, op: d.Operand) -> Type | None:
        return self.info.types.get(id(op))

    def _is_quantity(self, *ops: d.Operand) -> bool:
        return any((t := self._type(op)) is not None and t.kind == "quantity" for op in ops)

    # ---- conditions -> list of bodies (disjunctive normal form)
    def condition(self, cond: d.Condition, scope: _Scope) -> list[list[r.Literal]]:
        if isinstance(cond, d.And):
            bodies: list[list[r.Literal]] = [[]]
            for item in cond.items:
                bodies = [b + extra for b in bodies for extra in self.condition(item, scope)]
            return bodies
        if isinstance(cond, d.Or):
            return [b for item in cond.items for b in self.condition(item, scope)]
        if isinstance(cond, d.Not):
            return [[self.negated(cond.item, scope)]]
        if isinstance(cond, d.Any_):
            var = r.Var(_var_name(cond.var))
            inner = _Scope({**scope.vars, cond.var: var})
            some = r.Literal(r.SomeIn(None, var, self.domain(cond, scope)))
            return [[some, *body] for body in self.condition(cond.body, inner)]
        if isinstance(cond, d.All):
            var = r.Var(_var_name(cond.var))
            inner = _Scope({**scope.vars, cond.var: var})
            helper = self.helper("all", cond.body, inner, first=cond.var)
            return [[r.Literal(r.Every(None, var, self.domain(cond, scope), (r.Literal(helper),)))]]
        return [self.predicate(cond, scope)]

    def domain(self, cond: d.Any_ | d.All, scope: _Scope) -> r.Term:
        if cond.binder == "container":
            return self.call("dsl_containers", _OBJECT)
        if cond.binder == "initContainer":
            return self.call("dsl_init_containers", _OBJECT)
        if cond.binder == "ephemeralContainer":
            return self.call("dsl_ephemeral_containers", _OBJECT)
        assert cond.domain is not None
        return self.call("dsl_coalesce", self.operand(cond.domain, scope), r.ArrayTerm(()))

    def negated(self, cond: d.Condition, scope: _Scope) -> r.Literal:
        return r.Literal(self.helper("not", cond, scope), negated=True)

    def helper(self, kind: str, cond: d.Condition, scope: _Scope, first: str | None = None) -> r.Term:
        """A helper function (or rule) holding ``cond``; returns the call to it."""
        name = f"dsl_{kind}_{next(self._counter)}"
        used = sorted(_used_vars(cond) & set(scope.vars), key=lambda v: (v != first, v))
        params = tuple(r.Var(_var_name(v)) for v in used)
        inner = _Scope({v: r.Var(_var_name(v)) for v in used} | {k: t for k, t in scope.vars.items() if k not in used})
        for body in self.condition(cond, inner):
            head = r.RuleHead(r.Ref(r.Var(name), ()), args=params if params else None)
            self.helpers.append(r.Rule(head, tuple(body) if body else (r.Literal(r.Scalar(True)),), has_if=True))
        if params:
            return r.Call((name,), tuple(scope.vars[v] for v in used))
        return r.Var(name)

    def predicate(self, cond: d.Condition, scope: _Scope) -> list[r.Literal]:
        lit = r.Literal
        if isinstance(cond, d.Compare):
            left, right = self.operand(cond.left, scope), self.operand(cond.right, scope)
            if self._is_quantity(cond.left, cond.right) and not _both_strings(cond):
                return [
                    lit(r.InfixCall(cond.op, self._as_quantity(cond.left, left), self._as_quantity(cond.right, right)))
                ]
            if cond.op in ("<", "<=", ">", ">="):
                guard = self._guard(cond.left, left) + self._guard(cond.right, right)
                return [*guard, lit(r.InfixCall(cond.op, left, right))]
            return [lit(r.InfixCall(cond.op, left, right))]
        if isinstance(cond, d.Member):
            left = self.operand(cond.left, scope)
            if cond.items is not None:
                quantity = self._is_quantity(cond.left, *cond.items)
                items = tuple(
                    self._as_quantity(i, self.operand(i, scope)) if quantity else self.operand(i, scope)
                    for i in cond.items
                )
                value = self._as_quantity(cond.left, left) if quantity else left
                collection: r.Term = r.SetTerm(items)
            else:
                assert cond.collection is not None
                value = left
                collection = self.call("dsl_coalesce", self.operand(cond.collection, scope), r.ArrayTerm(()))
            return [lit(r.Member(None, value, collection), negated=cond.negated)]
        if isinstance(cond, d.Matches):
            positive = self._matches(cond, scope)
            return [self.negated_literals(positive, cond, scope)] if cond.negated else positive
        if isinstance(cond, d.StringTest):
            left, right = self.operand(cond.left, scope), self.operand(cond.right, scope)
            func = {"starts_with": "startswith", "ends_with": "endswith", "contains": "contains"}[cond.op]
            positive = [
                lit(r.Call(("is_string",), (left,))),
                lit(r.Call(("is_string",), (right,))),
                lit(r.Call((func,), (left, right))),
            ]
            return [self.negated_literals(positive, cond, scope)] if cond.negated else positive
        if isinstance(cond, d.Exists):
            return [lit(r.InfixCall("!=" if cond.present else "==", self.operand(cond.operand, scope), _NULL))]
        assert isinstance(cond, d.Truthy)
        return [lit(r.InfixCall("==", self.operand(cond.operand, scope), r.Scalar(True)))]

    def _matches(self, cond: d.Matches, scope: _Scope) -> list[r.Literal]:
        left, pattern = self.operand(cond.left, scope), self.operand(cond.pattern, scope)
        return [r.Literal(r.Call(("is_string",), (left,))), r.Literal(r.Call(("regex", "match"), (pattern, left)))]

    def negated_literals(self, positive: list[r.Literal], cond: d.Condition, scope: _Scope) -> r.Literal:
        """``not helper(vars)`` where the helper's body is ``positive``."""
        name = f"dsl_not_{next(self._counter)}"
        used = sorted(_used_vars(cond) & set(scope.vars))
        params = tuple(r.Var(_var_name(v)) for v in used)
        head = r.RuleHead(r.Ref(r.Var(name), ()), args=params if params else None)
        self.helpers.append(r.Rule(head, tuple(positive), has_if=True))
        call: r.Term = r.Call((name,), tuple(scope.vars[v] for v in used)) if params else r.Var(name)
        return r.Literal(call, negated=True)

    def _guard(self, op: d.Operand, term: r.Term) -> list[r.Literal]:
        if isinstance(op, d.Constant):
            return []
        t = self._type(op)
        check = "is_string" if t is not None and t.kind == "string" else "is_number"
        return [r.Literal(r.Call((check,), (term,)))]

    def _as_quantity(self, op: d.Operand, term: r.Term) -> r.Term:
        if isinstance(op, d.Constant) and op.kind in ("quantity", "number"):
            return term
        return self.call("dsl_quantity", term)

    # ---- messages, details, hooks
    def template(self, template: d.Template, scope: _Scope) -> r.Term:
        fmt = "".join(p.replace("%", "%%") if isinstance(p, str) else "%s" for p in template.parts)
        args = tuple(self.call("dsl_text", self.operand(p, scope)) for p in template.parts if not isinstance(p, str))
        if not args:
            return r.Scalar(fmt.replace("%%", "%"))
        return r.Call(("sprintf",), (r.Scalar(fmt), r.ArrayTerm(args)))

    def details(self, scope: _Scope, hooks: Sequence[d.Hook], source: str) -> r.Term:
        items: list[tuple[r.Term, r.Term]] = [
            (r.Scalar("rule"), r.Scalar(self.rule.id)),
            (r.Scalar("source"), r.Scalar(source)),
        ]
        if self.rule.severity:
            items.append((r.Scalar("severity"), r.Scalar(self.rule.severity)))
        containers = sorted(v for v in self.info.binder_vars & self.info.witnesses if v in scope.vars)
        if len(containers) == 1:
            items.append(
                (r.Scalar("container"), r.Call(("object", "get"), (scope.vars[containers[0]], r.Scalar("name"), _NULL)))
            )
        if hooks:
            calls = []
            for hook in hooks:
                args = tuple(
                    self.template(a, scope) if isinstance(a, d.Template) else self.operand(a, scope) for a in hook.args
                )
                calls.append(
                    r.ObjectTerm(((r.Scalar("name"), r.Scalar(hook.name)), (r.Scalar("args"), r.ArrayTerm(args))))
                )
            items.append((r.Scalar("hooks"), r.ArrayTerm(tuple(calls))))
        return r.ObjectTerm(tuple(items))


def _both_strings(cond: d.Compare) -> bool:
    return any(isinstance(o, d.Constant) and o.kind == "string" for o in (cond.left, cond.right)) and cond.op in (
        "==",
        "!=",
    )


def _used_vars(cond: d.Condition) -> set[str]:
    out: set[str] = set()

    def operand(op: d.Operand) -> None:
        if isinstance(op, d.Path):
            out.add(op.root)
        elif isinstance(op, d.Call):
            for a in op.args:
                operand(a)
        elif isinstance(op, d.ListOperand):
            for a in op.items:
                operand(a)

    def walk(c: d.Condition) -> None:
        if isinstance(c, d.And | d.Or):
            for i in c.items:
                walk(i)
        elif isinstance(c, d.Not):
            walk(c.item)
        elif isinstance(c, d.Any_ | d.All):
            if c.domain is not None:
                operand(c.domain)
            walk(c.body)
        elif isinstance(c, d.Compare):
            operand(c.left)
            operand(c.right)
        elif isinstance(c, d.Member):
            operand(c.left)
            for item in c.items or ():
                operand(item)
            if c.collection is not None:
                operand(c.collection)
        elif isinstance(c, d.Matches):
            operand(c.left)
            operand(c.pattern)
        elif isinstance(c, d.StringTest):
            operand(c.left)
            operand(c.right)
        elif isinstance(c, d.Exists | d.Truthy):
            operand(c.operand)

    walk(cond)
    return out


def _default_value(param: d.Param, t: Type | None) -> Any:
    if param.default is None:
        return [] if t is not None and t.kind == "list" else None
    if isinstance(param.default, tuple):
        return [_constant_value(c) for c in param.default]
    return _constant_value(param.default)


def _constant_value(c: d.Constant) -> Any:
    if isinstance(c.value, Decimal):
        return int(c.value) if c.value == c.value.to_integral_value() else float(c.value)
    return c.value


def parameters_schema(param_types: Mapping[str, Type], params: Sequence[d.Param]) -> dict[str, Any]:
    """The openAPIV3Schema of a rule's parameters (validates ``--parameters`` overrides)."""

    def schema(t: Type) -> dict[str, Any]:
        if t.kind == "list":
            return {"type": "array", "items": schema(t.item) if t.item else {}}
        if t.kind == "quantity":
            return {"x-kubernetes-int-or-string": True}
        return {"type": t.kind} if t.kind in ("string", "integer", "number", "boolean") else {}

    return {"type": "object", "properties": {p.name: schema(param_types.get(p.name) or Type("any")) for p in params}}


def generate_rule(info: RuleInfo, params: Sequence[d.Param], param_types: Mapping[str, Type], file: str) -> r.Module:
    """The Rego module for one checked rule (see the module docstring)."""
    rule = info.rule
    gen = _Generator(info, {p.name: p for p in params}, param_types)
    verdict = next(a for a in rule.actions if isinstance(a, d.Verdict))
    hooks = [a for a in rule.actions if isinstance(a, d.Hook)]
    source = f"{file}:{rule.loc.line}:{rule.loc.column}" if rule.loc else file
    rules: list[r.Rule] = []
    scope = _Scope({})
    for body in gen.condition(rule.when, scope):
        names = _bound_in(body)
        body_scope = _Scope({v: r.Var(_var_name(v)) for v in info.witnesses if _var_name(v) in names})
        msg = r.Var("msg")
        element = r.ObjectTerm(((r.Scalar("msg"), msg), (r.Scalar("details"), gen.details(body_scope, hooks, source))))
        literals = [*body, r.Literal(r.Assign(":=", msg, gen.template(verdict.message, body_scope)))]
        head = r.RuleHead(r.Ref(r.Var("violation"), ()), key=element)
        rules.append(r.Rule(head, tuple(literals), has_if=True))
    rules += gen.helpers
    rules += _runtime_closure(gen.runtime)
    used_params = [p for p in params if _mentions_param(rule, p.name)]
    custom: dict[str, Any] = {
        "id": rule.id,
        "enforcement": _ENFORCEMENT[verdict.kind],
        "input": "review",
        "match": _match(info, rule),
        "source": {
            "file": file,
            "line": rule.loc.line if rule.loc else 0,
            "column": rule.loc.column if rule.loc else 0,
        },
    }
    if rule.severity:
        custom["severity"] = rule.severity
    if rule.rollout:
        custom["rollout"] = rule.rollout
    if used_params:
        custom["parameters"] = {p.name: _default_value(p, param_types.get(p.name)) for p in used_params}
        custom["parametersSchema"] = parameters_schema(param_types, used_params)
    raw: dict[str, Any] = {"scope": "package", "title": rule.id}
    if rule.description:
        raw["description"] = rule.description
    raw["custom"] = custom
    annotations = r.Annotations("package", rule.id, rule.description or None, custom, raw)
    package = r.Package((*PACKAGE_PREFIX, _package_name(rule.id)), annotations)
    return r.Module(package, (r.Import(("rego", "v1")),), tuple(rules), "v1", f"{file}#{rule.id}", (annotations,))


def _package_name(rule_id: str) -> str:
    """A Rego package segment for a rule id (``pci-image-provenance`` -> ``pci_image_provenance``)."""
    name = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in rule_id)
    return name if name[:1].isalpha() or name[:1] == "_" else f"r_{name}"


_WORKLOAD_KINDS = frozenset(
    {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job", "CronJob"}
)


def _match(info: RuleInfo, rule: d.Rule) -> dict[str, Any]:
    groups: dict[str, list[str]] = {}
    for kind in info.kinds:
        groups.setdefault(kind.group, []).append(kind.kind)
    match: dict[str, Any] = {"kinds": [{"apiGroups": [g], "kinds": ks} for g, ks in groups.items()]}
    if any(kind.kind in _WORKLOAD_KINDS for kind in info.kinds):
        # The rule reads workloads' pod templates itself (runtime.rego), so the
        # Pods expansion generates from them would report each finding twice.
        match["source"] = "Original"
    if rule.namespaces:
        match["namespaces"] = list(rule.namespaces)
    if rule.excluded_namespaces:
        match["excludedNamespaces"] = list(rule.excluded_namespaces)
    return match


def _bound_in(body: Sequence[r.Literal]) -> set[str]:
    return {lit.expr.value.name for lit in body if isinstance(lit.expr, r.SomeIn) and isinstance(lit.expr.value, r.Var)}


def _mentions_param(rule: d.Rule, name: str) -> bool:
    if name in _used_vars(rule.when):
        return True
    for action in rule.actions:
        parts: list[Any] = list(action.message.parts) if isinstance(action, d.Verdict) else list(action.args)
        for part in parts:
            if isinstance(part, d.Template):
                parts.extend(part.parts)
            elif isinstance(part, d.Path) and part.root == name:
                return True
    return False


def print_rule(module: r.Module) -> str:
    """The module as readable Rego v1 with its METADATA and ``import rego.v1``."""
    return print_module(module, annotations=True, rego_v1_import=True).text
