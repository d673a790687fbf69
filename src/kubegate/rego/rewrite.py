"""Structural rewrites of whole modules: move a module to another package and
redirect ``data.`` references.

Gatekeeper isolates each ConstraintTemplate: its Rego and its ``libs`` are
stored under a template-specific path, so two templates may use the same
package or library names (frameworks ``constraint/pkg/client/drivers/rego``,
``templatePath``/``templateLibPrefix``). kubegate does the same by rebasing a
template's packages under ``kubegate.templates.<Kind>`` and rewriting the
template's ``data.lib...`` references to match.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace

from kubegate.rego import ast

__all__ = ["map_module_terms", "rebase_module", "rewrite_data_prefixes"]

TermFn = Callable[[ast.Term], ast.Term]


def _term(term: ast.Term, fn: TermFn) -> ast.Term:
    """Rebuilds ``term`` children first, then applies ``fn`` to the node."""
    if isinstance(term, ast.Ref):
        term = replace(term, head=_term(term.head, fn), path=tuple(_term(p, fn) for p in term.path))
    elif isinstance(term, ast.Call):
        term = replace(term, args=tuple(_term(a, fn) for a in term.args))
    elif isinstance(term, ast.InfixCall):
        term = replace(term, lhs=_term(term.lhs, fn), rhs=_term(term.rhs, fn))
    elif isinstance(term, ast.Member):
        key = _term(term.key, fn) if term.key is not None else None
        term = replace(term, key=key, value=_term(term.value, fn), collection=_term(term.collection, fn))
    elif isinstance(term, ast.ArrayTerm | ast.SetTerm):
        term = replace(term, items=tuple(_term(i, fn) for i in term.items))
    elif isinstance(term, ast.ObjectTerm):
        term = replace(term, items=tuple((_term(k, fn), _term(v, fn)) for k, v in term.items))
    elif isinstance(term, ast.ArrayCompr | ast.SetCompr):
        term = replace(term, head=_term(term.head, fn), body=_body(term.body, fn))
    elif isinstance(term, ast.ObjectCompr):
        term = replace(term, key=_term(term.key, fn), value=_term(term.value, fn), body=_body(term.body, fn))
    return fn(term)


def _expr(expr: ast.Expression, fn: TermFn) -> ast.Expression:
    if isinstance(expr, ast.Assign):
        return replace(expr, lhs=_term(expr.lhs, fn), rhs=_term(expr.rhs, fn))
    if isinstance(expr, ast.SomeDecl):
        return expr
    if isinstance(expr, ast.SomeIn):
        key = _term(expr.key, fn) if expr.key is not None else None
        return replace(expr, key=key, value=_term(expr.value, fn), domain=_term(expr.domain, fn))
    if isinstance(expr, ast.Every):
        return replace(expr, domain=_term(expr.domain, fn), body=_body(expr.body, fn))
    return _term(expr, fn)


def _body(body: ast.Body, fn: TermFn) -> ast.Body:
    return tuple(
        replace(
            lit,
            expr=_expr(lit.expr, fn),
            withs=tuple(replace(w, target=_term(w.target, fn), value=_term(w.value, fn)) for w in lit.withs),
        )
        for lit in body
    )


def _else(clause: ast.ElseClause, fn: TermFn) -> ast.ElseClause:
    return replace(
        clause,
        value=_term(clause.value, fn) if clause.value is not None else None,
        body=_body(clause.body, fn) if clause.body is not None else None,
        else_=_else(clause.else_, fn) if clause.else_ is not None else None,
    )


def map_module_terms(module: ast.Module, fn: TermFn) -> ast.Module:
    """Applies ``fn`` to every term of every rule (children before parents).

    Rule-head references are left alone (they name the rule, not a value).
    """
    rules = []
    for rule in module.rules:
        head = rule.head
        head = replace(
            head,
            args=tuple(_term(a, fn) for a in head.args) if head.args is not None else None,
            key=_term(head.key, fn) if head.key is not None else None,
            value=_term(head.value, fn) if head.value is not None else None,
        )
        rules.append(
            replace(
                rule,
                head=head,
                body=_body(rule.body, fn) if rule.body is not None else None,
                else_=_else(rule.else_, fn) if rule.else_ is not None else None,
            )
        )
    return replace(module, rules=tuple(rules))


def _rebased(path: tuple[str, ...], prefixes: Mapping[tuple[str, ...], tuple[str, ...]]) -> tuple[str, ...] | None:
    best: tuple[str, ...] | None = None
    for old in prefixes:
        if path[: len(old)] == old and (best is None or len(old) > len(best)):
            best = old
    if best is None:
        return None
    return prefixes[best] + path[len(best) :]


def rewrite_data_prefixes(module: ast.Module, prefixes: Mapping[tuple[str, ...], tuple[str, ...]]) -> ast.Module:
    """Redirects references under ``data``.

    Args:
        module: the module to rewrite.
        prefixes: maps a path below ``data`` (``("lib",)``) to its new location
            (``("kubegate", "templates", "K8sFoo", "lib")``). The longest
            matching prefix wins. Refs, function calls and imports are rewritten.
    """

    def fn(term: ast.Term) -> ast.Term:
        if isinstance(term, ast.Ref) and (names := ast.data_prefix(term)) is not None:
            new = _rebased(names, prefixes)
            if new is not None:
                rest = term.path[len(names) :]
                segs = tuple(ast.Scalar(n, loc=term.loc) for n in new)
                return replace(term, path=segs + rest)
        if isinstance(term, ast.Call) and term.func[0] == "data":
            new = _rebased(term.func[1:], prefixes)
            if new is not None:
                return replace(term, func=("data", *new))
        return term

    imports = []
    for imp in module.imports:
        new = _rebased(imp.path[1:], prefixes) if imp.path[0] == "data" else None
        if new is not None:
            # An import binds its last segment unless aliased; keep that name.
            alias = imp.alias or imp.path[-1]
            imp = replace(imp, path=("data", *new), alias=alias if alias != new[-1] else imp.alias)
        imports.append(imp)
    module = replace(module, imports=tuple(imports))
    return map_module_terms(module, fn)


def rebase_module(
    module: ast.Module, package: tuple[str, ...], prefixes: Mapping[tuple[str, ...], tuple[str, ...]]
) -> ast.Module:
    """Moves ``module`` to ``package`` and applies :func:`rewrite_data_prefixes`.

    References to the module's own package (``data.<old package>.x``) follow it.
    """
    mapping = dict(prefixes)
    mapping.setdefault(module.package.path, package)
    module = rewrite_data_prefixes(module, mapping)
    return replace(module, package=replace(module.package, path=package))
