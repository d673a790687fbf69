"""Read Kubernetes objects from YAML/JSON files, streams, directories and stdin.

Every object keeps where it came from (file, position in the stream, line) so
findings and errors can point at it. YAML is read the way the Kubernetes API
machinery reads it for ``kubectl apply``: several documents per stream, ``List``
kinds expanded into their items, timestamps kept as strings, a repeated key in
a mapping rejected (``sigs.k8s.io/yaml`` strict mode). Every text is read
within the bounds of :mod:`kubegate.yamlio` (size, nesting depth, alias
expansion, float64 numbers, valid Unicode), JSON files included.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from kubegate.errors import InputError, Location
from kubegate.yamlio import STDIN, iter_yaml_stream, read_json, read_text

__all__ = [
    "YAML_SUFFIXES",
    "Document",
    "ScalarPosition",
    "iter_input_files",
    "load_documents",
    "load_file",
    "locate_field",
    "locate_value",
    "read_text",
]

YAML_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True)
class Document:
    """A Kubernetes object read from an input.

    Attributes:
        obj: the object as JSON-compatible data (camelCase keys as written).
        source: file path, or ``<stdin>``.
        index: 0-based position among the objects of ``source`` (after ``List``
            expansion).
        line: 1-based line where the object starts; 0 for JSON input.
    """

    obj: dict[str, Any]
    source: str
    index: int
    line: int

    @property
    def location(self) -> Location:
        return Location(self.source, self.line, 1 if self.line else 0)

    @property
    def kind(self) -> str:
        return str(self.obj.get("kind", ""))

    @property
    def api_version(self) -> str:
        return str(self.obj.get("apiVersion", ""))

    @property
    def name(self) -> str:
        meta = self.obj.get("metadata")
        return str(meta.get("name", "")) if isinstance(meta, dict) else ""

    @property
    def namespace(self) -> str:
        meta = self.obj.get("metadata")
        return str(meta.get("namespace", "") or "") if isinstance(meta, dict) else ""


def _is_list_kind(obj: dict[str, Any]) -> bool:
    kind = obj.get("kind")
    return isinstance(kind, str) and kind.endswith("List") and isinstance(obj.get("items"), list)


def _item_lines(node: yaml.Node) -> list[int]:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == "items" and isinstance(value, yaml.SequenceNode):
                return [item.start_mark.line + 1 for item in value.value]
    return []


def load_documents(text: str, source: str) -> list[Document]:
    """Parses a YAML (or JSON) stream into documents.

    The stream is read by :func:`kubegate.yamlio.iter_yaml_stream`, within its
    bounds (size, nesting depth, alias expansion, numbers, Unicode).

    Args:
        text: the stream; several documents separated by ``---``.
        source: name used in locations.

    Returns:
        One :class:`Document` per object; empty documents are dropped, ``List``
        kinds are replaced by their items.

    Raises:
        InputError: ``yaml_parse_error`` (malformed YAML or a duplicate key, with
            line and column), ``invalid_document`` (a document that is not a
            mapping, or a ``List`` item that is not one), or one of the bounds of
            :mod:`kubegate.yamlio`: ``document_too_large``, ``document_too_deep``,
            ``yaml_alias_limit``, ``number_out_of_range``, ``invalid_unicode``,
            ``yaml_invalid_key``, ``yaml_unsupported_tag``.
    """
    lines = text.splitlines()
    docs: list[Document] = []
    for loaded in iter_yaml_stream(text, source):
        value = loaded.value
        line = loaded.line
        if value is None:
            continue
        if not isinstance(value, dict):
            raise InputError(
                f"document {loaded.number} is a {type(value).__name__}, expected a Kubernetes object (a mapping)",
                Location(source, line, 1, lines[line - 1] if 0 < line <= len(lines) else None),
                code="invalid_document",
            )
        if _is_list_kind(value):
            item_lines = _item_lines(loaded.node)
            for i, item in enumerate(value["items"]):
                item_line = item_lines[i] if i < len(item_lines) else line
                if not isinstance(item, dict):
                    raise InputError(
                        f"item {i} of {value['kind']} is not an object",
                        Location(source, item_line, 1),
                        code="invalid_document",
                    )
                docs.append(Document(item, source, len(docs), item_line))
        else:
            docs.append(Document(value, source, len(docs), line))
    return docs


def _load_json(text: str, source: str) -> list[Document]:
    """Parses a JSON file: one object, or an array of objects (``List`` kinds expanded).

    Raises:
        InputError: ``json_parse_error``, ``invalid_document``, or a bound of
            :func:`kubegate.yamlio.read_json` (``document_too_large``,
            ``document_too_deep``, ``number_out_of_range``, ``invalid_unicode``).
    """
    value = read_json(text, source)
    items = value if isinstance(value, list) else [value]
    docs: list[Document] = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise InputError(f"JSON value {i} is not an object", Location(source), code="invalid_document")
        if _is_list_kind(item):
            for sub in item["items"]:
                if not isinstance(sub, dict):
                    raise InputError(
                        f"an item of {item['kind']} is not an object", Location(source), code="invalid_document"
                    )
                docs.append(Document(sub, source, len(docs), 0))
        else:
            docs.append(Document(item, source, len(docs), 0))
    return docs


def load_file(path: str) -> list[Document]:
    """Reads every object of one file (``-`` for stdin); see :func:`load_documents`."""
    text = read_text(path)
    source = "<stdin>" if path == STDIN else path
    if path.endswith(".json"):
        return _load_json(text, source)
    return load_documents(text, source)


def iter_input_files(paths: Iterable[str], suffixes: tuple[str, ...] = YAML_SUFFIXES) -> Iterator[str]:
    """Expands ``paths``: files as given, directories recursively (sorted, files with
    ``suffixes`` only, hidden entries skipped), ``-`` as stdin.

    Raises:
        InputError: ``file_not_found`` for a path that does not exist.
    """
    for path in paths:
        if path == STDIN:
            yield path
            continue
        if os.path.isdir(path):
            found = False
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if name.startswith(".") or not name.endswith(suffixes):
                        continue
                    found = True
                    yield os.path.join(root, name)
            if not found:
                raise InputError(
                    f"directory {path} contains no {'/'.join(suffixes)} files", Location(path), code="no_input"
                )
        elif os.path.exists(path):
            yield path
        else:
            raise InputError(f"no such file or directory: {path}", Location(path), code="file_not_found")


@dataclass(frozen=True)
class ScalarPosition:
    """Where a scalar value is written: ``line``/``column`` (1-based) of its first
    character (the indicator of a block scalar), its YAML ``style`` (``""``
    plain, ``'``, ``"``, ``|``, ``>``) and, for a block scalar, the indentation
    of its content (spaces)."""

    source: str
    line: int
    column: int
    style: str
    indent: int = 0


def locate_value(text: str, source: str, line: int, path: Sequence[str | int]) -> ScalarPosition | None:
    """The position of the scalar value at ``path`` in the document starting at
    ``line`` of ``text`` (see :func:`locate_field`), or ``None``."""
    node = _node_at(text, line, path)
    if not isinstance(node, yaml.ScalarNode):
        return None
    style = node.style or ""
    indent = 0
    if style in ("|", ">"):
        lines = text.splitlines()
        for candidate in lines[int(node.start_mark.line) + 1 :]:
            if candidate.strip():
                indent = len(candidate) - len(candidate.lstrip(" "))
                break
    return ScalarPosition(source, int(node.start_mark.line) + 1, int(node.start_mark.column) + 1, style, indent)


def _node_at(text: str, line: int, path: Sequence[str | int]) -> yaml.Node | None:
    found = _walk(text, line, path)
    return found[1] if found is not None else None


@functools.lru_cache(maxsize=2)
def _composed(text: str) -> tuple[yaml.Node | None, ...]:
    """The node trees of ``text``'s documents, composed once per text (a template's
    expressions are located one after another in the same file)."""
    try:
        return tuple(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError:
        return ()


def _walk(text: str, line: int, path: Sequence[str | int]) -> tuple[Any, yaml.Node] | None:
    """The node at ``path`` in the document starting at ``line``, with the mark
    of the last step (the key's, or the list item's), or ``None``."""
    for node in _composed(text):
        if node is None or int(node.start_mark.line) + 1 != line:
            continue
        found: yaml.Node = node
        mark = None
        for step in path:
            if isinstance(step, int) and isinstance(found, yaml.SequenceNode) and step < len(found.value):
                found = found.value[step]
                mark = found.start_mark
            elif isinstance(step, str) and isinstance(found, yaml.MappingNode):
                keys = (kv for kv in found.value if isinstance(kv[0], yaml.ScalarNode))
                pair = next((kv for kv in keys if kv[0].value == step), None)
                if pair is None:
                    return None
                mark = pair[0].start_mark
                found = pair[1]
            else:
                return None
        return mark, found
    return None


def locate_field(text: str, source: str, line: int, path: Sequence[str | int]) -> Location | None:
    """Where the key at ``path`` (keys and list indexes) is written in the document
    starting at ``line`` of ``text``, or ``None`` when it cannot be found.

    Only called for errors, so the text (already read within the bounds of
    :mod:`kubegate.yamlio`) is composed again without keeping the nodes.
    """
    found = _walk(text, line, path)
    if found is None or found[0] is None:
        return None
    mark = found[0]
    return Location(source, int(mark.line) + 1, int(mark.column) + 1)
