"""The DSL compiler's entry points: source text or files in, Rego modules and diagnostics out.

``compile_source`` parses, checks (:mod:`kubegate.dsl.check`) and generates
(:mod:`kubegate.dsl.codegen`) one file; ``compile_files`` does several, with
rule ids unique across them. A rule with a finding is not generated; the
others still are, and every finding is returned (none is raised).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from kubegate.dsl import ast
from kubegate.dsl.check import check_module
from kubegate.dsl.codegen import generate_rule, print_rule
from kubegate.dsl.parser import DslError, parse_dsl
from kubegate.dsl.schema import SchemaSet
from kubegate.errors import Location
from kubegate.rego import ast as rego_ast

__all__ = ["DSL_SUFFIX", "CompileResult", "CompiledRule", "compile_files", "compile_source"]

DSL_SUFFIX = ".kgr"


@dataclass(frozen=True)
class CompiledRule:
    """One rule as Rego.

    Attributes:
        id: the rule id (the policy id).
        module: the generated Rego AST.
        text: the module printed as Rego v1 with its METADATA.
        location: where the rule is in the DSL file.
    """

    id: str
    module: rego_ast.Module
    text: str
    location: Location | None


@dataclass(frozen=True)
class CompileResult:
    """Rules that compiled, and every diagnostic (in file order)."""

    rules: tuple[CompiledRule, ...] = ()
    errors: tuple[DslError, ...] = ()
    duration_ms: float = field(default=0.0, compare=False)


def compile_source(
    text: str,
    file: str,
    schemas: SchemaSet | None = None,
    known_rules: Mapping[str, Location | None] | None = None,
) -> CompileResult:
    """Compiles one DSL file's text.

    Args:
        text: the source.
        file: the name locations use.
        schemas: kinds and types to check against (default: Kubernetes
            :data:`~kubegate.dsl.schema.DEFAULT_KUBERNETES_VERSION`, no CRDs).
        known_rules: ids defined by other files, for ``dsl_duplicate_rule``.
    """
    start = time.perf_counter()
    schemas = schemas or SchemaSet()
    try:
        module = parse_dsl(text, file)
    except DslError as exc:
        return CompileResult((), (exc,), (time.perf_counter() - start) * 1000)
    return _compile_module(module, schemas, known_rules, start)


def _compile_module(
    module: ast.Module, schemas: SchemaSet, known_rules: Mapping[str, Location | None] | None, start: float
) -> CompileResult:
    infos, param_types, errors = check_module(module, schemas, known_rules)
    param_failed = any(e.location is not None and any(e.location == p.loc for p in module.params) for e in errors)
    rules = []
    for info in infos:
        if not info.ok or param_failed or not info.kinds:
            continue
        generated = generate_rule(info, module.params, param_types, module.file)
        rules.append(CompiledRule(info.rule.id, generated, print_rule(generated), info.rule.loc))
    return CompileResult(tuple(rules), tuple(errors), (time.perf_counter() - start) * 1000)


def compile_files(paths: Iterable[str], schemas: SchemaSet | None = None) -> CompileResult:
    """Compiles several files; rule ids must be unique across them.

    Unreadable files are ``file_not_found`` / ``file_unreadable`` diagnostics.
    """
    start = time.perf_counter()
    schemas = schemas or SchemaSet()
    rules: list[CompiledRule] = []
    errors: list[DslError] = []
    known: dict[str, Location | None] = {}
    for path in paths:
        try:
            text = Path(path).read_text("utf-8")
        except FileNotFoundError:
            errors.append(DslError(f"no such file: {path}", Location(path), code="file_not_found"))
            continue
        except (OSError, UnicodeDecodeError) as exc:
            errors.append(DslError(f"cannot read {path}: {exc}", Location(path), code="file_unreadable"))
            continue
        result = compile_source(text, path, schemas, known)
        rules.extend(result.rules)
        errors.extend(result.errors)
        for rule in result.rules:
            known.setdefault(rule.id, rule.location)
        if not result.rules:
            try:
                for r in parse_dsl(text, path).rules:
                    known.setdefault(r.id, r.loc)
            except DslError:
                pass
    return CompileResult(tuple(rules), tuple(errors), (time.perf_counter() - start) * 1000)
