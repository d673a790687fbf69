"""Reading YAML as OPA's ``yaml.unmarshal`` does: go-yaml v2 values, then ``sigs.k8s.io/yaml``'s
JSON conversion (https://github.com/kubernetes-sigs/yaml/blob/master/yaml.go).

PyYAML composes the nodes (libyaml's parser when available; every document of
a stream must parse, the first is returned); the values are then built
iteratively with go-yaml v2's rules for keys, merges and aliases (its
"excessive aliasing" bound included) and turned into JSON data: keys become
strings, a null key is an error, ``.nan``/``.inf`` are refused as
``encoding/json`` refuses them.
"""

from __future__ import annotations

import math
import re
from typing import Any

import yaml

from kubegate.evaluator.builtins._gocompat import GoError, b64_decode, bytes_to_str, format_float_g
from kubegate.evaluator.builtins._gojson import marshal as json_marshal_text
from kubegate.evaluator.builtins._goyaml_resolve import (
    _BINARY,
    _INT64,
    _MERGE,
    _PLAIN,
    _STR,
    _SURROGATES,
    _TIMESTAMP,
    resolve,
)

__all__ = ["MAX_YAML_BYTES", "yaml_to_value"]

MAX_YAML_BYTES = 32 * 1024 * 1024
"""Largest YAML text (UTF-8 bytes) the builtins read."""

# ------------------------------------------------------------------ reading


class _Resolver(yaml.resolver.BaseResolver):
    """Marks untagged plain scalars; go-yaml's resolution is applied afterwards."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is yaml.ScalarNode:
            return _PLAIN if implicit[0] else _STR
        return super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]


_CParser: Any = getattr(getattr(yaml, "cyaml", None), "CParser", None) if yaml.__with_libyaml__ else None
if _CParser is not None:

    class _Loader(_CParser, _Resolver):  # type: ignore[misc]
        def __init__(self, stream: str) -> None:
            _CParser.__init__(self, stream)
            _Resolver.__init__(self)

else:  # pragma: no cover - PyYAML without libyaml

    class _Loader(  # type: ignore[no-redef]
        yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser, yaml.composer.Composer, _Resolver
    ):
        def __init__(self, stream: str) -> None:
            yaml.reader.Reader.__init__(self, stream)
            yaml.scanner.Scanner.__init__(self)
            yaml.parser.Parser.__init__(self)
            yaml.composer.Composer.__init__(self)
            _Resolver.__init__(self)


def _syntax_error(exc: yaml.YAMLError) -> GoError:
    """go-yaml's ``yaml: line N: problem`` (its line numbering quirks included)."""
    problem = getattr(exc, "problem", None) or str(exc)
    mark = getattr(exc, "problem_mark", None)
    context_mark = getattr(exc, "context_mark", None)
    line = 0
    if mark is not None and mark.line != 0:
        line = mark.line + (1 if isinstance(exc, yaml.scanner.ScannerError) else 0)
    elif context_mark is not None and context_mark.line != 0:
        line = context_mark.line
    where = f"line {line}: " if line else ""
    problem = re.sub(
        r"found character .* that cannot start any token", "found character that cannot start any token", problem
    )
    if isinstance(exc, yaml.reader.ReaderError):
        return GoError("yaml: control characters are not allowed")
    return GoError(f"yaml: {where}{problem}")


def _parse_first(text: str) -> yaml.Node | None:
    """The first document's node; every document of the stream must parse."""
    if len(text) > MAX_YAML_BYTES // 4 and len(text.encode("utf-8", "surrogatepass")) > MAX_YAML_BYTES:
        raise GoError(f"yaml: the text is larger than {MAX_YAML_BYTES} bytes")
    if _SURROGATES.search(text):
        raise GoError("yaml: invalid Unicode character (a lone surrogate)")
    try:
        loader = _Loader(text)
    except yaml.YAMLError:
        raise GoError("yaml: control characters are not allowed") from None
    try:
        first = loader.get_node() if loader.check_node() else None
        while loader.check_node():
            loader.get_node()
        return first
    except yaml.YAMLError as exc:
        if "nesting depth" in str(exc):
            raise GoError("yaml: exceeded max depth") from None
        raise _syntax_error(exc) from None
    except RecursionError:
        raise GoError("yaml: exceeded max depth") from None
    finally:
        loader.dispose()


