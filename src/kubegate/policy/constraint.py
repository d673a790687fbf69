"""Gatekeeper Constraints (``constraints.gatekeeper.sh``) and their parameters.

A Constraint instantiates a template: it names the kind, narrows the objects
in scope (``spec.match``), sets ``spec.parameters`` (checked against the
template's ``openAPIV3Schema``) and chooses what a violation does
(``spec.enforcementAction``: ``deny``, ``dryrun``, ``warn``, or ``scoped`` with
per-enforcement-point actions,
https://open-policy-agent.github.io/gatekeeper/website/docs/violations).

Parameters are treated as the Kubernetes API server treats a structural
schema (https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#field-pruning):
type, enum and required violations are errors, unknown fields are pruned
(and reported as warnings, since the API server would drop them silently).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jsonschema

from kubegate.errors import Location, PolicyLoadError
from kubegate.policy.match import Match, check_fields, split_api_version

__all__ = [
    "CONSTRAINT_GROUP",
    "ENFORCEMENT_ACTIONS",
    "MAX_SCHEMA_DEPTH",
    "Constraint",
    "check_parameters_schema",
    "constraint_from_object",
    "validate_parameters",
]

CONSTRAINT_GROUP = "constraints.gatekeeper.sh"
ENFORCEMENT_ACTIONS = ("deny", "dryrun", "warn")
_SEVERITY = {"deny": 3, "warn": 2, "dryrun": 1}

MAX_SCHEMA_DEPTH = 32
"""Deepest nesting of subschemas in a parameters schema (real ones nest fewer than 10)."""

# Keywords Kubernetes refuses in a CRD's openAPIV3Schema that would make
# jsonschema resolve references (https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#validation).
_FORBIDDEN_KEYWORDS = ("$ref", "$schema", "$id", "id", "definitions", "$defs", "$dynamicRef", "$recursiveRef")
_SCHEMA_KEYWORDS = ("not", "additionalProperties", "items", "additionalItems")
_SCHEMA_LIST_KEYWORDS = ("allOf", "anyOf", "oneOf")
_SCHEMA_MAP_KEYWORDS = ("properties", "patternProperties")


@dataclass(frozen=True)
class Constraint:
    """A parsed Constraint.

    Attributes:
        kind: the constraint kind (a ConstraintTemplate's ``names.kind``).
        name: ``metadata.name``.
        match: parsed ``spec.match``.
        parameters: ``spec.parameters`` (``{}`` when absent).
        enforcement_action: ``deny``, ``dryrun``, ``warn`` or ``scoped``.
        scoped_actions: for ``scoped``: ``((action, (enforcement point, ...)), ...)``.
    """

    kind: str
    name: str
    match: Match
    parameters: Mapping[str, Any]
    enforcement_action: str
    location: Location
    scoped_actions: tuple[tuple[str, tuple[str, ...]], ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def id(self) -> str:
        """The policy id: ``<Kind>/<name>``."""
        return f"{self.kind}/{self.name}"

    def action_for(self, enforcement_point: str) -> str | None:
        """The action at ``enforcement_point`` (``validation.gatekeeper.sh``...);
        ``None`` when a scoped constraint does not act there."""
        if self.enforcement_action != "scoped":
            return self.enforcement_action
        actions = [a for a, points in self.scoped_actions if "*" in points or enforcement_point in points]
        if not actions:
            return None
        return max(actions, key=lambda a: _SEVERITY[a])


#: The fields of a Constraint's ``spec`` (Gatekeeper's constraint CRD schema,
#: https://open-policy-agent.github.io/gatekeeper/website/docs/howto#constraints).
SPEC_FIELDS = frozenset({"match", "parameters", "enforcementAction", "scopedEnforcementActions"})


def constraint_from_object(obj: Mapping[str, Any], location: Location) -> Constraint:
    """Parses a Constraint object (structure only; parameters are checked by
    :func:`validate_parameters` once the template is known).

    Raises:
        PolicyLoadError: ``invalid_constraint`` or ``invalid_match``.
    """
    group, _ = split_api_version(str(obj.get("apiVersion", "")))
    kind = str(obj.get("kind") or "")
    if group != CONSTRAINT_GROUP or not kind:
        raise PolicyLoadError(f"not a Constraint: {obj.get('apiVersion')}/{kind}", location, code="invalid_constraint")
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    assert isinstance(meta, dict)
    name = str(meta.get("name") or "")
    if not name:
        raise PolicyLoadError(f"{kind} constraint has no metadata.name", location, code="invalid_constraint")
    where = f"{kind}/{name}"
    spec = obj.get("spec") or {}
    if not isinstance(spec, dict):
        raise PolicyLoadError(f"constraint {where}: spec must be an object", location, code="invalid_constraint")
    check_fields(spec, SPEC_FIELDS, f"constraint {where}: spec", location, "invalid_constraint")
    match = Match.from_spec(spec.get("match"), f"constraint {where}: spec.match", location, "invalid_constraint")
    parameters = spec.get("parameters")
    if parameters is None:
        parameters = {}
    action = spec.get("enforcementAction") or "deny"
    scoped: list[tuple[str, tuple[str, ...]]] = []
    if action == "scoped":
        entries = spec.get("scopedEnforcementActions") or []
        if not isinstance(entries, list):
            raise PolicyLoadError(
                f"constraint {where}: scopedEnforcementActions must be a list", location, code="invalid_constraint"
            )
        for i, entry in enumerate(entries):
            a = entry.get("action") if isinstance(entry, dict) else None
            if a not in ENFORCEMENT_ACTIONS:
                raise PolicyLoadError(
                    f"constraint {where}: scopedEnforcementActions[{i}].action {a!r} must be one of "
                    f"{', '.join(ENFORCEMENT_ACTIONS)}",
                    location,
                    code="invalid_constraint",
                )
            listed = entry.get("enforcementPoints") or []
            if not isinstance(listed, list):
                raise PolicyLoadError(
                    f"constraint {where}: scopedEnforcementActions[{i}].enforcementPoints must be a list",
                    location,
                    code="invalid_constraint",
                )
            points = tuple(str(p.get("name")) for p in listed if isinstance(p, dict))
            scoped.append((a, points))
        if not scoped:
            raise PolicyLoadError(
                f"constraint {where}: enforcementAction scoped needs scopedEnforcementActions",
                location,
                code="invalid_constraint",
            )
    elif action not in ENFORCEMENT_ACTIONS:
        raise PolicyLoadError(
            f"constraint {where}: enforcementAction {action!r} must be one of "
            f"{', '.join((*ENFORCEMENT_ACTIONS, 'scoped'))}",
            location,
            code="invalid_constraint",
        )
    return Constraint(kind, name, match, parameters, action, location, tuple(scoped), raw=obj)


# ------------------------------------------------------------------ parameters


def _json_schema(schema: Any) -> Any:
    """OpenAPI v3 schema -> JSON Schema: ``nullable: true`` widens ``type``."""
    if isinstance(schema, list):
        return [_json_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _json_schema(v) for k, v in schema.items() if not k.startswith("x-kubernetes-")}
    if schema.get("nullable") and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    if schema.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    return out


def _prune(value: Any, schema: Any, path: str, pruned: list[str]) -> Any:
    if not isinstance(schema, dict) or schema.get("x-kubernetes-preserve-unknown-fields"):
        return value
    if isinstance(value, dict):
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        if props is None and extra is None:
            return value
        out = {}
        for key, item in value.items():
            if props is not None and key in props:
                out[key] = _prune(item, props[key], f"{path}.{key}", pruned)
            elif isinstance(extra, dict):
                out[key] = _prune(item, extra, f"{path}.{key}", pruned)
            elif extra is True:
                out[key] = item
            else:
                pruned.append(f"{path}.{key}")
        return out
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [_prune(item, schema["items"], f"{path}[{i}]", pruned) for i, item in enumerate(value)]
    return value


def _schema_problem(schema: Any) -> tuple[str, str] | None:
    """The first structural problem of an openAPIV3Schema: ``(path, problem)``."""
    stack: list[tuple[Any, str, int]] = [(schema, "openAPIV3Schema", 1)]
    while stack:
        node, path, depth = stack.pop()
        if not isinstance(node, Mapping):
            return path, f"must be a schema (a mapping), not {type(node).__name__}"
        if depth > MAX_SCHEMA_DEPTH:
            return path, f"nests more than {MAX_SCHEMA_DEPTH} schemas deep"
        for key in node:
            if not isinstance(key, str):
                return path, f"has a {type(key).__name__} key {key!r}; keywords are strings"
            if key in _FORBIDDEN_KEYWORDS:
                return f"{path}.{key}", "is not allowed in a Kubernetes schema"
        kind = node.get("type")
        if kind is not None and not (
            isinstance(kind, str) or (isinstance(kind, list) and all(isinstance(k, str) for k in kind))
        ):
            return f"{path}.type", "must be a string"
        for key in _SCHEMA_MAP_KEYWORDS:
            value = node.get(key)
            if value is None:
                continue
            if not isinstance(value, Mapping):
                return f"{path}.{key}", f"must be a mapping of names to schemas, not {type(value).__name__}"
            for name, sub in value.items():
                if not isinstance(name, str):
                    return f"{path}.{key}", f"has a {type(name).__name__} name {name!r}; names are strings"
                stack.append((sub, f"{path}.{key}.{name}", depth + 1))
        for key in _SCHEMA_KEYWORDS:
            value = node.get(key)
            if value is None or (isinstance(value, bool) and key in ("additionalProperties", "additionalItems")):
                continue
            if key == "items" and isinstance(value, list):
                stack.extend((sub, f"{path}.items[{i}]", depth + 1) for i, sub in enumerate(value))
                continue
            stack.append((value, f"{path}.{key}", depth + 1))
        for key in _SCHEMA_LIST_KEYWORDS:
            value = node.get(key)
            if value is None:
                continue
            if not isinstance(value, list):
                return f"{path}.{key}", f"must be a list of schemas, not {type(value).__name__}"
            stack.extend((sub, f"{path}.{key}[{i}]", depth + 1) for i, sub in enumerate(value))
    return None


def check_parameters_schema(
    schema: Any, *, owner: str, location: Location, code: str = "template_schema_invalid"
) -> None:
    """Checks that ``schema`` is an openAPIV3Schema kubegate can validate parameters with.

    Structure first (every subschema a mapping, ``properties`` a mapping of
    names to schemas, ``type`` a string, no ``$ref``/``$schema``/``definitions``
    -- Kubernetes refuses those -- at most :data:`MAX_SCHEMA_DEPTH` levels),
    then jsonschema's own meta-schema check (``SchemaError``).

    Raises:
        PolicyLoadError: ``code`` naming the offending keyword's path.
    """
    problem = _schema_problem(schema)
    if problem is not None:
        path, message = problem
        raise PolicyLoadError(
            f"{owner}: the parameters schema is invalid: {path} {message}", location, code=code, details={"path": path}
        )
    _validator(schema, owner=owner, location=location, code=code)


def _validator(
    schema: Mapping[str, Any], *, owner: str, location: Location, code: str
) -> jsonschema.protocols.Validator:
    js = _json_schema(dict(schema))
    try:
        validator_cls = jsonschema.validators.validator_for(js, default=jsonschema.Draft7Validator)
        validator_cls.check_schema(js)
        return validator_cls(js)
    except (jsonschema.SchemaError, jsonschema.exceptions.UnknownType) as exc:
        reason = exc.message if isinstance(exc, jsonschema.SchemaError) else str(exc)
        raise PolicyLoadError(
            f"{owner}: the parameters schema is invalid: {reason}",
            location,
            code=code,
        ) from None
    except RecursionError:
        raise PolicyLoadError(f"{owner}: the parameters schema nests too deeply", location, code=code) from None


def _field_path(error: jsonschema.ValidationError) -> str:
    out = "spec.parameters"
    for part in error.absolute_path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def validate_parameters(
    parameters: Any,
    schema: Mapping[str, Any] | None,
    *,
    owner: str,
    location: Location,
    code: str = "constraint_parameters_invalid",
    schema_code: str = "template_schema_invalid",
) -> tuple[dict[str, Any], list[str]]:
    """Checks parameters against an openAPIV3Schema.

    Args:
        parameters: the ``spec.parameters`` value.
        schema: the template's ``openAPIV3Schema`` (``None``: anything goes).
        owner: names the constraint or policy in messages (``constraint K8sFoo/bar``).
        location: where the owner is defined.
        code: error code to raise with.
        schema_code: error code for a malformed schema (see :func:`check_parameters_schema`).

    Returns:
        ``(parameters after pruning, pruned field paths)``.

    Raises:
        PolicyLoadError: with ``code``; the message names the owner and every
            failing field (``spec.parameters.repos[0]``); with ``schema_code``
            when the schema itself is malformed.
    """
    if not isinstance(parameters, dict):
        raise PolicyLoadError(f"{owner}: spec.parameters must be an object", location, code=code)
    params = copy.deepcopy(parameters)
    if schema is None:
        return params, []
    problem = _schema_problem(schema)
    if problem is not None:
        raise PolicyLoadError(
            f"{owner}: the parameters schema is invalid: {problem[0]} {problem[1]}",
            location,
            code=schema_code,
            details={"path": problem[0]},
        )
    pruned: list[str] = []
    params = _prune(params, schema, "spec.parameters", pruned)
    validator = _validator(schema, owner=owner, location=location, code=schema_code)
    try:
        errors = sorted(validator.iter_errors(params), key=lambda e: [str(p) for p in e.absolute_path])
    except RecursionError:
        raise PolicyLoadError(f"{owner}: the parameters nest too deeply to validate", location, code=code) from None
    if errors:
        problems = "; ".join(f"{_field_path(e)}: {e.message}" for e in errors)
        raise PolicyLoadError(
            f"{owner}: parameters do not match the schema: {problems}",
            location,
            code=code,
            details={"fields": [_field_path(e) for e in errors]},
        )
    return params, pruned
