"""Export compiled DSL rules as Gatekeeper objects: one ConstraintTemplate and one Constraint per rule.

``kubegate compile --format gatekeeper`` writes, for a rule
``payment_pods_require_seccomp``::

    apiVersion: templates.gatekeeper.sh/v1
    kind: ConstraintTemplate
    metadata: {name: paymentpodsrequireseccomp}
    spec:
      crd: {spec: {names: {kind: PaymentPodsRequireSeccomp}, validation: {openAPIV3Schema: ...}}}
      targets:
      - target: admission.k8s.gatekeeper.sh
        code: [{engine: Rego, source: {version: "v1", rego: "package paymentpodsrequireseccomp ..."}}]
    ---
    apiVersion: constraints.gatekeeper.sh/v1beta1
    kind: PaymentPodsRequireSeccomp
    metadata: {name: payment-pods-require-seccomp}
    spec: {enforcementAction: deny, match: {kinds: [...]}, parameters: {...}}

Choices, each following Gatekeeper's sources:

* The Rego goes in ``code[].source`` with ``version: "v1"`` only
  (https://open-policy-agent.github.io/gatekeeper/website/docs/constrainttemplates#enable-opa-rego-v1-syntax-in-constrainttemplates).
  No top-level ``targets[].rego``: Gatekeeper accepts both, but the legacy
  field takes precedence and its conversion (frameworks
  ``apis/templates/v1/conversion.go``) replaces the ``code`` source with one
  that has no ``version``, i.e. Rego v0. The module keeps ``import rego.v1``,
  so Gatekeeper before 3.19 (which reads every template as v0) parses it too.
* The package is the lowercase kind, like the Gatekeeper library's;
  Gatekeeper moves the module to ``data.template`` anyway, and the generated
  module never refers to its own package. The rule's ``# METADATA`` is left
  out (its facts are in the two objects).
* The generated Rego already reads Gatekeeper's input (``input.review``,
  ``input.parameters`` with the DSL defaults as fallbacks) and reports
  ``violation contains {"msg", "details"}``; its helpers are copied into it by
  the code generator, and the only ``data`` it may read is ``data.inventory``
  (``namespaceObject``), which Gatekeeper allows (synced resources).
* The kind is the rule id in CamelCase (``no_latest`` -> ``NoLatest``), and
  ``metadata.name`` of the template its lowercase, as Gatekeeper requires;
  the lowercase kind is the CRD's plural and ``<kind>List`` its list kind, so
  both must be DNS-1035 labels (the kind at most 59 characters, starting with a
  letter; frameworks ``pkg/client/crds/crds.go``). Two rules that give the
  same lowercase kind are an error. The Constraint is named after the rule id
  in kebab case (``no-latest``), or the lowercase kind when that is longer
  than the 63 characters the constraint CRD allows (``crds/schema.go``).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from kubegate.dsl.compiler import CompiledRule
from kubegate.errors import KubegateError, Location
from kubegate.rego.printer import print_module

__all__ = [
    "ADMISSION_TARGET",
    "CONSTRAINT_API_VERSION",
    "MAX_KIND_LENGTH",
    "MAX_NAME_LENGTH",
    "TEMPLATE_API_VERSION",
    "GatekeeperExport",
    "GatekeeperExportError",
    "GatekeeperRule",
    "constraint_kind",
    "constraint_name",
    "dump_objects",
    "export_rule",
    "export_rules",
]

TEMPLATE_API_VERSION = "templates.gatekeeper.sh/v1"
CONSTRAINT_API_VERSION = "constraints.gatekeeper.sh/v1beta1"
ADMISSION_TARGET = "admission.k8s.gatekeeper.sh"
MAX_KIND_LENGTH = 59  # the CRD's lowercase plural and list kind (kind + "List") are DNS-1035 labels
MAX_NAME_LENGTH = 63  # the constraint CRD's schema limits metadata.name
_WORD = re.compile(r"[A-Za-z0-9]+")
_SEVERITY_LABEL = "kubegate.io/severity"
_NAMESPACE_GLOB = re.compile(r"\*?[-:a-z0-9]*\*?")  # Gatekeeper pkg/wildcard: the match.namespaces pattern


class GatekeeperExportError(KubegateError):
    """A compiled rule that cannot become a Gatekeeper template (codes below)."""

    code = "gatekeeper_export_error"


@dataclass(frozen=True)
class GatekeeperRule:
    """One rule as Gatekeeper objects.

    Attributes:
        rule_id: the DSL rule id.
        kind: the constraint kind (CamelCase).
        file_stem: a file-name-safe form of the rule id (``<stem>-template.yaml``).
        template: the ConstraintTemplate object (JSON data, camelCase keys).
        constraint: the Constraint object.
    """

    rule_id: str
    kind: str
    file_stem: str
    template: Mapping[str, Any]
    constraint: Mapping[str, Any]


@dataclass(frozen=True)
class GatekeeperExport:
    """Every rule that could be exported, and one error per rule that could not."""

    rules: tuple[GatekeeperRule, ...] = ()
    errors: tuple[GatekeeperExportError, ...] = ()

    def objects(self) -> list[Mapping[str, Any]]:
        """All templates, then all constraints (the order ``kubectl apply`` needs)."""
        return [r.template for r in self.rules] + [r.constraint for r in self.rules]


def constraint_kind(rule_id: str, location: Location | None = None) -> str:
    """The constraint kind for a rule id: its ASCII words in CamelCase.

    ``payment_pods_require_seccomp`` -> ``PaymentPodsRequireSeccomp``,
    ``"pci-image-provenance"`` -> ``PciImageProvenance``; a leading digit gets
    a ``Rule`` prefix (a kind starts with a letter).

    Raises:
        GatekeeperExportError: ``gatekeeper_kind_invalid`` when the id has no
            ASCII letter or digit, or the kind is longer than 59 characters.
    """
    kind = "".join(w[:1].upper() + w[1:] for w in _WORD.findall(rule_id))
    if kind[:1].isdigit():
        kind = f"Rule{kind}"
    if not kind:
        raise GatekeeperExportError(
            f"rule {rule_id!r} has no ASCII letters or digits to name a Gatekeeper kind",
            location,
            code="gatekeeper_kind_invalid",
        )
    if len(kind) > MAX_KIND_LENGTH:
        raise GatekeeperExportError(
            f"rule {rule_id!r} gives the Gatekeeper kind {kind} ({len(kind)} characters; "
            f"at most {MAX_KIND_LENGTH}): use a shorter rule id",
            location,
            code="gatekeeper_kind_invalid",
        )
    return kind


def constraint_name(rule_id: str) -> str:
    """The Constraint's ``metadata.name``: the id's words, lowercase, joined by ``-`` (a DNS-1123 name).

    Past 63 characters it is the lowercase kind instead (at most 59).

    Raises:
        GatekeeperExportError: ``gatekeeper_kind_invalid`` as :func:`constraint_kind`.
    """
    name = "-".join(w.lower() for w in _WORD.findall(rule_id))
    return name if len(name) <= MAX_NAME_LENGTH else constraint_kind(rule_id).lower()


def _file_stem(rule_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", rule_id).lstrip(".") or "rule"


def _indent_with_spaces(text: str) -> str:
    """Rego with its leading tabs as two spaces (YAML block scalars cannot hold tabs in PyYAML)."""
    lines = []
    for line in text.splitlines():
        body = line.lstrip("\t")
        lines.append("  " * (len(line) - len(body)) + body.rstrip())
    return "\n".join(lines) + "\n"


def _structural(schema: Any) -> Any:
    """An openAPIV3Schema Gatekeeper's v1 templates accept: a type (or an extension) on every node."""
    if not isinstance(schema, Mapping):
        return schema
    out = {k: _structural(v) if k == "items" else v for k, v in schema.items()}
    if "properties" in out:
        out["properties"] = {k: _structural(v) for k, v in out["properties"].items()}
    if not ({"type", "x-kubernetes-int-or-string", "x-kubernetes-preserve-unknown-fields"} & out.keys()):
        out["x-kubernetes-preserve-unknown-fields"] = True
    return out


