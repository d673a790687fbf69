"""Rego values at run time, read in place from plain Python objects.

The evaluator never converts the ``input`` and ``data`` documents a caller
hands over: JSON-shaped Python values *are* Rego values.

=========  ==================================================================
Rego       Python
=========  ==================================================================
null       ``None``
boolean    ``bool``
number     ``int`` (any size) or ``float``; ``1 == 1.0`` as in OPA
string     ``str``
array      ``list`` or ``tuple`` (the evaluator builds tuples)
object     ``dict`` whose keys are *key forms* (see :func:`to_key`)
set        :class:`Set`
=========  ==================================================================

A key form is the value itself for strings, numbers and null, and a
:class:`Key` (the value plus a canonical hashable form) for booleans and
composite values, so sets and object keys of any type work and ``true`` never
collides with ``1`` (Python's ``True == 1``).

Order and equality follow OPA's ``ast.Compare``
(https://www.openpolicyagent.org/docs/latest/policy-language/#comparison-operators):
null < boolean < number < string < array < object < set; arrays compare
element-wise, objects by their sorted key/value pairs, sets by their sorted
elements. Object keys and set elements iterate in that order, as in OPA.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterable, Iterator
from typing import Any

__all__ = [
    "UNDEF",
    "Key",
    "Set",
    "compare",
    "end_hash_scope",
    "equal",
    "from_key",
    "hash_scope",
    "hkey",
    "is_number",
    "items",
    "keys",
    "make_object",
    "order_key",
    "sorted_values",
    "to_json",
    "to_key",
    "type_name",
]


class _Undef:
    """The marker for an undefined value (a missing key, a rule with no value)."""

    _instance: _Undef | None = None

    def __new__(cls) -> _Undef:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNDEF"

    def __bool__(self) -> bool:
        return False


UNDEF: Any = _Undef()

_SCALAR_KEYS = (str, int, float, type(None))
_PLAIN = frozenset((str, int, float, type(None)))  # types that are their own hash key


# Per thread: hash forms of composite values already computed in this scope,
# by identity, each kept with its value (so the identity stays valid). See
# hash_scope().
_scope = threading.local()


def hash_scope() -> None:
    """Starts a new scope of remembered hash forms on this thread (and drops the last).

    Within a scope, :func:`hkey` computes the hash form of each composite
    object once: the evaluator hashes the same ``input`` objects (containers,
    say) into the sets of many rules and constraints. The caller promises that
    no composite value hashed within the scope is mutated in it: the engine
    starts one per input document, which evaluation never changes.
    """
    _scope.seen = {}


def end_hash_scope() -> None:
    """Ends this thread's scope (hash forms are computed afresh again)."""
    _scope.seen = None


def hkey(value: Any) -> Any:
    """A canonical hashable form of ``value`` in which Rego-equal values are
    equal and Rego-unequal values differ (``true`` vs ``1``, ``[1]`` vs ``{1}``)."""
    t = type(value)
    if t is str or t is int or t is float or value is None:
        return value
    if t is bool:
        return ("b", value)
    if t is list or t is tuple or t is dict:
        seen = getattr(_scope, "seen", None)
        if seen is None:
            return _composite_hkey(value, t)
        hit = seen.get(id(value))
        if hit is not None and hit[0] is value:
            return hit[1]
        h = _composite_hkey(value, t)
        if len(seen) < _MAX_SEEN:
            seen[id(value)] = (value, h)
        return h
    if t is Set:
        return ("s", value.hashes())
    if t is Key:
        return value.h
    raise TypeError(f"not a Rego value: {t.__name__}")


_MAX_SEEN = 100_000


def _composite_hkey(value: Any, t: type) -> Any:
    if t is dict:
        return (
            "o",
            frozenset(
                [
                    (k if type(k) is str else hkey(from_key(k)), v if type(v) in _PLAIN else hkey(v))
                    for k, v in value.items()
                ]
            ),
        )
    return ("a", tuple([v if type(v) in _PLAIN else hkey(v) for v in value]))


class Key:
    """A boolean or composite value used as an object key or set element."""

    __slots__ = ("h", "value")

    def __init__(self, value: Any, h: Any = None) -> None:
        self.value = value
        self.h = hkey(value) if h is None else h

    def __hash__(self) -> int:
        return hash(self.h)

    def __eq__(self, other: object) -> bool:
        return type(other) is Key and self.h == other.h

    def __repr__(self) -> str:
        return f"Key({self.value!r})"


def to_key(value: Any) -> Any:
    """The key form of ``value`` for a ``dict`` key or a :class:`Set` element."""
    t = type(value)
    if t is str or t is int or t is float or value is None:
        return value
    if t is Key:
        return value
    return Key(value)


def from_key(key: Any) -> Any:
    """The value of a key form."""
    return key.value if type(key) is Key else key


