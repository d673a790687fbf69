"""Loading policy and data files as ``opa eval -d`` and ``opa test`` do.

:func:`load_paths` follows OPA's file loader
(https://github.com/open-policy-agent/opa/blob/main/v1/loader/loader.go):

* a path is a file or a directory, read recursively in name order;
* ``.rego`` files are parsed into modules (``*_test.rego`` files too); the
  Rego version is detected per file (``import rego.v1``, or v1-only syntax)
  unless one is forced (``--v0-compatible``);
* ``.json``, ``.yaml`` and ``.yml`` files are data. A data file named on the
  command line is merged at ``data`` (it must hold an object there); a data
  file found in a sub-directory is merged under that directory's path
  relative to the path given: with ``-d policies``, ``policies/a/b/x.json``
  lands at ``data.a.b``;
* a path may carry a prefix, ``a.b:file.json``, that roots its content at
  ``data.a.b``;
* inside directories, files of other types are ignored; a file named on the
  command line with another extension is read as Rego, JSON or YAML,
  whichever parses;
* two files may not define the same data value (``data_merge_conflict``),
  and a rule may not be defined where data is (``rego_compile_error``,
  OPA's "conflicting rule for data path" check).

Every problem is a :class:`~kubegate.errors.KubegateError` with a stable code
and the file (and line, where there is one); loading goes on past a bad file
so that one run reports them all. Files are read within the bounds of
:mod:`kubegate.yamlio` (size, depth, aliases, numbers).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kubegate.errors import ErrorList, InputError, KubegateError, Location, RegoCompileError
from kubegate.evaluator.program import Program
from kubegate.rego import ast
from kubegate.rego.ast import RegoVersion
from kubegate.rego.parser import parse_module
from kubegate.yamlio import STDIN, read_json, read_text, read_yaml

__all__ = [
    "DATA_EXTENSIONS",
    "REGO_EXTENSION",
    "STDIN",
    "LoadResult",
    "load_paths",
    "raise_errors",
    "read_document",
    "read_source",
    "rule_path_conflicts",
    "split_prefix",
]

REGO_EXTENSION = ".rego"
"""Files with this extension are parsed as Rego modules."""

DATA_EXTENSIONS = (".json", ".yaml", ".yml")
"""Files with these extensions are data documents."""

"""The path that names standard input (for :func:`read_document`)."""


@dataclass(frozen=True, slots=True)
class LoadResult:
    """What :func:`load_paths` read.

    Attributes:
        modules: the parsed modules, ordered by file name (the order ``opa test``
            runs them in).
        data: the base document: every data file merged at its path.
        files: every file read, in the order it was read.
    """

    modules: tuple[ast.Module, ...]
    data: dict[str, Any]
    files: tuple[str, ...]

    def program(self) -> Program:
        """Plans the modules over the data.

        Raises:
            RegoCompileError | ErrorList: the compile errors, located.
        """
        return Program(list(self.modules), self.data)


def raise_errors(errors: Sequence[KubegateError]) -> None:
    """Raises nothing for no errors, the error for one, an :class:`ErrorList` for several."""
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise ErrorList(errors)


def split_prefix(path: str) -> tuple[tuple[str, ...], str]:
    """Splits OPA's ``a.b:path`` form into ``(("a", "b"), "path")``.

    A path without a prefix gives ``((), path)``; so does a URL
    (``file:///x``) and a path that exists as written (a file name with a
    colon in it).
    """
    if path.startswith("file://"):
        return (), path[len("file://") :]
    colon = path.find(":")
    if colon <= 0 or path.find("://") == colon or os.path.exists(path):
        return (), path
    return tuple(path[:colon].split(".")), path[colon + 1 :]


def read_source(path: str) -> str:
    """Reads a file (``-``: standard input) with :func:`kubegate.yamlio.read_text`,
    without a leading byte-order mark.

    Raises:
        InputError: the codes of :func:`kubegate.yamlio.read_text`.
    """
    return read_text(path).removeprefix("\ufeff")


def read_document(path: str) -> Any:
    """Reads one JSON or YAML document (``-``: standard input), as ``opa eval
    --input`` does: ``.json`` files as JSON, ``.yaml``/``.yml`` as YAML, other
    files and standard input as JSON when they look like JSON, else YAML.

    Returns:
        The document as JSON data (``None`` for ``null``).

    Raises:
        InputError: ``empty_input``, the codes of :func:`read_source`, and
            the parse and bound codes of :func:`kubegate.yamlio.read_json` /
            :func:`kubegate.yamlio.read_yaml`, with line and column.
    """
    text = read_source(path)
    source = "<stdin>" if path == STDIN else path
    if not text.strip():
        raise InputError(f"{source} is empty: expected a JSON or YAML document", Location(source), code="empty_input")
    ext = os.path.splitext(path)[1].lower()
    if ext == ".json" or (ext not in (".yaml", ".yml") and text.lstrip()[:1] in ("{", "[")):
        return read_json(text, source)
    doc = read_yaml(text, source)
    return doc.value if doc is not None else None


class _Loader:
    """The state of one :func:`load_paths` call."""

    def __init__(self, rego_version: RegoVersion | None) -> None:
        self.version = rego_version
        self.data: dict[str, Any] = {}
        self.modules: dict[str, ast.Module] = {}
        self.files: list[str] = []
        self.errors: list[KubegateError] = []
        self.owners: dict[tuple[str, ...], str] = {}
        self.seen: set[tuple[tuple[str, ...], str]] = set()

    # ------------------------------------------------------------ walking

    def path(self, path: str, prefix: tuple[str, ...], depth: int, parents: frozenset[str]) -> None:
        try:
            is_dir = os.path.isdir(path)
            if not is_dir:
                os.stat(path)
        except FileNotFoundError:
            self.errors.append(InputError(f"no such file or directory: {path}", Location(path), code="file_not_found"))
            return
        except OSError as exc:
            self.errors.append(
                InputError(f"cannot read {path}: {exc.strerror}", Location(path), code="file_unreadable")
            )
            return
        if not is_dir:
            self.file(os.path.normpath(path), prefix, depth)
            return
        real = os.path.realpath(path)
        if real in parents:
            return  # a symbolic link back up the tree: its files are loaded already
        if depth > 0:
            prefix = (*prefix, os.path.basename(os.path.normpath(path)))
        try:
            names = sorted(os.listdir(path))
        except OSError as exc:
            self.errors.append(
                InputError(f"cannot read {path}: {exc.strerror}", Location(path), code="file_unreadable")
            )
            return
        for name in names:
            self.path(os.path.join(path, name), prefix, depth + 1, parents | {real})

    def file(self, path: str, prefix: tuple[str, ...], depth: int) -> None:
        ext = os.path.splitext(path)[1].lower()
        if ext != REGO_EXTENSION and ext not in DATA_EXTENSIONS and depth > 0:
            return
        key = (prefix, os.path.realpath(path))
        if key in self.seen:
            return  # named twice (``-d dir -d dir/x.rego``): loaded once
        self.seen.add(key)
        try:
            text = read_source(path)
            self.files.append(path)
            if ext == REGO_EXTENSION:
                self.module(parse_module(text, path, self.version))
            elif ext == ".json":
                self.merge(path, prefix, read_json(text, path))
            elif ext in (".yaml", ".yml"):
                doc = read_yaml(text, path)
                self.merge(path, prefix, doc.value if doc is not None else None)
            else:
                self.any_type(path, prefix, text)
        except KubegateError as exc:
            self.errors.append(exc)

    def any_type(self, path: str, prefix: tuple[str, ...], text: str) -> None:
        """A file named on the command line with an unknown extension (OPA's
        ``loadFileForAnyType``): Rego, else JSON, else a YAML mapping."""
        try:
            self.module(parse_module(text, path, self.version))
            return
        except KubegateError:
            pass
        for reader in (read_json, read_yaml):
            try:
                value = reader(text, path)
            except KubegateError:
                continue
            if reader is read_yaml:
                value = value.value if value is not None else None
                if not isinstance(value, dict):
                    break
            self.merge(path, prefix, value)
            return
        raise InputError(
            f"{path} is neither Rego nor JSON nor YAML (known extensions: "
            f"{', '.join((REGO_EXTENSION, *DATA_EXTENSIONS))})",
            Location(path),
            code="unrecognized_file",
        )

    # ------------------------------------------------------------ results

    def module(self, module: ast.Module) -> None:
        self.modules[module.file] = module

    def merge(self, path: str, prefix: tuple[str, ...], value: Any) -> None:
        if not prefix and not isinstance(value, dict):
            raise InputError(
                f"a data file loaded at data must hold an object, not {_json_type(value)} "
                "(put it in a directory, or give a prefix: name:path)",
                Location(path, 1, 1),
                code="data_not_object",
            )
        if not prefix:
            for k, v in value.items():
                self._merge_at(self.data, (k,), v, path)
            return
        node = self.data
        for i, name in enumerate(prefix[:-1]):
            nxt = node.get(name)
            if nxt is None:
                nxt = node[name] = {}
            elif not isinstance(nxt, dict):
                self._conflict(prefix[: i + 1], path)
                return
            node = nxt
        self._merge_at(node, prefix, value, path)

    def _merge_at(self, node: dict[str, Any], at: tuple[str, ...], value: Any, path: str) -> None:
        name = at[-1]
        if name not in node:
            node[name] = value
            self.owners.setdefault(at, path)
            return
        existing = node[name]
        if isinstance(existing, dict) and isinstance(value, dict):
            for k, v in value.items():
                self._merge_at(existing, (*at, k), v, path)
            return
        self._conflict(at, path)

    def _conflict(self, at: tuple[str, ...], path: str) -> None:
        other = next((self.owners[at[:n]] for n in range(len(at), 0, -1) if at[:n] in self.owners), None)
        by = f" (also defined by {other})" if other is not None and other != path else ""
        self.errors.append(
            InputError(
                f"data.{'.'.join(at)} is defined more than once{by}",
                Location(path),
                code="data_merge_conflict",
                details={"path": list(at)},
            )
        )

    def check_rule_paths(self, modules: Iterable[ast.Module]) -> None:
        """OPA's path-conflict check: no rule where the data holds a value."""
        self.errors.extend(rule_path_conflicts(modules, self.data))


