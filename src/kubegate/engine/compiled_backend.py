"""The compiled backend: kubegate's own Rego evaluator (:mod:`kubegate.evaluator`).

Modules are compiled from their AST as written (``ModuleSource.module``), so
none of the regopy workarounds of :mod:`kubegate.rego.normalize` apply;
generated modules (dispatch) are parsed from their text. Input is read in
place: :meth:`CompiledEvaluator.prepare_input` does not convert or copy.

Within one input (one review), values of rules that do not depend on
``input.parameters`` are computed once and shared between the constraints of
a template (:attr:`kubegate.evaluator.tree.RuleNode.params`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from importlib import metadata
from typing import Any

from kubegate.engine.backend import UNDEFINED, CompiledPolicy, Evaluator, ModuleSource, thread_deadline
from kubegate.errors import ErrorList, EvaluationError, KubegateError, RegoCompileError
from kubegate.evaluator.builtins import available
from kubegate.evaluator.context import Context
from kubegate.evaluator.program import Program
from kubegate.evaluator.tree import RuleNode
from kubegate.evaluator.values import UNDEF, Set, end_hash_scope, from_key, hash_scope, to_json
from kubegate.rego import ast
from kubegate.rego.ast import data_prefix
from kubegate.rego.parser import parse_module
from kubegate.rego.values import value_from_term

__all__ = ["CompiledBackend", "CompiledEvaluator", "CompiledProgram"]


# One dispatch rule read directly: (rule name, the policy's rule node, parameters or None).
DirectEntry = tuple[str, RuleNode, Any]


class CompiledProgram:
    """A compiled unit: the planned program and its entrypoint nodes.

    ``direct`` holds the dispatch rules kubegate generates (``p contains
    [name, r] if { some r in data.<pkg>.<rule> with input.parameters as {...} }``)
    read as plans: the policy's rule is evaluated with the parameters put into
    the input, without a ``with`` and without building the dispatch set.
    """

    def __init__(self, program: Program, entries: dict[str, RuleNode], direct: dict[str, list[DirectEntry]]) -> None:
        self.program = program
        self._entries = entries
        self.direct = direct

    @property
    def entrypoints(self) -> Sequence[str]:
        return tuple(self._entries)

    def node(self, entrypoint: str) -> RuleNode:
        return self._entries[entrypoint]


class CompiledEvaluator:
    """One thread's evaluation state: the current input and the values shared across its queries."""

    def __init__(self, backend: CompiledBackend) -> None:
        self.backend = backend
        self._input: Any = UNDEF
        self._shared: dict[Any, Any] = {}
        self.deadline = 0.0

    def prepare_input(self, value: Any) -> Any:
        return value

    def set_input(self, value: Any) -> None:
        self._input = value
        self._shared = {}
        # Evaluation never mutates the input: hash each of its objects once.
        hash_scope()

    def release_input(self) -> None:
        self._input = UNDEF
        self._shared = {}
        end_hash_scope()

    def query(self, compiled: CompiledPolicy, entrypoint: str) -> Any:
        """Evaluates ``entrypoint`` and returns its JSON value or ``UNDEFINED``.

        Raises:
            EvaluationError: a run-time error (``eval_conflict_error``,
                ``eval_cancel_error`` past :attr:`deadline`, ...).
        """
        assert isinstance(compiled, CompiledProgram)
        deadline = self.deadline or thread_deadline()
        try:
            plan = compiled.direct.get(entrypoint)
            if plan is not None:
                return self._direct(compiled, plan, deadline)
            ctx = Context(self._input, compiled.program.data, print_sink=self.backend.print_sink)
            ctx.deadline = deadline
            ctx.shared = self._shared
            value = compiled.node(entrypoint).value(ctx)
            if value is UNDEF:
                return UNDEFINED
            return to_json(value)
        except RecursionError:
            raise EvaluationError("value nested too deeply to evaluate", None, code="eval_error") from None

    def _direct(self, compiled: CompiledProgram, plan: list[DirectEntry], deadline: float) -> Any:
        out: list[Any] = []
        base = self._input
        for rule, node, params in plan:
            value = base
            if params is not None:
                value = {**base, "parameters": params} if type(base) is dict else {"parameters": params}
            ctx = Context(value, compiled.program.data, print_sink=self.backend.print_sink)
            ctx.deadline = deadline
            ctx.shared = self._shared
            result = node.value(ctx)
            if type(result) is Set:
                out.extend([rule, to_json(from_key(k))] for k in result.keys)
            elif type(result) is dict:
                out.extend([rule, to_json(v)] for v in result.values())
            elif type(result) in (list, tuple):
                out.extend([rule, to_json(v)] for v in result)
        return out


