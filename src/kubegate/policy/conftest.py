"""conftest's semantics for plain Rego packages: namespaces, exceptions, ``--combine`` and ``--data``.

``kubegate check`` runs conftest policies (https://www.conftest.dev/) the way
``conftest test`` does (source followed: open-policy-agent/conftest
``policy/engine.go``, ``runner/test.go``, ``parser/parser.go``):

* **namespaces**: a conftest namespace is a Rego package; ``--namespace``
  selects packages by name or by a glob (``main.*``, Go ``path.Match``
  syntax), as conftest does. Only *plain* packages (the user's ``.rego``
  files) are namespaces: Gatekeeper templates, DSL rules and kubegate's
  built-in library are not, and are always evaluated.
* **exceptions** (https://www.conftest.dev/exceptions/): a package's
  ``exception`` rule is a set of arrays of rule-name suffixes; for each entry
  rule (``deny``, ``violation``, ``warn``, with or without a ``_suffix``)
  whose suffix is named, the rule's results on that input are suppressed and
  one exception is reported instead (``data.<ns>.exception[_][_] == "<suffix>"``,
  conftest's message), whether or not the rule had results. The plain rules
  are named by the empty suffix ``""``.
* **combine**: every document read becomes one input,
  ``[{"path": <file>, "contents": <document>}, ...]`` sorted by path
  (``parser.CombineConfigurations``).
* **data**: ``--data`` files are OPA loader data (``.json``, ``.yaml``,
  ``.yml``; directories recursively, nested by sub-directory), loaded with
  :func:`kubegate.evaluator.loading.load_paths`; ``data.inventory`` and
  ``data.kubegate`` are kubegate's and cannot be given.
"""

from __future__ import annotations

import difflib
import fnmatch
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from kubegate.errors import ErrorList, InputError, KubegateError, Location, UsageError
from kubegate.evaluator.loading import DATA_EXTENSIONS, load_paths, read_document, rule_path_conflicts, split_prefix
from kubegate.policy.documents import Document
from kubegate.policy.units import Policy
from kubegate.rego import ast
from kubegate.rego.normalize import walk_terms

__all__ = [
    "COMBINED_SOURCE",
    "RESERVED_DATA_KEYS",
    "ExceptedRule",
    "apply_exceptions",
    "check_base_data",
    "combined_document",
    "combined_input",
    "data_conflicts",
    "excepted_suffixes",
    "exception_query",
    "has_exception_rule",
    "is_plain_package",
    "load_data",
    "loaded_namespaces",
    "reads_data",
    "rule_suffix",
    "select_namespaces",
]

COMBINED_SOURCE = "<combined>"
"""The ``source`` of the document holding the combined input (``--combine``)."""

RESERVED_DATA_KEYS = ("inventory", "kubegate")
"""Top-level ``data`` keys that belong to kubegate (``data.inventory``, its generated packages)."""

_KUBEGATE_ROOTS = frozenset({"kubegate", "kubegate_dsl"})
_PLAIN_RULES = ("violation", "deny", "warn")
_GLOB_CHARS = frozenset("*?[")


def is_plain_package(policy: Policy) -> bool:
    """Whether ``policy`` is a user's plain Rego package (a conftest namespace):
    not a Gatekeeper constraint, not kubegate's library nor a DSL rule."""
    return policy.kind == "rego" and bool(policy.package) and policy.package[0] not in _KUBEGATE_ROOTS


# ---------------------------------------------------------------- namespaces


def loaded_namespaces(owners: Iterable[str]) -> frozenset[str]:
    """The plain packages among catalog module owners (``package:main`` -> ``main``),
    libraries without entry rules included, as conftest lists every module's package."""
    names = (o.removeprefix("package:") for o in owners if o.startswith("package:"))
    return frozenset(n for n in names if n.split(".")[0] not in _KUBEGATE_ROOTS)


def select_namespaces(patterns: Sequence[str], packages: Iterable[str]) -> frozenset[str]:
    """The packages ``--namespace`` selects, as conftest's ``filterNamespaces``.

    Args:
        patterns: package names (``main``, ``kubernetes.admission``) or globs
            (``main.*``, ``*``: ``*``, ``?`` and ``[...]`` as Go's ``path.Match``).
        packages: the dotted names of the plain packages loaded.

    Returns:
        The selected package names.

    Raises:
        UsageError: ``unknown_namespace`` for a pattern selecting no loaded
            package (with a did-you-mean); conftest would silently check nothing.
    """
    loaded = sorted(set(packages))
    selected: set[str] = set()
    for pattern in patterns:
        if _GLOB_CHARS & set(pattern):
            glob = pattern.replace("[^", "[!")
            found = [p for p in loaded if fnmatch.fnmatchcase(p, glob)]
        else:
            found = [pattern] if pattern in loaded else []
        if not found:
            close = difflib.get_close_matches(pattern, loaded, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]}?)" if close else ""
            known = ", ".join(loaded) if loaded else "none"
            raise UsageError(
                f"--namespace {pattern!r} selects no loaded Rego package{hint}; loaded: {known}",
                code="unknown_namespace",
            )
        selected.update(found)
    return frozenset(selected)


