"""Read policies from directories, files and in-memory objects.

Policy directories may hold Rego modules (``.rego``), DSL files (``.kgr``),
ConstraintTemplates and Constraints (``.yaml``, ``.yml``, ``.json``; several
per file), and CustomResourceDefinitions (their schemas check DSL rules on
custom resources). Directories are
walked recursively in sorted order. Nothing is skipped silently: a file that
cannot be read or parsed is an error, a Kubernetes object that is not a
policy (a ``kustomization.yaml``, a sample Pod) is a warning ``not_a_policy``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import replace
from importlib import resources
from typing import Any

from kubegate.cel.env import LATEST, KubernetesVersion
from kubegate.cel.env import kubernetes_version as parse_kubernetes_version
from kubegate.cel.library.authz_files import is_authorizer_document
from kubegate.dsl.compiler import DSL_SUFFIX, compile_source
from kubegate.dsl.schema import DEFAULT_KUBERNETES_VERSION, SchemaSet
from kubegate.errors import InputError, KubegateError, Location, PolicyLoadError, UsageError
from kubegate.policy.catalog import DslFile, PolicySources, RegoFile, is_test_file, test_file_notice
from kubegate.policy.cel_schema import policy_type_warnings
from kubegate.policy.cel_source import CelConstraintTemplate, cel_block, cel_constraint_template, engine_annotation
from kubegate.policy.constraint import CONSTRAINT_GROUP, constraint_from_object
from kubegate.policy.documents import YAML_SUFFIXES, iter_input_files, load_documents, locate_field, read_text
from kubegate.policy.expansion import (
    EXPANSION_GROUP,
    ExpansionTemplate,
    builtin_expansion_templates,
    expansion_template_from_object,
)
from kubegate.policy.kinds import kind_case_misses
from kubegate.policy.match import split_api_version
from kubegate.policy.resources import ResourceMapper
from kubegate.policy.template import TEMPLATE_GROUP, template_from_object
from kubegate.policy.vap import (
    ADMISSION_REGISTRATION_GROUP,
    BINDING_KIND,
    POLICY_KIND,
    PolicyBinding,
    binding_from_object,
    policy_from_object,
)
from kubegate.policy.vap_program import CompiledPolicy, compile_policy
from kubegate.yamlio import check_value

__all__ = [
    "POLICY_SUFFIXES",
    "LoaderCache",
    "builtin_expansion_sources",
    "builtin_sources",
    "compile_dsl_sources",
    "load_policy_objects",
    "load_policy_paths",
    "load_policy_texts",
    "read_policy_files",
]

POLICY_SUFFIXES = (".rego", DSL_SUFFIX, *YAML_SUFFIXES)
_CRD_GROUP = "apiextensions.k8s.io"
BUILTIN_PACKAGE = "kubegate.policy.library"


def _templates(obj: Mapping[str, Any], location: Location, lines: list[str], text: str, sources: _Collector) -> None:
    """A ConstraintTemplate's Rego and its K8sNativeValidation CEL, whichever it has.

    A CEL block that does not compile is an error when the template has no
    Rego or asks for CEL (``kubegate.io/engine: cel``), else a
    ``cel_code_not_loaded`` warning (the Rego still runs).
    """
    engine = engine_annotation(obj, location)
    cel_error: KubegateError | None = None
    try:
        cel = cel_constraint_template(obj, location, text, sources.cel_version)
    except KubegateError as exc:
        cel, cel_error = None, exc
    block = cel_block(obj)
    if block is not None and (not block[2] or engine == "cel"):  # CEL only, or CEL asked for
        if cel_error is not None:
            raise cel_error
        if cel is not None:
            sources.cel_templates.append(cel)
        return
    sources.templates.append(template_from_object(obj, location, lines))
    if cel is not None:
        sources.cel_templates.append(cel)
    elif cel_error is not None:
        sources.warnings.append(
            PolicyLoadError(
                f"{cel_error.message} (the template's Rego is used)",
                cel_error.location,
                code="cel_code_not_loaded",
            )
        )


def _object_sources(
    obj: Mapping[str, Any], location: Location, lines: list[str], sources: _Collector, text: str = ""
) -> None:
    group, _ = split_api_version(str(obj.get("apiVersion", "")))
    try:
        if group == TEMPLATE_GROUP and obj.get("kind") == "ConstraintTemplate":
            _templates(obj, location, lines, text, sources)
        elif group == CONSTRAINT_GROUP:
            constraint = constraint_from_object(obj, location)
            sources.constraints.append(constraint)
            written = [k for selector in constraint.match.kinds for k in selector.kinds]
            for kind, meant in kind_case_misses(written):
                sources.warnings.append(
                    PolicyLoadError(
                        f"constraint {constraint.id}: spec.match.kinds has {kind!r}, which matches nothing "
                        f"(kinds are case-sensitive; did you mean {meant}?)",
                        location,
                        code="kind_case_mismatch",
                    )
                )
        elif group == _CRD_GROUP and obj.get("kind") == "CustomResourceDefinition":
            sources.crds.append(obj)
        elif group == EXPANSION_GROUP and obj.get("kind") == "ExpansionTemplate":
            sources.expansions.append(expansion_template_from_object(obj, location))
        elif group == ADMISSION_REGISTRATION_GROUP and obj.get("kind") in (POLICY_KIND, BINDING_KIND):
            if obj.get("kind") == POLICY_KIND:
                policy = policy_from_object(obj, location)
                sources.vap_policies.append(compile_policy(policy, text, location.line, sources.cel_version))
            else:
                sources.vap_bindings.append(binding_from_object(obj, location))
        else:
            sources.warnings.append(
                PolicyLoadError(
                    f"{obj.get('apiVersion')}/{obj.get('kind')} is not a policy (expected a ConstraintTemplate, "
                    "a Constraint or an ExpansionTemplate); ignored",
                    location,
                    code="not_a_policy",
                )
            )
    except KubegateError as exc:
        sources.errors.append(exc)


class _Collector:
    def __init__(self, cel_version: KubernetesVersion = LATEST) -> None:
        self.cel_version = cel_version
        self.rego: list[RegoFile] = []
        self.templates: list[Any] = []
        self.constraints: list[Any] = []
        self.errors: list[KubegateError] = []
        self.warnings: list[KubegateError] = []
        self.dsl: list[DslFile] = []
        self.crds: list[Mapping[str, Any]] = []
        self.expansions: list[ExpansionTemplate] = []
        self.cel_templates: list[CelConstraintTemplate] = []
        self.vap_policies: list[CompiledPolicy] = []
        self.vap_bindings: list[PolicyBinding] = []
        self.authorizer_files: list[tuple[str, str]] = []

    def result(self) -> PolicySources:
        return PolicySources(
            tuple(self.rego),
            tuple(self.templates),
            tuple(self.constraints),
            tuple(self.errors),
            tuple(self.warnings),
            tuple(self.dsl),
            tuple(self.crds),
            tuple(self.expansions),
            tuple(self.cel_templates),
            tuple(self.vap_policies),
            tuple(self.vap_bindings),
            tuple(self.authorizer_files),
        )


def _file_sources(name: str, text: str, cel_version: KubernetesVersion = LATEST) -> PolicySources:
    """The policies in one file's text, by its suffix (``.rego``, ``.kgr``, YAML/JSON);
    CEL is compiled in the environment of Kubernetes ``cel_version``."""
    c = _Collector(cel_version)
    if name.endswith(".rego"):
        if is_test_file(name):
            c.warnings.append(test_file_notice(name))
        else:
            c.rego.append(RegoFile(name, text))
    elif name.endswith(DSL_SUFFIX):
        c.dsl.append(DslFile(name, text))
    else:
        try:
            docs = load_documents(text, name)
        except InputError as exc:
            c.errors.append(exc)
            return c.result()
        lines = text.splitlines()
        if any(is_authorizer_document(doc.obj) for doc in docs):
            c.authorizer_files.append((name, text))
        for doc in docs:
            if is_authorizer_document(doc.obj):
                continue
            before = len(c.errors)
            _object_sources(doc.obj, doc.location, lines, c, text)
            c.errors[before:] = [_at_field(e, text, name, doc.line) for e in c.errors[before:]]
    return c.result()


def _at_field(error: KubegateError, text: str, name: str, line: int) -> KubegateError:
    """Moves an error about one field (``details["path"]``) to where that field is written."""
    path = error.details.get("path")
    if not isinstance(path, list) or not line:
        return error
    located = locate_field(text, name, line, path)
    if located is None:
        return error
    details = {k: v for k, v in error.details.items() if k != "path"}
    return type(error)(error.message, located, code=error.code, details=details)


class LoaderCache:
    """Per-file results of :func:`load_policy_texts`, keyed by name, content and
    Kubernetes version; only the files of the latest call are kept."""

    def __init__(self) -> None:
        self._files: dict[tuple[str, str, KubernetesVersion], PolicySources] = {}

    def sources(self, files: Mapping[str, str], cel_version: KubernetesVersion = LATEST) -> list[PolicySources]:
        fresh: dict[tuple[str, str, KubernetesVersion], PolicySources] = {}
        out = []
        for name, text in files.items():
            key = (name, text, cel_version)
            found = self._files.get(key) or _file_sources(name, text, cel_version)
            fresh[key] = found
            out.append(found)
        self._files = fresh
        return out


def load_policy_texts(
    files: Mapping[str, str], cache: LoaderCache | None = None, kubernetes_version: str = DEFAULT_KUBERNETES_VERSION
) -> PolicySources:
    """Reads policies from file contents (``{name: text}``), in name order.

    Used for directories (:func:`load_policy_paths`) and for policy sets
    stored elsewhere (etcd). With ``cache``, unchanged files are not parsed again.
    CEL (ValidatingAdmissionPolicies, K8sNativeValidation) is compiled in the
    environment of ``kubernetes_version`` (``"1.34"``), as that API server would.

    Raises:
        UsageError: ``unknown_kubernetes_version``: not a version.
    """
    version = _cel_version(kubernetes_version)
    ordered = dict(sorted(files.items()))
    parts = (
        cache.sources(ordered, version)
        if cache is not None
        else [_file_sources(n, t, version) for n, t in ordered.items()]
    )
    result = PolicySources()
    for part in parts:
        result = result.merged(part)
    return result


def _cel_version(text: str) -> KubernetesVersion:
    try:
        return parse_kubernetes_version(text)
    except ValueError:
        raise UsageError(f"not a Kubernetes version: {text!r}", code="unknown_kubernetes_version") from None


def read_policy_files(paths: Iterable[str]) -> tuple[dict[str, str], list[KubegateError]]:
    """The text of every policy file under ``paths`` (files or directories, recursively,
    hidden entries skipped), and the errors of the ones that could not be read."""
    errors: list[KubegateError] = []
    texts: dict[str, str] = {}
    try:
        files = list(iter_input_files(paths, POLICY_SUFFIXES))
    except InputError as exc:
        return texts, [exc]
    for path in files:
        try:
            texts[path] = read_text(path)
        except InputError as exc:
            errors.append(exc)
    return texts, errors


def load_policy_paths(
    paths: Iterable[str], cache: LoaderCache | None = None, kubernetes_version: str = DEFAULT_KUBERNETES_VERSION
) -> PolicySources:
    """Reads every policy file under ``paths`` (files or directories), CEL for
    ``kubernetes_version`` (:func:`load_policy_texts`).

    Returns:
        The sources read, with errors and warnings collected (never raised).
    """
    texts, errors = read_policy_files(paths)
    sources = load_policy_texts(texts, cache, kubernetes_version)
    return replace(sources, errors=(*errors, *sources.errors)) if errors else sources


def load_policy_objects(
    objects: Iterable[Mapping[str, Any] | RegoFile | DslFile],
    source: str = "<memory>",
    kubernetes_version: str = DEFAULT_KUBERNETES_VERSION,
) -> PolicySources:
    """Reads in-memory policies: ConstraintTemplate/Constraint/CRD dicts, :class:`RegoFile` s
    and :class:`DslFile` s (CEL for ``kubernetes_version``, :func:`load_policy_texts`).

    Objects without a file are located as ``<memory>[i]``. Each object must be
    JSON data within the bounds of :func:`kubegate.yamlio.check_value` (else an
    ``invalid_unicode``, ``number_out_of_range``, ``document_too_deep`` or
    ``invalid_value`` error, and the object is not loaded).
    """
    c = _Collector(_cel_version(kubernetes_version))
    for i, obj in enumerate(objects):
        if isinstance(obj, RegoFile):
            c.rego.append(obj)
        elif isinstance(obj, DslFile):
            c.dsl.append(obj)
        elif isinstance(obj, Mapping):
            location = Location(f"{source}[{i}]")
            try:
                check_value(obj, location)  # what the YAML reader guarantees for files
            except InputError as exc:
                c.errors.append(exc)
                continue
            if is_authorizer_document(obj):  # read with the policy set's other authorizer documents
                c.authorizer_files.append((f"{source}[{i}]", json.dumps(obj)))
                continue
            _object_sources(obj, location, [], c)
        else:
            c.errors.append(
                PolicyLoadError(
                    f"{source}[{i}] is a {type(obj).__name__}; expected a mapping or a RegoFile",
                    Location(f"{source}[{i}]"),
                    code="invalid_policy_object",
                )
            )
    return c.result()


def builtin_sources() -> PolicySources:
    """The built-in compliance library shipped with kubegate (``kubegate/policy/library``)."""
    c = _Collector()
    root = resources.files(BUILTIN_PACKAGE)
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".rego") and not entry.name.endswith("_test.rego"):
            c.rego.append(RegoFile(f"builtin:{entry.name}", entry.read_text("utf-8")))
    return c.result()


def builtin_expansion_sources() -> PolicySources:
    """kubegate's built-in ExpansionTemplates (:func:`kubegate.policy.expansion.builtin_expansion_templates`)."""
    return PolicySources(expansions=builtin_expansion_templates())


