"""Prepared policy sets: a catalog compiled once by a backend, evaluated many times.

Preparing generates one *dispatch* rule per policy in package
``kubegate.dispatch``::

    p3 contains ["violation", r] if {
        some r in data.kubegate.templates.K8sRequiredLabels.violation
            with input.parameters as {"labels": [...]}
    }

so one compiled bundle serves every constraint of a template, each with its
own parameters, the way Gatekeeper's hook module does (frameworks
``drivers/rego`` ``hookModuleRego``). A unit whose Rego the backend rejects is
dropped with its error and the rest is compiled again, so one bad template
never takes the others down. A :class:`PreparedPolicySet` is immutable;
evaluation never parses or compiles.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from kubegate.engine.backend import UNDEFINED, Backend, CompiledPolicy, ModuleSource
from kubegate.engine.decision import Decision, ReviewResult, SkippedPolicy, Violation
from kubegate.errors import BackendError, EvaluationError, KubegateError, Location, PolicyLoadError, RegoCompileError
from kubegate.policy.catalog import Catalog
from kubegate.policy.inventory import Inventory
from kubegate.policy.match import MatchTarget
from kubegate.policy.units import Policy, PolicyModule, sha256_text
from kubegate.rego import ast
from kubegate.rego.check import check_modules
from kubegate.rego.compat import COMPAT_MODULE_NAME, compat_module, compat_printed
from kubegate.rego.normalize import walk_terms
from kubegate.rego.printer import print_module
from kubegate.rego.values import term_from_value

__all__ = ["DISPATCH_PACKAGE", "PreparedPolicySet", "prepare"]

DISPATCH_PACKAGE = ("kubegate", "dispatch")
_DISPATCH_MODULE = "kubegate/dispatch.rego"
_MAX_RECOMPILES = 64


def _entry_name(index: int) -> str:
    return f"p{index}"


def _entrypoint(index: int) -> str:
    return "/".join((*DISPATCH_PACKAGE, _entry_name(index)))


def _dispatch_module(policies: Sequence[Policy]) -> str:
    rules: list[ast.Rule] = []
    r = ast.Var("r")
    input_params = ast.Ref(ast.Var("input"), (ast.Scalar("parameters"),))
    for i, policy in enumerate(policies):
        withs: tuple[ast.With, ...] = ()
        if policy.parameters is not None:
            withs = (ast.With(input_params, term_from_value(dict(policy.parameters))),)
        for rule_name in sorted(policy.rules):
            target = ast.Ref(ast.Var("data"), tuple(ast.Scalar(p) for p in (*policy.package, rule_name)))
            body = (ast.Literal(ast.SomeIn(None, r, target), withs=withs),)
            head = ast.RuleHead(ast.Ref(ast.Var(_entry_name(i)), ()), key=ast.ArrayTerm((ast.Scalar(rule_name), r)))
            rules.append(ast.Rule(head, body, has_if=True))
    # An entrypoint must exist even for an empty policy set.
    rules.append(
        ast.Rule(
            ast.RuleHead(ast.Ref(ast.Var("empty"), ()), key=ast.Var("x")),
            (ast.Literal(ast.Assign(":=", ast.Var("x"), ast.Scalar(1, "1"))), ast.Literal(ast.Scalar(False))),
            has_if=True,
        )
    )
    module = ast.Module(ast.Package(DISPATCH_PACKAGE), (), tuple(rules), "v1", _DISPATCH_MODULE)
    return print_module(module).text


def _violation(policy: Policy, item: Any) -> Violation:
    rule, value = (item[0], item[1]) if isinstance(item, list) and len(item) == 2 else ("violation", item)
    action = policy.rules.get(str(rule), policy.enforcement)
    if isinstance(value, str):
        return Violation(policy.id, value, {}, action, str(rule))
    if isinstance(value, dict):
        msg = value.get("msg", value.get("message"))
        details = value.get("details", {})
        if not isinstance(msg, str):
            msg = json.dumps(value, sort_keys=True)
        return Violation(policy.id, msg, details, action, str(rule))
    return Violation(policy.id, str(value), {}, action, str(rule))


@dataclass(frozen=True)
class PreparedPolicySet:
    """An immutable, compiled policy set.

    Attributes:
        catalog: the catalog it was built from, minus units the backend rejected
            (their errors are in ``catalog.errors``).
        policies: the policies, in dispatch order.
        version: sha256 over every policy's id and version plus the inventory.
        compile_ms: time spent compiling, in milliseconds.
    """

    catalog: Catalog
    policies: tuple[Policy, ...]
    compiled: CompiledPolicy
    inventory: Inventory
    version: str
    dispatch_text: str
    compile_ms: float
    backend: str
    _index: Mapping[str, int] = field(default_factory=dict, repr=False)

    @property
    def errors(self) -> tuple[KubegateError, ...]:
        return self.catalog.errors

    @property
    def warnings(self) -> tuple[KubegateError, ...]:
        return self.catalog.warnings

    def policy(self, policy_id: str) -> Policy | None:
        i = self._index.get(policy_id)
        return self.policies[i] if i is not None else None

    # ---- evaluation
    def _run_isolated(self, evaluator: Any, index: int, policy: Policy) -> Decision:
        """Like :meth:`_run`, but a failing policy yields a failed decision instead of raising."""
        start = time.perf_counter()
        try:
            return self._run(evaluator, index, policy)
        except EvaluationError as exc:
            elapsed = (time.perf_counter() - start) * 1000
            return Decision(policy.id, policy.version, False, (), elapsed, self.version, error=exc.message)

    def _run(self, evaluator: Any, index: int, policy: Policy) -> Decision:
        start = time.perf_counter()
        result = evaluator.query(_entrypoint(index))
        items = [] if result is UNDEFINED else result
        if not isinstance(items, list):
            raise EvaluationError(f"policy {policy.id}: unexpected result {result!r}")
        violations = tuple(
            sorted((_violation(policy, item) for item in items), key=lambda v: (v.enforcement, v.rule, v.message))
        )
        elapsed = (time.perf_counter() - start) * 1000
        allowed = not any(v.enforcement == "deny" for v in violations)
        return Decision(policy.id, policy.version, allowed, violations, elapsed, self.version)

    def evaluate(self, policy_id: str, input_value: Any) -> Decision:
        """Evaluates one policy on ``input_value`` exactly as given (parameters of
        the policy are supplied by kubegate).

        Raises:
            KeyError: unknown ``policy_id``.
            EvaluationError: the backend failed.
        """
        index = self._index[policy_id]
        policy = self.policies[index]
        evaluator = self.compiled.evaluator()
        start = time.perf_counter()
        evaluator.set_input(evaluator.prepare_input(input_value))
        decision = self._run(evaluator, index, policy)
        total = (time.perf_counter() - start) * 1000
        return Decision(decision.policy, decision.version, decision.allowed, decision.violations, total, self.version)

    def match_targets(self, review: Mapping[str, Any]) -> list[MatchTarget]:
        """The objects a review is matched on (object and old object) with their Namespace."""
        targets = []
        for key in ("object", "oldObject"):
            obj = review.get(key)
            if isinstance(obj, Mapping) and obj:
                meta = obj.get("metadata") if isinstance(obj.get("metadata"), Mapping) else {}
                ns_name = str((meta or {}).get("namespace") or review.get("namespace") or "")
                ns = self.inventory.namespace_object(ns_name) if ns_name else None
                targets.append(MatchTarget(obj, ns))
        return targets

    def review(self, review: Mapping[str, Any]) -> ReviewResult:
        """Evaluates every policy whose match selects the review.

        Args:
            review: ``input.review`` as built by :mod:`kubegate.policy.review`.
        """
        start = time.perf_counter()
        targets = self.match_targets(review)
        selected: list[int] = []
        skipped: list[SkippedPolicy] = []
        for i, policy in enumerate(self.policies):
            matched = policy.match.matches_any(targets)
            if matched:
                selected.append(i)
            elif matched is None:
                ns = review.get("namespace") or ""
                skipped.append(
                    SkippedPolicy(
                        policy.id,
                        f"its match has a namespaceSelector and Namespace {ns!r} is not in the inventory",
                    )
                )
        decisions: list[Decision] = []
        evaluator = self.compiled.evaluator()
        review_style = [i for i in selected if self.policies[i].input_style == "review"]
        object_style = [i for i in selected if self.policies[i].input_style == "object"]
        if review_style:
            evaluator.set_input(evaluator.prepare_input({"review": review}))
            decisions.extend(self._run_isolated(evaluator, i, self.policies[i]) for i in review_style)
        obj = review.get("object") or review.get("oldObject")
        if object_style and obj is not None:
            evaluator.set_input(evaluator.prepare_input(obj))
            decisions.extend(self._run_isolated(evaluator, i, self.policies[i]) for i in object_style)
        decisions.sort(key=lambda d: d.policy)
        allowed = all(d.allowed for d in decisions)
        elapsed = (time.perf_counter() - start) * 1000
        return ReviewResult(allowed, tuple(decisions), tuple(skipped), elapsed, self.version)


def _attribute(error: RegoCompileError, catalog: Catalog) -> tuple[str | None, RegoCompileError]:
    """Finds the unit owning the module an error names and moves the location to source."""
    loc = error.location
    if loc is None:
        return None, error
    module: PolicyModule | None = catalog.module(loc.file)
    if module is None:
        return None, error
    source = module.source_location(loc.line) or Location(module.owner)
    message = f"{error.message} (in kubegate's normalised form of {module.owner}, line {loc.line})"
    return module.owner, RegoCompileError(message, source, details=error.details)


def _divergence_warnings(catalog: Catalog, backend: Backend) -> Catalog:
    """Warns, once per unit, about calls to builtins the backend is known to get wrong."""
    warned: set[tuple[str, str]] = set()
    warnings: list[KubegateError] = []
    for policy_module in catalog.modules:
        for term in walk_terms(policy_module.module.rules):
            if not isinstance(term, ast.Call) or term.name not in backend.divergences:
                continue
            if (policy_module.owner, term.name) in warned:
                continue
            warned.add((policy_module.owner, term.name))
            warnings.append(
                PolicyLoadError(
                    f"{term.name} {backend.divergences[term.name]} in the {backend.name} backend; "
                    "results may differ from OPA",
                    policy_module.relocate(term.loc),
                    code="backend_divergence",
                )
            )
    return replace(catalog, warnings=(*catalog.warnings, *warnings)) if warnings else catalog


def _static_checks(catalog: Catalog, backend: Backend) -> Catalog:
    """Runs the front-end's OPA checks; drops units with findings (see kubegate.rego.check)."""
    modules = [(m.name, m.module) for m in catalog.modules] + [(COMPAT_MODULE_NAME, compat_module())]
    findings = check_modules(modules, backend.is_builtin)
    catalog = _divergence_warnings(catalog, backend)
    reported: set[str] = set()
    for finding in findings:
        module = catalog.module(finding.module)
        if module is None:
            continue
        error = finding.error
        located = RegoCompileError(error.message, module.relocate(error.location), code=error.code)
        if module.owner in reported:
            catalog = replace(catalog, errors=(*catalog.errors, located))
            continue
        reported.add(module.owner)
        catalog = catalog.without_owner(module.owner, located)
    return catalog