def rule_path_conflicts(
    modules: Iterable[ast.Module], data: Mapping[str, Any], note: str = ""
) -> list[RegoCompileError]:
    """OPA's path-conflict check between rules and base data: one
    ``rego_compile_error`` "conflicting rule for data path ... found" per rule
    path where ``data`` holds a value (OPA ``ast/compile.go``
    ``checkRuleConflicts`` with the store's ``storage.NonEmpty``); ``note`` is
    appended to each message (``" (given by --data)"``)."""
    errors: list[RegoCompileError] = []
    reported: set[tuple[str, ...]] = set()
    for module in modules:
        for rule in module.rules:
            path = (*module.package.path, *_const_head(rule))
            if path in reported or not _data_at(data, path):
                continue
            reported.add(path)
            errors.append(
                RegoCompileError(
                    f"conflicting rule for data path {'/'.join(path)} found{note}",
                    rule.loc or module.loc,
                    code="rego_compile_error",
                )
            )
    return errors


def _const_head(rule: ast.Rule) -> list[str]:
    """The name and the leading constant segments of a rule's head reference."""
    out = [rule.head.name]
    for seg in rule.head.ref.path:
        if not (isinstance(seg, ast.Scalar) and type(seg.value) is str):
            break
        out.append(seg.value)
    return out


