"""Value objects shared by loading and evaluation: policies and their modules.

A *policy* is what produces violations and what a decision is about: a
Gatekeeper Constraint (id ``<Kind>/<name>``) or a plain Rego package with
``deny``/``violation``/``warn`` rules (id from METADATA ``custom.id``, else the
package path). A *policy module* is normalised Rego v1 text ready for a
backend, remembering where its lines came from.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from kubegate.errors import Location
from kubegate.policy.match import Match
from kubegate.rego import ast
from kubegate.rego.printer import PrintedModule

__all__ = ["InputStyle", "Policy", "PolicyKind", "PolicyModule", "sha256_json", "sha256_text"]

PolicyKind = Literal["constraint", "rego"]
InputStyle = Literal["review", "object"]


def sha256_text(*parts: str) -> str:
    """Hex sha256 of the parts joined by NUL bytes.

    Total over every ``str``: a lone surrogate (which has no UTF-8 encoding)
    is hashed as its ``surrogatepass`` bytes. Loading refuses such text with a
    located ``invalid_unicode`` error before anything is hashed; this keeps a
    missed path from ending in a traceback.
    """
    digest = hashlib.sha256()
    for i, part in enumerate(parts):
        if i:
            digest.update(b"\0")
        digest.update(part.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def sha256_json(value: Any) -> str:
    """Hex sha256 of the canonical JSON of ``value`` (sorted keys, no spaces)."""
    return sha256_text(json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False))


@dataclass(frozen=True)
class PolicyModule:
    """A normalised module handed to the backend.

    Attributes:
        name: backend module name, unique in a policy set.
        printed: the Rego v1 text and its line map.
        owner: id of the unit that owns it (template kind, package id).
        module: the normalised AST (locations point into the original source).
        origin: maps a location in the original source text to the file it
            sits in: ``(file, line_offset, column_offset)`` (Rego embedded in YAML).
        source: the module as written (packages rebased, no backend
            workarounds): what kubegate's own evaluator compiles.
    """

    name: str
    printed: PrintedModule
    owner: str
    module: ast.Module
    origin: tuple[str, int, int] = ("", 0, 0)
    source: ast.Module | None = None

    def relocate(self, loc: Location | None) -> Location | None:
        """Moves a location of the original Rego text into its file (see ``origin``)."""
        if loc is None:
            return None
        file, dl, dc = self.origin
        if file:
            return Location(file, loc.line + dl if loc.line else 0, loc.column + dc if loc.column else 0, loc.snippet)
        return loc

    def source_location(self, line: int) -> Location | None:
        """The source location behind line ``line`` of the printed text."""
        return self.relocate(self.printed.source_location(line))


@dataclass(frozen=True)
class Policy:
    """One policy as the engine evaluates it.

    Attributes:
        id: stable id (``K8sRequiredLabels/must-have-owner``, ``pod-must-have-resource-limits``).
        kind: ``constraint`` or ``rego``.
        package: Rego package whose entry rules produce the violations.
        rules: entry rule names and the enforcement action of each
            (``{"violation": "deny"}``, ``{"deny": "deny", "warn": "warn"}``).
        match: which objects it applies to.
        input_style: ``review`` (``input.review``, ``input.parameters``) or
            ``object`` (conftest: the manifest is the input).
        parameters: ``input.parameters`` for this policy.
        version: sha256 of the normalised source (template + constraint
            parameters for constraints).
        location: where it is defined.
        template: the constraint kind for constraints.
        engine: ``rego``, or ``cel`` for a constraint whose template's
            K8sNativeValidation code evaluates it (``cel`` then holds the
            :class:`kubegate.policy.cel_template.CelTemplate` and ``raw`` the
            Constraint object, Gatekeeper's ``params``).
        exception_rule: the package defines conftest's ``exception`` rule, whose
            named entry rules are excepted on each input
            (https://www.conftest.dev/exceptions/; :mod:`kubegate.policy.conftest`).
    """

    id: str
    kind: PolicyKind
    package: tuple[str, ...]
    rules: Mapping[str, str]
    match: Match
    input_style: InputStyle
    parameters: Mapping[str, Any] | None
    version: str
    location: Location
    template: str | None = None
    title: str = ""
    description: str = ""
    severity: str = ""
    warnings: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict, compare=False)
    exception_rule: bool = False
    engine: str = "rego"
    cel: Any = field(default=None, compare=False, repr=False)
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def enforcement(self) -> str:
        """The most severe action among the rules (``deny`` > ``warn`` > ``dryrun``)."""
        order = {"deny": 3, "warn": 2, "dryrun": 1}
        return max(self.rules.values(), key=lambda a: order.get(a, 0)) if self.rules else "deny"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "version": self.version,
            "enforcement": self.enforcement,
            "source": str(self.location),
            "template": self.template,
            "title": self.title,
            "severity": self.severity,
        }