def export_rule(rule: CompiledRule) -> GatekeeperRule:
    """The ConstraintTemplate and Constraint of one compiled rule.

    Args:
        rule: a rule from :func:`kubegate.dsl.compiler.compile_files`; its
            module's package METADATA (``custom``: ``enforcement``, ``match``,
            ``parameters``, ``parametersSchema``, ``severity``, ``source``)
            gives the objects' fields.

    Raises:
        GatekeeperExportError: ``gatekeeper_kind_invalid`` (see :func:`constraint_kind`),
            ``gatekeeper_namespace_invalid`` for an ``IN``/``EXCEPT NAMESPACES``
            glob Gatekeeper's ``match`` rejects (``^\\*?[-:a-z0-9]*\\*?$``,
            Gatekeeper ``pkg/wildcard``).
    """
    kind = constraint_kind(rule.id, rule.location)
    annotations = rule.module.package.annotations
    custom: Mapping[str, Any] = annotations.custom if annotations is not None else {}
    match = copy.deepcopy(custom.get("match") or {})
    for key in ("namespaces", "excludedNamespaces"):
        for glob in match.get(key, ()):
            if not _NAMESPACE_GLOB.fullmatch(glob):
                raise GatekeeperExportError(
                    f"rule {rule.id!r}: Gatekeeper's {key} takes a namespace name with an optional * at either end "
                    f"(lowercase letters, digits, '-', ':'), not {glob!r}",
                    rule.location,
                    code="gatekeeper_namespace_invalid",
                )
    source = custom.get("source") or {}
    where = f"{source.get('file', '')}:{source.get('line', 0)}:{source.get('column', 0)}"
    rego = print_module(rule.module, package=(kind.lower(),), rego_v1_import=True).text

    template_meta: dict[str, Any] = {"metadata.gatekeeper.sh/title": rule.id}
    if annotations is not None and annotations.description:
        template_meta["description"] = annotations.description
    template_meta["kubegate.io/source"] = where
    crd_spec: dict[str, Any] = {"names": {"kind": kind}}
    if custom.get("parametersSchema"):
        crd_spec["validation"] = {"openAPIV3Schema": _structural(custom["parametersSchema"])}
    template = {
        "apiVersion": TEMPLATE_API_VERSION,
        "kind": "ConstraintTemplate",
        "metadata": {"name": kind.lower(), "annotations": template_meta},
        "spec": {
            "crd": {"spec": crd_spec},
            "targets": [
                {
                    "target": ADMISSION_TARGET,
                    "code": [{"engine": "Rego", "source": {"version": "v1", "rego": _indent_with_spaces(rego)}}],
                }
            ],
        },
    }

    constraint_meta: dict[str, Any] = {"name": constraint_name(rule.id)}
    if custom.get("severity"):
        constraint_meta["labels"] = {_SEVERITY_LABEL: str(custom["severity"])}
    constraint_meta["annotations"] = {"kubegate.io/rule": rule.id, "kubegate.io/source": where}
    if custom.get("rollout"):  # Gatekeeper has no rollouts: kept as a note, the constraint is enforced at once
        constraint_meta["annotations"]["kubegate.io/rollout"] = str(custom["rollout"])
    spec: dict[str, Any] = {
        "enforcementAction": custom.get("enforcement", "deny"),
        "match": match,
    }
    if custom.get("parameters"):
        spec["parameters"] = copy.deepcopy(custom["parameters"])
    constraint = {
        "apiVersion": CONSTRAINT_API_VERSION,
        "kind": kind,
        "metadata": constraint_meta,
        "spec": spec,
    }
    return GatekeeperRule(rule.id, kind, _file_stem(rule.id), template, constraint)


