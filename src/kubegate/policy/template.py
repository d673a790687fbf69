"""Gatekeeper ConstraintTemplates (``templates.gatekeeper.sh`` v1, v1beta1, v1alpha1).

A template defines a constraint kind (``spec.crd.spec.names.kind``), the
schema of its parameters (``spec.crd.spec.validation.openAPIV3Schema``) and,
per target, the Rego that finds violations: either ``rego`` plus ``libs``, or
the newer multi-engine form ``code: [{engine: Rego, source: {rego, libs,
version}}]`` (https://open-policy-agent.github.io/gatekeeper/website/docs/constrainttemplates).
Templates whose only code is for another engine (CEL ``K8sNativeValidation``)
are reported as unsupported, not ignored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubegate.errors import Location, PolicyLoadError
from kubegate.policy.constraint import check_parameters_schema
from kubegate.policy.match import split_api_version
from kubegate.rego.ast import RegoVersion

__all__ = ["ADMISSION_TARGET", "TEMPLATE_GROUP", "ConstraintTemplate", "EmbeddedRego", "template_from_object"]

TEMPLATE_GROUP = "templates.gatekeeper.sh"
ADMISSION_TARGET = "admission.k8s.gatekeeper.sh"
_VERSIONS = ("v1", "v1beta1", "v1alpha1")


@dataclass(frozen=True)
class EmbeddedRego:
    """Rego text embedded in a YAML file, with where its first line sits.

    ``line_offset``/``column_offset`` turn a location inside the Rego text into
    one inside the YAML file (0 when unknown).
    """

    text: str
    file: str
    line_offset: int = 0
    column_offset: int = 0

    def locate(self, line: int, column: int, snippet: str | None = None) -> Location:
        return Location(self.file, line + self.line_offset, column + self.column_offset, snippet)


@dataclass(frozen=True)
class ConstraintTemplate:
    """A parsed ConstraintTemplate.

    Attributes:
        name: ``metadata.name`` (Gatekeeper requires the lowercase kind).
        kind: the constraint kind it defines.
        rego: the target's main module.
        libs: library modules (packages must start with ``lib.``).
        rego_version: ``"v1"`` when declared (``source.version``), else ``None``
            (detected by the parser).
        parameters_schema: ``openAPIV3Schema`` of ``spec.parameters`` or ``None``.
        location: where the template object starts.
    """

    name: str
    kind: str
    rego: EmbeddedRego
    libs: tuple[EmbeddedRego, ...]
    rego_version: RegoVersion | None
    parameters_schema: Mapping[str, Any] | None
    location: Location
    title: str = ""
    description: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


def _embedded(text: str, file: str, lines: Sequence[str], start_line: int) -> EmbeddedRego:
    """Finds where ``text`` (a YAML block scalar) starts in the file's lines."""
    code_lines = text.splitlines()
    first = next((i for i, ln in enumerate(code_lines) if ln.strip()), None)
    if first is None or not lines:
        return EmbeddedRego(text, file)
    target = code_lines[first].strip()
    for idx in range(max(start_line - 1, 0), len(lines)):
        if lines[idx].strip() == target:
            col = (
                len(lines[idx]) - len(lines[idx].lstrip()) - (len(code_lines[first]) - len(code_lines[first].lstrip()))
            )
            return EmbeddedRego(text, file, idx - first, max(col, 0))
    return EmbeddedRego(text, file)


def _err(message: str, location: Location, code: str = "invalid_template") -> PolicyLoadError:
    return PolicyLoadError(message, location, code=code)


def _libs(value: Any, name: str, location: Location) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _err(f"ConstraintTemplate {name}: libs must be a list of Rego modules", location)
    return list(value)


