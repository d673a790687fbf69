"""Plain Rego modules as policies, with the conventions of conftest and Gatekeeper.

A package is a policy when it defines an *entry rule*: ``deny``, ``violation``
or ``warn``, or one of those followed by ``_`` and a suffix (``deny_latest``), as
conftest allows (https://www.conftest.dev/#policies). Each element of an entry
rule is a violation: a string (the message) or an object with ``msg`` and
optional ``details``. A package may also define conftest's ``exception`` rule
(https://www.conftest.dev/exceptions/), a set of arrays of entry-rule
suffixes whose results are suppressed for the input; it is applied by
``kubegate check`` to conftest-shaped (``object``) packages, see
:mod:`kubegate.policy.conftest`.

kubegate reads these METADATA ``custom`` keys
(https://www.openpolicyagent.org/docs/latest/policy-language/#annotations),
from any annotation of the package:

``id``
    the policy id (default: the package path, ``kubernetes.admission``);
``enforcement``
    ``deny`` (default), ``warn`` or ``dryrun``, for ``deny``/``violation``
    rules; ``warn`` rules always warn (``dryrun`` when the policy is dryrun);
``input``
    ``review`` (Gatekeeper shape: ``input.review``, ``input.parameters``) or
    ``object`` (conftest shape: the manifest, or any YAML/JSON document, is
    ``input``); when absent it is detected from the references the package
    makes to ``input`` (``input.review``/``input.parameters`` against any
    other field);
``match``
    a Gatekeeper ``spec.match`` (kinds, namespaces, selectors...);
``parameters`` / ``parametersSchema``
    default ``input.parameters`` and their openAPIV3Schema;
``severity``
    free text shown in reports (``high``...);
``rollout``
    ``"canary N%"``, ``"canary N% by namespace"`` or ``"shadow"``
    (:mod:`kubegate.policy.rollout`);
``source``
    ``{file, line, column}`` of the policy's own source when the Rego was
    generated (kubegate's DSL): the policy is located there.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kubegate.errors import Location, PolicyLoadError
from kubegate.policy.constraint import check_parameters_schema
from kubegate.policy.match import Match
from kubegate.policy.rollout import parse_rollout
from kubegate.policy.units import InputStyle
from kubegate.rego import ast
from kubegate.rego.normalize import walk_terms

__all__ = ["ENTRY_RULE", "RegoPackageInfo", "entry_rules", "package_info"]

ENTRY_RULE = re.compile(r"^(deny|violation|warn)(_[A-Za-z0-9_]+)?$")
_REVIEW_FIELDS = frozenset({"review", "parameters"})
_ACTIONS = ("deny", "warn", "dryrun")


@dataclass(frozen=True)
class RegoPackageInfo:
    """What the METADATA of a package says about it as a policy."""

    id: str
    rules: dict[str, str]
    input_style: InputStyle
    match: Match
    parameters: dict[str, Any] | None
    parameters_schema: dict[str, Any] | None
    location: Location
    title: str
    description: str
    severity: str
    custom: dict[str, Any]


def entry_rules(modules: Sequence[ast.Module]) -> list[str]:
    """Names of the entry rules the modules define (sorted, no duplicates)."""
    names = set()
    for module in modules:
        for rule in module.rules:
            head = rule.head
            if head.args is None and not head.ref.path and ENTRY_RULE.match(head.name) and not rule.default:
                names.add(head.name)
    return sorted(names)


def _detect_input_style(modules: Sequence[ast.Module]) -> InputStyle:
    """``review`` when the package reads ``input.review``/``input.parameters`` at
    least as often as anything else under ``input``; ``object`` when it reads
    other fields (``input.kind``, a docker-compose file's ``input.services``)
    or uses ``input`` itself (``input[i].contents``, ``some doc in input``:
    conftest's combined input); ``review`` when it reads nothing of ``input``."""
    object_refs = review_refs = bare = 0
    for module in modules:
        for term in walk_terms(module.rules):
            if isinstance(term, ast.Var) and term.name == "input":
                bare += 1  # every use, the heads of the references below included
            elif isinstance(term, ast.Ref) and isinstance(term.head, ast.Var) and term.head.name == "input":
                bare -= 1
                first = term.path[0] if term.path else None
                if isinstance(first, ast.Scalar) and first.value in _REVIEW_FIELDS:
                    review_refs += 1
                else:
                    object_refs += 1
    # ``input`` on its own (``some doc in input``, ``count(input)``) is a document too.
    object_refs += max(bare, 0)
    return "object" if object_refs > review_refs else "review"


def _custom(modules: Sequence[ast.Module], package: str) -> tuple[dict[str, Any], ast.Annotations | None]:
    """Merges the ``custom`` maps of the package's annotations; conflicting ids are an error."""
    merged: dict[str, Any] = {}
    first: ast.Annotations | None = None
    for module in modules:
        for ann in module.annotations:
            if not ann.custom and ann.title is None and ann.description is None:
                continue
            if first is None or (
                ann.scope in ("package", "subpackages") and first.scope not in ("package", "subpackages")
            ):
                first = ann
            for key, value in ann.custom.items():
                if key == "id" and "id" in merged and merged["id"] != value:
                    raise PolicyLoadError(
                        f"package {package} declares two policy ids: {merged['id']!r} and {value!r}",
                        ann.loc,
                        code="duplicate_policy_id",
                    )
                merged.setdefault(key, value)
    return merged, first


def package_info(package: tuple[str, ...], modules: Sequence[ast.Module]) -> RegoPackageInfo | None:
    """Describes the policy a package defines, or ``None`` when it has no entry rule.

    Raises:
        PolicyLoadError: ``invalid_policy_metadata`` for a METADATA value of the
            wrong type or an unknown enforcement/input, ``invalid_match`` for a
            bad ``custom.match``, ``parameters_schema_invalid`` for a malformed
            ``custom.parametersSchema``, ``duplicate_policy_id``.
    """
    names = entry_rules(modules)
    if not names:
        return None
    dotted = ".".join(package)
    custom, annotation = _custom(modules, dotted)
    loc = (annotation.loc if annotation else None) or modules[0].package.loc or Location(modules[0].file)

    def bad(message: str) -> PolicyLoadError:
        return PolicyLoadError(f"package {dotted}: {message}", loc, code="invalid_policy_metadata")

    source = custom.get("source")
    if isinstance(source, dict) and isinstance(source.get("file"), str):
        line, column = source.get("line", 0), source.get("column", 0)
        if isinstance(line, int) and isinstance(column, int):
            loc = Location(source["file"], line, column)
    policy_id = custom.get("id", dotted)
    if not isinstance(policy_id, str) or not policy_id:
        raise bad("custom.id must be a non-empty string")
    action = custom.get("enforcement", custom.get("enforcementAction", "deny"))
    if action not in _ACTIONS:
        raise bad(f"custom.enforcement {action!r} must be one of {', '.join(_ACTIONS)}")
    style = custom.get("input")
    if style is None:
        style = _detect_input_style(modules)
    if style not in ("review", "object"):
        raise bad(f"custom.input {style!r} must be review or object")
    rules = {}
    for name in names:
        if name.startswith("warn"):
            rules[name] = "dryrun" if action == "dryrun" else "warn"
        else:
            rules[name] = str(action)
    params = custom.get("parameters")
    if params is not None and not isinstance(params, dict):
        raise bad("custom.parameters must be a mapping")
    schema = custom.get("parametersSchema")
    if schema is not None and not isinstance(schema, dict):
        raise bad("custom.parametersSchema must be a mapping (an openAPIV3Schema)")
    if schema is not None:
        check_parameters_schema(schema, owner=f"package {dotted}", location=loc, code="parameters_schema_invalid")
    match = Match.from_spec(custom.get("match"), f"package {dotted}: custom.match", loc)
    if "rollout" in custom:
        try:
            parse_rollout(custom["rollout"], f"package {dotted}: custom.rollout")
        except PolicyLoadError as exc:
            raise PolicyLoadError(exc.message, loc, code=exc.code) from None
    severity = custom.get("severity", "")
    return RegoPackageInfo(
        id=policy_id,
        rules=rules,
        input_style=style,
        match=match,
        parameters=params,
        parameters_schema=schema,
        location=loc,
        title=(annotation.title if annotation and annotation.title else "") or "",
        description=(annotation.description if annotation and annotation.description else "") or "",
        severity=str(severity) if severity is not None else "",
        custom=custom,
    )


def merge_parameters(defaults: Mapping[str, Any] | None, overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """Top-level merge: keys in ``overrides`` replace those in ``defaults``."""
    out = dict(defaults or {})
    out.update(overrides or {})
    return out
