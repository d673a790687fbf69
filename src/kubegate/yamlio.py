"""Bounded YAML and JSON reading, shared by every reader in kubegate.

Every YAML (and JSON) text kubegate reads -- manifests, policy files, Rego
METADATA blocks, ``--parameters`` files, redaction configs, suites -- goes
through this module, so one set of rules keeps a small hostile file from
ending a run in a traceback, a hang or a memory blow-up. Each rule raises an
:class:`~kubegate.errors.InputError` with a stable code and the file, line and
column of the offending place:

``document_too_large``
    the text is over :data:`MAX_DOCUMENT_BYTES` (UTF-8 bytes), checked before
    parsing. The Kubernetes API server refuses requests over 3 MiB; the limit
    leaves room for multi-document streams and ``List`` files.
``document_too_deep``
    mappings and sequences nest deeper than :data:`MAX_DEPTH` levels (the
    document's top-level collection is level 1; aliases count at the depth
    where they are used). Real manifests nest fewer than 40 levels; the limit
    keeps every later stage (construction, the backend's input conversion,
    printing parameters as Rego) far from Python's recursion limit.
``yaml_alias_limit``
    aliases would expand the document too much ("billion laughs"). The
    expanded size is counted over the composed node graph, each alias counted
    every time it is used, before anything is constructed. A document's
    aliases may add at most ``max(ALIAS_RATIO_FROM, MAX_ALIAS_RATIO x its own
    nodes)`` nodes (10,000, or 100 times what is written), and never more than
    :data:`MAX_ALIAS_NODES` (1,000,000) -- go-yaml's "excessive aliasing" rule
    in spirit (https://github.com/go-yaml/yaml/blob/v3/decode.go). The nodes
    aliases add over a whole stream are bounded by :data:`MAX_ALIAS_NODES`
    too. The error points at a smallest node that is over the budget by itself.
``number_out_of_range``
    a number Kubernetes cannot hold: an integer or float beyond float64
    (``1.0e+400``, a 400-digit integer, Python's 4300-digit string limit),
    ``.inf`` or ``.nan`` (JSON has neither; ``encoding/json`` refuses them).
``invalid_unicode``
    a lone UTF-16 surrogate (``"\\ud800"``, or such a character in a text
    given from memory): it has no UTF-8 encoding, so nothing downstream could
    hash, print or evaluate it. Go's ``encoding/json`` would replace it with
    U+FFFD; for policies and manifests an error is clearer than a silent
    change.
``yaml_invalid_key``
    a mapping or sequence used as a mapping key (``{a: 1}: x``, ``? [1, 2]``):
    JSON keys are strings.
``yaml_unsupported_tag``
    ``!!binary``, ``!!set``, ``!!omap``, ``!!pairs``: values JSON cannot hold.
``yaml_parse_error`` / ``json_parse_error``
    any other malformed text, and a repeated key in a mapping.

YAML is read the way Kubernetes reads manifests (``sigs.k8s.io/yaml``): YAML
1.1 scalars, timestamps kept as strings, duplicate keys rejected (a merge
key's values may be overridden by the mapping's own keys, as the merge spec
says), and non-string scalar keys turned into strings (``1: a`` is ``{"1": "a"}``,
``true`` ``"true"``, ``null`` ``"null"``). The values produced are plain JSON
data (``dict`` with ``str`` keys, ``list``, ``str``, ``int``, ``float``,
``bool``, ``None``).
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from kubegate.errors import InputError, Location

__all__ = [
    "ALIAS_RATIO_FROM",
    "MAX_ALIAS_NODES",
    "MAX_ALIAS_RATIO",
    "MAX_DEPTH",
    "MAX_DOCUMENT_BYTES",
    "STDIN",
    "YamlDocument",
    "check_size",
    "check_text",
    "check_value",
    "find_surrogate",
    "iter_yaml_stream",
    "read_json",
    "read_text",
    "read_yaml",
    "read_yaml_stream",
]

MAX_DOCUMENT_BYTES = 32 * 1024 * 1024
"""Largest text (UTF-8 bytes) a reader accepts: one file, one stream."""

MAX_DEPTH = 128
"""Deepest nesting of mappings and sequences (the top-level collection is level 1)."""

MAX_ALIAS_NODES = 1_000_000
"""Most nodes aliases may add to a document, and to a whole stream."""

MAX_ALIAS_RATIO = 100
"""Aliases may add this many times the nodes written in a document (when that is over :data:`ALIAS_RATIO_FROM`)."""

ALIAS_RATIO_FROM = 10_000
"""Nodes aliases may always add to a document, however small it is."""

_FLOAT_MAX = sys.float_info.max
_SIZE_CAP = 1 << 62
_SURROGATE = re.compile("[\ud800-\udfff]")
_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# The C parser rejects lone-surrogate escapes itself; the pure-Python one does not.
_C_PARSER = _BaseLoader is not yaml.SafeLoader


# ------------------------------------------------------------------ locations


def _snippet(lines: list[str], line: int) -> str | None:
    return lines[line - 1] if 0 < line <= len(lines) else None


def _position(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of character ``offset`` in ``text``."""
    line = text.count("\n", 0, offset) + 1
    start = text.rfind("\n", 0, offset) + 1
    return line, offset - start + 1


