"""The module graph of a main module, for ``kubegate golicense check``.

:func:`resolve_graph` is minimal version selection
(https://go.dev/ref/mod#minimal-version-selection): every module version
reachable through ``require`` from the main module's go.mod is visited, and
the build list holds the highest version of each path. The main module's
``replace`` directives with a module version apply (a replacement by a
local directory leaves the requirement unresolved and is reported as
``local``) and its ``exclude`` directives drop versions; graph pruning of
go 1.17+ modules is not applied, so the list can hold a few modules the go
command would prune (it is never smaller). :func:`go_list_graph` asks a Go
toolchain instead (``go list -m -json all``), which is exact.
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

__all__ = ["ModuleRef", "go_list_graph", "resolve_graph"]


@dataclass(frozen=True)
class ModuleRef:
    """One module of the build list (``replaced_by`` when a ``replace`` applied)."""

    path: str
    version: str
    replaced_by: str = ""


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
    selected: dict[str, str] = {}
    seen: set[tuple[str, str]] = set()
    queue = [(r.path, r.version) for r in main.requires]
    while queue:
        path, version = queue.pop()
        if (path, version) in seen or (path, version) in excluded:
            continue
        seen.add((path, version))
        if len(seen) > limit:
            raise InputError(f"module graph has more than {limit} versions", code="module_graph_too_large")
        if semver.compare(version, selected.get(path, "")) > 0 or path not in selected:
            selected[path] = version
        target = replace.get((path, version)) or replace.get((path, ""))
        if target is not None and not target[1]:
            continue  # a local directory
        source_path, source_version = target if target is not None else (path, version)
        gomod = parse_gomod(fetch_mod(source_path, source_version).decode("utf-8", "replace"), f"{path}@{version}")
        queue.extend((r.path, r.version) for r in gomod.requires)
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