class _Decoder:
    """go-yaml v2's decoder into ``interface{}`` then ``sigs.k8s.io/yaml``'s JSON conversion,
    iterative, with go-yaml's alias accounting."""

    def __init__(self) -> None:
        self.decode_count = 0
        self.alias_count = 0
        self.seen: set[int] = set()

    def count(self, node: yaml.Node, alias_depth: int) -> None:
        self.decode_count += 1
        if alias_depth:
            self.alias_count += 1
        if self.alias_count > 100 and self.decode_count > 1000:
            ratio = self.alias_count / self.decode_count
            d = self.decode_count
            allowed = 0.99 if d <= 400_000 else 0.10 if d >= 4_000_000 else 0.99 - 0.89 * (d - 400_000) / 3_600_000
            if ratio > allowed:
                raise GoError("yaml: document contains excessive aliasing")

    def scalar(self, node: yaml.ScalarNode) -> Any:
        tag = node.tag
        if tag == _PLAIN:
            _, value = resolve("", node.value)
            return value
        if tag == _STR:
            return node.value
        if tag == _BINARY:
            try:
                return bytes_to_str(b64_decode(node.value.encode("utf-8")))
            except GoError:
                raise GoError("yaml: !!binary value contains invalid base64 data") from None
        rtag, value = resolve(tag, node.value)
        if rtag == _TIMESTAMP:
            return node.value
        if rtag == _MERGE:
            return "<<"
        return value

    def decode(self, root: yaml.Node) -> Any:
        """The value of ``root`` (go-yaml types: ``int`` within uint64, ``float``, ...)."""
        # Each frame: [node, alias_depth, result, children iterator state]
        result_stack: list[Any] = []
        work: list[tuple[str, Any, int]] = [("node", root, 0)]
        active: set[int] = set()
        while work:
            op, item, depth = work.pop()
            if op == "node":
                node = item
                key = id(node)
                alias_depth = depth
                if key in self.seen and not isinstance(node, yaml.ScalarNode):
                    if key in active:
                        raise GoError("yaml: anchor value contains itself")
                    alias_depth += 1
                self.seen.add(key)
                self.count(node, alias_depth)
                if isinstance(node, yaml.ScalarNode):
                    result_stack.append(self.scalar(node))
                elif isinstance(node, yaml.SequenceNode):
                    active.add(key)
                    work.append(("seq_end", node, len(node.value)))
                    for child in reversed(node.value):
                        work.append(("node", child, alias_depth))
                else:
                    active.add(key)
                    work.append(("map_end", node, alias_depth))
                    for key_node, value_node in reversed(node.value):
                        if self._is_merge(key_node):
                            work.append(("merge", value_node, alias_depth))
                        else:
                            work.append(("node", value_node, alias_depth))
                            work.append(("node", key_node, alias_depth))
            elif op == "seq_end":
                active.discard(id(item))
                values = result_stack[len(result_stack) - depth :] if depth else []
                del result_stack[len(result_stack) - depth :]
                result_stack.append(values)
            elif op == "merge":
                self._check_merge(item)
                work.append(("merge_value", item, depth))
                work.append(("node", item, depth))
            elif op == "merge_value":
                pass  # the merged mapping's value stays on the result stack, marked below
            else:  # map_end
                active.discard(id(item))
                result_stack.append(self._build_mapping(item, result_stack))
        return result_stack[-1]

    @staticmethod
    def _is_merge(node: yaml.Node) -> bool:
        return isinstance(node, yaml.ScalarNode) and node.value == "<<" and node.tag in (_PLAIN, _MERGE)

    @staticmethod
    def _check_merge(node: yaml.Node) -> None:
        ok = isinstance(node, yaml.MappingNode) or (
            isinstance(node, yaml.SequenceNode) and all(isinstance(c, yaml.MappingNode) for c in node.value)
        )
        if not ok:
            raise GoError("yaml: map merge requires map or sequence of maps as the value")

    def _build_mapping(self, node: yaml.MappingNode, stack: list[Any]) -> dict[Any, Any]:
        """Pops the constructed pieces of ``node`` (in document order) and builds the map."""
        pieces: list[tuple[str, Any, Any]] = []
        for key_node, value_node in reversed(node.value):
            if self._is_merge(key_node):
                merged = stack.pop()
                pieces.append(("merge", value_node, merged))
            else:
                value = stack.pop()
                key = stack.pop()
                pieces.append(("pair", key, value))
        pieces.reverse()
        out: dict[Any, Any] = {}
        for kind, first, second in pieces:
            if kind == "pair":
                if type(first) in (dict, list):
                    raise GoError(f"yaml: invalid map key: {json_marshal_text(_to_json_safe(first))}")
                out[_KeyBox(first)] = second
            else:
                maps = [second] if isinstance(first, yaml.MappingNode) else list(reversed(second))
                for merged in maps:
                    out.update(merged)
        return out


