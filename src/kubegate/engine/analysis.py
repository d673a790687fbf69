"""What ``prepare`` learns about a catalog before compiling it: static checks,
divergence warnings, and the compilation units (connected components).

Everything here is derived from module texts, so :class:`AnalysisCache` keeps
it between builds of a changing policy set: after a one-file change only the
unit that changed is checked again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from kubegate.engine.backend import REGEX_FLAGS, Backend
from kubegate.errors import KubegateError, Location, PolicyLoadError, RegoCompileError
from kubegate.policy.catalog import Catalog
from kubegate.policy.units import PolicyModule, sha256_text
from kubegate.rego import ast
from kubegate.rego.check import CheckFinding as Finding
from kubegate.rego.check import check_modules
from kubegate.rego.compat import COMPAT_MODULE_NAME, compat_module
from kubegate.rego.normalize import walk_terms
from kubegate.rego.regex import has_flags

__all__ = ["AnalysisCache", "components", "divergence_warnings", "static_checks"]


class AnalysisCache:
    """Per-module and per-unit analysis results, keyed by content; :meth:`trim` keeps the last build's."""

    def __init__(self) -> None:
        self.paths: dict[str, tuple[tuple[str, ...] | None, ...]] = {}
        self.findings: dict[str, tuple[Finding, ...]] = {}
        self.divergences: dict[str, tuple[tuple[str, str, ast.Term], ...]] = {}
        self._used: set[str] = set()

    def use(self, key: str) -> str:
        self._used.add(key)
        return key

    def trim(self) -> None:
        for table in (self.paths, self.findings, self.divergences):
            for key in [k for k in table if k not in self._used]:
                del table[key]
        self._used = set()


def _module_key(m: PolicyModule) -> str:
    return sha256_text(m.name, m.printed.text)


def divergence_warnings(catalog: Catalog, backend: Backend, cache: AnalysisCache) -> Catalog:
    """Warns, once per unit and builtin, about calls the backend is known to get
    wrong, and about regex flags left where the front-end cannot rewrite them
    (a string literal outside a pattern argument, a parameter value)."""
    warned: set[tuple[str, str]] = set()
    warnings: list[KubegateError] = []

    def warn(owner: str, name: str, location: Location | None, subject: str) -> None:
        if (owner, name) not in warned:
            warned.add((owner, name))
            message = f"{subject} {backend.divergences[name]} in the {backend.name} backend"
            message += "; results may differ from OPA"
            warnings.append(PolicyLoadError(message, location, code="backend_divergence"))

    flags = REGEX_FLAGS in backend.divergences
    for policy_module in catalog.modules:
        key = cache.use(_module_key(policy_module))
        found = cache.divergences.get(key)
        if found is None:
            hits: list[tuple[str, str, ast.Term]] = []
            for term in walk_terms(policy_module.module.rules):
                if isinstance(term, ast.Call) and term.name in backend.divergences:
                    hits.append((term.name, term.name, term))
                elif flags and isinstance(term, ast.Scalar) and isinstance(term.value, str) and has_flags(term.value):
                    hits.append((REGEX_FLAGS, f"the pattern {term.value!r}", term))
            found = cache.divergences[key] = tuple(hits)
        for name, subject, term in found:
            warn(policy_module.owner, name, policy_module.relocate(term.loc), subject)
    for policy in catalog.policies if flags else ():
        for path, value in _strings(policy.parameters or {}, "parameters"):
            if has_flags(value):
                warn(policy.id, REGEX_FLAGS, policy.location, f"{policy.id}: {path} = {value!r}")
    return replace(catalog, warnings=(*catalog.warnings, *warnings)) if warnings else catalog