def _at(source: str, text: str, offset: int) -> Location:
    line, column = _position(text, offset)
    return Location(source, line, column, _snippet(text.splitlines(), line))


def _at_mark(source: str, lines: list[str], mark: Any) -> Location:
    if mark is None:
        return Location(source)
    return Location(source, mark.line + 1, mark.column + 1, _snippet(lines, mark.line + 1))


# ------------------------------------------------------------------ text checks


def find_surrogate(text: str) -> int:
    """Offset of the first lone surrogate character in ``text``, or -1."""
    found = _SURROGATE.search(text)
    return found.start() if found else -1


def check_size(text: str, source: str, limit: int = MAX_DOCUMENT_BYTES) -> None:
    """Refuses a text over ``limit`` UTF-8 bytes.

    Raises:
        InputError: ``document_too_large``.
    """
    if len(text) * 4 <= limit:
        return
    size = len(text) if len(text) > limit else len(text.encode("utf-8", "surrogatepass"))
    if size > limit:
        raise InputError(
            f"the text is larger than {limit} bytes; split it into several files",
            Location(source),
            code="document_too_large",
            details={"limit": limit},
        )


STDIN = "-"


def read_text(path: str) -> str:
    """Reads a file (``-``: standard input) as UTF-8 text, refusing a file over
    :data:`MAX_DOCUMENT_BYTES` before reading it. The one bounded file reader of
    every loader (manifests, policies, ``kubegate eval -d``/``-i``).

    Raises:
        InputError: ``file_not_found``, ``file_unreadable``, ``invalid_encoding``
            (with the line of the first bad byte) or ``document_too_large``.
    """
    if path == STDIN:
        try:
            text = sys.stdin.read(MAX_DOCUMENT_BYTES + 1)
        except UnicodeDecodeError as exc:
            raise InputError(
                f"standard input is not UTF-8: {exc.reason}", Location("<stdin>"), code="invalid_encoding"
            ) from None
        check_size(text, "<stdin>")
        return text
    try:
        if os.stat(path).st_size > MAX_DOCUMENT_BYTES:
            raise InputError(
                f"{path} is larger than {MAX_DOCUMENT_BYTES} bytes; split it into several files",
                Location(path),
                code="document_too_large",
                details={"limit": MAX_DOCUMENT_BYTES},
            )
        with open(path, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        raise InputError(f"no such file: {path}", Location(path), code="file_not_found") from None
    except IsADirectoryError:
        raise InputError(f"{path} is a directory", Location(path), code="file_unreadable") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}", Location(path), code="file_unreadable") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise InputError(
            f"{path} is not UTF-8 text: {exc.reason}", Location(path, line), code="invalid_encoding"
        ) from None


def check_text(text: str, source: str, limit: int = MAX_DOCUMENT_BYTES) -> None:
    """The checks every text gets before parsing: its size and lone surrogates.

    Raises:
        InputError: ``document_too_large`` or ``invalid_unicode`` (at the character).
    """
    check_size(text, source, limit)
    offset = find_surrogate(text)
    if offset >= 0:
        raise InputError(
            f"lone UTF-16 surrogate U+{ord(text[offset]):04X} (not valid Unicode text)",
            _at(source, text, offset),
            code="invalid_unicode",
        )