def export_rules(rules: Sequence[CompiledRule]) -> GatekeeperExport:
    """Exports every rule; a rule whose kind is invalid or taken is an error, the others still export.

    Raises nothing: errors (``gatekeeper_kind_invalid``, ``gatekeeper_namespace_invalid``,
    ``gatekeeper_kind_conflict``) are returned, located at the rule.
    """
    done: list[GatekeeperRule] = []
    errors: list[GatekeeperExportError] = []
    taken: dict[str, str] = {}
    for rule in rules:
        try:
            exported = export_rule(rule)
        except GatekeeperExportError as exc:
            errors.append(exc)
            continue
        plural = exported.kind.lower()
        if plural in taken:
            errors.append(
                GatekeeperExportError(
                    f"rule {rule.id!r} gives the Gatekeeper kind {exported.kind}, "
                    f"which rule {taken[plural]!r} already has (kinds are compared in lowercase)",
                    rule.location,
                    code="gatekeeper_kind_conflict",
                )
            )
            continue
        taken[plural] = rule.id
        done.append(exported)
    return GatekeeperExport(tuple(done), tuple(errors))


class _Dumper(yaml.SafeDumper):
    """Safe YAML with multi-line strings (the Rego) as literal blocks, and never an alias."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    plain = all(ch == "\n" or (ch.isprintable() and ch not in "\x85\u2028\u2029\ufeff") for ch in value)
    style = "|" if "\n" in value and plain else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump_objects(objects: Iterable[Mapping[str, Any]]) -> str:
    """The objects as a YAML stream (``---`` between documents), keys in their order."""
    return yaml.dump_all(
        [dict(o) for o in objects],
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=1000,
        explicit_start=True,
    )
