"""Assemble loaded policy sources into a catalog: policies plus normalised modules.

This is the backend-independent half of "compile once": Rego is parsed,
Gatekeeper templates are isolated under ``kubegate.templates.<Kind>``,
everything is normalised and printed as Rego v1, constraints are checked
against their templates, and each policy gets its version. One broken unit
never stops the others: its error is recorded and the rest is kept.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from kubegate.cel.library.authz_config import DEFAULT_CONFIG
from kubegate.cel.library.authz_files import read_authorizer_files
from kubegate.errors import KubegateError, Location, PolicyLoadError, RegoCompileError, RegoParseError
from kubegate.policy.cel_source import CelConstraintTemplate
from kubegate.policy.conftest import has_exception_rule
from kubegate.policy.constraint import Constraint, validate_parameters
from kubegate.policy.expansion import ExpansionSystem, ExpansionTemplate
from kubegate.policy.match import Match
from kubegate.policy.rego_policy import merge_parameters, package_info
from kubegate.policy.rollout import parse_rollout
from kubegate.policy.template import ConstraintTemplate, EmbeddedRego
from kubegate.policy.units import Policy, PolicyModule, sha256_json, sha256_text
from kubegate.policy.vap import PolicyBinding
from kubegate.policy.vap_program import CompiledPolicy, enforcement_of
from kubegate.rego import ast
from kubegate.rego.check import check_negation_safety
from kubegate.rego.normalize import normalize_module
from kubegate.rego.parser import parse_module
from kubegate.rego.printer import PrintedModule, print_module
from kubegate.rego.rewrite import rebase_module
from kubegate.yamlio import find_surrogate

__all__ = [
    "MAX_REGO_NESTING",
    "TEMPLATE_PACKAGE_ROOT",
    "Catalog",
    "CatalogCache",
    "PolicySources",
    "RegoFile",
    "build_catalog",
    "is_test_file",
    "is_test_module",
    "test_file_notice",
]

TEMPLATE_PACKAGE_ROOT = ("kubegate", "templates")
_RESERVED_ROOT = "kubegate"
BUILTIN_PREFIX = "builtin:"
# A constraint's rollout ("canary 10%", "canary 10% by namespace", "shadow"): kubegate.lifecycle.rollout.
ROLLOUT_ANNOTATION = "kubegate.io/rollout"

MAX_REGO_NESTING = 100
"""Deepest nesting of brackets (``[`` ``{`` ``(``) in a Rego module. Hand-written
Rego nests fewer than 15 levels; the parser, normaliser and printer recurse per
level, and the limit keeps them far from Python's recursion limit."""

_REGO_TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|`[^`]*`|#[^\n]*|[\[\]{}()]')


def is_test_module(module: ast.Module) -> bool:
    """Whether a module holds OPA unit tests only: every rule is ``test_*`` or
    ``todo_*`` (the file name decides first: see :func:`is_test_file`)."""
    names = [r.head.name for r in module.rules]
    return bool(names) and all(n.startswith(("test_", "todo_")) for n in names)


def is_test_file(name: str) -> bool:
    """Whether a file name marks OPA unit tests (``*_test.rego``, as ``opa test`` finds them)."""
    return name.endswith("_test.rego")


def test_file_notice(name: str, location: Location | None = None) -> KubegateError:
    """The warning a policy load reports for a test file it does not load as a policy."""
    return KubegateError(
        f"{name} holds Rego unit tests: not loaded as a policy (run it with kubegate test)",
        location or Location(name),
        code="rego_test_file",
    )


def _loc_at(text: str, offset: int, file: str) -> Location:
    line = text.count("\n", 0, offset) + 1
    start = text.rfind("\n", 0, offset) + 1
    lines = text.splitlines()
    return Location(file, line, offset - start + 1, lines[line - 1] if line <= len(lines) else None)


def _parse_rego(text: str, name: str, version: ast.RegoVersion | None) -> ast.Module:
    """:func:`parse_module` after the checks that keep later stages safe.

    Raises:
        RegoParseError: ``invalid_unicode`` (a lone surrogate in the text),
            ``rego_too_deep`` (brackets nested over :data:`MAX_REGO_NESTING`),
            or the parser's ``rego_parse_error``.
    """
    offset = find_surrogate(text)
    if offset >= 0:
        raise RegoParseError(
            "lone UTF-16 surrogate in the module (not valid Unicode text)",
            _loc_at(text, offset, name),
            code="invalid_unicode",
        )
    if text.count("[") + text.count("{") + text.count("(") > MAX_REGO_NESTING:
        depth = 0
        for token in _REGO_TOKEN.finditer(text):
            t = token.group()
            if t in ("[", "{", "("):
                depth += 1
                if depth > MAX_REGO_NESTING:
                    raise RegoParseError(
                        f"brackets nest deeper than {MAX_REGO_NESTING} levels",
                        _loc_at(text, token.start(), name),
                        code="rego_too_deep",
                        details={"limit": MAX_REGO_NESTING},
                    )
            elif t in ("]", "}", ")"):
                depth = max(depth - 1, 0)
    return parse_module(text, name, version)


def _printed_surrogate(printed: PrintedModule) -> Location | None:
    """Where a string with a lone surrogate (from a ``\\ud800`` escape) is, if one is in the printed text."""
    offset = find_surrogate(printed.text)
    if offset < 0:
        return None
    line = printed.text.count("\n", 0, offset) + 1
    return printed.source_location(line) or Location("", 0, 0)


@dataclass(frozen=True)
class RegoFile:
    """A Rego module to load: its name (file path), text and declared version."""

    name: str
    text: str
    version: ast.RegoVersion | None = None


@dataclass(frozen=True)
class DslFile:
    """A file of kubegate's policy DSL to load (``.kgr``): its name and text."""

    name: str
    text: str


@dataclass(frozen=True)
class PolicySources:
    """Everything read from policy directories and in-memory objects, not yet checked
    against each other. ``errors`` and ``warnings`` come from reading.

    ``dsl_files`` are compiled to ``rego_files`` by
    :func:`kubegate.policy.loader.compile_dsl_sources`, against the kinds of a
    Kubernetes version plus the CustomResourceDefinitions in ``crds``.
    """

    rego_files: tuple[RegoFile, ...] = ()
    templates: tuple[ConstraintTemplate, ...] = ()
    constraints: tuple[Constraint, ...] = ()
    errors: tuple[KubegateError, ...] = ()
    warnings: tuple[KubegateError, ...] = ()
    dsl_files: tuple[DslFile, ...] = ()
    crds: tuple[Mapping[str, Any], ...] = ()
    expansions: tuple[ExpansionTemplate, ...] = ()
    cel_templates: tuple[CelConstraintTemplate, ...] = ()
    vap_policies: tuple[CompiledPolicy, ...] = ()
    vap_bindings: tuple[PolicyBinding, ...] = ()
    authorizer_files: tuple[tuple[str, str], ...] = ()
    """``(name, text)`` of the policy files holding authorizer documents
    (AuthorizerConfig, RBAC objects): they answer ValidatingAdmissionPolicies'
    ``authorizer`` (:mod:`kubegate.cel.library.authz_config`)."""

    def merged(self, other: PolicySources) -> PolicySources:
        return PolicySources(
            self.rego_files + other.rego_files,
            self.templates + other.templates,
            self.constraints + other.constraints,
            self.errors + other.errors,
            self.warnings + other.warnings,
            self.dsl_files + other.dsl_files,
            self.crds + other.crds,
            self.expansions + other.expansions,
            self.cel_templates + other.cel_templates,
            self.vap_policies + other.vap_policies,
            self.vap_bindings + other.vap_bindings,
            self.authorizer_files + other.authorizer_files,
        )


@dataclass(frozen=True)
class Catalog:
    """Policies and the modules that implement them.

    Attributes:
        policies: sorted by id.
        modules: normalised modules for the backend.
        errors: units that could not be loaded (each names file and line).
        warnings: things that did load but deserve attention.
        expansions: the ExpansionTemplates in use (duplicates and cycles are
            left out and reported in ``errors``).
    """

    policies: tuple[Policy, ...] = ()
    modules: tuple[PolicyModule, ...] = ()
    errors: tuple[KubegateError, ...] = ()
    warnings: tuple[KubegateError, ...] = ()
    owners: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    expansions: tuple[ExpansionTemplate, ...] = ()
    crds: tuple[Mapping[str, Any], ...] = field(default=(), compare=False, repr=False)

    def without_owner(self, owner: str, error: KubegateError) -> Catalog:
        """Drops a unit (its modules and the policies built on it), recording ``error``."""
        dropped = set(self.owners.get(owner, ()))
        return replace(
            self,
            policies=tuple(p for p in self.policies if p.id not in dropped),
            modules=tuple(m for m in self.modules if m.owner != owner),
            errors=(*self.errors, error),
        )

    def module(self, name: str) -> PolicyModule | None:
        return next((m for m in self.modules if m.name == name), None)


def _constraint_metadata(constraint: Constraint) -> dict[str, Any]:
    """What reports and rollouts need of a constraint beyond its spec."""
    out: dict[str, Any] = {"enforcementAction": constraint.enforcement_action}
    annotations = (constraint.raw.get("metadata") or {}).get("annotations") or {}
    if isinstance(annotations, Mapping) and ROLLOUT_ANNOTATION in annotations:
        value = annotations[ROLLOUT_ANNOTATION]
        try:
            parse_rollout(value, f"constraint {constraint.id}: annotation {ROLLOUT_ANNOTATION}")
        except PolicyLoadError as exc:
            raise PolicyLoadError(exc.message, constraint.location, code=exc.code) from None
        out["rollout"] = value
    return out


def _locate_parse_error(error: RegoParseError, embedded: EmbeddedRego) -> RegoParseError:
    loc = error.location
    if loc is None:
        return error
    moved = embedded.locate(loc.line, loc.column, loc.snippet)
    return RegoParseError(error.message, moved, code=error.code, details=error.details)


def _lone_surrogate(location: Location) -> RegoParseError:
    return RegoParseError(
        "a string holds a lone UTF-16 surrogate (a \\ud800-\\udfff escape without its pair); it has no UTF-8 encoding",
        location,
        code="invalid_unicode",
    )


@dataclass
class _Recorded:
    """What one cached step added to the builder, to replay it."""

    value: Any
    modules: tuple[PolicyModule, ...]
    policies: tuple[Policy, ...]
    errors: tuple[KubegateError, ...]
    warnings: tuple[KubegateError, ...]
    owners: tuple[tuple[str, str], ...]
    generation: int = 0


class CatalogCache:
    """Work :func:`build_catalog` can reuse between builds of a changing policy set.

    Compiled templates, parsed Rego files and normalised packages are kept by
    their content (and the parameters and enforcement point they depend on),
    so rebuilding after a one-file change parses and normalises that file
    only. :meth:`trim` drops what the last build did not use.
    """

    def __init__(self) -> None:
        self._entries: dict[tuple[Any, ...], _Recorded] = {}
        self._parsed: dict[tuple[str, str, str | None], tuple[ast.Module | RegoParseError, int]] = {}
        self.generation = 0
        self.hits = 0
        self.misses = 0

    def parse(self, text: str, name: str, version: ast.RegoVersion | None) -> ast.Module:
        key = (name, text, version)
        found = self._parsed.get(key)
        if found is None:
            try:
                result: ast.Module | RegoParseError = _parse_rego(text, name, version)
            except RegoParseError as exc:
                result = exc
        else:
            result = found[0]
        self._parsed[key] = (result, self.generation)
        if isinstance(result, RegoParseError):
            raise result
        return result

    def trim(self) -> None:
        """Forgets entries the latest build did not use."""
        self._entries = {k: v for k, v in self._entries.items() if v.generation == self.generation}
        self._parsed = {k: v for k, v in self._parsed.items() if v[1] == self.generation}


class _Builder:
    def __init__(
        self, parameters: Mapping[str, Mapping[str, Any]], enforcement_point: str, cache: CatalogCache | None = None
    ) -> None:
        self.parameters = parameters
        self.enforcement_point = enforcement_point
        self.cache = cache
        self.policies: list[Policy] = []
        self.modules: list[PolicyModule] = []
        self.errors: list[KubegateError] = []
        self.warnings: list[KubegateError] = []
        self.owners: dict[str, list[str]] = defaultdict(list)

    def _parse(self, text: str, name: str, version: ast.RegoVersion | None) -> ast.Module:
        if self.cache is not None:
            return self.cache.parse(text, name, version)
        return _parse_rego(text, name, version)

    def _cached(self, key: tuple[Any, ...], step: Any) -> Any:
        """Runs ``step()`` or replays what it added last time for the same ``key``."""
        cache = self.cache
        if cache is None:
            return step()
        found = cache._entries.get(key)
        if found is not None:
            cache.hits += 1
            found.generation = cache.generation
            self.modules.extend(found.modules)
            self.policies.extend(found.policies)
            self.errors.extend(found.errors)
            self.warnings.extend(found.warnings)
            for owner, pid in found.owners:
                self.owners[owner].append(pid)
            return found.value
        cache.misses += 1
        marks = (len(self.modules), len(self.policies), len(self.errors), len(self.warnings))
        before = {o: len(v) for o, v in self.owners.items()}
        value = step()
        owners = tuple((o, pid) for o, ids in self.owners.items() for pid in ids[before.get(o, 0) :])
        cache._entries[key] = _Recorded(
            value,
            tuple(self.modules[marks[0] :]),
            tuple(self.policies[marks[1] :]),
            tuple(self.errors[marks[2] :]),
            tuple(self.warnings[marks[3] :]),
            owners,
            cache.generation,
        )
        return value

    # ---- templates
    def template(self, template: ConstraintTemplate) -> tuple[str, tuple[str, ...]] | None:
        """Compiles a template; returns (version, package) or ``None`` on error."""
        key = (
            "template",
            template.kind,
            template.name,
            template.location.file,
            template.rego_version,
            template.rego.text,
            template.rego.line_offset,
            template.rego.column_offset,
            tuple((lib.text, lib.line_offset, lib.column_offset) for lib in template.libs),
        )
        return self._cached(key, lambda: self._template(template))  # type: ignore[no-any-return]

    def _template(self, template: ConstraintTemplate) -> tuple[str, tuple[str, ...]] | None:
        try:
            return self._template_unit(template)
        except RecursionError:
            self._too_deep(template.location)
            return None

    def _too_deep(self, location: Location | None) -> None:
        """Records a unit whose expressions nest too deeply for the front-end (long operator chains)."""
        self.errors.append(
            PolicyLoadError(
                "an expression nests too deeply to be compiled (split it into smaller rules)",
                location,
                code="rego_too_deep",
            )
        )

    def _template_unit(self, template: ConstraintTemplate) -> tuple[str, tuple[str, ...]] | None:
        kind = template.kind
        owner = f"template:{kind}"
        base = (*TEMPLATE_PACKAGE_ROOT, kind)
        try:
            main = self._parse(template.rego.text, template.location.file, template.rego_version)
        except RegoParseError as exc:
            self.errors.append(_locate_parse_error(exc, template.rego))
            return None
        if not any(r.head.name == "violation" and not r.head.ref.path for r in main.rules):
            self.errors.append(
                PolicyLoadError(
                    f"ConstraintTemplate {template.name} defines no violation rule",
                    template.location,
                    code="invalid_template",
                )
            )
            return None
        libs: list[tuple[ast.Module, EmbeddedRego]] = []
        for embedded in template.libs:
            try:
                lib = self._parse(embedded.text, template.location.file, template.rego_version)
            except RegoParseError as exc:
                self.errors.append(_locate_parse_error(exc, embedded))
                return None
            if lib.package.path[0] != "lib":
                loc = lib.package.loc
                self.errors.append(
                    PolicyLoadError(
                        f"ConstraintTemplate {template.name}: library package {lib.package.dotted} "
                        "must start with lib.",
                        embedded.locate(loc.line, loc.column) if loc else template.location,
                        code="invalid_template",
                    )
                )
                return None
            libs.append((lib, embedded))
        for module, embedded in [(main, template.rego), *libs]:
            unsafe = check_negation_safety(module)
            if unsafe:
                loc = unsafe[0].location
                located = embedded.locate(loc.line, loc.column, loc.snippet) if loc else template.location
                self.errors.append(RegoCompileError(unsafe[0].message, located, code=unsafe[0].code))
                return None
        prefixes: dict[tuple[str, ...], tuple[str, ...]] = {("lib",): (*base, "lib")}
        texts = []
        modules: list[PolicyModule] = []
        units = [(main, template.rego, base)] + [(lib, emb, (*base, *lib.package.path)) for lib, emb in libs]
        for i, (module, embedded, package) in enumerate(units):
            rebased = rebase_module(module, package, prefixes)
            normalized = normalize_module(rebased)
            printed = print_module(normalized)
            lone = _printed_surrogate(printed)
            if lone is not None:
                located = embedded.locate(lone.line, lone.column, lone.snippet) if lone.line else template.location
                self.errors.append(_lone_surrogate(located))
                return None
            texts.append(printed.text)
            name = f"templates/{kind}/{'template' if i == 0 else f'lib{i}'}.rego"
            origin = (template.location.file, embedded.line_offset, embedded.column_offset)
            modules.append(PolicyModule(name, printed, owner, normalized, origin, rebased))
        self.modules.extend(modules)
        return sha256_text(*texts), base

    # ---- constraints
    def constraint(
        self, constraint: Constraint, template: ConstraintTemplate, compiled: tuple[str, tuple[str, ...]]
    ) -> None:
        key = (
            "constraint",
            constraint.id,
            str(constraint.location),
            sha256_json(constraint.raw),
            compiled,
            sha256_json(template.parameters_schema),
            self.enforcement_point,
        )
        self._cached(key, lambda: self._constraint(constraint, template, compiled))

    def _checked(
        self, constraint: Constraint, schema: Mapping[str, Any] | None
    ) -> tuple[Any, str, dict[str, Any]] | None:
        """The constraint's validated parameters, its action here and its metadata;
        ``None`` when it is not enforced here or is invalid (errors recorded)."""
        try:
            params, pruned = validate_parameters(
                constraint.parameters,
                schema,
                owner=f"constraint {constraint.id} ({constraint.kind} schema)",
                location=constraint.location,
            )
        except PolicyLoadError as exc:
            self.errors.append(exc)
            return None
        for path in pruned:
            self.warnings.append(
                PolicyLoadError(
                    f"constraint {constraint.id}: {path} is not in the {constraint.kind} schema and is ignored",
                    constraint.location,
                    code="constraint_parameters_pruned",
                )
            )
        action = constraint.action_for(self.enforcement_point)
        if action is None:
            return None
        try:
            metadata = _constraint_metadata(constraint)
        except PolicyLoadError as exc:
            self.errors.append(exc)
            return None
        return params, action, metadata

    def cel_constraint(self, constraint: Constraint, cel: CelConstraintTemplate) -> None:
        """A constraint evaluated by its template's K8sNativeValidation code."""
        self._add_constraint(constraint, cel.parameters_schema, (), cel.version, engine="cel", cel=cel.template)

    def _add_constraint(
        self,
        constraint: Constraint,
        schema: Mapping[str, Any] | None,
        package: tuple[str, ...],
        version: str,
        title: str = "",
        description: str = "",
        **engine: Any,
    ) -> None:
        """Appends the constraint's policy (``engine``: ``engine="cel", cel=...``
        for a CEL template; Rego otherwise)."""
        checked = self._checked(constraint, schema)
        if checked is None:
            return
        params, action, metadata = checked
        spec = dict(constraint.raw.get("spec") or {})
        self.policies.append(
            Policy(
                id=constraint.id,
                kind="constraint",
                package=package,
                rules={"violation": action},
                match=constraint.match,
                input_style="review",
                parameters=params,
                version=sha256_text(version, sha256_json(spec)),
                location=constraint.location,
                template=constraint.kind,
                title=title,
                description=description,
                metadata=metadata,
                raw=constraint.raw,
                **engine,
            )
        )
        if "cel" not in engine:
            self.owners[f"template:{constraint.kind}"].append(constraint.id)

    def vap_bindings(
        self,
        policies: Sequence[CompiledPolicy],
        bindings: Sequence[PolicyBinding],
        authorizer_files: Sequence[tuple[str, str]] = (),
    ) -> None:
        """One policy per ValidatingAdmissionPolicyBinding (a policy without a
        binding enforces nothing, as in Kubernetes: a warning says so); the
        authorizer documents among the policy files answer ``authorizer``."""
        authorizer = DEFAULT_CONFIG
        if authorizer_files:
            try:
                authorizer = read_authorizer_files(authorizer_files, others=True)
            except KubegateError as exc:
                self.errors.append(exc)
        authorizer_version = sha256_json([list(f) for f in authorizer_files])
        by_name: dict[str, CompiledPolicy] = {}
        for p in policies:
            if p.policy.name in by_name:
                self.errors.append(
                    PolicyLoadError(
                        f"ValidatingAdmissionPolicy {p.policy.name} is defined twice",
                        p.policy.location,
                        code="duplicate_policy_id",
                    )
                )
                continue
            by_name[p.policy.name] = p
        bound: set[str] = set()
        for binding in bindings:
            compiled = by_name.get(binding.policy_name)
            if compiled is None:
                self.errors.append(
                    PolicyLoadError(
                        f"ValidatingAdmissionPolicyBinding {binding.name}: no ValidatingAdmissionPolicy "
                        f"{binding.policy_name!r} is loaded",
                        binding.location,
                        code="policy_not_found",
                    )
                )
                continue
            bound.add(binding.policy_name)
            vap = compiled.bind(binding, authorizer)
            action = enforcement_of(binding.validation_actions)
            metadata: dict[str, Any] = {
                "enforcementAction": action,
                "validationActions": list(binding.validation_actions),
            }
            annotations = (binding.raw.get("metadata") or {}).get("annotations") or {}
            if isinstance(annotations, Mapping) and ROLLOUT_ANNOTATION in annotations:
                try:  # canary and shadow rollouts, as for constraints
                    where = f"ValidatingAdmissionPolicyBinding {binding.name}: annotation {ROLLOUT_ANNOTATION}"
                    parse_rollout(annotations[ROLLOUT_ANNOTATION], where)
                except PolicyLoadError as exc:
                    self.errors.append(PolicyLoadError(exc.message, binding.location, code=exc.code))
                    continue
                metadata["rollout"] = annotations[ROLLOUT_ANNOTATION]
            self.policies.append(
                Policy(
                    id=vap.id,
                    kind="constraint",
                    package=(),
                    rules={"violation": action},
                    match=Match(),
                    input_style="review",
                    parameters=None,
                    version=sha256_text(sha256_json(compiled.policy.raw), sha256_json(binding.raw), authorizer_version),
                    location=binding.location or compiled.policy.location or Location("<memory>"),
                    template="ValidatingAdmissionPolicy",
                    title=compiled.policy.name,
                    metadata=metadata,
                    engine="vap",
                    cel=vap,
                )
            )
        for name, p in sorted(by_name.items()):
            if name not in bound:
                self.warnings.append(
                    PolicyLoadError(
                        f"ValidatingAdmissionPolicy {name} has no ValidatingAdmissionPolicyBinding, "
                        "so it enforces nothing",
                        p.policy.location,
                        code="policy_not_bound",
                    )
                )

    def _constraint(
        self, constraint: Constraint, template: ConstraintTemplate, compiled: tuple[str, tuple[str, ...]]
    ) -> None:
        version, package = compiled
        self._add_constraint(
            constraint, template.parameters_schema, package, version, template.title, template.description
        )

    # ---- plain Rego
    def rego_packages(self, files: Sequence[RegoFile]) -> None:
        parsed: dict[tuple[str, ...], list[tuple[ast.Module, RegoFile]]] = defaultdict(list)
        for f in files:
            try:
                module = self._parse(f.text, f.name, f.version)
            except RegoParseError as exc:
                self.errors.append(exc)
                continue
            if module.package.path[0] == _RESERVED_ROOT and not f.name.startswith(BUILTIN_PREFIX):
                self.errors.append(
                    PolicyLoadError(
                        f"package {module.package.dotted} is reserved for kubegate",
                        module.package.loc,
                        code="reserved_package",
                    )
                )
                continue
            if is_test_module(module):
                self.warnings.append(test_file_notice(f.name, module.package.loc))
                continue
            parsed[module.package.path].append((module, f))
        parameters = sha256_json(self.parameters)
        for package, entries in sorted(parsed.items()):
            key = ("package", package, parameters, tuple((f.name, f.text, f.version) for _, f in entries))
            self._cached(key, lambda package=package, entries=entries: self._package(package, entries))

    def _package(self, package: tuple[str, ...], entries: list[tuple[ast.Module, RegoFile]]) -> None:
        try:
            self._package_unit(package, entries)
        except RecursionError:
            self._too_deep(entries[0][0].package.loc or Location(entries[0][1].name))

    def _package_unit(self, package: tuple[str, ...], entries: list[tuple[ast.Module, RegoFile]]) -> None:
        dotted = ".".join(package)
        owner = f"package:{dotted}"
        modules = [m for m, _ in entries]
        rule_names = frozenset(r.head.name for m in modules for r in m.rules)
        unsafe = [e for m in modules for e in check_negation_safety(m, rule_names)]
        if unsafe:
            self.errors.extend(unsafe)
            return
        try:
            info = package_info(package, modules)
        except PolicyLoadError as exc:
            self.errors.append(exc)
            return
        texts = []
        modules_out = []
        for module, f in entries:
            normalized = normalize_module(module, rule_names)
            printed = print_module(normalized)
            lone = _printed_surrogate(printed)
            if lone is not None:
                self.errors.append(_lone_surrogate(lone if lone.line else Location(f.name)))
                return
            texts.append(printed.text)
            modules_out.append(PolicyModule(f"rego/{f.name}", printed, owner, normalized, source=module))
        self.modules.extend(modules_out)
        if info is None:
            return
        params: dict[str, Any] | None = merge_parameters(info.parameters, self.parameters.get(info.id))
        if info.parameters_schema is not None:
            try:
                params, _ = validate_parameters(
                    params or {},
                    info.parameters_schema,
                    owner=f"policy {info.id}",
                    location=info.location,
                    code="policy_parameters_invalid",
                    schema_code="parameters_schema_invalid",
                )
            except PolicyLoadError as exc:
                self.errors.append(exc)
                return
        if not params and info.parameters is None and info.id not in self.parameters:
            params = None
        exception_rule = has_exception_rule(modules)
        if exception_rule and info.input_style != "object":
            self.warnings.append(
                PolicyLoadError(
                    f"package {dotted} reads input.review: its exception rule is not applied "
                    "(conftest exceptions are for policies that read the document as input)",
                    info.location,
                    code="exception_rule_ignored",
                )
            )
            exception_rule = False
        self.policies.append(
            Policy(
                id=info.id,
                kind="rego",
                package=package,
                rules=info.rules,
                match=info.match,
                input_style=info.input_style,
                parameters=params,
                version=sha256_text(*sorted(texts), sha256_json(params)),
                location=info.location,
                title=info.title,
                description=info.description,
                severity=info.severity,
                metadata=info.custom,
                exception_rule=exception_rule,
            )
        )
        self.owners[owner].append(info.id)


def build_catalog(
    sources: PolicySources,
    *,
    parameters: Mapping[str, Mapping[str, Any]] | None = None,
    enforcement_point: str = "validation.gatekeeper.sh",
    cache: CatalogCache | None = None,
    template_engine: str = "rego",
) -> Catalog:
    """Checks and normalises ``sources``.

    ``template_engine`` chooses the code of ConstraintTemplates that have both
    Rego and K8sNativeValidation (CEL): ``rego`` (Gatekeeper's default) or
    ``cel``, unless the template's ``kubegate.io/engine`` annotation says
    otherwise; a template with only CEL is always evaluated through CEL.

    Args:
        sources: what the loader read.
        parameters: per policy id, ``input.parameters`` overrides for plain Rego
            policies (merged over their METADATA defaults).
        enforcement_point: selects the action of ``scoped`` constraints.
        cache: reuse templates, files and packages compiled by earlier builds
            (see :class:`CatalogCache`); trimmed to this build's use afterwards.

    Returns:
        A :class:`Catalog`; errors are collected in it, never raised.
    """
    if cache is not None:
        cache.generation += 1
    b = _Builder(parameters or {}, enforcement_point, cache)
    b.errors.extend(sources.errors)
    b.warnings.extend(sources.warnings)

    templates: dict[str, ConstraintTemplate] = {}
    for t in sources.templates:
        if t.kind in templates:
            b.errors.append(
                PolicyLoadError(
                    f"ConstraintTemplate for kind {t.kind} is defined twice (also at {templates[t.kind].location})",
                    t.location,
                    code="duplicate_template",
                )
            )
            continue
        templates[t.kind] = t
    compiled: dict[str, tuple[str, tuple[str, ...]] | None] = {k: b.template(t) for k, t in sorted(templates.items())}
    cel_templates = {t.kind: t for t in sources.cel_templates}

    seen: dict[str, Location] = {}
    for c in sources.constraints:
        if c.id in seen:
            b.errors.append(
                PolicyLoadError(
                    f"constraint {c.id} is defined twice (also at {seen[c.id]})", c.location, code="duplicate_policy_id"
                )
            )
            continue
        seen[c.id] = c.location
        cel = cel_templates.get(c.kind)
        engine = (cel.engine or template_engine) if cel is not None else template_engine
        if cel is not None and (engine == "cel" or c.kind not in templates):
            b.cel_constraint(c, cel)
            continue
        template = templates.get(c.kind)
        if template is None:
            b.errors.append(
                PolicyLoadError(
                    f"constraint {c.id}: no ConstraintTemplate defines kind {c.kind}",
                    c.location,
                    code="template_not_found",
                )
            )
            continue
        result = compiled.get(c.kind)
        if result is None:
            b.errors.append(
                PolicyLoadError(
                    f"constraint {c.id}: its ConstraintTemplate {template.name} failed to load",
                    c.location,
                    code="template_not_loaded",
                )
            )
            continue
        b.constraint(c, template, result)

    b.rego_packages(sources.rego_files)
    b.vap_bindings(sources.vap_policies, sources.vap_bindings, sources.authorizer_files)

    by_id: dict[str, Policy] = {}
    for p in b.policies:
        if p.id in by_id:
            b.errors.append(
                PolicyLoadError(
                    f"policy id {p.id!r} is used twice ({by_id[p.id].location} and {p.location})",
                    p.location,
                    code="duplicate_policy_id",
                )
            )
            continue
        by_id[p.id] = p
    if cache is not None:
        cache.trim()
    expansion = ExpansionSystem(sources.expansions)
    b.errors.extend(expansion.errors)
    return Catalog(
        policies=tuple(sorted(by_id.values(), key=lambda p: p.id)),
        modules=tuple(b.modules),
        errors=tuple(b.errors),
        warnings=tuple(b.warnings),
        owners={k: tuple(v) for k, v in b.owners.items()},
        expansions=expansion.templates,
        crds=sources.crds,
    )


def sources_from(
    rego_files: Iterable[RegoFile] = (),
    templates: Iterable[ConstraintTemplate] = (),
    constraints: Iterable[Constraint] = (),
) -> PolicySources:
    """Convenience constructor for in-memory sources."""
    return PolicySources(tuple(rego_files), tuple(templates), tuple(constraints))
