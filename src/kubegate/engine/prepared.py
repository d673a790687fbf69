"""Prepared policy sets: a catalog compiled once by a backend, evaluated many times.

The catalog is split into *compilation units*: each ConstraintTemplate with
its libs and constraints, and each group of plain Rego packages that refer to
one another. A unit is compiled on its own, with the compatibility module and
a *dispatch* module holding one rule per policy::

    p3 contains ["violation", r] if {
        some r in data.kubegate.templates.K8sRequiredLabels.violation
            with input.parameters as {"labels": [...]}
    }

so one unit serves every constraint of a template, each with its own
parameters, the way Gatekeeper's hook module does (frameworks
``drivers/rego`` ``hookModuleRego``). Units keep each query cheap: in
rego-cpp every query pays a cost that grows with the size of the bundle it
runs on and with every ``with`` in it, so one bundle for everything made every
query pay for all policies (measured: docs/performance.md). Units also let a
changed policy set reuse every unit it did not change, and confine a compile
failure to the unit it happened in: that unit's owner is dropped with its
located error and the unit compiled again without it.

A :class:`PreparedPolicySet` is immutable; evaluation never parses or compiles.
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from typing import Any

from kubegate.engine.analysis import AnalysisCache, components, static_checks
from kubegate.engine.backend import UNDEFINED, Backend, CompiledPolicy, Evaluator, ModuleSource, thread_deadline
from kubegate.engine.decision import Decision, ReviewResult, SkippedPolicy, Violation
from kubegate.engine.expanded import review_resultants
from kubegate.errors import BackendError, EvaluationError, KubegateError, Location, RegoCompileError
from kubegate.policy.catalog import Catalog
from kubegate.policy.cel_template import CelReview, cel_review
from kubegate.policy.conftest import ExceptedRule, apply_exceptions, reads_data
from kubegate.policy.expansion import ExpansionSystem
from kubegate.policy.inventory import Inventory
from kubegate.policy.match import MatchTarget
from kubegate.policy.resources import ResourceMapper
from kubegate.policy.units import Policy, PolicyModule, sha256_json, sha256_text
from kubegate.policy.vap_match import RequestAttributes, attributes_from_review, with_resource
from kubegate.rego import ast
from kubegate.rego.compat import COMPAT_MODULE_NAME, compat_printed
from kubegate.rego.printer import print_module
from kubegate.rego.values import term_from_value

__all__ = ["DISPATCH_PACKAGE", "CompiledUnit", "PreparedPolicySet", "prepare"]

DISPATCH_PACKAGE = ("kubegate", "dispatch")
_DISPATCH_MODULE = "kubegate/dispatch.rego"
EXCEPTION_ITEM = "exception"  # dispatch items ["exception", names] carry conftest exception values
_MAX_RECOMPILES = 64


def _entry_name(policy_id: str) -> str:
    """A stable rule name for a policy's dispatch rule."""
    return "p_" + sha256_text(policy_id)[:24]


def _entrypoint(policy_id: str) -> str:
    return "/".join((*DISPATCH_PACKAGE, _entry_name(policy_id)))


