"""conftest's semantics in ``kubegate check``: :class:`ConftestRun` applies
``--namespace``, ``exception`` rules, documents that are not Kubernetes objects
and ``--combine`` over the engine's results (https://www.conftest.dev/; the
rules themselves are in :mod:`kubegate.policy.conftest`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from kubegate.cli.report import ObjectResult
from kubegate.engine.backend import CompiledPolicy, ModuleSource
from kubegate.engine.decision import Decision, ReviewResult, Violation
from kubegate.engine.engine import Engine
from kubegate.errors import EvaluationError, KubegateError, Location, PolicyLoadError
from kubegate.policy.conftest import (
    COMBINED_SOURCE,
    ExceptedRule,
    apply_exceptions,
    combined_document,
    combined_input,
    data_conflicts,
    has_exception_rule,
    is_plain_package,
    loaded_namespaces,
    select_namespaces,
)
from kubegate.policy.documents import Document
from kubegate.policy.match import Match, MatchTarget
from kubegate.policy.units import Policy
from kubegate.rego.compat import COMPAT_MODULE_NAME, compat_printed

__all__ = ["ConftestRun"]


class ConftestRun:
    """conftest's semantics over the engine's results (:mod:`kubegate.policy.conftest`):
    which plain packages ``--namespace`` keeps, ``exception`` rules, documents
    that are not Kubernetes objects, and ``--combine``.

    Exception rules are compiled here, beside the unit of their package (the
    same modules and data), and queried on the input the policy saw.

    Raises:
        UsageError: ``unknown_namespace``.
    """

    def __init__(self, engine: Engine, namespaces: Sequence[str] | None = None, combine: bool = False) -> None:
        self.engine = engine
        self.combine = combine
        self.errors: list[KubegateError] = []
        self.warnings: list[KubegateError] = []
        prepared = engine.prepared
        plain = [p for p in prepared.policies if is_plain_package(p)]
        packages = loaded_namespaces(m.owner for m in prepared.catalog.modules)
        if prepared.data:
            written = [m.source or m.module for m in prepared.catalog.modules if m.owner.startswith("package:")]
            self.errors.extend(data_conflicts(written, prepared.data))
        chosen = select_namespaces(namespaces, packages) if namespaces is not None else None
        kept = [p for p in plain if chosen is None or ".".join(p.package) in chosen]
        self.dropped = frozenset(p.id for p in plain) - {p.id for p in kept}
        self.policies = tuple(p for p in kept if p.input_style == "object")
        """The conftest-style policies: plain packages selected, reading the document as ``input``."""
        self._combined = frozenset(p.id for p in self.policies) if combine else frozenset()
        self._exceptions: dict[str, tuple[CompiledPolicy, str]] = {}
        for policy in kept:
            self._compile_exception(policy)

    def _compile_exception(self, policy: Policy) -> None:
        prepared = self.engine.prepared
        package = ".".join(policy.package)
        own = [m for m in prepared.catalog.modules if m.owner == f"package:{package}"]
        if not has_exception_rule(m.module for m in own):
            return
        if policy.input_style != "object":
            self.warnings.append(
                PolicyLoadError(
                    f"package {package} reads input.review: its exception rule is not applied "
                    "(conftest exceptions are for policies that read the document as input)",
                    policy.location,
                    code="exception_rule_ignored",
                )
            )
            return
        unit = next((u for u in prepared.units if policy.id in u.policies), None)
        if unit is None:
            return
        members = [m for m in prepared.catalog.modules if m.owner in unit.owners]
        sources = [ModuleSource(m.name, m.printed.text, m.source) for m in members]
        sources.append(ModuleSource(COMPAT_MODULE_NAME, compat_printed().text))
        entry = "/".join((*policy.package, "exception"))
        try:
            compiled = prepared.backend.compile(
                sources, {"inventory": dict(prepared.inventory.data), **prepared.data}, [entry]
            )
        except KubegateError as exc:
            self.errors.append(
                PolicyLoadError(f"exception rule of {package}: {exc.message}", policy.location, code=exc.code)
            )
            return
        self._exceptions[policy.id] = (compiled, entry)

    def keeps(self, policy_id: str) -> bool:
        """Whether the per-object review keeps the decision of ``policy_id`` (not a
        namespace left out, nor a conftest-style policy evaluated on the combined input)."""
        return policy_id not in self.dropped and policy_id not in self._combined

    def object_result(self, doc: Document, review: ReviewResult) -> tuple[ObjectResult, list[KubegateError]]:
        """The result of a reviewed object: kept decisions, exceptions applied."""
        decisions = [d for d in review.decisions if self.keeps(d.policy)]
        skipped = tuple(s for s in review.skipped if self.keeps(s.policy))
        violations, excepted, errors = self._apply(decisions, doc.obj, doc.location)
        return ObjectResult(doc, violations, skipped, exceptions=excepted), errors

    def document_result(self, doc: Document) -> tuple[ObjectResult, list[KubegateError]]:
        """A document that is not a Kubernetes object, given to the conftest-style policies that match it."""
        target = MatchTarget(doc.obj)
        chosen = [p for p in self.policies if p.match.matches(target) is True]
        return self._evaluated(doc, chosen, doc.obj, doc.location)

    def combined_result(self, documents: Sequence[Document]) -> tuple[ObjectResult, list[KubegateError]]:
        """The conftest-style policies on every document as one input (``--combine``)."""
        doc, files = combined_document(documents)
        for policy in self.policies:
            if policy.match != Match():
                self.warnings.append(
                    PolicyLoadError(
                        f"policy {policy.id}: its match is not applied to the combined input",
                        policy.location,
                        code="match_ignored_with_combine",
                    )
                )
        result, errors = self._evaluated(doc, list(self.policies), combined_input(documents), Location(COMBINED_SOURCE))
        return replace(result, files=files), errors

    def _evaluated(
        self, doc: Document, policies: Sequence[Policy], value: Any, where: Location
    ) -> tuple[ObjectResult, list[KubegateError]]:
        decisions: list[Decision] = []
        errors: list[KubegateError] = []
        for policy in policies:
            try:
                decisions.append(self.engine.evaluate(policy.id, value))
            except KubegateError as exc:
                errors.append(EvaluationError(f"policy {policy.id} failed on this document: {exc.message}", where))
        violations, excepted, more = self._apply(decisions, value, where)
        return ObjectResult(doc, violations, exceptions=excepted), errors + more

    def _apply(
        self, decisions: Sequence[Decision], value: Any, where: Location
    ) -> tuple[tuple[Violation, ...], tuple[ExceptedRule, ...], list[KubegateError]]:
        violations: list[Violation] = []
        excepted: list[ExceptedRule] = []
        errors: list[KubegateError] = []
        for decision in decisions:
            policy = self.engine.prepared.policy(decision.policy)
            query = self._exceptions.get(decision.policy)
            if policy is None or query is None or decision.error is not None:
                violations.extend(decision.violations)
                continue
            try:
                exception_value = self._query(*query, value)
            except KubegateError as exc:
                errors.append(EvaluationError(f"exception rule of {decision.policy} failed: {exc.message}", where))
                violations.extend(decision.violations)
                continue
            kept, found = apply_exceptions(policy, decision.violations, exception_value)
            violations.extend(kept)
            excepted.extend(found)
        return tuple(violations), tuple(excepted), errors

    def _query(self, compiled: CompiledPolicy, entry: str, value: Any) -> Any:
        evaluator = self.engine.prepared.backend.evaluator()
        evaluator.set_input(evaluator.prepare_input(value))
        try:
            return evaluator.query(compiled, entry)
        finally:
            evaluator.release_input()