def template_from_object(obj: Mapping[str, Any], location: Location, lines: Sequence[str] = ()) -> ConstraintTemplate:
    """Parses a ConstraintTemplate object.

    Args:
        obj: the object as loaded from YAML/JSON.
        location: where it starts (file and line).
        lines: the file's lines, used to locate embedded Rego for error messages.

    Raises:
        PolicyLoadError: ``invalid_template`` for a malformed template,
            ``template_schema_invalid`` for a malformed ``openAPIV3Schema``,
            ``unsupported_engine`` when it has no Rego code for the admission target.
    """
    group, version = split_api_version(str(obj.get("apiVersion", "")))
    if group != TEMPLATE_GROUP or obj.get("kind") != "ConstraintTemplate":
        raise _err(f"not a ConstraintTemplate: {obj.get('apiVersion')}/{obj.get('kind')}", location)
    if version not in _VERSIONS:
        raise _err(f"unsupported ConstraintTemplate version {version!r}", location)
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    assert isinstance(meta, dict)
    name = str(meta.get("name") or "")
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        raise _err(f"ConstraintTemplate {name or '?'} has no spec", location)
    crd = spec.get("crd") or {}
    crd_spec = crd.get("spec") if isinstance(crd, dict) else None
    names = crd_spec.get("names") if isinstance(crd_spec, dict) else None
    kind = str(names.get("kind") or "") if isinstance(names, dict) else ""
    if not kind:
        raise _err(f"ConstraintTemplate {name or '?'} has no spec.crd.spec.names.kind", location)
    if not name:
        raise _err(f"ConstraintTemplate for kind {kind} has no metadata.name", location)
    if name != kind.lower():
        raise _err(
            f"ConstraintTemplate name {name!r} must be the lowercase of its kind {kind!r} ({kind.lower()!r})",
            location,
        )
    schema = None
    validation = crd_spec.get("validation") if isinstance(crd_spec, dict) else None
    if isinstance(validation, dict) and validation.get("openAPIV3Schema") is not None:
        schema = validation["openAPIV3Schema"]
        if not isinstance(schema, dict):
            raise _err(f"ConstraintTemplate {name}: openAPIV3Schema must be an object", location)
        check_parameters_schema(schema, owner=f"ConstraintTemplate {name}", location=location)

    targets = spec.get("targets")
    if not isinstance(targets, list) or not targets:
        raise _err(f"ConstraintTemplate {name} has no spec.targets", location)
    if len(targets) != 1:
        raise _err(f"ConstraintTemplate {name} must have exactly one target, has {len(targets)}", location)
    target = targets[0]
    if not isinstance(target, dict) or target.get("target") != ADMISSION_TARGET:
        got = target.get("target") if isinstance(target, dict) else target
        raise _err(f"ConstraintTemplate {name}: target {got!r} is not {ADMISSION_TARGET}", location)

    file = location.file
    start = location.line
    rego_text: str | None = None
    libs: list[Any] = []
    declared: RegoVersion | None = None
    engines: list[str] = []
    codes = target.get("code") or []
    if not isinstance(codes, list):
        raise _err(f"ConstraintTemplate {name}: code must be a list", location)
    for i, code in enumerate(codes):
        if not isinstance(code, dict):
            raise _err(f"ConstraintTemplate {name}: code[{i}] must be an object", location)
        engine = str(code.get("engine") or "")
        engines.append(engine)
        if engine != "Rego":
            continue
        source = code.get("source")
        if not isinstance(source, dict) or not isinstance(source.get("rego"), str):
            raise _err(f"ConstraintTemplate {name}: code[{i}] (Rego) needs source.rego", location)
        rego_text = source["rego"]
        libs = _libs(source.get("libs"), name, location)
        src_version = source.get("version")
        if src_version not in (None, "v0", "v1"):
            raise _err(f"ConstraintTemplate {name}: source.version {src_version!r} must be v0 or v1", location)
        declared = src_version
    if rego_text is None and isinstance(target.get("rego"), str):
        rego_text = target["rego"]
        libs = _libs(target.get("libs"), name, location)
    if rego_text is None:
        if engines:
            raise _err(
                f"ConstraintTemplate {name} has no Rego code (engines: {', '.join(engines)}); "
                "kubegate evaluates Rego only",
                location,
                code="unsupported_engine",
            )
        raise _err(f"ConstraintTemplate {name} has no rego in its target", location)
    for i, lib in enumerate(libs):
        if not isinstance(lib, str):
            raise _err(f"ConstraintTemplate {name}: libs[{i}] must be a string", location)

    annotations = meta.get("annotations") if isinstance(meta.get("annotations"), dict) else {}
    assert isinstance(annotations, dict)
    return ConstraintTemplate(
        name=name,
        kind=kind,
        rego=_embedded(rego_text, file, lines, start),
        libs=tuple(_embedded(lib, file, lines, start) for lib in libs),
        rego_version=declared,
        parameters_schema=schema,
        location=location,
        title=str(annotations.get("metadata.gatekeeper.sh/title", "")),
        description=str(annotations.get("description", "")),
        raw=obj,
    )
