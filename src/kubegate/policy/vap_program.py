"""A ValidatingAdmissionPolicy with one of its bindings, compiled and evaluated.

Follows the Kubernetes documentation ("Validating Admission Policy") and
k8s.io/apiserver ``pkg/admission/plugin/policy/validating``:

* a request is in scope when the policy's ``matchConstraints`` and the
  binding's ``matchResources`` both match it (:mod:`kubegate.policy.vap_match`);
* ``params`` is the object the binding's ``paramRef`` names (``name``, or every
  object its ``selector`` selects), looked up among the inventory objects of
  the policy's ``paramKind`` (in ``paramRef.namespace``, else the request's
  namespace for namespaced kinds); none found means a violation under
  ``parameterNotFoundAction: Deny``, nothing under ``Allow``;
* ``matchConditions`` must all be true; ``variables`` are evaluated in order;
* a false validation is a violation with its ``messageExpression`` result,
  else its ``message``, else ``failed expression: <expression>``; an
  expression that fails under ``failurePolicy: Fail`` is a violation carrying
  the error;
* ``validationActions``: ``Deny`` → deny, ``Warn`` → warn, ``Audit`` alone →
  dryrun (recorded in the decision log, never enforced);
* ``auditAnnotations``: each value is kept under ``<policy name>/<key>``, and
  a binding with ``Audit`` among its actions adds its failures under
  ``validation.policy.admission.k8s.io/validation_failure`` (a JSON list of
  ``{message, policy, binding, expressionIndex, validationActions}``), as the
  API server writes them into the audit event; kubegate puts them in the
  decision record and the AdmissionReview response's ``auditAnnotations``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kubegate.cel.env import LATEST, KubernetesVersion
from kubegate.cel.library.authz import VARIABLES as AUTHORIZER_VARIABLES
from kubegate.cel.library.authz_config import DEFAULT_CONFIG, AuthorizerConfig
from kubegate.cel.program import compile_expression
from kubegate.policy.cel_source import embedded_in_yaml
from kubegate.policy.cel_template import (
    VARIABLES,
    CelFailure,
    CelReview,
    CelTemplate,
    CelValidation,
    CelVerdict,
    accelerated,
)
from kubegate.policy.inventory import Inventory
from kubegate.policy.match import field_path
from kubegate.policy.vap import CelExpression, PolicyBinding, ValidatingAdmissionPolicy
from kubegate.policy.vap_match import RequestAttributes

__all__ = ["VALIDATION_FAILURE_ANNOTATION", "CompiledPolicy", "VapBinding", "compile_policy", "enforcement_of"]

VAP_VARIABLES = (*VARIABLES, *AUTHORIZER_VARIABLES)
"""A policy's variables: those of every CEL admission logic, and ``authorizer``
with ``authorizer.requestResource`` (Gatekeeper's templates have no authorizer)."""

VALIDATION_FAILURE_ANNOTATION = "validation.policy.admission.k8s.io/validation_failure"
"""The audit annotation of an ``Audit`` binding's failures (Kubernetes' key)."""

_ACTION_ORDER = (("Deny", "deny"), ("Warn", "warn"), ("Audit", "dryrun"))


def enforcement_of(actions: tuple[str, ...]) -> str:
    """kubegate's enforcement action for a binding's ``validationActions``."""
    return next((ours for theirs, ours in _ACTION_ORDER if theirs in actions), "deny")


@dataclass(frozen=True)
class VapBinding:
    """A policy and one of its bindings: what kubegate evaluates as one policy."""

    policy: ValidatingAdmissionPolicy
    binding: PolicyBinding
    template: CelTemplate
    authorizer: AuthorizerConfig = DEFAULT_CONFIG
    """What answers the policy's ``authorizer`` (the policy set's authorizer documents)."""

    @property
    def id(self) -> str:
        return f"ValidatingAdmissionPolicyBinding/{self.binding.name}"

    def matches(self, attrs: RequestAttributes) -> bool | None:
        """Whether the request (:func:`kubegate.policy.vap_match.attributes_from_review`)
        is in scope (``None``: a namespaceSelector needs an unknown Namespace)."""
        first = self.policy.match_constraints.matches(attrs)
        if first is False:
            return False
        resources = self.binding.match_resources
        second = resources.matches(attrs, rules_required=False) if resources is not None else True
        if second is False:
            return False
        return None if None in (first, second) else True

    def params(self, review: Mapping[str, Any], inventory: Inventory) -> list[Mapping[str, Any] | None] | None:
        """The param objects to evaluate with (``[None]`` without ``paramKind``), or
        ``None`` when none was found."""
        if self.policy.param_kind is None or self.binding.param_ref is None:
            return [None]
        api_version, kind = self.policy.param_kind
        ref = self.binding.param_ref
        namespace = ref.namespace or str(review.get("namespace") or "")
        trees = [inventory.data.get("cluster", {})]
        if namespace:
            trees.insert(0, inventory.data.get("namespace", {}).get(namespace, {}))
        found: list[Mapping[str, Any] | None] = []
        for tree in trees:
            objects = tree.get(api_version, {}).get(kind, {})
            if ref.name:
                if ref.name in objects:
                    found.append(objects[ref.name])
            elif ref.selector is not None:
                found.extend(
                    o for o in objects.values() if ref.selector.matches((o.get("metadata") or {}).get("labels"))
                )
            if found:
                break
        return found or None

    def evaluate(
        self,
        review: Mapping[str, Any] | CelReview,
        inventory: Inventory,
        namespace: Mapping[str, Any] | None,
        deadline: float = 0.0,
    ) -> CelVerdict:
        """The violations and audit annotations (keys prefixed with the policy's
        name) of ``review`` (or its :class:`CelReview`; ``deadline``:
        ``time.monotonic()`` by which it must end, 0: none)."""
        params = self.params(review.review if isinstance(review, CelReview) else review, inventory)
        if params is None:
            if self.binding.param_ref is not None and self.binding.param_ref.parameter_not_found_action == "Allow":
                return CelVerdict()
            missing = f"no params found for binding {self.binding.name} of policy {self.policy.name}"
            return CelVerdict((CelFailure(missing),))
        failures: list[CelFailure] = []
        annotations: dict[str, str] = {}
        for param in params:
            verdict = self.template.evaluate(review, param, namespace, self.authorizer, deadline)
            failures.extend(verdict.failures)
            annotations.update((f"{self.policy.name}/{k}", v) for k, v in verdict.annotations)
        if failures and "Audit" in self.binding.validation_actions:
            annotations[VALIDATION_FAILURE_ANNOTATION] = json.dumps(
                [
                    {
                        "message": f.message,
                        "policy": self.policy.name,
                        "binding": self.binding.name,
                        "expressionIndex": f.index,
                        "validationActions": list(self.binding.validation_actions),
                    }
                    for f in failures
                ],
                separators=(",", ":"),
            )
        return CelVerdict(tuple(failures), tuple(sorted(annotations.items())))


@dataclass(frozen=True)
class CompiledPolicy:
    """A ValidatingAdmissionPolicy with its expressions compiled."""

    policy: ValidatingAdmissionPolicy
    template: CelTemplate

    def bind(self, binding: PolicyBinding, authorizer: AuthorizerConfig = DEFAULT_CONFIG) -> VapBinding:
        """The policy under ``binding``, its ``authorizer`` answered by ``authorizer``."""
        return VapBinding(self.policy, binding, self.template, authorizer)


def compile_policy(
    policy: ValidatingAdmissionPolicy, text: str = "", line: int = 0, version: KubernetesVersion = LATEST
) -> CompiledPolicy:
    """Compiles ``policy``'s expressions (``text``/``line``: its YAML file and the
    line its document starts at, to locate errors) in the CEL environment of
    Kubernetes ``version``.

    Raises:
        CelError: ``cel_parse_error`` / ``cel_type_error``, located in the YAML.
    """
    file = policy.location.file if policy.location is not None else ""

    def program(expression: CelExpression) -> Any:
        where = f"{policy.name}: {expression.path}"
        embedded = embedded_in_yaml(expression.text, where, text, file, line, field_path(expression.path))
        return compile_expression(embedded, VAP_VARIABLES, version)

    template = accelerated(
        VAP_VARIABLES,
        CelTemplate(
            policy.name,
            tuple((name, program(e)) for name, e in policy.variables),
            tuple(
                CelValidation(
                    program(v.expression),
                    v.message,
                    program(v.message_expression) if v.message_expression else None,
                    v.reason,
                )
                for v in policy.validations
            ),
            tuple((name, program(e)) for name, e in policy.match_conditions),
            policy.failure_policy,
            tuple((key, program(e)) for key, e in policy.audit_annotations),
        ),
    )
    return CompiledPolicy(policy, template)
