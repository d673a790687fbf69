"""Variables of a rule or query: frame slots, scopes and what is bound where.

The planner allocates one frame per rule evaluation; slot 0 holds the
:class:`~kubegate.evaluator.context.Context`, every variable of the rule
(including those local to comprehensions and ``every`` bodies) gets its own
slot. Which slots are bound is known statically at every point of a body,
because the planner orders each body's literals so that variables are bound
before they are read, as OPA's compiler does (``reorderBodyForSafety``,
https://www.openpolicyagent.org/docs/latest/policy-language/#safety).
"""

from __future__ import annotations

from collections.abc import Iterable

from kubegate.errors import Location
from kubegate.rego import ast

__all__ = ["Layout", "Scope", "Unsafe", "body_var_names", "declared_names"]


class Unsafe(Exception):
    """Raised while planning a literal that reads an unbound variable."""

    def __init__(self, name: str, loc: Location | None) -> None:
        super().__init__(name)
        self.name = name
        self.loc = loc


class Layout:
    """Slot allocation for one frame."""

    def __init__(self) -> None:
        self.size = 1
        self.names: dict[int, str] = {}

    def new(self, name: str) -> int:
        slot = self.size
        self.size += 1
        self.names[slot] = name
        return slot


class Scope:
    """Names visible in one body; ``parent`` is the enclosing body (closures)."""

    def __init__(self, layout: Layout, parent: Scope | None = None) -> None:
        self.layout = layout
        self.parent = parent
        self.vars: dict[str, int] = {}

    def declare(self, name: str) -> int:
        slot = self.vars.get(name)
        if slot is None:
            slot = self.vars[name] = self.layout.new(name)
        return slot

    def lookup(self, name: str) -> int | None:
        scope: Scope | None = self
        while scope is not None:
            slot = scope.vars.get(name)
            if slot is not None:
                return slot
            scope = scope.parent
        return None

    def fresh(self, name: str = "_") -> int:
        return self.layout.new(name)


def _walk_vars(node: object, out: list[ast.Var], closures: bool) -> None:
    stack: list[object] = [node]
    while stack:
        item = stack.pop()
        if item is None:
            continue
        if isinstance(item, tuple | list):
            stack.extend(item)
        elif isinstance(item, ast.Var):
            out.append(item)
        elif isinstance(item, ast.Ref):
            stack.extend([item.head, item.path])
        elif isinstance(item, ast.Call):
            stack.append(item.args)
        elif isinstance(item, ast.InfixCall | ast.Assign):
            stack.extend([item.lhs, item.rhs])
        elif isinstance(item, ast.Member):
            stack.extend([item.key, item.value, item.collection])
        elif isinstance(item, ast.ArrayTerm | ast.SetTerm):
            stack.append(item.items)
        elif isinstance(item, ast.ObjectTerm):
            stack.append([x for pair in item.items for x in pair])
        elif isinstance(item, ast.SomeIn):
            stack.extend([item.key, item.value, item.domain])
        elif isinstance(item, ast.SomeDecl):
            stack.append(item.vars)
        elif isinstance(item, ast.Every):
            stack.append(item.domain)
            if closures:
                stack.extend([item.key, item.value, item.body])
        elif isinstance(item, ast.Literal):
            stack.extend([item.expr, [w.value for w in item.withs]])
        elif isinstance(item, ast.ArrayCompr | ast.SetCompr) and closures:
            stack.extend([item.head, item.body])
        elif isinstance(item, ast.ObjectCompr) and closures:
            stack.extend([item.key, item.value, item.body])


def body_var_names(nodes: Iterable[object], closures: bool = False) -> list[ast.Var]:
    """Variables appearing in ``nodes`` outside (or also inside) closures."""
    out: list[ast.Var] = []
    for n in nodes:
        _walk_vars(n, out, closures)
    return out


def declared_names(body: ast.Body) -> list[ast.Var]:
    """Variables a body declares: ``some x``, ``x := ...``, ``some x in xs``."""
    out: list[ast.Var] = []
    for lit in body:
        e = lit.expr
        if isinstance(e, ast.SomeDecl):
            out.extend(e.vars)
        elif isinstance(e, ast.Assign) and e.op == ":=":
            out.extend(v for v in body_var_names([e.lhs]) if not v.is_wildcard)
        elif isinstance(e, ast.SomeIn):
            out.extend(v for v in body_var_names([e.key, e.value]) if not v.is_wildcard)
    return out
