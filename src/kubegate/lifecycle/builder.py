"""Build policy sets from file contents, incrementally, keeping the last good version of what breaks.

A policy source (watched directories, an etcd prefix) is reduced to a set of
files: ``{name: text}``. :class:`PolicySetBuilder` turns one into a
:class:`~kubegate.engine.prepared.PreparedPolicySet`, reusing everything the
previous build already did for unchanged content (parsed files, normalised
modules, static checks, compiled units), so a one-file change costs about
that file.

Nothing broken replaces something that worked. When an update brings new
errors:

1. every changed file that now has errors is put back to its last good
   content (or left out, if it never loaded), and the set is built again;
   those files are *rejected* and their errors reported;
2. if errors the last good set did not have remain (a constraint whose
   template was deleted, a duplicate id...), the whole update is rejected and
   the last good set stays in force.

:func:`rules_by_file` tells how many policies and rules each file contributes
to a build; the manager uses it to hold back a change that leaves a file with
no policy or no rule (most likely a file read while it was being rewritten).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from kubegate.dsl.schema import DEFAULT_KUBERNETES_VERSION
from kubegate.engine.analysis import AnalysisCache
from kubegate.engine.backend import Backend
from kubegate.engine.prepared import PreparedPolicySet, prepare
from kubegate.errors import KubegateError
from kubegate.policy.catalog import CatalogCache, PolicySources, build_catalog
from kubegate.policy.inventory import Inventory
from kubegate.policy.loader import (
    LoaderCache,
    builtin_expansion_sources,
    builtin_sources,
    compile_dsl_sources,
    load_policy_texts,
)

__all__ = ["BuildResult", "FileRules", "PolicySetBuilder", "error_file", "rules_by_file"]


def error_file(error: KubegateError) -> str | None:
    """The policy file an error is about (``rules.kgr`` for ``rules.kgr#rule``), if known."""
    loc = error.location
    if loc is None or not loc.file:
        return None
    return loc.file.split("#", 1)[0]


@dataclass(frozen=True)
class FileRules:
    """What one policy file contributes to a build.

    Attributes:
        policies: policies located in the file (a DSL rule, a plain Rego
            package's policy, a constraint).
        rules: Rego rules of the modules the file defines (``deny``,
            ``violation``, helpers and functions alike: a ``.rego`` file, the
            rego and libs of each ConstraintTemplate in a YAML file, each rule
            of a DSL file).
    """

    policies: int = 0
    rules: int = 0

    def lost_everything(self, now: FileRules) -> bool:
        """Whether ``now`` has no policy where this had some, or no rule where this had some."""
        return (self.policies > 0 and now.policies == 0) or (self.rules > 0 and now.rules == 0)


def rules_by_file(prepared: PreparedPolicySet) -> dict[str, FileRules]:
    """What each policy file contributes to ``prepared`` (files contributing nothing are absent).

    Only what is served counts: a unit rejected by its checks contributes
    nothing. A ``.rego`` file cut after its ``package`` line, a YAML file
    whose documents are gone, an empty DSL file contribute nothing.
    """
    policies: Counter[str] = Counter()
    rules: Counter[str] = Counter()
    for module in prepared.catalog.modules:
        name = module.origin[0] or module.module.file
        if name:
            rules[name.split("#", 1)[0]] += len(module.module.rules)
    for policy in prepared.policies:
        if policy.location.file:
            policies[policy.location.file.split("#", 1)[0]] += 1
    return {
        name: FileRules(policies[name], rules[name])
        for name in sorted({*policies, *rules})
        if policies[name] or rules[name]
    }


def _identity(error: KubegateError) -> tuple[str, str, str]:
    return (error.code, error_file(error) or "", error.message)


@dataclass(frozen=True)
class BuildResult:
    """One built policy set.

    Attributes:
        prepared: what reviews are evaluated with.
        files: the file contents it was built from (rejected files at their
            last good content).
        rejected: files whose new content was not applied, with the errors that
            kept it out.
        applied: whether the update was taken at all (``False``: the last good
            set stays, see ``errors``).
        errors: every error of the build, rejected files' included.
        duration_ms: build time in milliseconds.
    """

    prepared: PreparedPolicySet
    files: Mapping[str, str]
    rejected: Mapping[str, tuple[KubegateError, ...]] = field(default_factory=dict)
    applied: bool = True
    errors: tuple[KubegateError, ...] = ()
    duration_ms: float = 0.0


class PolicySetBuilder:
    """Builds policy sets, keeping caches between builds.

    Args:
        backend: the Rego backend.
        builtin: include the built-in library.
        parameters: ``{policy id: parameters}`` overrides.
        enforcement_point: for ``scoped`` constraints.
        kubernetes_version: for DSL rules and the CEL environment.
        inventory: ``data.inventory``.
        expansion: add kubegate's built-in ExpansionTemplates (workloads'
            Pods are reviewed with them; :mod:`kubegate.policy.expansion`).
        template_engine: ``rego`` or ``cel``, for templates with both.
    """

    def __init__(
        self,
        backend: Backend,
        *,
        builtin: bool = True,
        parameters: Mapping[str, Mapping[str, object]] | None = None,
        enforcement_point: str = "validation.gatekeeper.sh",
        kubernetes_version: str = DEFAULT_KUBERNETES_VERSION,
        inventory: Inventory | None = None,
        expansion: bool = True,
        template_engine: str = "rego",
    ) -> None:
        self.template_engine = template_engine
        self.backend = backend
        self.builtin = builtin
        self.parameters = dict(parameters or {})
        self.enforcement_point = enforcement_point
        self.kubernetes_version = kubernetes_version
        self.inventory = inventory or Inventory()
        self._loader = LoaderCache()
        self._catalog = CatalogCache()
        self._analysis = AnalysisCache()
        self._builtin = builtin_sources() if builtin else PolicySources()
        if expansion:
            self._builtin = self._builtin.merged(builtin_expansion_sources())

    def _prepare(self, files: Mapping[str, str], previous: PreparedPolicySet | None) -> PreparedPolicySet:
        sources = self._builtin.merged(load_policy_texts(files, self._loader, self.kubernetes_version))
        sources = compile_dsl_sources(sources, self.kubernetes_version)
        catalog = build_catalog(
            sources,
            parameters=self.parameters,
            enforcement_point=self.enforcement_point,
            cache=self._catalog,
            template_engine=self.template_engine,
        )
        return prepare(catalog, self.backend, self.inventory, previous=previous, cache=self._analysis)

    def build(self, files: Mapping[str, str], last_good: BuildResult | None = None) -> BuildResult:
        """Builds ``files``; with ``last_good``, never lets new errors replace what worked.

        Raises:
            BackendError: the backend failed in a way no policy explains.
        """
        start = time.perf_counter()
        previous = last_good.prepared if last_good is not None else None
        prepared = self._prepare(files, previous)
        if last_good is None:
            return BuildResult(prepared, dict(files), errors=prepared.errors, duration_ms=_ms(start))
        known = {_identity(e) for e in last_good.prepared.errors}
        new = [e for e in prepared.errors if _identity(e) not in known]
        if not new:
            return BuildResult(prepared, dict(files), errors=prepared.errors, duration_ms=_ms(start))
        changed = {n for n, t in files.items() if last_good.files.get(n) != t}
        rejected: dict[str, list[KubegateError]] = {}
        for error in new:
            name = error_file(error)
            if name in changed:
                rejected.setdefault(name, []).append(error)
        if rejected:
            fallback = {n: t for n, t in files.items() if n not in rejected}
            fallback.update({n: last_good.files[n] for n in rejected if n in last_good.files})
            prepared = self._prepare(fallback, previous)
            files = fallback
            new = [e for e in prepared.errors if _identity(e) not in known]
        rejected_errors = {n: tuple(errs) for n, errs in rejected.items()}
        if new:
            # Errors no single file explains: keep the last good set entirely.
            everything = (*last_good.errors, *(e for errs in rejected_errors.values() for e in errs), *new)
            return BuildResult(
                last_good.prepared,
                last_good.files,
                rejected=rejected_errors,
                applied=False,
                errors=tuple(everything),
                duration_ms=_ms(start),
            )
        reported = (*prepared.errors, *(e for errs in rejected_errors.values() for e in errs))
        return BuildResult(prepared, dict(files), rejected=rejected_errors, errors=reported, duration_ms=_ms(start))

    def set_inventory(self, inventory: Inventory) -> None:
        """Uses ``inventory`` for the next builds."""
        self.inventory = inventory


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000
