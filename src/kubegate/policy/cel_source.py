"""Gatekeeper's ``K8sNativeValidation`` template source: a ConstraintTemplate's CEL, compiled.

A template's ``code: [{engine: K8sNativeValidation, source: {variables,
validations, matchConditions, failurePolicy}}]`` is compiled as Gatekeeper's
``pkg/drivers/k8scel`` does (docs/cel-notes.md §6):

* the variables ``anyObject`` (``oldObject`` for a DELETE, else ``object``) and
  ``params`` (the constraint's ``spec.parameters``, or null) come first, then
  the template's own, in order; a variable named ``params`` or ``anyObject``,
  or prefixed ``gatekeeper_internal_``, is an error (as are match conditions
  with that prefix);
* ``failurePolicy`` is ``Fail`` (the default) or ``Ignore``.

Evaluation is :class:`kubegate.policy.cel_template.CelTemplate`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kubegate.cel.env import LATEST, KubernetesVersion
from kubegate.cel.program import CelProgram, EmbeddedCel, compile_expression
from kubegate.errors import Location, PolicyLoadError
from kubegate.policy.cel_template import VARIABLES, CelTemplate, CelValidation, accelerated
from kubegate.policy.documents import locate_value
from kubegate.policy.units import sha256_json

__all__ = [
    "CEL_ENGINE",
    "ENGINE_ANNOTATION",
    "CelConstraintTemplate",
    "Locator",
    "cel_block",
    "cel_constraint_template",
    "cel_template_from_source",
    "embedded_in_yaml",
    "engine_annotation",
    "plain_locator",
]

CEL_ENGINE = "K8sNativeValidation"
ENGINE_ANNOTATION = "kubegate.io/engine"
"""ConstraintTemplate annotation choosing the code kubegate runs when it has
both engines: ``rego`` or ``cel`` (kubegate's own; Gatekeeper chooses per
installation)."""
_GATEKEEPER_VARIABLES = (
    ("anyObject", 'has(request.operation) && request.operation == "DELETE" && object == null ? oldObject : object'),
    ("params", "!has(params.spec) ? null : !has(params.spec.parameters) ? null : params.spec.parameters"),
)
_RESERVED_PREFIX = "gatekeeper_internal_"
Locator = Callable[[str, list[str | int]], EmbeddedCel]
"""Given an expression's text and its path under ``source``, where it is written."""


def _entries(source: Mapping[str, Any], key: str, where: str, location: Location | None) -> list[Mapping[str, Any]]:
    value = source.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise PolicyLoadError(f"{where}: source.{key} must be a list of objects", location, code="invalid_template")
    return list(value)


def cel_template_from_source(
    source: Any,
    kind: str,
    locate: Locator,
    location: Location | None = None,
    version: KubernetesVersion = LATEST,
) -> CelTemplate:
    """Compiles a K8sNativeValidation ``source``.

    Args:
        source: the ``code[].source`` object.
        kind: the template's constraint kind (for messages).
        locate: where each expression is written (``(text, path)`` ->
            :class:`EmbeddedCel`), so errors name file:line:col.
        location: the template's location, for structural errors.
        version: the Kubernetes version whose CEL environment compiles it.

    Raises:
        PolicyLoadError: ``invalid_template`` (a malformed source, a reserved
            variable name, a validation without ``expression``).
        CelError: ``cel_parse_error`` / ``cel_type_error`` for an expression.
    """
    where = f"ConstraintTemplate for {kind} (K8sNativeValidation)"
    if not isinstance(source, Mapping):
        raise PolicyLoadError(f"{where}: source must be an object", location, code="invalid_template")

    def program(text: Any, path: list[str | int]) -> CelProgram:
        if not isinstance(text, str) or not text.strip():
            dotted = ".".join(str(p) for p in path)
            raise PolicyLoadError(f"{where}: {dotted} must be a CEL expression", location, code="invalid_template")
        return compile_expression(locate(text, path), VARIABLES, version)

    def gatekeeper(name: str, text: str) -> tuple[str, CelProgram]:
        return name, compile_expression(EmbeddedCel(text, f"Gatekeeper's variables.{name}"), VARIABLES, version)

    variables = [gatekeeper(n, t) for n, t in _GATEKEEPER_VARIABLES]
    for i, entry in enumerate(_entries(source, "variables", where, location)):
        name = entry.get("name")
        if not isinstance(name, str) or not name:
            raise PolicyLoadError(f"{where}: variables[{i}] needs a name", location, code="invalid_template")
        if name in ("params", "anyObject") or name.startswith(_RESERVED_PREFIX):
            raise PolicyLoadError(
                f"{where}: variable name {name!r} is reserved by Gatekeeper", location, code="invalid_template"
            )
        variables.append((name, program(entry.get("expression"), ["variables", i, "expression"])))
    validations = []
    for i, entry in enumerate(_entries(source, "validations", where, location)):
        message_expression = entry.get("messageExpression")
        validations.append(
            CelValidation(
                program(entry.get("expression"), ["validations", i, "expression"]),
                str(entry.get("message") or ""),
                program(message_expression, ["validations", i, "messageExpression"])
                if message_expression is not None
                else None,
            )
        )
    conditions = []
    for i, entry in enumerate(_entries(source, "matchConditions", where, location)):
        name = str(entry.get("name") or f"matchConditions[{i}]")
        if name.startswith(_RESERVED_PREFIX):
            raise PolicyLoadError(
                f"{where}: match condition {name!r} is reserved by Gatekeeper", location, code="invalid_template"
            )
        conditions.append((name, program(entry.get("expression"), ["matchConditions", i, "expression"])))
    policy = source.get("failurePolicy", "Fail")
    if policy not in ("Fail", "Ignore"):
        raise PolicyLoadError(
            f"{where}: failurePolicy {policy!r} is not Fail or Ignore", location, code="invalid_template"
        )
    return accelerated(
        VARIABLES, CelTemplate(kind, tuple(variables), tuple(validations), tuple(conditions), str(policy))
    )