class CompiledBackend:
    """kubegate's Rego evaluator behind the :class:`~kubegate.engine.backend.Backend` protocol."""

    name = "compiled"

    def __init__(self, print_sink: Any = None) -> None:
        self.version = metadata.version("kubegate")
        self._local = threading.local()
        self.print_sink = print_sink or (lambda text: None)

    @property
    def divergences(self) -> Mapping[str, str]:
        return {}

    def is_builtin(self, name: str) -> bool:
        return available(name, "v0")

    def compile(
        self, modules: Sequence[ModuleSource], data: Mapping[str, Any], entrypoints: Sequence[str]
    ) -> CompiledProgram:
        """Plans ``modules`` (their ASTs as written when given).

        Raises:
            RegoCompileError: a module does not compile; ``details["module"]``
                names the module, the location is in its source text.
        """
        asts: list[ast.Module] = []
        names = [m.name for m in modules]
        for m in modules:
            module = m.module if isinstance(m.module, ast.Module) else parse_module(m.text, m.name, "v1")
            asts.append(module)
        start = time.perf_counter()
        try:
            program = Program(asts, dict(data))
        except ErrorList as exc:
            raise _located(exc.errors[0], names) from None
        except KubegateError as exc:
            raise _located(exc, names) from None
        self.last_compile_ms = (time.perf_counter() - start) * 1000
        entries: dict[str, RuleNode] = {}
        for e in entrypoints:
            node = program.node_at(tuple(e.split("/")))
            if node is None:
                raise RegoCompileError(f"entrypoint {e} is not defined")
            entries[e] = node
        direct = {}
        for m, module in zip(modules, asts, strict=True):
            if m.module is None and module.package.path == DISPATCH_PATH:
                direct = _direct_plans(program, module)
        return CompiledProgram(program, entries, direct)

    def evaluator(self) -> Evaluator:
        ev: CompiledEvaluator | None = getattr(self._local, "evaluator", None)
        if ev is None:
            ev = self._local.evaluator = CompiledEvaluator(self)
        return ev


DISPATCH_PATH = ("kubegate", "dispatch")


def _direct_plans(program: Program, module: ast.Module) -> dict[str, list[DirectEntry]]:
    """Reads kubegate's generated dispatch rules as plans; a rule of another
    shape leaves its entrypoint to ordinary evaluation."""
    plans: dict[str, list[DirectEntry]] = {}
    rejected: set[str] = set()
    for rule in module.rules:
        name = rule.head.name
        entry = "/".join((*DISPATCH_PATH, name))
        step = _direct_step(program, rule)
        if step is None:
            rejected.add(entry)
            continue
        plans.setdefault(entry, []).append(step)
    return {k: v for k, v in plans.items() if k not in rejected}


def _direct_step(program: Program, rule: ast.Rule) -> DirectEntry | None:
    head, body = rule.head, rule.body
    key = head.key
    if not (isinstance(key, ast.ArrayTerm) and len(key.items) == 2 and body is not None and len(body) == 1):
        return None
    rule_name, var = key.items
    lit = body[0]
    expr = lit.expr
    if not (
        isinstance(rule_name, ast.Scalar)
        and isinstance(rule_name.value, str)
        and isinstance(var, ast.Var)
        and isinstance(expr, ast.SomeIn)
        and expr.key is None
        and isinstance(expr.value, ast.Var)
        and expr.value.name == var.name
        and isinstance(expr.domain, ast.Ref)
        and not lit.negated
    ):
        return None
    path = data_prefix(expr.domain)
    if path is None or len(path) != len(expr.domain.path):
        return None
    params: Any = None
    if lit.withs:
        if len(lit.withs) != 1:
            return None
        target = lit.withs[0].target
        if not (isinstance(target, ast.Ref) and data_prefix(ast.Ref(ast.Var("data"), target.path)) == ("parameters",)):
            return None
        if not (isinstance(target.head, ast.Var) and target.head.name == "input"):
            return None
        params = value_from_term(lit.withs[0].value)
    node = program.node_at(path)
    if node is None or node.arity is not None:
        return None
    return rule_name.value, node, params


def _located(error: KubegateError, names: Sequence[str]) -> RegoCompileError:
    loc = error.location
    details = dict(error.details)
    index = details.pop("module_index", None)
    if isinstance(index, int) and 0 <= index < len(names):
        details["module"] = names[index]
    return RegoCompileError(error.message, loc, code=error.code, details=details)