class Set:
    """An immutable Rego set. Elements are stored as key forms; :meth:`values`
    gives them back as values in OPA's sorted order."""

    __slots__ = ("_hashes", "_keys", "_sorted")

    def __init__(self, elements: Iterable[Any] = ()) -> None:
        self._keys: frozenset[Any] = frozenset(to_key(e) for e in elements)
        self._sorted: tuple[Any, ...] | None = None
        self._hashes: frozenset[Any] | None = None

    @classmethod
    def from_keys(cls, keys: frozenset[Any]) -> Set:
        s = cls.__new__(cls)
        s._keys = keys
        s._sorted = None
        s._hashes = None
        return s

    @property
    def keys(self) -> frozenset[Any]:
        return self._keys

    def hashes(self) -> frozenset[Any]:
        if self._hashes is None:
            self._hashes = frozenset(k.h if type(k) is Key else k for k in self._keys)
        return self._hashes

    def values(self) -> tuple[Any, ...]:
        """The elements in OPA's order."""
        if self._sorted is None:
            self._sorted = tuple(sorted_values(from_key(k) for k in self._keys))
        return self._sorted

    def __contains__(self, value: Any) -> bool:
        return to_key(value) in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.values())

    def __hash__(self) -> int:
        return hash(self.hashes())

    def __eq__(self, other: object) -> bool:
        return type(other) is Set and self._keys == other._keys

    def __repr__(self) -> str:
        return "Set(" + repr(list(self.values())) + ")"


def is_number(value: Any) -> bool:
    t = type(value)
    return t is int or t is float


def type_name(value: Any) -> str:
    """OPA's ``type_name`` of a value."""
    t = type(value)
    if t is str:
        return "string"
    if t is bool:
        return "boolean"
    if t is int or t is float:
        return "number"
    if value is None:
        return "null"
    if t is dict:
        return "object"
    if t is list or t is tuple:
        return "array"
    if t is Set:
        return "set"
    raise TypeError(f"not a Rego value: {t.__name__}")


def equal(a: Any, b: Any) -> bool:
    """Rego equality (``==``)."""
    ta, tb = type(a), type(b)
    if ta is str or tb is str:
        return a == b if ta is tb else False
    if ta is bool or tb is bool:
        return ta is tb and a == b
    if ta is int or ta is float:
        return (tb is int or tb is float) and a == b
    if a is None or b is None:
        return a is b
    if ta is list or ta is tuple:
        if not (tb is list or tb is tuple) or len(a) != len(b):
            return False
        return all(equal(x, y) for x, y in zip(a, b, strict=True))
    if ta is dict:
        if tb is not dict or len(a) != len(b):
            return False
        for k, v in a.items():
            w = b.get(k, UNDEF)
            if w is UNDEF or not equal(v, w):
                return False
        return True
    if ta is Set:
        return tb is Set and a.keys == b.keys
    return False


_RANK = {type(None): 0, bool: 1, int: 2, float: 2, str: 3, list: 4, tuple: 4, dict: 5}


def order_key(value: Any) -> Any:
    """A sort key implementing OPA's total order across types."""
    t = type(value)
    if t is str:
        return (3, value)
    if t is int or t is float:
        return (2, value)
    if t is bool:
        return (1, value)
    if value is None:
        return (0,)
    if t is list or t is tuple:
        return (4, tuple(order_key(v) for v in value))
    if t is dict:
        pairs = sorted((order_key(from_key(k)), order_key(v)) for k, v in value.items())
        return (5, tuple(pairs))
    if t is Set:
        return (6, tuple(order_key(v) for v in value.values()))
    raise TypeError(f"not a Rego value: {t.__name__}")


def compare(a: Any, b: Any) -> int:
    """-1, 0 or 1 in OPA's total order."""
    ka, kb = order_key(a), order_key(b)
    return -1 if ka < kb else (1 if ka > kb else 0)


def sorted_values(values: Iterable[Any]) -> list[Any]:
    """``values`` sorted in OPA's order (strings alone take the fast path)."""
    vals = list(values)
    if all(type(v) is str for v in vals):
        return sorted(vals)
    return sorted(vals, key=order_key)


def keys(obj: dict[Any, Any]) -> list[Any]:
    """The keys of an object as values, in OPA's order."""
    try:
        if all(type(k) is str for k in obj):
            return sorted(obj)
    except TypeError:  # pragma: no cover - defensive
        pass
    return sorted_values(from_key(k) for k in obj)


def items(obj: dict[Any, Any]) -> Iterator[tuple[Any, Any]]:
    """``(key, value)`` pairs of an object in OPA's order."""
    if all(type(k) is str for k in obj):
        for k in sorted(obj):
            yield k, obj[k]
        return
    for k in keys(obj):
        yield k, obj[to_key(k)]


def make_object(pairs: Iterable[tuple[Any, Any]]) -> dict[Any, Any]:
    """An object from ``(key, value)`` pairs of values."""
    return {to_key(k): v for k, v in pairs}


def _json_key(key: Any) -> str:
    value = from_key(key)
    if type(value) is str:
        return value
    return json.dumps(to_json(value), separators=(",", ":"), sort_keys=True)


def to_json(value: Any) -> Any:
    """The JSON-compatible form OPA prints for ``value``: sets as sorted arrays,
    non-string object keys as their compact JSON, integral floats as ints."""
    t = type(value)
    if t is str or t is bool or t is int or value is None:
        return value
    if t is float:
        if math.isfinite(value) and value.is_integer() and abs(value) < 1e21:
            return int(value)
        return value
    if t is list or t is tuple:
        return [to_json(v) for v in value]
    if t is dict:
        if all(type(k) is str for k in value):
            return {k: to_json(v) for k, v in value.items()}
        return {_json_key(k): to_json(v) for k, v in value.items()}
    if t is Set:
        return [to_json(v) for v in value.values()]
    raise TypeError(f"not a Rego value: {t.__name__}")