class _KeyBox:
    """A decoded map key with Go's identity (``1`` and ``true`` and ``"1"`` differ)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __hash__(self) -> int:
        return hash((type(self.value), self.value))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _KeyBox) and type(other.value) is type(self.value) and other.value == self.value


def _to_json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k.value if isinstance(k, _KeyBox) else k): _to_json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def _go_value_text(value: Any) -> str:
    """``%+#v`` of a decoded value, for error messages (roughly)."""
    if value is None:
        return "<nil>"
    if isinstance(value, str):
        return '"' + value + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _json_key(key: Any, value: Any) -> str:
    if type(key) is str:
        return key
    if type(key) is bool:
        return "true" if key else "false"
    if type(key) is int:
        if key > _INT64[1]:
            raise GoError(f"Unsupported map key of type: uint64, key: {hex(key)}, value: {_go_value_text(value)}")
        return str(key)
    if type(key) is float:
        text = format_float_g(key, 32)
        return {"+Inf": ".inf", "-Inf": "-.inf", "NaN": ".nan"}.get(text, text)
    raise GoError(f"Unsupported map key of type: <nil>, key: <nil>, value: {_go_value_text(value)}")


def _jsonable(value: Any) -> Any:
    """``convertToJSONableObject`` then ``json.Marshal`` and a ``UseNumber`` decode, iteratively."""
    root: list[Any] = [None]
    work: list[tuple[Any, Any, Any]] = [(value, root, 0)]
    while work:
        item, parent, slot = work.pop()
        t = type(item)
        if t is dict:
            out: dict[str, Any] = {}
            parent[slot] = out
            for box, v in item.items():
                k = _json_key(box.value, v)
                out[k] = None
                work.append((v, out, k))
        elif t is list:
            arr: list[Any] = [None] * len(item)
            parent[slot] = arr
            for i, v in enumerate(item):
                work.append((v, arr, i))
        elif t is float:
            if not math.isfinite(item):
                raise GoError(f"json: unsupported value: {format_float_g(item)}")
            parent[slot] = int(item) if item.is_integer() and abs(item) < 1e21 else item
        else:
            parent[slot] = item
    return root[0]


def yaml_to_value(text: str) -> Any:
    """OPA's ``yaml.unmarshal`` of ``text``.

    Raises:
        GoError: with go-yaml's, ``sigs.k8s.io/yaml``'s or ``encoding/json``'s message.
    """
    node = _parse_first(text)
    if node is None:
        return None
    return _jsonable(_Decoder().decode(node))
