"""A compiled program: modules planned into a rule tree, plus base data.

:class:`Program` is built once from parsed modules (``kubegate.rego.ast``, v0
or v1 as written) and is immutable afterwards: threads share it, and each
query gets its own :class:`~kubegate.evaluator.context.Context`. Building it
runs OPA's compile checks that decide whether a module loads: unsafe
variables (``rego_unsafe_var_error``), unknown functions and wrong arity
(``rego_type_error``), conflicting rule kinds, recursion
(``rego_recursion_error``), invalid ``with`` targets and re-assignment
(``rego_compile_error``). Errors carry the module's file:line:col.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, is_dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from kubegate.errors import ErrorList, KubegateError, Location, RegoCompileError
from kubegate.evaluator.calls import CallPlanner
from kubegate.evaluator.planner import Planner
from kubegate.evaluator.scope import Unsafe, body_var_names, declared_names
from kubegate.evaluator.tree import Def, ElseDef, RuleNode
from kubegate.evaluator.values import UNDEF
from kubegate.rego import ast

__all__ = ["ModuleInfo", "Program"]


@dataclass
class ModuleInfo:
    """What a module's bodies can name: its package, imports and rule names."""

    package: tuple[str, ...]
    imports: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    rule_names: set[str] = field(default_factory=set)
    file: str = "<query>"
    version: str = "v1"

    @property
    def globals(self) -> set[str]:
        return self.rule_names | set(self.imports)

    @classmethod
    def of(cls, module: ast.Module) -> ModuleInfo:
        imports: dict[str, tuple[str, tuple[str, ...]]] = {}
        for imp in module.imports:
            root = imp.path[0]
            if root not in ("data", "input") or (len(imp.path) == 1 and imp.alias is None):
                continue
            alias = imp.alias or imp.path[-1]
            imports[alias] = (root, tuple(imp.path[1:]))
        names = {r.head.name for r in module.rules}
        return cls(module.package.path, imports, names, module.file, module.version)


def scalar_value(t: ast.Scalar) -> Any:
    """A literal's value; numbers exact where OPA keeps them exact (``1e400``, ``1e30 + 1``)."""
    v = t.value
    if type(v) is float and t.text is not None:
        try:
            d = Decimal(t.text)
        except InvalidOperation:
            return v
        f = float(d) if abs(d.adjusted()) < 308 else float("inf")
        if math.isfinite(f) and Decimal(f) == d:
            return f  # a float literal OPA treats as one (isFloatNumber), exact in float64
        if d == d.to_integral_value() and abs(d.adjusted()) < 4300:
            return int(d)  # 1e30, 1e400: kept exact
        return f if math.isfinite(f) else v
    return v


def calls_print(node: object) -> bool:
    """Whether ``node`` (a rule, body or term) calls ``print`` anywhere."""
    stack: list[object] = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, tuple | list):
            stack.extend(item)
        elif isinstance(item, ast.Call) and item.func in (("print",), ("internal", "print")):
            return True
        elif is_dataclass(item):
            stack.extend(getattr(item, f.name) for f in fields(item) if f.name not in ("loc", "annotations"))
    return False