# ------------------------------------------------------------------ YAML loader


class _Refused(yaml.YAMLError):
    """A value the loader refuses, with its code and where it is."""

    def __init__(self, code: str, message: str, mark: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.mark = mark


def _number_error(node: yaml.Node, what: str) -> _Refused:
    return _Refused(
        "number_out_of_range",
        f"{what} {node.value[:40]!s}{'...' if len(node.value) > 40 else ''} cannot be held by Kubernetes "
        "(numbers are float64; .inf and .nan are not JSON)",
        node.start_mark,
    )


def _key_text(key: Any) -> Any:
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    if isinstance(key, int | float):
        return repr(key)
    return key


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[str, Any]:
    explicit = sum(1 for key_node, _ in node.value if key_node.tag != "tag:yaml.org,2002:merge")
    loader.flatten_mapping(node)
    merged = len(node.value) - explicit  # flatten_mapping puts the merged pairs first
    out: dict[str, Any] = {}
    from_merge: set[str] = set()
    for index, (key_node, value_node) in enumerate(node.value):
        if not isinstance(key_node, yaml.ScalarNode):
            kind = "mapping" if isinstance(key_node, yaml.MappingNode) else "sequence"
            raise _Refused(
                "yaml_invalid_key", f"a {kind} cannot be a mapping key (keys are strings)", key_node.start_mark
            )
        key = _key_text(loader.construct_object(key_node, deep=True))
        if not isinstance(key, str):
            raise _Refused("yaml_invalid_key", f"{key!r} cannot be a mapping key", key_node.start_mark)
        if index < merged:
            from_merge.add(key)  # a merge key's values may be overridden, by later merges and own keys
        elif key in out and key not in from_merge:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark, f"found duplicate key {key!r}", key_node.start_mark
            )
        else:
            from_merge.discard(key)
        out[key] = loader.construct_object(value_node, deep=True)
    return out