def _data_at(data: Mapping[str, Any], path: tuple[str, ...]) -> bool:
    """Whether ``data`` is non-empty at ``path``, or holds a non-object on the way
    (OPA's ``storage.NonEmpty``)."""
    node: Any = data
    for name in path:
        if not isinstance(node, dict):
            return True
        if name not in node:
            return False
        node = node[name]
    return not (isinstance(node, dict) and not node)


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "a string"


def load_paths(paths: Sequence[str], *, rego_version: RegoVersion | None = None) -> LoadResult:
    """Loads Rego modules and data from files and directories, as OPA's ``-d``.

    Args:
        paths: files or directories, each optionally prefixed (``a.b:path``).
        rego_version: ``None`` to detect each module's version, or ``"v0"`` /
            ``"v1"`` to force one (``--v0-compatible`` is ``"v0"``).

    Returns:
        The modules (ordered by file name), the merged data and the files read.

    Raises:
        KubegateError | ErrorList: every problem found, each with its file and,
            where known, line and column: ``file_not_found``, ``file_unreadable``,
            ``invalid_encoding``, ``document_too_large``, ``rego_parse_error``,
            ``json_parse_error``, ``yaml_parse_error`` (and the other
            :mod:`kubegate.yamlio` codes), ``data_not_object``,
            ``data_merge_conflict``, ``unrecognized_file``,
            ``rego_compile_error`` (a rule where data is).
    """
    loader = _Loader(rego_version)
    for raw in paths:
        prefix, path = split_prefix(raw)
        if any(not part for part in prefix):
            loader.errors.append(
                InputError(
                    f"invalid data prefix in {raw!r}: expected name.name:path", Location(raw), code="usage_error"
                )
            )
            continue
        loader.path(path, prefix, 0, frozenset())
    modules = tuple(loader.modules[name] for name in sorted(loader.modules))
    loader.check_rule_paths(modules)
    raise_errors(loader.errors)
    return LoadResult(modules, loader.data, tuple(loader.files))
