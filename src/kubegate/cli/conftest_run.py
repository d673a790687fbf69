"""conftest's semantics in ``kubegate check``: :class:`ConftestRun` applies
``--namespace``, ``exception`` rules, documents that are not Kubernetes objects
and ``--combine`` over the engine's results (https://www.conftest.dev/; the
rules themselves are in :mod:`kubegate.policy.conftest`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from kubegate.cli.report import ObjectResult
from kubegate.engine.decision import Decision, ReviewResult, Violation
from kubegate.engine.engine import Engine
from kubegate.errors import EvaluationError, KubegateError, Location, PolicyLoadError
from kubegate.policy.conftest import (
    COMBINED_SOURCE,
    ExceptedRule,
    combined_document,
    combined_input,
    data_conflicts,
    is_plain_package,
    loaded_namespaces,
    select_namespaces,
)
from kubegate.policy.documents import Document
from kubegate.policy.match import Match, MatchTarget
from kubegate.policy.units import Policy

__all__ = ["ConftestRun"]


class ConftestRun:
    """conftest's semantics over the engine's results (:mod:`kubegate.policy.conftest`):
    which plain packages ``--namespace`` keeps, ``exception`` rules, documents
    that are not Kubernetes objects, and ``--combine``.

    ``exception`` rules are applied by the engine (each decision carries its
    exceptions); this class collects them per input.

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

    def keeps(self, policy_id: str) -> bool:
        """Whether the per-object review keeps the decision of ``policy_id`` (not a
        namespace left out, nor a conftest-style policy evaluated on the combined input)."""
        return policy_id not in self.dropped and policy_id not in self._combined

    def object_result(self, doc: Document, review: ReviewResult) -> tuple[ObjectResult, list[KubegateError]]:
        """The result of a reviewed object: kept decisions, exceptions applied."""
        decisions = [d for d in review.decisions if self.keeps(d.policy)]
        skipped = tuple(s for s in review.skipped if self.keeps(s.policy))
        matched = tuple(d.policy for d in decisions)
        result = ObjectResult(doc, _violations(decisions), skipped, exceptions=_exceptions(decisions), matched=matched)
        return result, []

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
        matched = tuple(d.policy for d in decisions)
        return ObjectResult(doc, _violations(decisions), exceptions=_exceptions(decisions), matched=matched), errors


def _violations(decisions: Sequence[Decision]) -> tuple[Violation, ...]:
    return tuple(v for d in decisions for v in d.violations)


def _exceptions(decisions: Sequence[Decision]) -> tuple[ExceptedRule, ...]:
    """What the decisions' conftest ``exception`` rules excepted (the engine applies them)."""
    return tuple(e for d in decisions for e in d.exceptions)