# ---------------------------------------------------------------- exceptions


class _Result(Protocol):
    @property
    def rule(self) -> str: ...

    @property
    def message(self) -> str: ...


R = TypeVar("R", bound=_Result)


@dataclass(frozen=True)
class ExceptedRule:
    """One entry rule whose results an ``exception`` suppressed for one input.

    Attributes:
        policy: the policy id.
        rule: the entry rule (``deny_run_as_root``).
        enforcement: the rule's action (``deny``, ``warn``, ``dryrun``).
        message: conftest's message for it, the exception query
            (``data.main.exception[_][_] == "run_as_root"``).
        suppressed: the messages of the results that were suppressed (may be
            empty: conftest reports the exception either way).
    """

    policy: str
    rule: str
    enforcement: str
    message: str
    suppressed: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "rule": self.rule,
            "enforcement": self.enforcement,
            "msg": self.message,
            "suppressed": list(self.suppressed),
        }


def rule_suffix(rule: str) -> str:
    """The name an exception uses for ``rule`` (conftest ``removeRulePrefix``):
    ``deny_run_as_root`` -> ``run_as_root``, ``deny`` -> ``""``."""
    if rule in _PLAIN_RULES:
        return ""
    for prefix in ("violation_", "deny_", "warn_"):
        rule = rule.removeprefix(prefix)
    return rule


def exception_query(package: Sequence[str], suffix: str) -> str:
    """conftest's exception query, which is also its message for the exception."""
    return f"data.{'.'.join(package)}.exception[_][_] == {json.dumps(suffix)}"


def _members(value: Any) -> list[Any]:
    """The values of a collection (``x[_]``): list items, object values; nothing for scalars."""
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return list(value.values())
    return []


def excepted_suffixes(exception_value: Any) -> frozenset[str]:
    """The names ``exception[_][_]`` holds (the value of the ``exception`` rule)."""
    return frozenset(x for entry in _members(exception_value) for x in _members(entry) if isinstance(x, str))


def apply_exceptions(policy: Policy, results: Sequence[R], exception_value: Any) -> tuple[list[R], list[ExceptedRule]]:
    """Suppresses the results of the entry rules ``exception_value`` names.

    Args:
        policy: the policy (its ``rules`` are the entry rules and their actions).
        results: its results on one input (each with ``rule`` and ``message``).
        exception_value: the value of its package's ``exception`` rule on that
            input (a set read as a list; ``None`` or undefined: no exception).

    Returns:
        The results kept, and one :class:`ExceptedRule` per entry rule excepted.
    """
    names = excepted_suffixes(exception_value)
    if not names:
        return list(results), []
    excepted = {rule for rule in policy.rules if rule_suffix(rule) in names}
    kept = [r for r in results if r.rule not in excepted]
    out = [
        ExceptedRule(
            policy.id,
            rule,
            policy.rules[rule],
            exception_query(policy.package, rule_suffix(rule)),
            tuple(r.message for r in results if r.rule == rule),
        )
        for rule in sorted(excepted)
    ]
    return kept, out


# ---------------------------------------------------------------- combine


def combined_input(documents: Sequence[Document]) -> list[dict[str, Any]]:
    """conftest's combined input: ``[{"path", "contents"}]``, stably sorted by path."""
    ordered = sorted(documents, key=lambda d: d.source)
    return [{"path": d.source, "contents": d.obj} for d in ordered]


def combined_document(documents: Sequence[Document]) -> tuple[Document, tuple[str, ...]]:
    """The pseudo-document results on the combined input are reported against,
    and the files it was made of (in path order)."""
    files = tuple(dict.fromkeys(sorted(d.source for d in documents)))
    return Document({}, COMBINED_SOURCE, 0, 0), files


# ---------------------------------------------------------------- data