def compile_dsl_sources(sources: PolicySources, kubernetes_version: str = DEFAULT_KUBERNETES_VERSION) -> PolicySources:
    """Compiles the DSL files of ``sources`` into Rego modules (one per rule), and
    type-checks ValidatingAdmissionPolicies' CEL against the schemas of the
    kinds they match (``cel_schema_warning`` warnings, as Kubernetes reports
    them in ``status.typeChecking``: :mod:`kubegate.policy.cel_schema`).

    Rules are checked against the kinds of ``kubernetes_version`` and the
    CustomResourceDefinitions among the sources; every DSL diagnostic becomes
    an error of the result, and rule ids must be unique across the files.

    Raises:
        UsageError: ``unknown_kubernetes_version``.
    """
    if not sources.dsl_files and not sources.vap_policies:
        return sources
    schemas = SchemaSet(kubernetes_version, sources.crds)
    mapper = ResourceMapper(sources.crds)
    warnings = [
        PolicyLoadError(w.message, w.location, code=w.code)
        for policy in sources.vap_policies
        for w in policy_type_warnings(policy, schemas, mapper)
    ]
    rego: list[RegoFile] = []
    errors: list[KubegateError] = []
    known: dict[str, Location | None] = {}
    for dsl in sources.dsl_files:
        result = compile_source(dsl.text, dsl.name, schemas, known)
        errors.extend(result.errors)
        for rule in result.rules:
            known.setdefault(rule.id, rule.location)
            rego.append(RegoFile(f"{dsl.name}#{rule.id}", rule.text, "v1"))
    return PolicySources(
        sources.rego_files + tuple(rego),
        sources.templates,
        sources.constraints,
        sources.errors + tuple(errors),
        sources.warnings + tuple(warnings),
        (),
        sources.crds,
        sources.expansions,
        sources.cel_templates,
        sources.vap_policies,
        sources.vap_bindings,
        sources.authorizer_files,
    )