def _strings(value: Any, path: str) -> Iterable[tuple[str, str]]:
    """Every string inside a JSON value, with its dotted path."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _strings(item, f"{path}[{index}]")


def static_checks(catalog: Catalog, backend: Backend, cache: AnalysisCache) -> Catalog:
    """Runs the front-end's OPA checks, one compilation unit at a time (a unit holds
    every module its modules refer to); drops units with findings (see kubegate.rego.check)."""
    groups, _ = components(catalog, cache)
    findings: list[Finding] = []
    for owners in groups:
        members = [m for m in catalog.modules if m.owner in set(owners)]
        key = cache.use(sha256_text(*(_module_key(m) for m in members)))
        found = cache.findings.get(key)
        if found is None:
            modules = [(m.name, m.module) for m in members] + [(COMPAT_MODULE_NAME, compat_module())]
            found = cache.findings[key] = tuple(check_modules(modules, backend.is_builtin))
        findings.extend(found)
    catalog = divergence_warnings(catalog, backend, cache)
    reported: set[str] = set()
    for finding in findings:
        module = catalog.module(finding.module)
        if module is None:
            continue
        error = finding.error
        located = RegoCompileError(error.message, module.relocate(error.location), code=error.code)
        if module.owner in reported:
            catalog = replace(catalog, errors=(*catalog.errors, located))
            continue
        reported.add(module.owner)
        if module.name.startswith("rego/builtin:") and "undefined function kubegate.image." in error.message:
            # A built-in library policy needing the compiled backend's image builtins
            # (pci-image-signature on regopy): left out with a warning, not a load error.
            warning = PolicyLoadError(
                f"{error.message}; this built-in policy needs the compiled backend and is not loaded",
                located.location,
                code="builtin_needs_compiled_backend",
            )
            dropped = catalog.without_owner(module.owner, located)
            catalog = replace(dropped, errors=catalog.errors, warnings=(*catalog.warnings, warning))
            continue
        catalog = catalog.without_owner(module.owner, located)
    return catalog


def _data_paths(module: ast.Module) -> Iterable[tuple[str, ...] | None]:
    """The ``data`` paths a module refers to (``None`` for a dynamic ``data[x]``)."""
    for imp in module.imports:
        if imp.path[0] == "data":
            yield imp.path[1:]
    for term in walk_terms(module.rules):
        if isinstance(term, ast.Call) and term.func[0] == "data":
            yield term.func[1:]
        elif isinstance(term, ast.Ref) and (prefix := ast.data_prefix(term)) is not None:
            yield prefix or None


def components(catalog: Catalog, cache: AnalysisCache) -> tuple[list[list[str]], dict[str, bool]]:
    """Groups owners whose modules refer to one another; says which use ``data.inventory``."""
    owners = sorted({m.owner for m in catalog.modules})
    parent = {o: o for o in owners}

    def find(o: str) -> str:
        while parent[o] != o:
            parent[o] = parent[parent[o]]
            o = parent[o]
        return o

    packages = [(m.module.package.path, m.owner) for m in catalog.modules]
    inventory: dict[str, bool] = defaultdict(bool)
    dynamic: list[str] = []
    for m in catalog.modules:
        key = cache.use(_module_key(m))
        paths = cache.paths.get(key)
        if paths is None:
            paths = cache.paths[key] = tuple(_data_paths(m.module))
        for path in paths:
            if path is None:
                dynamic.append(m.owner)
                inventory[m.owner] = True
                continue
            if path[:1] == ("inventory",):
                inventory[m.owner] = True
                continue
            for package, owner in packages:
                if owner != m.owner and (package[: len(path)] == path or path[: len(package)] == package):
                    parent[find(owner)] = find(m.owner)
    # A dynamic data reference may reach any plain package: keep them together.
    plain = [o for o in owners if o.startswith("package:")]
    for owner in dynamic:
        for other in plain:
            parent[find(other)] = find(owner)
    groups: dict[str, list[str]] = defaultdict(list)
    for o in owners:
        groups[find(o)].append(o)
    uses = {root: any(inventory[o] for o in members) for root, members in groups.items()}
    return list(groups.values()), {o: uses[find(o)] for o in owners}
