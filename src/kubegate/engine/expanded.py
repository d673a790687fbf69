"""Reviewing the objects a workload generates, as Gatekeeper's webhook and gator do.

After the policies selected for a review have decided, the review's object is
expanded (:class:`kubegate.policy.expansion.ExpansionSystem`); each generated
object is reviewed as an AdmissionRequest of the same operation with
``match.source: Generated``, and its violations are reported on the workload:
the message gets the prefix ``[Implied by <template>]``, the template's
``enforcementAction`` (when set) replaces the constraint's, and the decision of
each policy takes the violations of all the objects it saw (gatekeeper
``pkg/webhook/policy.go`` ``reviewRequest``, ``pkg/expansion/aggregate.go``).

Only policies of Gatekeeper's input shape (``input.review``) see generated
objects; conftest-style policies, which have no expansion, see the workload
only. A workload that cannot be expanded (its ``templateSource`` is missing) fails
closed: the review gets a failed decision named ``expansion:<template>``, as
Gatekeeper answers the request with an error.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from kubegate.engine.decision import Decision, SkippedPolicy, Violation
from kubegate.errors import InputError, KubegateError
from kubegate.policy.expansion import ExpansionError, Resultant, implied_message
from kubegate.policy.review import review_from_object

if TYPE_CHECKING:
    from kubegate.engine.prepared import PreparedPolicySet

__all__ = ["review_resultants"]


def _implied(violation: Violation, resultant: Resultant) -> Violation:
    return replace(
        violation,
        message=implied_message(resultant.template, violation.message),
        enforcement=resultant.enforcement_action or violation.enforcement,
        implied_by=resultant.template,
    )


def _merge(parent: Decision | None, child: Decision, resultant: Resultant) -> Decision:
    violations = tuple(_implied(v, resultant) for v in child.violations)
    error = f"{implied_message(resultant.template, child.error)}" if child.error is not None else None
    if parent is None:
        allowed = error is None and not any(v.enforcement == "deny" for v in violations)
        return replace(child, violations=violations, allowed=allowed, error=error)
    merged = (*parent.violations, *violations)
    errors = [e for e in (parent.error, error) if e is not None]
    return replace(
        parent,
        violations=merged,
        allowed=not errors and not any(v.enforcement == "deny" for v in merged),
        duration_ms=parent.duration_ms + child.duration_ms,
        error="; ".join(errors) if errors else None,
    )


def _failed(prepared: PreparedPolicySet, template: str, error: KubegateError) -> Decision:
    return Decision(f"expansion:{template}", "", False, (), 0.0, prepared.version, error=error.message)


def review_resultants(
    prepared: PreparedPolicySet,
    review: Mapping[str, Any],
    decisions: list[Decision],
    skipped: list[SkippedPolicy],
    policy_ids: Collection[str] | None = None,
) -> tuple[list[Decision], list[SkippedPolicy]]:
    """Adds the decisions on the objects ``review``'s object generates.

    Args:
        prepared: the policy set (its ``expansion`` holds the templates).
        review: ``input.review`` of the workload.
        decisions: the decisions on the workload itself (not modified).
        skipped: the policies undecided on the workload.
        policy_ids: only these policies, as for the workload.

    Returns:
        The decisions per policy over the workload and what it generates, and
        the undecided policies (each once).
    """
    obj = review.get("object")
    if not isinstance(obj, Mapping) or review.get("operation") == "DELETE":
        return decisions, skipped
    namespace = review.get("namespace") or None
    try:
        resultants = prepared.expansion.expand(obj, str(namespace) if namespace else None)
    except ExpansionError as exc:
        return [*decisions, _failed(prepared, str(exc.details.get("template", "")), exc)], skipped
    if not resultants:
        return decisions, skipped
    by_policy = {d.policy: d for d in decisions}
    undecided = {s.policy: s for s in skipped}
    operation = review.get("operation")
    operation = operation if isinstance(operation, str) else "CREATE"
    for resultant in resultants:
        try:
            child_review = review_from_object(resultant.obj, operation=operation)
        except InputError as exc:
            by_policy[f"expansion:{resultant.template}"] = _failed(prepared, resultant.template, exc)
            continue
        selected, child_skipped = prepared.select(child_review, policy_ids, generated=True)
        # conftest-style policies (the manifest as ``input``) know no expansion.
        selected = [i for i in selected if prepared.policies[i].input_style == "review"]
        for s in child_skipped:
            undecided.setdefault(s.policy, s)
        for child in prepared._run_share(child_review, selected):
            by_policy[child.policy] = _merge(by_policy.get(child.policy), child, resultant)
    return list(by_policy.values()), list(undecided.values())