def _dispatch_module(policies: Sequence[Policy]) -> str:
    """The dispatch module of a unit: one rule per policy."""
    rules: list[ast.Rule] = []
    r = ast.Var("r")
    input_params = ast.Ref(ast.Var("input"), (ast.Scalar("parameters"),))
    for policy in policies:
        withs: tuple[ast.With, ...] = ()
        if policy.parameters is not None:
            withs = (ast.With(input_params, term_from_value(dict(policy.parameters))),)
        for rule_name in sorted(policy.rules):
            target = ast.Ref(ast.Var("data"), tuple(ast.Scalar(p) for p in (*policy.package, rule_name)))
            body = (ast.Literal(ast.SomeIn(None, r, target), withs=withs),)
            head = ast.RuleHead(
                ast.Ref(ast.Var(_entry_name(policy.id)), ()), key=ast.ArrayTerm((ast.Scalar(rule_name), r))
            )
            rules.append(ast.Rule(head, body, has_if=True))
        if policy.exception_rule:
            target = ast.Ref(ast.Var("data"), tuple(ast.Scalar(p) for p in (*policy.package, "exception")))
            body = (ast.Literal(ast.SomeIn(None, r, target), withs=withs),)
            head = ast.RuleHead(
                ast.Ref(ast.Var(_entry_name(policy.id)), ()), key=ast.ArrayTerm((ast.Scalar(EXCEPTION_ITEM), r))
            )
            rules.append(ast.Rule(head, body, has_if=True))
    # An entrypoint must exist even for a unit without policies (a shared library).
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
class CompiledUnit:
    """One independently compiled part of a policy set.

    Attributes:
        owners: the catalog units in it (``template:K8sFoo``, ``package:lib.x``).
        policies: ids of its policies.
        version: sha256 of everything compiled (modules, dispatch, data); equal
            versions can share the compiled bundle.
        uses_inventory: whether ``data.inventory`` was compiled in.
        uses_data: whether the base data (``Engine(data=)``) was compiled in.
    """

    owners: tuple[str, ...]
    policies: tuple[str, ...]
    compiled: CompiledPolicy
    version: str
    uses_inventory: bool
    compile_ms: float
    uses_data: bool = False