class Program(CallPlanner):
    """Modules planned into a rule tree.

    Args:
        modules: parsed modules (any mix of v0 and v1).
        data: the base document, read in place.

    Raises:
        ErrorList | RegoCompileError: every compile error found, located.
    """

    def __init__(self, modules: Sequence[ast.Module], data: Mapping[str, Any] | None = None) -> None:
        self.root = RuleNode(())
        self.data = data if data is not None else {}
        self.modules = list(modules)
        self.infos = [ModuleInfo.of(m) for m in self.modules]
        # A package split over several files: every file sees all its rules.
        by_package: dict[tuple[str, ...], set[str]] = {}
        for info in self.infos:
            by_package.setdefault(info.package, set()).update(info.rule_names)
        for info in self.infos:
            info.rule_names = by_package[info.package]
        self.errors: list[KubegateError] = []
        self.node_deps: dict[RuleNode, set[RuleNode]] = {}
        self.node_params: dict[RuleNode, bool] = {}
        self._build_tree()
        for index, (module, info) in enumerate(zip(self.modules, self.infos, strict=True)):
            for rule in module.rules:
                try:
                    self._plan_rule(info, rule)
                except KubegateError as e:
                    e.details.setdefault("module_index", index)
                    self.errors.append(e)
        self._check_recursion()
        self._mark_params()
        if self.errors:
            raise self.errors[0] if len(self.errors) == 1 else ErrorList(self.errors)

    def scalar(self, t: ast.Scalar) -> Any:
        return scalar_value(t)

    # ------------------------------------------------------------ tree

    def rule_path(self, info: ModuleInfo, rule: ast.Rule) -> tuple[tuple[str, ...], tuple[ast.Term, ...]]:
        const: list[str] = [*info.package, rule.head.name]
        segs = rule.head.ref.path
        i = 0
        for seg in segs:
            if not (isinstance(seg, ast.Scalar) and isinstance(seg.value, str)):
                break
            const.append(seg.value)
            i += 1
        return tuple(const), segs[i:]

    def node_at(self, path: tuple[str, ...], create: bool = False) -> RuleNode | None:
        node = self.root
        for name in path:
            nxt = node.children.get(name)
            if nxt is None:
                if not create:
                    return None
                nxt = node.child(name)
            node = nxt
        return node

    def _build_tree(self) -> None:
        for module, info in zip(self.modules, self.infos, strict=True):
            for rule in module.rules:
                path, _ = self.rule_path(info, rule)
                node = self.node_at(path, create=True)
                assert node is not None
                node.has_rules = True
                if rule.head.args is not None:
                    node.arity = len(rule.head.args)
                ancestor = self.root
                for name in path:
                    ancestor.subtree_rules = True
                    ancestor = ancestor.children[name]
        self._check_kinds(self.root)

    def _check_kinds(self, node: RuleNode) -> None:
        for child in node.children.values():
            if child.has_rules and child.children:
                first = next(iter(child.children.values()))
                if first.has_rules or first.subtree_rules:
                    self._kinds_seen_with_children(child)
            self._check_kinds(child)

    def _kinds_seen_with_children(self, node: RuleNode) -> None:
        # a.b := 1 together with a.b.c := 2 is decided once kinds are known (at plan time)
        node.subtree_rules = True

    # ------------------------------------------------------------ rules

    def _plan_rule(self, info: ModuleInfo, rule: ast.Rule) -> None:
        path, dyn_terms = self.rule_path(info, rule)
        node = self.node_at(path)
        assert node is not None
        head = rule.head
        p = Planner(self, info)
        p.rule_loc = rule.loc
        p.ordered = calls_print(rule)
        nodes: list[object] = [*(rule.body or ()), head.args or (), head.key, head.value, dyn_terms]
        # Function arguments are local, even when they share a rule's name.
        arg_vars = body_var_names(list(head.args)) if head.args is not None else []
        p.prepare_scope(nodes, [*arg_vars, *declared_names(rule.body or ())])
        args = None
        if head.args is not None:
            args = tuple(p.matcher(a) for a in head.args)
        after_args = set(p.bound)
        body = p.body(rule.body or ())
        try:
            value = p.term(head.value) if head.value is not None else None
            key = p.term(head.key) if head.key is not None else None
            dyn = tuple(p.term(s) for s in dyn_terms)
        except Unsafe as e:
            raise RegoCompileError(f"var {e.name} is unsafe", e.loc or rule.loc, code="rego_unsafe_var_error") from None
        value_gen = False
        if (
            (args is None and value is not None and value.gen and key is None and not dyn)
            or (args is not None and value is not None and value.gen)
            or (key is not None and key.gen and not dyn and value is None)
        ):
            value_gen = True
        else:
            value = _first_of(value)
            key = _first_of(key)
        dyn = tuple(_first_of(c) for c in dyn)
        elses: list[ElseDef] = []
        clause = rule.else_
        while clause is not None:
            p.bound = set(after_args)
            cbody = clause.body or ()
            p.prepare_scope([*cbody, clause.value], declared_names(cbody))
            crunner = p.body(cbody) if clause.body is not None else None
            try:
                cval = p.term(clause.value) if clause.value is not None else p.term(ast.Scalar(True))
            except Unsafe as e:
                raise RegoCompileError(f"var {e.name} is unsafe", e.loc, code="rego_unsafe_var_error") from None
            elses.append(ElseDef(crunner, cval.fn, clause.loc))
            clause = clause.else_
        if value is None and key is None:
            value = p.term(ast.Scalar(True))
        d = Def(
            p.layout.size,
            body,
            value.fn if value is not None else None,
            key=key.fn if key is not None else None,
            dyn=tuple(c.fn for c in dyn),
            args=args,
            const=value is not None and value.const is not UNDEF,
            elses=tuple(elses),
            loc=rule.loc,
            value_gen=value_gen,
            rule=node.name,
        )
        self.node_deps.setdefault(node, set()).update(p.deps)
        self.node_params[node] = self.node_params.get(node, False) or p.reads_params
        kind = (
            "function"
            if args is not None
            else ("multi" if key is not None and not dyn else "object" if dyn else "complete")
        )
        self._add(node, rule, d, kind)

    def _add(self, node: RuleNode, rule: ast.Rule, d: Def, kind: str) -> None:
        existing = (
            "function"
            if node.funcs
            else "multi"
            if node.multi
            else "object"
            if node.objects
            else "complete"
            if node.complete
            else None
        )
        if rule.default:
            if node.default is not None:
                raise RegoCompileError(f"multiple default rules {node.name} found", rule.loc, code="rego_type_error")
            node.default = d
            return
        if existing is not None and existing != kind:
            raise RegoCompileError(f"conflicting rules {node.name} found", rule.loc, code="rego_type_error")
        if (
            kind in ("complete", "multi", "function")
            and node.children
            and any(c.has_rules for c in node.children.values())
        ):
            raise RegoCompileError(f"rule {node.name} conflicts with rules below it", rule.loc, code="rego_type_error")
        {"function": node.funcs, "multi": node.multi, "object": node.objects, "complete": node.complete}[kind].append(d)

    # ------------------------------------------------------------ checks

    def _check_recursion(self) -> None:
        state: dict[RuleNode, int] = {}
        stack: list[RuleNode] = []
        reported: set[RuleNode] = set()

        def visit(n: RuleNode) -> None:
            state[n] = 1
            stack.append(n)
            for m in sorted(self.node_deps.get(n, ()), key=lambda x: x.name):
                if state.get(m) == 1:
                    cycle = [*stack[stack.index(m) :], m]
                    if m not in reported:
                        reported.add(m)
                        self.errors.append(
                            RegoCompileError(
                                f"rule {m.name} is recursive: " + " -> ".join(c.name for c in cycle),
                                self._loc_of(m),
                                code="rego_recursion_error",
                            )
                        )
                elif state.get(m) is None:
                    visit(m)
            stack.pop()
            state[n] = 2

        for n in sorted(self.node_deps, key=lambda x: x.name):
            if state.get(n) is None:
                visit(n)

    def _loc_of(self, node: RuleNode) -> Location | None:
        for d in (*node.complete, *node.multi, *node.objects, *node.funcs):
            return d.loc
        return None

    def _mark_params(self) -> None:
        memo: dict[RuleNode, bool] = {}

        def reads(n: RuleNode, seen: frozenset[RuleNode]) -> bool:
            if n in memo:
                return memo[n]
            r = self.node_params.get(n, False) or any(
                reads(m, seen | {n}) for m in self.node_deps.get(n, ()) if m not in seen
            )
            memo[n] = r
            return r

        def walk(n: RuleNode) -> None:
            n.params = reads(n, frozenset()) or (not n.has_rules)
            for c in n.children.values():
                walk(c)

        walk(self.root)


def _first_of(c: Any) -> Any:
    if c is None or not c.gen:
        return c
    from kubegate.evaluator.planner import Compiled

    g = c.fn

    def first(f: list[Any]) -> Any:
        for v in g(f):
            return v
        return UNDEF

    return Compiled(first)