def prepare(catalog: Catalog, backend: Backend, inventory: Inventory | None = None) -> PreparedPolicySet:
    """Compiles ``catalog`` with ``backend``.

    Units the backend rejects are removed and reported in the returned set's
    ``errors``; the rest is compiled again.

    Raises:
        BackendError: the backend failed in a way no unit explains.
    """
    inventory = inventory or Inventory()
    start = time.perf_counter()
    catalog = _static_checks(catalog, backend)
    for _ in range(_MAX_RECOMPILES):
        policies = catalog.policies
        dispatch = _dispatch_module(policies)
        modules = [ModuleSource(m.name, m.printed.text) for m in catalog.modules]
        modules.append(ModuleSource(COMPAT_MODULE_NAME, compat_printed().text))
        modules.append(ModuleSource(_DISPATCH_MODULE, dispatch))
        entrypoints = [_entrypoint(i) for i in range(len(policies))] or ["/".join((*DISPATCH_PACKAGE, "empty"))]
        data = {"inventory": dict(inventory.data)}
        try:
            compiled = backend.compile(modules, data, entrypoints)
        except RegoCompileError as exc:
            owner, located = _attribute(exc, catalog)
            if owner is None:
                raise BackendError(f"the backend rejected the policy set: {exc}") from None
            catalog = catalog.without_owner(owner, located)
            continue
        version = sha256_text(*(f"{p.id}@{p.version}" for p in policies), inventory.version, backend.name)
        return PreparedPolicySet(
            catalog=catalog,
            policies=policies,
            compiled=compiled,
            inventory=inventory,
            version=version,
            dispatch_text=dispatch,
            compile_ms=(time.perf_counter() - start) * 1000,
            backend=backend.name,
            _index={p.id: i for i, p in enumerate(policies)},
        )
    raise BackendError("too many units failed to compile")