def _unsupported(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    tag = node.tag.rsplit(":", 1)[-1]
    raise _Refused("yaml_unsupported_tag", f"!!{tag} values cannot be represented in JSON", node.start_mark)


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    if str(node.value).count(":") > 200:  # sexagesimal: 60**174 is already beyond float64
        raise _number_error(node, "integer")
    try:
        number = int(yaml.SafeLoader.construct_yaml_int(loader, node))
    except ValueError:  # over Python's int-string digit limit
        raise _number_error(node, "integer") from None
    if abs(number) > _FLOAT_MAX:
        raise _number_error(node, "integer")
    return number


def _construct_float(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> float:
    if str(node.value).count(":") > 200:
        raise _number_error(node, "number")
    number = float(yaml.SafeLoader.construct_yaml_float(loader, node))
    if not math.isfinite(number):
        raise _number_error(node, "number")
    return number


def _construct_timestamp(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> str:
    return str(loader.construct_scalar(node))  # kept as written, as Kubernetes does


class _Loader(_BaseLoader):  # type: ignore[valid-type,misc]
    """SafeLoader (libyaml's parser when available) producing JSON data: timestamps
    as strings, duplicate and collection keys rejected, non-string keys
    stringified, numbers in float64."""


class _PyLoader(yaml.SafeLoader):
    """The same on PyYAML's pure-Python parser, the one ``yaml.safe_load`` uses."""


def _register(cls: type[yaml.SafeLoader]) -> None:
    cls.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
    cls.add_constructor("tag:yaml.org,2002:int", _construct_int)
    cls.add_constructor("tag:yaml.org,2002:float", _construct_float)
    cls.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)
    for tag in ("binary", "set", "omap", "pairs"):
        cls.add_constructor(f"tag:yaml.org,2002:{tag}", _unsupported)


_register(_Loader)
_register(_PyLoader)


# ------------------------------------------------------------------ node graph bounds


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


class _Budget:
    """Alias-made nodes counted over a whole stream."""

    def __init__(self) -> None:
        self.alias_nodes = 0


# An anchor (``&name``) where YAML allows one; without anchors there are no
# aliases and the cheaper depth-only walk is enough.
_ANCHOR = re.compile(r"(?:^|[\s\[{,:?-])&[^\s\[\]{},]", re.MULTILINE)


def _too_deep(node: yaml.Node, source: str, lines: list[str]) -> InputError:
    return InputError(
        f"the document nests deeper than {MAX_DEPTH} levels of mappings and sequences",
        _at_mark(source, lines, node.start_mark),
        code="document_too_deep",
        details={"limit": MAX_DEPTH},
    )


def _check_depth(root: yaml.Node, source: str, lines: list[str]) -> None:
    """The depth bound for a document without anchors (a tree: no alias to count).

    Raises:
        InputError: ``document_too_deep`` at the first node below the limit.
    """
    stack: list[tuple[yaml.Node, int]] = [(root, 1)]
    scalar = yaml.ScalarNode
    while stack:
        node, level = stack.pop()
        if level > MAX_DEPTH:
            raise _too_deep(node, source, lines)
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if not isinstance(key, scalar):
                    stack.append((key, level + 1))
                if not isinstance(value, scalar):
                    stack.append((value, level + 1))
        else:
            stack.extend((child, level + 1) for child in node.value if not isinstance(child, scalar))


def _measure(root: yaml.Node, source: str, lines: list[str], budget: _Budget, scalars: bool) -> None:
    """Checks the depth and alias expansion of one composed document, without
    recursion and without expanding anything.

    Raises:
        InputError: ``document_too_deep``, ``yaml_alias_limit``,
            ``yaml_parse_error`` (an alias inside its own anchor),
            ``invalid_unicode`` (with ``scalars``: the parser let a lone
            surrogate escape through).
    """
    size: dict[int, int] = {}
    height: dict[int, int] = {}
    open_nodes: set[int] = set()
    real = 0
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            kids = _children(node)
            total = 1 + sum(size[id(k)] for k in kids)
            size[key] = min(total, _SIZE_CAP)
            collection = not isinstance(node, yaml.ScalarNode)
            height[key] = (1 + max((height[id(k)] for k in kids), default=0)) if collection else 0
            open_nodes.discard(key)
            continue
        if key in size:
            continue
        if key in open_nodes:
            raise InputError(
                "malformed YAML: an alias refers to the anchor it is inside of (a recursive alias)",
                _at_mark(source, lines, node.start_mark),
                code="yaml_parse_error",
            )
        open_nodes.add(key)
        real += 1
        if scalars and isinstance(node, yaml.ScalarNode) and find_surrogate(node.value) >= 0:
            raise InputError(
                "lone UTF-16 surrogate in a string (not valid Unicode text)",
                _at_mark(source, lines, node.start_mark),
                code="invalid_unicode",
            )
        stack.append((node, True))
        stack.extend((k, False) for k in _children(node) if id(k) not in size)

    expanded = size[id(root)]
    extra = expanded - real
    if extra > 0:
        allowed = min(MAX_ALIAS_NODES, max(ALIAS_RATIO_FROM, MAX_ALIAS_RATIO * real))
        budget.alias_nodes += extra
        if extra > allowed or budget.alias_nodes > MAX_ALIAS_NODES:
            # Point at a smallest node that is over the budget by itself (the root when none is).
            where = root
            while True:
                over = [k for k in _children(where) if size[id(k)] > allowed]
                if not over:
                    break
                where = over[0]
            message = (
                f"aliases expand this document from {real} to {min(expanded, _SIZE_CAP)} nodes "
                f"(aliases may add at most {allowed})"
                if extra > allowed
                else f"aliases add more than {MAX_ALIAS_NODES} nodes to this stream"
            )
            raise InputError(
                message,
                _at_mark(source, lines, where.start_mark),
                code="yaml_alias_limit",
                details={"expanded": min(expanded, _SIZE_CAP), "nodes": real},
            )
    if height[id(root)] > MAX_DEPTH:
        node, level = root, 1
        while level <= MAX_DEPTH:
            node = max(_children(node), key=lambda k: height[id(k)])
            level += 1
        raise _too_deep(node, source, lines)


# ------------------------------------------------------------------ errors


def _yaml_error(exc: yaml.YAMLError, source: str, text: str, lines: list[str], context: bool) -> InputError:
    if isinstance(exc, _Refused):
        return InputError(exc.message, _at_mark(source, lines, exc.mark), code=exc.code)
    if isinstance(exc, yaml.reader.ReaderError):
        return InputError(f"malformed YAML: {exc.reason}", _at(source, text, exc.position), code="yaml_parse_error")
    problem = str(getattr(exc, "problem", None) or exc)
    problem_mark = getattr(exc, "problem_mark", None)
    context_mark = getattr(exc, "context_mark", None)
    if "maximum nesting depth" in problem:
        return InputError(
            f"the document nests deeper than {MAX_DEPTH} levels of mappings and sequences",
            _at_mark(source, lines, problem_mark),
            code="document_too_deep",
            details={"limit": MAX_DEPTH},
        )
    if "invalid Unicode character escape" in problem:
        # libyaml refuses lone surrogates; point at the string, as for JSON.
        return InputError(
            "lone UTF-16 surrogate escape in a string (not valid Unicode text)",
            _at_mark(source, lines, context_mark or problem_mark),
            code="invalid_unicode",
        )
    where = getattr(exc, "context", None)
    message = f"{where}: {problem}" if context and where and "duplicate" not in problem else problem
    mark = problem_mark or context_mark
    return InputError(f"malformed YAML: {message}", _at_mark(source, lines, mark), code="yaml_parse_error")


# ------------------------------------------------------------------ readers


@dataclass(frozen=True)
class YamlDocument:
    """One document of a YAML stream.

    Attributes:
        value: the document as JSON data (``None`` for an empty document).
        node: the composed node (``start_mark`` and children give positions).
        number: 1-based position of the document in the stream.
    """

    value: Any
    node: yaml.Node
    number: int

    @property
    def line(self) -> int:
        """1-based line where the document's content starts."""
        return int(self.node.start_mark.line) + 1


def iter_yaml_stream(
    text: str, source: str, *, max_bytes: int = MAX_DOCUMENT_BYTES, pure_python: bool = False
) -> Iterator[YamlDocument]:
    """Reads the documents of a YAML stream one at a time, within the bounds of this module.

    Each document's node graph is freed once the caller moves on (keeping
    every node of a large stream alive costs the garbage collector dearly);
    see :func:`read_yaml_stream` for the list.

    Args:
        text: the stream (documents separated by ``---``).
        source: the name used in locations.
        max_bytes: the size limit (:data:`MAX_DOCUMENT_BYTES`).
        pure_python: parse with PyYAML's pure-Python parser, as ``yaml.safe_load``
            does, and word syntax errors as it does (the problem alone); the
            readers that used ``yaml.safe_load`` keep their messages this way.
            By default libyaml's parser is used (when installed) and messages
            carry the parser's context.

    Raises:
        InputError: ``document_too_large``, ``document_too_deep``,
            ``yaml_alias_limit``, ``number_out_of_range``, ``invalid_unicode``,
            ``yaml_invalid_key``, ``yaml_unsupported_tag``, ``yaml_parse_error``.
    """
    check_text(text, source, max_bytes)
    lines = text.splitlines()
    budget = _Budget()
    scalars = pure_python or not _C_PARSER
    full = scalars or ("&" in text and _ANCHOR.search(text) is not None)
    loader: yaml.SafeLoader | None = None
    try:
        loader = _PyLoader(text) if pure_python else _Loader(text)  # the pure-Python reader checks characters here
        number = 0
        while loader.check_node():
            node = loader.get_node()
            number += 1
            if node is None:  # pragma: no cover - the composer gives a null scalar for an empty document
                continue
            if full:
                _measure(node, source, lines, budget, scalars)
            elif not isinstance(node, yaml.ScalarNode):
                _check_depth(node, source, lines)
            yield YamlDocument(loader.construct_document(node), node, number)
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, source, text, lines, context=not pure_python) from None
    except RecursionError:
        # The pure-Python composer recurses per level; libyaml's finds where it is too deep.
        if pure_python and _C_PARSER:
            for _ in iter_yaml_stream(text, source, max_bytes=max_bytes):
                pass
        raise InputError(
            f"the document nests deeper than {MAX_DEPTH} levels of mappings and sequences",
            Location(source),
            code="document_too_deep",
            details={"limit": MAX_DEPTH},
        ) from None
    finally:
        if loader is not None:
            loader.dispose()


def read_yaml_stream(
    text: str, source: str, *, max_bytes: int = MAX_DOCUMENT_BYTES, pure_python: bool = False
) -> list[YamlDocument]:
    """Every document of a YAML stream (:func:`iter_yaml_stream` as a list).

    Raises:
        InputError: as :func:`iter_yaml_stream`.
    """
    return list(iter_yaml_stream(text, source, max_bytes=max_bytes, pure_python=pure_python))


def read_yaml(
    text: str, source: str, *, max_bytes: int = MAX_DOCUMENT_BYTES, pure_python: bool = True
) -> YamlDocument | None:
    """Reads a text holding at most one YAML document: ``yaml.safe_load``'s
    contract (and, by default, its parser and error wording; see
    :func:`read_yaml_stream`), within this module's bounds.

    Returns:
        The document, or ``None`` for an empty text.

    Raises:
        InputError: as :func:`read_yaml_stream`; ``yaml_parse_error`` when the
            text holds several documents.
    """
    docs = read_yaml_stream(text, source, max_bytes=max_bytes, pure_python=pure_python)
    if len(docs) > 1:
        raise InputError(
            "malformed YAML: expected a single document in the stream, but found another document",
            _at_mark(source, text.splitlines(), docs[1].node.start_mark),
            code="yaml_parse_error",
        )
    return docs[0] if docs else None


# ------------------------------------------------------------------ JSON


class _JsonNumber(Exception):
    def __init__(self, literal: str, code: str) -> None:
        super().__init__(literal)
        self.literal = literal
        self.code = code


def _json_int(literal: str) -> int:
    digits = literal.lstrip("-")
    if len(digits) > 309:  # JSON has no leading zeros: 310 digits are >= 1e309
        raise _JsonNumber(literal, "number_out_of_range")
    value = int(literal)
    if abs(value) > _FLOAT_MAX:
        raise _JsonNumber(literal, "number_out_of_range")
    return value


def _json_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise _JsonNumber(literal, "number_out_of_range")
    return value


def _json_constant(literal: str) -> float:
    raise _JsonNumber(literal, "json_parse_error")


_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"?|[\[\]{}]|-?(?:\d+)(?:\.\d+)?(?:[eE][+-]?\d+)?|NaN|-?Infinity', re.DOTALL)
_LONE_ESCAPE = re.compile(
    r"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}"
)


def _json_locate(text: str, kind: str, literal: str = "") -> int:
    """Offset of the first token that is too deep, the number ``literal`` or a
    string with a lone surrogate escape (``kind``: ``depth``, ``number``,
    ``surrogate``); 0 when not found."""
    depth = 0
    for token in _JSON_TOKEN.finditer(text):
        t = token.group()
        if t in ("[", "{"):
            depth += 1
            if kind == "depth" and depth > MAX_DEPTH:
                return token.start()
        elif t in ("]", "}"):
            depth -= 1
        elif t.startswith('"'):
            if kind == "surrogate" and "\\u" in t:
                unescaped = t.replace("\\\\", "\0\0")  # keep escaped backslashes out of the match
                if _LONE_ESCAPE.search(unescaped):
                    return token.start()
        elif kind == "number" and t == literal:
            return token.start()
    return 0


def _json_depth_and_strings(value: Any) -> tuple[int, bool]:
    """Nesting depth of ``value`` and whether a string or key holds a lone surrogate."""
    deepest = 0
    lone = False
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            deepest = max(deepest, level)
            for k, v in item.items():
                lone = lone or find_surrogate(k) >= 0
                stack.append((v, level + 1))
        elif isinstance(item, list):
            deepest = max(deepest, level)
            stack.extend((v, level + 1) for v in item)
        elif isinstance(item, str) and not lone:
            lone = find_surrogate(item) >= 0
    return deepest, lone


def read_json(text: str, source: str, *, max_bytes: int = MAX_DOCUMENT_BYTES) -> Any:
    """Reads a JSON text within the bounds of this module.

    Raises:
        InputError: ``document_too_large``, ``document_too_deep``,
            ``number_out_of_range``, ``invalid_unicode``, ``json_parse_error``.
    """
    check_text(text, source, max_bytes)
    try:
        value = json.loads(text, parse_int=_json_int, parse_float=_json_float, parse_constant=_json_constant)
    except _JsonNumber as exc:
        where = _at(source, text, _json_locate(text, "number", exc.literal))
        if exc.code == "json_parse_error":
            raise InputError(f"malformed JSON: {exc.literal} is not JSON", where, code=exc.code) from None
        raise InputError(
            f"number {exc.literal[:40]}{'...' if len(exc.literal) > 40 else ''} cannot be held by Kubernetes "
            "(numbers are float64)",
            where,
            code=exc.code,
        ) from None
    except RecursionError:
        raise _json_too_deep(text, source) from None
    except json.JSONDecodeError as exc:
        lines = text.splitlines()
        raise InputError(
            f"malformed JSON: {exc.msg}",
            Location(source, exc.lineno, exc.colno, _snippet(lines, exc.lineno)),
            code="json_parse_error",
        ) from None
    brackets = text.count("[") + text.count("{")
    if brackets > MAX_DEPTH or "\\u" in text:
        deepest, lone = _json_depth_and_strings(value)
        if deepest > MAX_DEPTH:
            raise _json_too_deep(text, source)
        if lone:
            raise InputError(
                "lone UTF-16 surrogate escape in a string (not valid Unicode text)",
                _at(source, text, _json_locate(text, "surrogate")),
                code="invalid_unicode",
            )
    return value


def _json_too_deep(text: str, source: str) -> InputError:
    return InputError(
        f"the document nests deeper than {MAX_DEPTH} levels of objects and arrays",
        _at(source, text, _json_locate(text, "depth")),
        code="document_too_deep",
        details={"limit": MAX_DEPTH},
    )


# ------------------------------------------------------------------ values from memory


def check_value(value: Any, location: Location, what: str = "the object") -> None:
    """Checks that an in-memory value is JSON data within this module's bounds:
    mappings with string keys, lists, strings, finite numbers in float64,
    booleans and ``None``, nested at most :data:`MAX_DEPTH` levels, no lone
    surrogates. Values read by this module's readers always pass.

    Raises:
        InputError: ``document_too_deep``, ``number_out_of_range``,
            ``invalid_unicode`` or ``invalid_value``, naming the field.
    """
    stack: list[tuple[Any, str, int]] = [(value, "", 1)]
    while stack:
        item, path, level = stack.pop()
        problem: tuple[str, str] | None = None
        if isinstance(item, Mapping | list | tuple):
            if level > MAX_DEPTH:
                problem = ("document_too_deep", f"nests deeper than {MAX_DEPTH} levels")
            elif isinstance(item, Mapping):
                for k, v in item.items():
                    if not isinstance(k, str):
                        problem = ("invalid_value", f"has a {type(k).__name__} key {k!r}; keys are strings")
                        break
                    if find_surrogate(k) >= 0:
                        problem = ("invalid_unicode", "has a key with a lone UTF-16 surrogate")
                        break
                    stack.append((v, f"{path}.{k}" if path else k, level + 1))
            else:
                stack.extend((v, f"{path}[{i}]", level + 1) for i, v in enumerate(item))
        elif isinstance(item, str):
            if find_surrogate(item) >= 0:
                problem = ("invalid_unicode", "holds a lone UTF-16 surrogate (not valid Unicode text)")
        elif isinstance(item, bool) or item is None:
            pass
        elif isinstance(item, int):
            if abs(item) > _FLOAT_MAX:
                problem = ("number_out_of_range", "is an integer beyond float64")
        elif isinstance(item, float):
            if not math.isfinite(item):
                problem = ("number_out_of_range", f"is {item}, which JSON cannot hold")
        else:
            problem = ("invalid_value", f"is a {type(item).__name__}, not JSON data")
        if problem is not None:
            code, message = problem
            field = f" field {path}" if path else ""
            raise InputError(f"{what}{field} {message}", location, code=code, details={"field": path})
