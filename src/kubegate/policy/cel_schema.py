"""Schema type checking of CEL expressions, reported as warnings as Kubernetes does.

Kubernetes type-checks a ValidatingAdmissionPolicy's expressions against the
schemas of the kinds its ``matchConstraints`` name and reports what it finds as
*warnings* (``status.typeChecking.expressionWarnings``; k8s.io/apiserver
``pkg/admission/plugin/policy/validating/typechecking.go``); the policy is still
evaluated on unstructured objects. kubegate does the same: :func:`type_warnings`
compiles an expression in a *check* environment where ``object`` and
``oldObject`` have the kind's message type (:mod:`kubegate.policy.cel_descriptors`),
and reports the errors the dynamic environment the expression runs in does not
give. The check environment is never used to evaluate.

As in ``typechecking.go``: kinds are checked in group, version, kind order, at
most :data:`MAX_KINDS` of them; a kind without a schema is skipped; each finding
names the kind the way Go prints a ``GroupVersionKind``
(``apps/v1, Kind=Deployment: ERROR: <input>:1:12: undefined field 'replica' ...``).

Not reported, because Kubernetes accepts them: an ordering comparison of an int
with a double (``CrossTypeNumericComparisons``, Kubernetes 1.28+), which cel-cpp's
checker refuses; and errors that only follow from an earlier one (an operand of
type ``*error*``). The extensions and libraries of the check environment are
those of :func:`kubegate.cel.env.environment`, so the two agree on everything
but the variables' types; its descriptor pool is the kind's own
(:mod:`kubegate.policy.cel_descriptors`), holding beside the kind's messages
the well-known types and :mod:`kubegate.cel.carriers`' messages. Less is
checked than in Kubernetes: ``request``, ``namespaceObject``, ``params``,
``authorizer`` and ``variables`` stay ``dyn`` (Kubernetes types them), and a
custom resource is checked at the one version :class:`SchemaSet` keeps for it.

Cost (measured on the shared 2-core VM): a built-in kind's descriptors are
built once per Kubernetes version and kind, a CRD's once per schema content
(Pod: 126 messages in 5 ms; its check environment and first compile 2 ms
more); then checking an expression takes 0.06-0.15 ms per kind at p50 (0.17-0.33
ms at p99), the dynamic compile it is compared with included.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cel_expr_python import cel
from google.protobuf import descriptor_pb2, descriptor_pool, duration_pb2, struct_pb2, timestamp_pb2

from kubegate.cel import carriers
from kubegate.cel.env import EXTENSIONS_YAML, checking_extensions, environment
from kubegate.cel.program import EmbeddedCel
from kubegate.dsl.schema import KindInfo, SchemaSet
from kubegate.errors import Location
from kubegate.policy.cel_descriptors import builtin, file_descriptor
from kubegate.policy.cel_template import VARIABLES
from kubegate.policy.resources import ResourceMapper
from kubegate.policy.vap_match import MatchResources
from kubegate.policy.vap_program import CompiledPolicy

__all__ = [
    "MAX_KINDS",
    "TYPED_VARIABLES",
    "CelWarning",
    "KindDescriptor",
    "kind_descriptor",
    "matched_kinds",
    "policy_type_warnings",
    "type_warnings",
]

MAX_KINDS = 10
"""The most kinds one expression is checked against (``maxTypesToCheck`` in typechecking.go)."""

TYPED_VARIABLES = ("object", "oldObject")
"""The variables declared with the kind's type; the others stay ``dyn``."""

_ERROR = re.compile(r"<input>:(\d+):(\d+): ([^\n]*)")
_NUMERIC = r"(?:int|uint|double)"
_CROSS_NUMERIC = re.compile(rf"no matching overload for '_(?:<|<=|>|>=)_' applied to '\(({_NUMERIC}), ({_NUMERIC})\)'")
_CACHE_SIZE = 256  # descriptors, and check environments (least recently used dropped)