def check_base_data(data: Mapping[str, Any] | None) -> dict[str, Any]:
    """A copy of ``data`` fit to be merged at ``data`` beside ``data.inventory``.

    Raises:
        InputError: ``invalid_data`` (not a mapping with string keys of JSON
            values), ``reserved_data_key`` (an ``inventory`` or ``kubegate`` key).
    """
    if data is None:
        return {}
    if not isinstance(data, Mapping) or not all(isinstance(k, str) for k in data):
        raise InputError("data must be a mapping with string keys", code="invalid_data")
    for key in RESERVED_DATA_KEYS:
        if key in data:
            raise InputError(f"data.{key} is kubegate's and cannot be given as data", code="reserved_data_key")
    try:
        copied: dict[str, Any] = json.loads(json.dumps(data, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise InputError(f"data must hold JSON values only: {exc}", code="invalid_data") from None
    return copied


def load_data(paths: Sequence[str]) -> tuple[dict[str, Any], list[KubegateError]]:
    """Reads ``--data`` paths as conftest does: OPA's loader, data files only.

    A file named on the command line is merged at ``data`` (it must hold an
    object); a file found in a sub-directory of a named directory is merged
    under the sub-directory's path (``-d d``: ``d/a/x.yaml`` at ``data.a``);
    ``a.b:path`` roots a path at ``data.a.b`` (OPA's prefix form). Inside
    directories only ``.json``, ``.yaml`` and ``.yml`` files are data (Rego
    files there are parsed by the loader, then left out, as conftest leaves
    them out).

    Returns:
        The merged data (``{}`` when anything failed) and the errors, each
        located: the codes of :func:`kubegate.evaluator.loading.load_paths`
        (``yaml_parse_error`` with line and column, ``data_merge_conflict``,
        ``data_not_object``, ``file_not_found`` ...), ``unsupported_data_file``
        for a named file of another type, ``reserved_data_key`` for data at
        ``data.inventory`` or ``data.kubegate``.
    """
    errors: list[KubegateError] = []
    for raw in paths:
        _, path = split_prefix(raw)
        if os.path.isfile(path) and os.path.splitext(path)[1].lower() not in DATA_EXTENSIONS:
            errors.append(
                InputError(
                    f"--data {raw}: data files are {', '.join(DATA_EXTENSIONS)} (conftest reads no other)",
                    Location(path),
                    code="unsupported_data_file",
                )
            )
    if errors or not paths:
        return {}, errors
    try:
        loaded = load_paths(list(paths))
    except KubegateError as exc:
        return {}, list(exc.errors) if isinstance(exc, ErrorList) else [exc]
    for key in RESERVED_DATA_KEYS:
        if key in loaded.data:
            where = _definer(paths, key)
            errors.append(
                InputError(
                    f"--data defines data.{key}, which is kubegate's"
                    + (" (objects given to check are data.inventory)" if key == "inventory" else ""),
                    where,
                    code="reserved_data_key",
                )
            )
    return ({}, errors) if errors else (loaded.data, [])


def _definer(paths: Sequence[str], key: str) -> Location | None:
    """The --data path that put something at ``data.<key>`` (for the error's location)."""
    for raw in paths:
        prefix, path = split_prefix(raw)
        if prefix:
            if prefix[0] == key:
                return Location(path)
            continue
        if os.path.isdir(path):
            if os.path.isdir(os.path.join(path, key)):
                return Location(os.path.join(path, key))
            for name in sorted(os.listdir(path)):
                full = os.path.join(path, name)
                if os.path.isfile(full) and _top_keys(full) & {key}:
                    return Location(full)
        elif _top_keys(path) & {key}:
            return Location(path, 1, 1)
    return None


def _top_keys(path: str) -> set[str]:
    if os.path.splitext(path)[1].lower() not in DATA_EXTENSIONS:
        return set()
    try:
        value = read_document(path)
    except KubegateError:
        return set()
    return set(value) if isinstance(value, dict) else set()


def reads_data(modules: Iterable[ast.Module], keys: Iterable[str]) -> bool:
    """Whether ``modules`` refer to ``data.<key>`` for one of ``keys`` (imports
    included), or to ``data`` dynamically (``data[x]``, ``walk(data)``)."""
    wanted = set(keys)
    for module in modules:
        for imp in module.imports:
            if imp.path[0] == "data" and (len(imp.path) == 1 or imp.path[1] in wanted):
                return True
        for term in walk_terms(module.rules):
            prefix = ast.data_prefix(term) if isinstance(term, ast.Ref) else None
            if prefix is not None and (not prefix or prefix[0] in wanted):
                return True
    return False


def data_conflicts(modules: Iterable[ast.Module], data: Mapping[str, Any]) -> list[KubegateError]:
    """OPA's path-conflict check between rules and base data (``rego_compile_error``
    "conflicting rule for data path", which ``conftest test`` reports for a
    ``--data`` value where a rule is defined): one error per rule path.

    Args:
        modules: the modules as written (their rules carry source locations).
        data: the base data.
    """
    return list(rule_path_conflicts(modules, data, " (given by --data)"))


def has_exception_rule(modules: Iterable[ast.Module]) -> bool:
    """Whether ``modules`` define conftest's ``exception`` rule (no arguments)."""
    return any(
        rule.head.name == "exception" and rule.head.args is None and not rule.head.ref.path
        for module in modules
        for rule in module.rules
    )
