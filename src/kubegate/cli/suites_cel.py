"""gator suite tests evaluated through a template's CEL (``kubegate verify --engine cel``).

A template whose target has a ``K8sNativeValidation`` code block is compiled
with :mod:`kubegate.policy.cel_template`; each case's object is reviewed by the
test's constraints as gator does (their ``spec.match``, their action at the
``gator.gatekeeper.sh`` enforcement point). Templates without a CEL block run
through Rego as before; a template with only CEL runs here whatever the engine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kubegate.errors import InputError, KubegateError, Location
from kubegate.policy.cel_template import CelTemplate, cel_block, cel_constraint_template
from kubegate.policy.constraint import Constraint, constraint_from_object
from kubegate.policy.documents import load_file, read_text
from kubegate.policy.match import MatchTarget
from kubegate.policy.template import TEMPLATE_GROUP

__all__ = ["CelTest", "load_cel_test"]


@dataclass(frozen=True)
class CelTest:
    """A suite test's CEL template and its constraints."""

    template: CelTemplate
    constraints: tuple[Constraint, ...]

    def messages(
        self, review: Mapping[str, Any], namespaces: Mapping[str, Mapping[str, Any]], enforcement_point: str
    ) -> list[str]:
        """The violation messages of ``review`` (``namespaces``: Namespace objects by
        name, for ``namespaceSelector`` and ``namespaceObject``).

        Raises:
            KubegateError: a CEL expression failed (failurePolicy Fail), or a
                ``namespaceSelector`` needs a Namespace the case does not give.
        """
        ns_name = str(review.get("namespace") or "")
        namespace = namespaces.get(ns_name) if ns_name else None
        targets = [
            MatchTarget(o, namespace)
            for o in (review.get("object"), review.get("oldObject"))
            if isinstance(o, Mapping) and o
        ]
        out: list[str] = []
        for constraint in self.constraints:
            if constraint.action_for(enforcement_point) is None:
                continue
            matched = constraint.match.matches_any(targets)
            if matched is None:
                raise InputError(
                    f"constraint {constraint.id}: its namespaceSelector needs Namespace {ns_name!r}, "
                    "which the case does not give",
                    constraint.location,
                    code="namespace_not_in_inventory",
                )
            if matched:
                out.extend(self.template.evaluate(review, constraint.raw, namespace))
        return out


def load_cel_test(template_file: str, constraint_files: Sequence[str], engine: str) -> CelTest | None:
    """The CEL form of a suite test, or ``None`` when it runs through Rego (no CEL
    block, or ``engine`` is ``rego`` and the template also has Rego).

    Raises:
        KubegateError: the files cannot be read, or ``cel_parse_error`` /
            ``cel_type_error`` / ``invalid_template`` for the CEL source.
    """
    docs = [d for d in load_file(template_file) if d.kind == "ConstraintTemplate"]
    if len(docs) != 1 or not docs[0].api_version.startswith(TEMPLATE_GROUP + "/"):
        return None
    doc = docs[0]
    block = cel_block(doc.obj)
    if block is None or (engine != "cel" and block[2]):
        return None
    compiled = cel_constraint_template(doc.obj, doc.location, read_text(template_file))
    if compiled is None:  # pragma: no cover - cel_block found one
        return None
    constraints = []
    for file in constraint_files:
        for c in load_file(file):
            try:
                constraints.append(constraint_from_object(c.obj, c.location))
            except KubegateError as exc:
                raise type(exc)(exc.message, exc.location or Location(file), code=exc.code) from None
    return CelTest(compiled.template, tuple(c for c in constraints if c.kind == compiled.kind))