@dataclass(frozen=True)
class CelWarning:
    """A schema type-check finding (a warning: the expression still runs).

    Attributes:
        message: Kubernetes' wording, ``<gvk>: ERROR: <input>:L:C: <checker message>``.
        location: where in the YAML file the finding points, when known.
        kind: the kind checked against, as Go prints a GroupVersionKind.
        where: the expression's field (``spec.validations[0].expression``).
        code: always ``cel_schema_warning``.
    """

    message: str
    location: Location | None
    kind: str
    where: str
    code: str = "cel_schema_warning"

    def __str__(self) -> str:
        head = f"{self.location}: " if self.location is not None else ""
        return f"{head}{self.code}: {self.where}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        """JSON form: ``{"code", "message", "kind", "where", "location"?}``."""
        out: dict[str, Any] = {"code": self.code, "message": self.message, "kind": self.kind, "where": self.where}
        if self.location is not None:
            out["location"] = self.location.to_dict()
        return out


@dataclass(frozen=True, eq=False)
class KindDescriptor:
    """A kind's generated message type and the descriptor pool holding it.

    Attributes:
        kind, group, version: the kind (``Deployment``, ``apps``, ``v1``).
        type_name: the root message (``kgschema.Deployment``), the type of ``object``.
        pool: the kind's file, the well-known types and the carriers' messages.
        key: what the descriptor was built from (Kubernetes version, group,
            version, kind, and a CRD schema's sha256), for caches.
    """

    kind: str
    group: str
    version: str
    type_name: str
    pool: Any
    key: tuple[str, ...]

    def gvk(self) -> str:
        """The kind as Go's ``GroupVersionKind.String()`` writes it (``apps/v1, Kind=Deployment``)."""
        return f"{self.group}/{self.version}, Kind={self.kind}"


def type_warnings(
    expression: EmbeddedCel, kinds: Sequence[str], schemas: SchemaSet, variables: Sequence[str]
) -> list[CelWarning]:
    """The schema type-check warnings of ``expression`` for each of ``kinds``.

    Args:
        expression: the expression and where it is written.
        kinds: kind names the policy matches (a VAP's matchConstraints, a
            constraint's match kinds); unknown kinds are skipped.
        schemas: the schemas of the Kubernetes version and the CRDs.
        variables: the variables the expression is compiled with (as for
            :func:`kubegate.cel.program.compile_expression`); ``object`` and
            ``oldObject`` among them are typed, the others ``dyn``.

    Returns:
        One warning per checker error and kind, in kind order (group, version,
        kind), then position; empty when the expression does not parse (that is
        a compile error, reported by the compile) or declares neither typed variable.
    """
    names = tuple(sorted(set(variables)))
    if not any(name in names for name in TYPED_VARIABLES):
        return []
    dynamic = _errors(environment(names), expression.text)
    if any(message.startswith("Syntax error") for _, _, message in dynamic):
        return []
    seen = {(line, column) for line, column, _ in dynamic}
    cross_numeric = _at_least(schemas.version, (1, 28))
    found: list[CelWarning] = []
    for descriptor in _descriptors(kinds, schemas):
        for line, column, message in _errors(_check_env(descriptor, names), expression.text):
            if (line, column) in seen or "'*error*'" in message:
                continue
            if cross_numeric and _mixed_numbers(message):
                continue
            found.append(
                CelWarning(
                    f"{descriptor.gvk()}: ERROR: <input>:{line}:{column}: {message}",
                    expression.locate(line, column),
                    descriptor.gvk(),
                    expression.where,
                )
            )
    return found


def _descriptors(kinds: Sequence[str], schemas: SchemaSet) -> list[KindDescriptor]:
    found = {d.gvk(): d for d in (kind_descriptor(schemas, k) for k in dict.fromkeys(kinds)) if d is not None}
    ordered = sorted(found.values(), key=lambda d: (d.group, d.version, d.kind))
    return ordered[:MAX_KINDS]


def _errors(env: Any, text: str) -> list[tuple[int, int, str]]:
    """The ``(line, column, message)`` of every error compiling ``text`` in ``env``."""
    try:
        env.compile(text)
    except RuntimeError as exc:
        return [(int(line), int(column), message.strip()) for line, column, message in _ERROR.findall(str(exc))]
    return []


def _mixed_numbers(message: str) -> bool:
    match = _CROSS_NUMERIC.search(message)
    return match is not None and match.group(1) != match.group(2)


def _at_least(version: str, wanted: tuple[int, ...]) -> bool:
    return tuple(int(part) for part in version.split(".")[:2]) >= wanted


def _base_files() -> tuple[Any, ...]:
    """The files every kind's pool holds: the well-known types and the carriers' files."""
    files = [descriptor_pb2.FileDescriptorProto.FromString(m.DESCRIPTOR.serialized_pb) for m in _WELL_KNOWN]
    for name in dict.fromkeys(carriers.POOL.FindMessageTypeByName(t).file.name for t in carriers.CARRIER_TYPES):
        proto = descriptor_pb2.FileDescriptorProto()
        carriers.POOL.FindFileByName(name).CopyToProto(proto)
        files.append(proto)
    return tuple(files)


_WELL_KNOWN = (struct_pb2, timestamp_pb2, duration_pb2)
_BASE = _base_files()
_LOCK = threading.Lock()
_DESCRIPTORS: OrderedDict[tuple[str, ...], KindDescriptor | None] = OrderedDict()
_PER_SET: weakref.WeakKeyDictionary[SchemaSet, dict[str, KindDescriptor | None]] = weakref.WeakKeyDictionary()
_ENVS: OrderedDict[tuple[tuple[str, ...], tuple[str, ...]], Any] = OrderedDict()


def kind_descriptor(schemas: SchemaSet, kind: str) -> KindDescriptor | None:
    """The message type of ``kind`` in ``schemas``; ``None`` for a kind it does not
    know (or whose schema protobuf refuses). Cached per schema set, and across
    sets per Kubernetes version and kind (a CRD's: per schema content); thread-safe."""
    with _LOCK:
        per_set = _PER_SET.setdefault(schemas, {})
        if kind in per_set:
            return per_set[kind]
    info = schemas.kind(kind)
    found = None
    if info is not None:
        key = _key(schemas, info)
        with _LOCK:
            cached = key in _DESCRIPTORS
            if cached:
                _DESCRIPTORS.move_to_end(key)
                found = _DESCRIPTORS[key]
        if not cached:
            found = _build(schemas, info, key)
            with _LOCK:
                _remember(_DESCRIPTORS, key, found)
    with _LOCK:
        per_set[kind] = found
    return found


def _key(schemas: SchemaSet, info: KindInfo) -> tuple[str, ...]:
    key = (schemas.version, info.group, info.version, info.kind)
    if builtin(schemas, info):
        return key
    return (*key, hashlib.sha256(json.dumps(info.type.node, sort_keys=True, default=str).encode()).hexdigest())


def _build(schemas: SchemaSet, info: KindInfo, key: tuple[str, ...]) -> KindDescriptor | None:
    file, root = file_descriptor(schemas, info, [f.name for f in _BASE])
    pool = descriptor_pool.DescriptorPool()
    try:
        for proto in (*_BASE, file):
            pool.Add(proto)
    except TypeError:  # root properties whose JSON names clash (a_b, aB): protobuf refuses the file
        return None
    return KindDescriptor(info.kind, info.group, info.version, root, pool, key)


def _remember(cache: OrderedDict[Any, Any], key: Any, value: Any) -> None:
    """Stores ``value``, dropping the least recently used entries beyond :data:`_CACHE_SIZE`."""
    cache[key] = value
    while len(cache) > _CACHE_SIZE:
        cache.popitem(last=False)


def _check_env(descriptor: KindDescriptor, variables: tuple[str, ...]) -> Any:
    """The check environment of ``descriptor``'s kind declaring ``variables``, cached."""
    key = (descriptor.key, variables)
    with _LOCK:
        env = _ENVS.get(key)
        if env is not None:
            _ENVS.move_to_end(key)
            return env
    typed = cel.Type(descriptor.type_name)
    env = cel.NewEnv(
        config=cel.NewEnvConfigFromYaml(EXTENSIONS_YAML),
        variables={name: typed if name in TYPED_VARIABLES else cel.Type.DYN for name in variables},
        extensions=checking_extensions(),
        descriptor_pool=descriptor.pool,
    )
    with _LOCK:
        _remember(_ENVS, key, env)
    return env


def matched_kinds(match: MatchResources, schemas: SchemaSet, mapper: ResourceMapper) -> list[str]:
    """The kinds ``matchConstraints`` names by API group and resource (wildcards
    and subresources name none, as in typechecking.go, which checks only what
    it can resolve)."""
    wanted = {
        (group, resource)
        for rule in match.resource_rules
        for group in rule.api_groups
        for resource in rule.resources
        if group != "*" and resource != "*" and "/" not in resource
    }
    found = []
    for name in schemas.kind_names():
        info = schemas.kind(name)
        if info is not None and (info.group, mapper.resource(info.group, name).resource) in wanted:
            found.append(name)
    return found


def policy_type_warnings(compiled: CompiledPolicy, schemas: SchemaSet, mapper: ResourceMapper) -> list[CelWarning]:
    """The schema warnings of every expression of a ValidatingAdmissionPolicy
    (variables, validations and their messageExpressions, matchConditions,
    auditAnnotations), against the kinds its ``matchConstraints`` name."""
    kinds = matched_kinds(compiled.policy.match_constraints, schemas, mapper)
    if not kinds:
        return []
    template = compiled.template
    programs = [p for _, p in template.variables]
    for validation in template.validations:
        programs.append(validation.program)
        if validation.message_program is not None:
            programs.append(validation.message_program)
    programs.extend(p for _, p in template.match_conditions)
    programs.extend(p for _, p in template.audit_annotations)
    return [w for p in programs for w in type_warnings(p.source, kinds, schemas, VARIABLES)]
