"""The module graph of a main module, for ``kubegate golicense check``.

:func:`resolve_graph` is minimal version selection
(https://go.dev/ref/mod#minimal-version-selection) over the module graph
with graph pruning (https://go.dev/ref/mod#graph-pruning), as
``cmd/go/internal/modload`` builds it (``readModGraph``): when the main
module is at ``go 1.17`` or higher, the graph holds its requirements and
the requirements of each of them, but the go.mod files of those are not
read, except below a module at ``go 1.16`` or lower (no ``go`` directive
counts as 1.16), whose requirements are followed transitively; a main
module below 1.17 gets the whole transitive graph. The build list holds
the highest version of each path in the graph, which is what ``go list -m
all`` prints for a tidy main module. The main module's ``replace``
directives with a module version apply (the replacement's go.mod is read;
a replacement by a local directory leaves the requirement unread and is
reported as ``local``) and its ``exclude`` directives drop versions.
:func:`go_list_graph` asks a Go toolchain instead (``go list -m -json all``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from kubegate.errors import InputError, Location
from kubegate.goproxy import semver
from kubegate.goproxy.gomod import GoMod, parse_gomod

__all__ = ["ModuleRef", "go_list_graph", "prunes", "resolve_graph"]


@dataclass(frozen=True)
class ModuleRef:
    """One module of the build list (``replaced_by`` when a ``replace`` applied)."""

    path: str
    version: str
    replaced_by: str = ""


def prunes(gomod: GoMod) -> bool:
    """Whether a module's requirements are pruned (its ``go`` directive is 1.17 or higher)."""
    return semver.compare("v" + (gomod.go or "1.16"), "v1.17") >= 0 if gomod.go[:1].isdigit() else False


def resolve_graph(main: GoMod, fetch_mod: Callable[[str, str], bytes], limit: int = 20_000) -> list[ModuleRef]:
    """The build list of ``main`` (sorted by path), fetching go.mod files with ``fetch_mod(path, version)``.

    Raises:
        InputError: ``module_graph_too_large`` past ``limit`` module versions;
            whatever ``fetch_mod`` raises for a module it cannot get.
    """
    replace: dict[tuple[str, str], tuple[str, str]] = {}
    for old, old_v, new, new_v in main.replaces:
        replace[(old, old_v)] = (new, new_v)
    excluded = set(main.excludes)
    nodes: set[tuple[str, str]] = set()
    loaded: set[tuple[tuple[str, str], bool]] = set()
    queue = [((r.path, r.version), prunes(main)) for r in main.requires]
    nodes.update(m for m, _ in queue if m not in excluded)
    while queue:
        module, pruned = queue.pop()
        if module in excluded or (module, pruned) in loaded:
            continue
        loaded.add((module, pruned))
        if len(loaded) > limit:
            raise InputError(f"module graph has more than {limit} versions", code="module_graph_too_large")
        path, version = module
        target = replace.get(module) or replace.get((path, ""))
        if target is not None and not target[1]:
            continue  # a local directory
        source_path, source_version = target if target is not None else module
        gomod = parse_gomod(fetch_mod(source_path, source_version).decode("utf-8", "replace"), f"{path}@{version}")
        requires = [(r.path, r.version) for r in gomod.requires if (r.path, r.version) not in excluded]
        nodes.update(requires)
        if not pruned or not prunes(gomod):  # below an unpruned module everything is loaded
            queue.extend((m, False) for m in requires)
    selected: dict[str, str] = {}
    for path, version in nodes:
        if path not in selected or semver.compare(version, selected[path]) > 0:
            selected[path] = version
    out = []
    for path in sorted(selected):
        version = selected[path]
        target = replace.get((path, version)) or replace.get((path, ""))
        by = "" if target is None else (f"{target[0]} {target[1]}".strip() if target[1] else f"local {target[0]}")
        out.append(ModuleRef(path, version, by))
    return out


def go_list_graph(directory: str, env: Mapping[str, str] | None = None) -> list[ModuleRef]:
    """``go list -m -json all`` in ``directory`` (the main module left out).

    Raises:
        InputError: ``go_not_found``, ``go_list_failed``.
    """
    go = shutil.which("go")
    if go is None:
        raise InputError("no go command on PATH", code="go_not_found")
    run = subprocess.run(
        [go, "list", "-m", "-json", "all"],
        cwd=directory,
        env=dict(env if env is not None else os.environ),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if run.returncode != 0:
        raise InputError(run.stderr.strip()[-2000:], Location(directory), code="go_list_failed")
    decoder = json.JSONDecoder()
    text, pos, out = run.stdout, 0, []
    while pos < len(text):
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            break
        item, pos = decoder.raw_decode(text, pos)
        if item.get("Main"):
            continue
        rep = item.get("Replace") or {}
        by = f"{rep.get('Path', '')} {rep.get('Version', '')}".strip() if rep else ""
        out.append(ModuleRef(item["Path"], item.get("Version", ""), by))
    return sorted(out, key=lambda m: m.path)
