"""Typed, located access to a YAML document: the trust policy reader's value accessors.

A :class:`Node` pairs a JSON value from :mod:`kubegate.yamlio` with its
composed YAML node, so that every accessor that refuses a value raises a
:class:`~kubegate.images.errors.TrustPolicyError` at the value's
file:line:col (``trust_policy_invalid``, ``trust_policy_unknown_field``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

from kubegate.errors import Location
from kubegate.images.errors import TrustPolicyError

__all__ = ["Node"]


@dataclass(frozen=True)
class Node:
    """A located value: ``value`` (JSON data), ``node`` (its YAML node), the file and its lines."""

    value: Any
    node: yaml.Node
    source: str
    lines: list[str]

    @property
    def location(self) -> Location:
        """Where the value starts (1-based line and column, with its source line)."""
        mark = self.node.start_mark
        line = mark.line + 1
        snippet = self.lines[line - 1] if 0 < line <= len(self.lines) else None
        return Location(self.source, line, mark.column + 1, snippet)

    def _invalid(self, message: str) -> TrustPolicyError:
        return TrustPolicyError(message, self.location)

    def _child(self, value: Any, node: yaml.Node) -> Node:
        return Node(value, node, self.source, self.lines)

    def _mapping(self) -> dict[str, Any]:
        if not isinstance(self.value, dict) or not isinstance(self.node, yaml.MappingNode):
            raise self._invalid(f"expected a mapping, got {_kind(self.value)}")
        return self.value

    def _key_nodes(self) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        self._mapping()
        return {str(k.value): (k, v) for k, v in self.node.value if isinstance(k, yaml.ScalarNode)}

    def only(self, *keys: str) -> None:
        """Refuses keys other than ``keys`` (``trust_policy_unknown_field``, at the key)."""
        for name, (key, _) in self._key_nodes().items():
            if name not in keys:
                raise TrustPolicyError(
                    f"unknown field {name!r} (expected one of {', '.join(keys)})",
                    self._child(name, key).location,
                    code="trust_policy_unknown_field",
                )

    def get(self, key: str) -> Node | None:
        """The value at ``key`` of this mapping, ``None`` when absent or null."""
        value = self._mapping().get(key)
        pair = self._key_nodes().get(key)
        if value is None or pair is None:
            return None
        return self._child(value, pair[1])

    def require(self, key: str) -> Node:
        """The value at ``key``; a missing or null one is ``trust_policy_invalid`` at the mapping."""
        found = self.get(key)
        if found is None:
            raise self._invalid(f"missing field {key!r}")
        return found

    def items(self, minimum: int = 0) -> list[Node]:
        """The elements of this sequence (at least ``minimum``)."""
        if not isinstance(self.value, list) or not isinstance(self.node, yaml.SequenceNode):
            raise self._invalid(f"expected a list, got {_kind(self.value)}")
        if len(self.value) < minimum:
            raise self._invalid(f"expected at least {minimum} element(s)")
        return [self._child(v, n) for v, n in zip(self.value, self.node.value, strict=True)]

    def get_items(self, key: str) -> list[Node]:
        """The elements of the sequence at ``key`` (none when absent)."""
        found = self.get(key)
        return found.items() if found is not None else []

    def get_pairs(self, key: str) -> list[tuple[str, Node]]:
        """The entries of the mapping at ``key`` (none when absent)."""
        found = self.get(key)
        if found is None:
            return []
        pairs = found._key_nodes()
        return [(name, found._child(found.value[name], pairs[name][1])) for name in found._mapping()]

    def string(self) -> str:
        """This value as a non-empty string."""
        if not isinstance(self.value, str) or not self.value:
            raise self._invalid(f"expected a non-empty string, got {_kind(self.value)}")
        return self.value

    def boolean(self) -> bool:
        """This value as a boolean."""
        if not isinstance(self.value, bool):
            raise self._invalid(f"expected true or false, got {_kind(self.value)}")
        return self.value

    def integer(self, low: int, high: int) -> int:
        """This value as an integer in ``[low, high]``."""
        if isinstance(self.value, bool) or not isinstance(self.value, int) or not low <= self.value <= high:
            raise self._invalid(f"expected an integer from {low} to {high}, got {self.value!r}")
        return self.value

    def number(self, low: float, high: float) -> float:
        """This value as a number in ``[low, high]``."""
        if isinstance(self.value, bool) or not isinstance(self.value, int | float) or not low <= self.value <= high:
            raise self._invalid(f"expected a number from {low} to {high}, got {self.value!r}")
        return float(self.value)

    def choice(self, *choices: str) -> str:
        """This value as one of ``choices``."""
        if self.value not in choices:
            raise self._invalid(f"expected one of {', '.join(choices)}, got {self.value!r}")
        return str(self.value)

    def regexp(self) -> re.Pattern[str]:
        """This value as a Python regular expression."""
        try:
            return re.compile(self.string())
        except re.error as exc:
            raise self._invalid(f"invalid regular expression: {exc}") from None


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )
