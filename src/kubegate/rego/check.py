"""Static checks OPA's compiler performs and rego-cpp does not.

rego-cpp accepts a call to an undefined function and then aborts the process
when the rule is evaluated; it accepts a call on a variable (``x(1)``) and
crashes; it accepts unsafe head variables and evaluates the rule to
undefined. kubegate runs these checks on the normalised modules before the
backend sees them and reports OPA's error codes
(https://www.openpolicyagent.org/docs/latest/policy-reference/#errors):

* ``rego_type_error``: a call to something that is neither a function defined
  in the policy set nor a builtin of the backend; a user function called with
  the wrong number of arguments (one extra argument, the output, is allowed);
* ``rego_recursion_error``: rules that depend on themselves;
* ``rego_unsafe_var_error``: a variable in a rule head that the body never
  binds, or a variable (wildcards included) that only appears in negated
  literals (:func:`check_negation_safety`, run on the module as parsed: OPA
  checks safety before it rewrites anything, so ``not f(xs[_])`` is an error).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from kubegate.errors import Location, RegoCompileError
from kubegate.rego import ast
from kubegate.rego.normalize import declared_names, term_vars, walk_terms

__all__ = ["CheckFinding", "check_modules", "check_negation_safety"]


@dataclass(frozen=True)
class CheckFinding:
    """An error found in the module called ``module`` (the name given to the checker)."""

    module: str
    error: RegoCompileError


def _rule_path(module: ast.Module, rule: ast.Rule) -> tuple[str, ...]:
    names = [rule.head.name]
    for seg in rule.head.ref.path:
        if isinstance(seg, ast.Scalar) and isinstance(seg.value, str):
            names.append(seg.value)
        else:
            break
    return (*module.package.path, *names)


def _calls(rule: ast.Rule) -> Iterator[ast.Call]:
    for term in walk_terms(rule):
        if isinstance(term, ast.Call):
            yield term


class _Index:
    def __init__(self, modules: Sequence[tuple[str, ast.Module]]) -> None:
        self.functions: dict[tuple[str, ...], set[int]] = defaultdict(set)
        self.rules: set[tuple[str, ...]] = set()
        self.package_names: dict[tuple[str, ...], set[str]] = defaultdict(set)
        for _, module in modules:
            for rule in module.rules:
                path = _rule_path(module, rule)
                self.rules.add(path)
                self.package_names[module.package.path].add(rule.head.name)
                if rule.head.args is not None:
                    self.functions[path].add(len(rule.head.args))

    def resolve(self, module: ast.Module, func: tuple[str, ...]) -> tuple[str, ...] | None:
        """The ``data`` path a call refers to, or ``None`` when it is not a rule."""
        if func[0] == "data":
            return func[1:]
        for imp in module.imports:
            alias = imp.alias or imp.path[-1]
            if imp.path[0] == "data" and func[0] == alias:
                return (*imp.path[1:], *func[1:])
        if func[0] in self.package_names[module.package.path]:
            return (*module.package.path, *func)
        return None


def _check_calls(name: str, module: ast.Module, index: _Index, is_builtin: Callable[[str], bool]) -> list[CheckFinding]:
    findings: list[CheckFinding] = []
    for rule in module.rules:
        for call in _calls(rule):
            dotted = call.name
            path = index.resolve(module, call.func)
            if path is not None and path in index.functions:
                arities = index.functions[path]
                if not any(len(call.args) in (n, n + 1) for n in arities):
                    want = " or ".join(str(n) for n in sorted(arities))
                    findings.append(
                        CheckFinding(
                            name,
                            RegoCompileError(
                                f"function {dotted} takes {want} argument(s), called with {len(call.args)}",
                                call.loc,
                                code="rego_type_error",
                            ),
                        )
                    )
                continue
            if path is not None and path in index.rules:
                findings.append(
                    CheckFinding(
                        name,
                        RegoCompileError(f"{dotted} is a rule, not a function", call.loc, code="rego_type_error"),
                    )
                )
                continue
            if path is None and is_builtin(dotted):
                continue
            findings.append(
                CheckFinding(
                    name,
                    RegoCompileError(
                        f"undefined function {dotted}: neither a function of the policy set nor a builtin "
                        "the backend provides",
                        call.loc,
                        code="rego_type_error",
                    ),
                )
            )
    return findings


def _dependencies(module: ast.Module, rule: ast.Rule, index: _Index, declared: set[str]) -> set[tuple[str, ...]]:
    deps: set[tuple[str, ...]] = set()
    locals_ = index.package_names[module.package.path] - declared
    for term in walk_terms(rule):
        if isinstance(term, ast.Call):
            path = index.resolve(module, term.func)
            if path is not None:
                deps.add(path)
        elif isinstance(term, ast.Var) and term.name in locals_:
            deps.add((*module.package.path, term.name))
        elif isinstance(term, ast.Ref) and isinstance(term.head, ast.Var) and term.head.name == "data":
            names = []
            for seg in term.path:
                if isinstance(seg, ast.Scalar) and isinstance(seg.value, str):
                    names.append(seg.value)
                    if tuple(names) in index.rules:
                        deps.add(tuple(names))
                else:
                    break
    return deps


def _check_recursion(modules: Sequence[tuple[str, ast.Module]], index: _Index) -> list[CheckFinding]:
    graph: dict[tuple[str, ...], set[tuple[str, ...]]] = defaultdict(set)
    where: dict[tuple[str, ...], tuple[str, Location | None]] = {}
    for name, module in modules:
        for rule in module.rules:
            path = _rule_path(module, rule)
            # A rule's own head ref names it; everything else may depend on other rules.
            declared = declared_names(rule)
            anonymous = ast.RuleHead(ast.Ref(ast.Var("_"), ()), key=rule.head.key, value=rule.head.value)
            graph[path] |= _dependencies(module, ast.Rule(anonymous, rule.body, else_=rule.else_), index, declared)
            where.setdefault(path, (name, rule.loc))
    findings: list[CheckFinding] = []
    state: dict[tuple[str, ...], int] = {}

    def visit(node: tuple[str, ...], stack: list[tuple[str, ...]]) -> None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if dep not in graph:
                continue
            if state.get(dep) == 1:
                cycle = [*stack[stack.index(dep) :], dep]
                module_name, loc = where[dep]
                text = " -> ".join(".".join(("data", *p)) for p in cycle)
                error = RegoCompileError(f"rule recursion: {text}", loc, code="rego_recursion_error")
                findings.append(CheckFinding(module_name, error))
            elif dep not in state:
                visit(dep, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    return findings


def _check_head_safety(name: str, module: ast.Module, globals_: set[str]) -> list[CheckFinding]:
    findings: list[CheckFinding] = []
    for rule in module.rules:
        if rule.default:
            continue
        head = rule.head
        # Comprehensions in a head have their own scope: only variables outside them count.
        head_vars = term_vars([part for part in (head.key, head.value, *head.ref.path) if part is not None])
        bound = set(globals_)
        for arg in head.args or ():
            bound |= {t.name for t in walk_terms(arg) if isinstance(t, ast.Var)}
        for lit in rule.body or ():
            if not lit.negated:
                bound |= {t.name for t in walk_terms(lit) if isinstance(t, ast.Var)}
        for var in sorted(head_vars - bound):
            error = RegoCompileError(f"var {var} is unsafe", head.loc or rule.loc, code="rego_unsafe_var_error")
            findings.append(CheckFinding(name, error))
    return findings


def check_modules(modules: Sequence[tuple[str, ast.Module]], is_builtin: Callable[[str], bool]) -> list[CheckFinding]:
    """Runs every check over a policy set.

    Args:
        modules: ``(name, normalised module)`` pairs; all modules that will be
            compiled together (cross-module calls are resolved among them).
        is_builtin: whether the backend provides a builtin (``"regex.match"``).

    Returns:
        Findings in module order; empty when the set passes.
    """
    index = _Index(modules)
    findings: list[CheckFinding] = []
    for name, module in modules:
        findings.extend(_check_calls(name, module, index, is_builtin))
        globals_ = {"input", "data"} | index.package_names[module.package.path]
        globals_ |= {imp.alias or imp.path[-1] for imp in module.imports}
        findings.extend(_check_head_safety(name, module, globals_))
    findings.extend(_check_recursion(modules, index))
    return findings


def _closure_free_vars(node: object, wildcards: bool) -> set[str]:
    """Variables of ``node`` outside nested comprehension bodies; ``_`` counted when asked."""
    names = term_vars(node)
    if wildcards and any(isinstance(t, ast.Var) and t.is_wildcard for t in ast.shallow_nodes(node)):
        names.add("_")
    return names


def _comprehensions(node: object) -> Iterator[ast.ArrayCompr | ast.SetCompr | ast.ObjectCompr]:
    """Comprehensions in ``node`` that are not inside another comprehension."""
    for item in ast.shallow_nodes(node):
        if isinstance(item, ast.ArrayCompr | ast.SetCompr | ast.ObjectCompr):
            yield item


def _nested_bodies(lit: ast.Literal) -> Iterator[tuple[ast.Body, set[str]]]:
    """Comprehension and every bodies directly inside a literal, with the names they declare."""
    expr = lit.expr
    if isinstance(expr, ast.Every):
        declared = {expr.value.name} | ({expr.key.name} if expr.key is not None else set())
        yield expr.body, declared
    for compr in _comprehensions(expr.domain if isinstance(expr, ast.Every) else expr):
        yield compr.body, set()


def _body_safety(body: ast.Body, outer: set[str], errors: list[RegoCompileError]) -> set[str]:
    bound = set(outer)
    for lit in body:
        if not lit.negated:
            bound |= term_vars(lit.expr)
            if isinstance(lit.expr, ast.SomeIn):
                bound |= term_vars([p for p in (lit.expr.key, lit.expr.value) if p is not None])
    for lit in body:
        if lit.negated:
            for var in sorted(_closure_free_vars(lit.expr, wildcards=True) - bound):
                shown = "_" if var == "_" else var
                errors.append(RegoCompileError(f"var {shown} is unsafe", lit.loc, code="rego_unsafe_var_error"))
        for nested, declared in _nested_bodies(lit):
            _body_safety(nested, bound | declared, errors)
    return bound


def check_negation_safety(module: ast.Module, globals_: frozenset[str] = frozenset()) -> list[RegoCompileError]:
    """OPA's safety rule for negation, on a module as parsed.

    Args:
        module: the parsed (not normalised) module.
        globals_: rule names defined by other modules of the same package.

    Returns:
        One ``rego_unsafe_var_error`` per unsafe variable, located at its literal.
    """
    names = {"input", "data"} | set(globals_) | {r.head.name for r in module.rules}
    names |= {imp.alias or imp.path[-1] for imp in module.imports}
    errors: list[RegoCompileError] = []
    for rule in module.rules:
        outer = set(names)
        for arg in rule.head.args or ():
            outer |= term_vars(arg)
        bound = _body_safety(rule.body, outer, errors) if rule.body is not None else outer
        for part in (rule.head.key, rule.head.value):
            for compr in _comprehensions(part):
                _body_safety(compr.body, bound, errors)
        chain = rule.else_
        while chain is not None:
            else_bound = _body_safety(chain.body, outer, errors) if chain.body is not None else outer
            for compr in _comprehensions(chain.value):
                _body_safety(compr.body, else_bound, errors)
            chain = chain.else_
    return errors