@dataclass(frozen=True)
class PreparedPolicySet:
    """An immutable, compiled policy set.

    Attributes:
        catalog: the catalog it was built from, minus units the checks or the
            backend rejected (their errors are in ``catalog.errors``).
        policies: the policies, in a fixed order.
        units: the compiled units.
        version: sha256 over every policy's id and version, the inventory,
            the expansion templates and the base data.
        compile_ms: time spent preparing, in milliseconds (reused units cost nothing).
        expansion: the catalog's ExpansionTemplates: the objects a reviewed
            workload generates are reviewed with it (:mod:`kubegate.engine.expanded`).
        data: the base data beside ``data.inventory`` (``Engine(data=)``,
            ``kubegate check --data``), compiled into the plain-package units
            that read it; part of ``version``.
        data_version: sha256 of ``data``'s canonical JSON (``""`` for none).
    """

    catalog: Catalog
    policies: tuple[Policy, ...]
    units: tuple[CompiledUnit, ...]
    backend: Backend
    inventory: Inventory
    version: str
    compile_ms: float
    expansion: ExpansionSystem = field(default_factory=ExpansionSystem)
    resources: ResourceMapper = field(default_factory=ResourceMapper, repr=False)
    data: Mapping[str, Any] = field(default_factory=dict)
    data_version: str = ""
    _index: Mapping[str, int] = field(default_factory=dict, repr=False)
    _unit_of: Mapping[str, CompiledUnit] = field(default_factory=dict, repr=False)

    @property
    def errors(self) -> tuple[KubegateError, ...]:
        return self.catalog.errors

    @property
    def warnings(self) -> tuple[KubegateError, ...]:
        return self.catalog.warnings

    def policy(self, policy_id: str) -> Policy | None:
        i = self._index.get(policy_id)
        return self.policies[i] if i is not None else None

    def dispatch_text(self, policy_id: str) -> str:
        """The dispatch rule source of the unit holding ``policy_id`` (for ``kubegate compile``)."""
        unit = self._unit_of[policy_id]
        return _dispatch_module([p for p in self.policies if p.id in unit.policies])

    # ---- evaluation
    def _run(self, evaluator: Evaluator, index: int) -> Decision:
        policy = self.policies[index]
        started_ns = time.time_ns()
        start = time.perf_counter()
        result = evaluator.query(self._unit_of[policy.id].compiled, _entrypoint(policy.id))
        items = [] if result is UNDEFINED else result
        if not isinstance(items, list):
            raise EvaluationError(f"policy {policy.id}: unexpected result {result!r}")
        excepting = [i[1] for i in items if isinstance(i, list) and len(i) == 2 and i[0] == EXCEPTION_ITEM]
        found = [
            _violation(policy, item) for item in items if not (isinstance(item, list) and item[:1] == [EXCEPTION_ITEM])
        ]
        exceptions: tuple[ExceptedRule, ...] = ()
        if policy.exception_rule:
            kept, excepted = apply_exceptions(policy, found, excepting)
            found, exceptions = kept, tuple(excepted)
        violations = tuple(sorted(found, key=lambda v: (v.enforcement, v.rule, v.message)))
        return self._decided(policy, violations, start, started_ns, exceptions=exceptions)

    def _decided(
        self, policy: Policy, violations: tuple[Violation, ...], start: float, started_ns: int, **extra: Any
    ) -> Decision:
        """The decision of ``policy`` with ``violations`` (denied by any ``deny``),
        timed from ``start`` (``time.perf_counter()``); ``extra``: exceptions, annotations."""
        elapsed = (time.perf_counter() - start) * 1000
        allowed = not any(v.enforcement == "deny" for v in violations)
        return Decision(
            policy.id, policy.version, allowed, violations, elapsed, self.version, started_ns=started_ns, **extra
        )

    def _cel_review(self, review: Mapping[str, Any]) -> CelReview:
        """What a review's CEL policies share (its resource filled from its kind)."""
        return cel_review(with_resource(review, self.resources))

    def _run_cel(self, shared: CelReview, index: int) -> Decision:
        """A constraint whose template's K8sNativeValidation code evaluates it, or a
        ValidatingAdmissionPolicy binding (:mod:`kubegate.policy.cel_template`); a
        failing expression is a violation carrying its error under
        ``failurePolicy: Fail``, as in Gatekeeper."""
        review = shared.review
        policy = self.policies[index]
        deadline = thread_deadline()
        if deadline and time.monotonic() > deadline:
            # A CEL evaluation cannot be interrupted once started (docs/cel-notes.md §4):
            # the deadline is checked before each CEL policy.
            raise EvaluationError(f"policy {policy.id}: evaluation deadline passed", code="eval_cancel_error")
        started_ns = time.time_ns()
        start = time.perf_counter()
        ns_name = str(review.get("namespace") or "")
        namespace = self.inventory.namespace_object(ns_name) if ns_name else None
        action = policy.rules.get("violation", "deny")
        try:
            if policy.engine == "vap":
                verdict = policy.cel.evaluate(shared, self.inventory, namespace, deadline)
            else:
                verdict = policy.cel.evaluate(shared, policy.raw, namespace, deadline=deadline)
        except KubegateError as exc:
            elapsed = (time.perf_counter() - start) * 1000
            return Decision(
                policy.id, policy.version, False, (), elapsed, self.version, error=exc.message, started_ns=started_ns
            )
        violations = tuple(Violation(policy.id, m, {}, action) for m in sorted(verdict.messages))
        return self._decided(policy, violations, start, started_ns, annotations=verdict.annotations)

    def _run_isolated(self, evaluator: Evaluator, index: int) -> Decision:
        """Like :meth:`_run`, but a failing policy yields a failed decision instead of raising."""
        started_ns = time.time_ns()
        start = time.perf_counter()
        try:
            return self._run(evaluator, index)
        except EvaluationError as exc:
            if exc.code == "eval_cancel_error":
                raise  # the whole review is past its deadline, not this policy
            policy = self.policies[index]
            elapsed = (time.perf_counter() - start) * 1000
            return Decision(
                policy.id, policy.version, False, (), elapsed, self.version, error=exc.message, started_ns=started_ns
            )

    def evaluate(self, policy_id: str, input_value: Any) -> Decision:
        """Evaluates one policy on ``input_value`` exactly as given (parameters of
        the policy are supplied by kubegate).

        Raises:
            KeyError: unknown ``policy_id``.
            EvaluationError: the backend failed.
        """
        index = self._index[policy_id]
        if self.policies[index].engine in ("cel", "vap"):
            if not isinstance(input_value, Mapping) or not isinstance(input_value.get("review"), Mapping):
                raise EvaluationError(f"policy {policy_id} is CEL: its input must be {{'review': AdmissionRequest}}")
            return self._run_cel(self._cel_review(input_value["review"]), index)
        evaluator = self.backend.evaluator()
        start = time.perf_counter()
        evaluator.set_input(evaluator.prepare_input(input_value))
        try:
            decision = self._run(evaluator, index)
        finally:
            evaluator.release_input()
        total = (time.perf_counter() - start) * 1000
        return replace(decision, duration_ms=total)

    def match_targets(self, review: Mapping[str, Any], generated: bool = False) -> list[MatchTarget]:
        """The objects a review is matched on (object and old object) with their
        Namespace; ``generated`` for the review of an object made by expansion."""
        targets = []
        for key in ("object", "oldObject"):
            obj = review.get(key)
            if isinstance(obj, Mapping) and obj:
                meta = obj.get("metadata") if isinstance(obj.get("metadata"), Mapping) else {}
                ns_name = str((meta or {}).get("namespace") or review.get("namespace") or "")
                ns = self.inventory.namespace_object(ns_name) if ns_name else None
                targets.append(MatchTarget(obj, ns, generated))
        return targets

    def select(
        self, review: Mapping[str, Any], policy_ids: Collection[str] | None = None, generated: bool = False
    ) -> tuple[list[int], list[SkippedPolicy]]:
        """Indexes of the policies whose match selects ``review`` (among ``policy_ids``
        when given), and the undecided ones; ``generated``: the review is of an
        object made by expansion (``match.source``)."""
        targets = self.match_targets(review, generated)
        selected: list[int] = []
        skipped: list[SkippedPolicy] = []
        attrs: list[RequestAttributes] = []  # for ValidatingAdmissionPolicies, once per review
        for i, policy in enumerate(self.policies):
            if policy_ids is not None and policy.id not in policy_ids:
                continue
            if policy.engine == "vap":  # Kubernetes' matching, never on generated objects
                if not attrs:
                    ns_name = str(review.get("namespace") or "")
                    namespace = self.inventory.namespace_object(ns_name) if ns_name else None
                    attrs.append(attributes_from_review(review, self.resources, namespace))
                matched = policy.cel.matches(attrs[0]) if not generated else False
            else:
                matched = policy.match.matches_any(targets)
            if matched:
                selected.append(i)
            elif matched is None:
                ns = review.get("namespace") or ""
                reason = f"its match has a namespaceSelector and Namespace {ns!r} is not in the inventory"
                skipped.append(SkippedPolicy(policy.id, reason))
        return selected, skipped

    def _run_share(self, review: Mapping[str, Any], indexes: Sequence[int]) -> list[Decision]:
        """Evaluates some selected policies on this thread's evaluator."""
        cel = [i for i in indexes if self.policies[i].engine in ("cel", "vap")]
        shared = self._cel_review(review) if cel else None
        decisions: list[Decision] = [self._run_cel(shared, i) for i in cel if shared is not None]
        indexes = [i for i in indexes if self.policies[i].engine not in ("cel", "vap")]
        evaluator = self.backend.evaluator()
        review_style = [i for i in indexes if self.policies[i].input_style == "review"]
        object_style = [i for i in indexes if self.policies[i].input_style == "object"]
        try:
            if review_style:
                evaluator.set_input(evaluator.prepare_input({"review": review}))
                decisions.extend(self._run_isolated(evaluator, i) for i in review_style)
            obj = review.get("object") or review.get("oldObject")
            if object_style and obj is not None:
                evaluator.set_input(evaluator.prepare_input(obj))
                decisions.extend(self._run_isolated(evaluator, i) for i in object_style)
        finally:
            evaluator.release_input()
        return decisions

    def review(
        self,
        review: Mapping[str, Any],
        executor: Executor | None = None,
        parallelism: int = 1,
        policy_ids: Collection[str] | None = None,
    ) -> ReviewResult:
        """Evaluates every policy whose match selects the review.

        Args:
            review: ``input.review`` as built by :mod:`kubegate.policy.review`.
            policy_ids: only these policies (canary and shadow routing); all by default.
            executor: with ``parallelism`` > 1, runs shares of the selected
                policies on other threads (each converts the input once); the
                calling thread evaluates one share itself.
            parallelism: how many threads share the work (1: this thread only).

        Raises:
            EvaluationError: the input cannot be given to the backend.
        """
        start = time.perf_counter()
        selected, skipped = self.select(review, policy_ids)
        ways = max(1, min(parallelism, len(selected) // 4)) if executor is not None else 1
        if ways == 1:
            decisions = self._run_share(review, selected)
        else:
            shares = [selected[k::ways] for k in range(ways)]
            futures = [executor.submit(self._run_share, review, share) for share in shares[1:]]  # type: ignore[union-attr]
            decisions = self._run_share(review, shares[0])
            for future in futures:
                decisions.extend(future.result())
        if self.expansion:
            decisions, skipped = review_resultants(self, review, decisions, skipped, policy_ids)
        decisions.sort(key=lambda d: d.policy)
        allowed = all(d.allowed for d in decisions)
        elapsed = (time.perf_counter() - start) * 1000
        return ReviewResult(allowed, tuple(decisions), tuple(skipped), elapsed, self.version)


# ---------------------------------------------------------------- preparing


def _attribute(error: RegoCompileError, catalog: Catalog) -> tuple[str | None, RegoCompileError]:
    """Finds the unit owning the module an error names and moves the location to source."""
    loc = error.location
    if loc is None:
        return None, error
    named = error.details.get("module")
    if isinstance(named, str):
        # The compiled backend locates errors in the module's source text.
        found = catalog.module(named)
        if found is None:
            return None, error
        details = {k: v for k, v in error.details.items() if k != "module"}
        return found.owner, RegoCompileError(error.message, found.relocate(loc), code=error.code, details=details)
    module: PolicyModule | None = catalog.module(loc.file)
    if module is None:
        return None, error
    source = module.source_location(loc.line) or Location(module.owner)
    message = f"{error.message} (in kubegate's normalised form of {module.owner}, line {loc.line})"
    return module.owner, RegoCompileError(message, source, details=error.details)


def _compile_unit(
    owners: Sequence[str],
    catalog: Catalog,
    backend: Backend,
    inventory: Inventory,
    uses_inventory: bool,
    reuse: Mapping[str, CompiledUnit],
    base_data: Mapping[str, Any] | None = None,
    data_version: str = "",
) -> CompiledUnit:
    owner_set = set(owners)
    modules = [m for m in catalog.modules if m.owner in owner_set]
    ids = {pid for o in owners for pid in catalog.owners.get(o, ())}
    policies = [p for p in catalog.policies if p.id in ids]
    dispatch = _dispatch_module(policies)
    sources = [ModuleSource(m.name, m.printed.text, m.source) for m in modules]
    sources.append(ModuleSource(COMPAT_MODULE_NAME, compat_printed().text))
    sources.append(ModuleSource(_DISPATCH_MODULE, dispatch))
    data = {"inventory": dict(inventory.data)} if uses_inventory else {}
    # Base data reaches plain packages (as conftest's --data does), never
    # templates (Gatekeeper gives them data.inventory only).
    uses_data = bool(base_data) and any(o.startswith("package:") for o in owners)
    uses_data = uses_data and reads_data((m.module for m in modules), base_data or {})
    if uses_data:
        data.update(base_data or {})
    version = sha256_text(
        backend.name,
        *(f"{s.name}\n{s.text}" for s in sources),
        inventory.version if uses_inventory else "",
        *((data_version,) if uses_data else ()),
    )
    policy_ids = tuple(p.id for p in policies)
    previous = reuse.get(version)
    if previous is not None:
        return replace(previous, owners=tuple(owners), policies=policy_ids, compile_ms=0.0)
    entrypoints = [_entrypoint(p.id) for p in policies] or ["/".join((*DISPATCH_PACKAGE, "empty"))]
    start = time.perf_counter()
    compiled = backend.compile(sources, data, entrypoints)
    elapsed = (time.perf_counter() - start) * 1000
    return CompiledUnit(tuple(owners), policy_ids, compiled, version, uses_inventory, elapsed, uses_data)


def prepare(
    catalog: Catalog,
    backend: Backend,
    inventory: Inventory | None = None,
    previous: PreparedPolicySet | None = None,
    cache: AnalysisCache | None = None,
    data: Mapping[str, Any] | None = None,
) -> PreparedPolicySet:
    """Compiles ``catalog`` with ``backend``.

    Args:
        catalog: what to compile.
        backend: the Rego backend.
        inventory: ``data.inventory`` (compiled into the units that read it).
        previous: a set prepared earlier; its units are reused where nothing
            they contain changed.
        cache: analysis results of earlier builds to reuse (and trim).
        data: base data merged at ``data`` beside ``data.inventory`` (JSON
            values; no ``inventory`` key), compiled into the plain-package
            units that refer to one of its keys.

    Returns:
        The prepared set. Units the static checks or the backend reject are
        removed and reported in its ``errors``.

    Raises:
        BackendError: the backend failed in a way no unit explains.
    """
    inventory = inventory or Inventory()
    base_data = dict(data or {})
    data_version = sha256_json(base_data) if base_data else ""
    start = time.perf_counter()
    cache = cache or AnalysisCache()
    catalog = static_checks(catalog, backend, cache)
    reuse = {u.version: u for u in previous.units} if previous is not None else {}
    groups, uses = components(catalog, cache)
    cache.trim()
    pending = [(owners, any(uses.get(o, False) for o in owners)) for owners in groups]
    units: list[CompiledUnit] = []
    attempts = 0
    while pending:
        owners, uses_inventory = pending.pop(0)
        attempts += 1
        if attempts > _MAX_RECOMPILES + len(groups):
            raise BackendError("too many units failed to compile")
        try:
            units.append(
                _compile_unit(owners, catalog, backend, inventory, uses_inventory, reuse, base_data, data_version)
            )
        except RegoCompileError as exc:
            owner, located = _attribute(exc, catalog)
            if owner is None or owner not in owners:
                raise BackendError(f"the backend rejected the policy set: {exc}") from None
            catalog = catalog.without_owner(owner, located)
            rest = [o for o in owners if o != owner]
            if rest:
                pending.insert(0, (rest, uses_inventory))
    policies = catalog.policies
    unit_of = {pid: unit for unit in units for pid in unit.policies}
    expansion = ExpansionSystem(catalog.expansions)
    version = sha256_text(
        *(f"{p.id}@{p.version}" for p in policies),
        inventory.version,
        backend.name,
        expansion.fingerprint(),
        *((data_version,) if base_data else ()),
    )
    return PreparedPolicySet(
        catalog=catalog,
        policies=policies,
        units=tuple(units),
        backend=backend,
        inventory=inventory,
        version=version,
        compile_ms=(time.perf_counter() - start) * 1000,
        _index={p.id: i for i, p in enumerate(policies)},
        _unit_of=unit_of,
        expansion=expansion,
        resources=ResourceMapper(catalog.crds),
        data=base_data,
        data_version=data_version,
    )