def plain_locator(file: str = "") -> Locator:
    """A locator for sources with no YAML positions (in-memory objects)."""

    def locate(text: str, path: Sequence[str | int]) -> EmbeddedCel:
        return EmbeddedCel(text, "source." + ".".join(str(p) for p in path), file)

    return locate


@dataclass(frozen=True)
class CelConstraintTemplate:
    """A ConstraintTemplate's K8sNativeValidation code, compiled.

    Attributes:
        name, kind: the template's name and constraint kind.
        template: the compiled CEL.
        has_rego: the template also has Rego code (which runs unless the CEL
            engine is chosen, as in Gatekeeper).
        parameters_schema: ``openAPIV3Schema`` of the constraint parameters.
        version: sha256 of the CEL source, for policy versions.
        location: where the template starts.
        engine: the template's :data:`ENGINE_ANNOTATION` (``rego`` or
            ``cel``), which overrides ``--engine`` for it; ``""`` when absent.
    """

    name: str
    kind: str
    template: CelTemplate
    has_rego: bool
    parameters_schema: Mapping[str, Any] | None
    version: str
    location: Location | None = None
    engine: str = ""


def embedded_in_yaml(
    expression: str, where: str, text: str, file: str, line: int, path: Sequence[str | int]
) -> EmbeddedCel:
    """``expression`` as written at ``path`` of the YAML document starting at ``line``
    of ``text`` (the object's start when the scalar cannot be found)."""
    pos = locate_value(text, file, line, path) if text and line else None
    if pos is None:
        return EmbeddedCel(expression, where, file, line, 1 if line else 0)
    return EmbeddedCel(expression, where, file, pos.line, pos.column, pos.style, pos.indent)


def cel_block(obj: Mapping[str, Any]) -> tuple[int, Any, bool] | None:
    """``(index, source, has_rego)`` of a ConstraintTemplate's K8sNativeValidation
    code (``spec.targets[0].code[index]``), or ``None`` when it has none."""
    spec = obj.get("spec")
    targets = spec.get("targets") if isinstance(spec, Mapping) else None
    target = targets[0] if isinstance(targets, list) and targets and isinstance(targets[0], Mapping) else {}
    raw_codes = target.get("code")
    codes: list[Any] = raw_codes if isinstance(raw_codes, list) else []
    has_rego = isinstance(target.get("rego"), str) or any(
        isinstance(c, Mapping) and c.get("engine") == "Rego" for c in codes
    )
    for i, code in enumerate(codes):
        if isinstance(code, Mapping) and code.get("engine") == CEL_ENGINE:
            return i, code.get("source"), has_rego
    return None


def engine_annotation(obj: Mapping[str, Any], location: Location | None) -> str:
    """A ConstraintTemplate's :data:`ENGINE_ANNOTATION`: ``rego``, ``cel`` or ``""``.

    Raises:
        PolicyLoadError: ``invalid_template``: another value.
    """
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), Mapping) else {}
    annotations = (meta or {}).get("annotations")
    engine = annotations.get(ENGINE_ANNOTATION, "") if isinstance(annotations, Mapping) else ""
    if engine not in ("", "rego", "cel"):
        name = (meta or {}).get("name", "")
        raise PolicyLoadError(
            f"ConstraintTemplate {name}: annotation {ENGINE_ANNOTATION} is {engine!r}; expected rego or cel",
            location,
            code="invalid_template",
        )
    return str(engine)


def cel_constraint_template(
    obj: Mapping[str, Any], location: Location | None, text: str = "", version: KubernetesVersion = LATEST
) -> CelConstraintTemplate | None:
    """The compiled CEL of a ConstraintTemplate object, or ``None`` when it has no
    K8sNativeValidation code. ``text`` (the YAML file) locates expression errors;
    ``version`` is the Kubernetes version whose CEL environment compiles it.

    Raises:
        PolicyLoadError: ``invalid_template`` (also for an :data:`ENGINE_ANNOTATION`
            other than ``rego``/``cel``).
        CelError: ``cel_parse_error`` / ``cel_type_error``.
    """
    block = cel_block(obj)
    if block is None:
        return None
    index, source, has_rego = block
    spec = obj.get("spec") if isinstance(obj.get("spec"), Mapping) else {}
    crd = (spec or {}).get("crd") or {}
    crd_spec = crd.get("spec") if isinstance(crd, Mapping) else {}
    names = (crd_spec or {}).get("names") or {}
    kind = str(names.get("kind") or "") if isinstance(names, Mapping) else ""
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), Mapping) else {}
    name = str((meta or {}).get("name") or kind.lower())
    validation = (crd_spec or {}).get("validation") if isinstance(crd_spec, Mapping) else None
    schema = validation.get("openAPIV3Schema") if isinstance(validation, Mapping) else None
    base: list[str | int] = ["spec", "targets", 0, "code", index, "source"]
    file = location.file if location is not None else ""
    start = location.line if location is not None else 0

    def locate(expression: str, path: list[str | int]) -> EmbeddedCel:
        where = ".".join(str(p) for p in ["source", *path])
        return embedded_in_yaml(expression, where, text, file, start, [*base, *path])

    engine = engine_annotation(obj, location)
    template = cel_template_from_source(source, kind, locate, location, version)
    return CelConstraintTemplate(
        name,
        kind,
        template,
        has_rego,
        schema if isinstance(schema, Mapping) else None,
        sha256_json(source),
        location,
        str(engine),
    )
