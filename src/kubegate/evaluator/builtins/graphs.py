"""Traversal builtins: the relation ``walk`` and ``graph.reachable``,
``graph.reachable_paths``.

Follows https://github.com/open-policy-agent/opa/blob/main/v1/topdown/walk.go and
https://github.com/open-policy-agent/opa/blob/main/v1/topdown/reachable.go.
All three use explicit stacks and queues, so a value or graph nested 10,000
levels deep is walked without recursion.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any

from kubegate.evaluator.builtins._nc_support import OperandError, guarded, safe_type_name
from kubegate.evaluator.builtins.registry import BuiltinError, HaltError, arg_object, implements
from kubegate.evaluator.values import UNDEF, Set, keys, to_key

__all__ = ["MAX_PATH_STEPS", "graph_reachable", "graph_reachable_paths", "walk"]

#: How many path extensions ``graph.reachable_paths`` makes before giving up: the
#: number of paths can grow exponentially with the graph (OPA stops only when the
#: query is cancelled).
MAX_PATH_STEPS = 1_000_000


def _children(path: tuple[Any, ...], v: Any) -> Iterator[tuple[tuple[Any, ...], Any]] | None:
    t = type(v)
    if t is list or t is tuple:
        return (((*path, i), e) for i, e in enumerate(v))
    if t is dict:
        return (((*path, k), v[to_key(k)]) for k in keys(v))
    if t is Set:
        return (((*path, e), e) for e in v.values())
    return None


def _walk(x: Any) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """Pre-order, lazily: a stack of child iterators, never recursion."""
    yield (), x
    first = _children((), x)
    stack = [first] if first is not None else []
    while stack:
        nxt = next(stack[-1], None)
        if nxt is None:
            stack.pop()
            continue
        yield nxt
        it = _children(*nxt)
        if it is not None:
            stack.append(it)


@implements("walk", relation=True)
def walk(x: Any) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """Every ``[path, value]`` pair of ``x``, ``x`` itself first with the path ``[]``,
    then depth-first: array elements by index, object members by sorted key
    (the key is the path segment) and set elements in order (the element is the
    segment)."""
    try:
        yield from _walk(x)
    except (BuiltinError, HaltError):
        raise
    except RecursionError:
        raise BuiltinError("value too deeply nested") from None
    except (MemoryError, ArithmeticError, ValueError, TypeError, KeyError) as exc:
        raise BuiltinError(f"walk: {exc!r}") from None


def _vertices(collection: Any) -> Iterable[Any]:
    t = type(collection)
    if t is list or t is tuple:
        return collection  # type: ignore[no-any-return]
    if t is Set:
        return collection.values()  # type: ignore[no-any-return]
    return ()


def _edge_count(collection: Any) -> int:
    t = type(collection)
    if t is list or t is tuple or t is Set:
        return len(collection)
    return 0


def _initial(value: Any) -> Iterable[Any]:
    t = type(value)
    if t is not list and t is not tuple and t is not Set:
        raise OperandError(f"operand 2 must be {{array, set}} but got {safe_type_name(value)}")
    return _vertices(value)


@implements("graph.reachable")
@guarded
def graph_reachable(graph: Any, initial: Any) -> Set:
    """The nodes reachable from ``initial`` in ``graph`` (an object from a node to an
    array or set of its neighbours), the initial nodes included when they are in
    the graph."""
    g = arg_object(graph, 1)
    queue = deque(_initial(initial))
    reached: set[Any] = set()
    while queue:
        node = queue.popleft()
        k = to_key(node)
        if k in reached:
            continue
        edges = g.get(k, UNDEF)
        if edges is UNDEF:
            continue
        for neighbor in _vertices(edges):
            if to_key(neighbor) not in reached:
                queue.append(neighbor)
        reached.add(k)
    return Set.from_keys(frozenset(reached))


@implements("graph.reachable_paths")
@guarded
def graph_reachable_paths(graph: Any, initial: Any) -> Set:
    """Every maximal path from the nodes of ``initial``: a path ends at a node
    without edges, before a node missing from the graph, or where it would
    revisit one of its own nodes."""
    g = arg_object(graph, 1)
    found: list[tuple[Any, ...]] = []
    # Each entry: the node to visit, the path so far and the key forms of its nodes
    # (key forms compare with Rego equality, so ``in`` on them is a membership test).
    stack: list[tuple[Any, tuple[Any, ...], tuple[Any, ...]]] = []
    for node in _initial(initial):
        k = to_key(node)
        edges = g.get(k, UNDEF)
        if edges is UNDEF:
            continue
        if _edge_count(edges) == 0:
            found.append((node,))
            continue
        for neighbor in reversed(list(_vertices(edges))):
            stack.append((neighbor, (node,), (k,)))
    steps = 0
    while stack:
        steps += 1
        if steps > MAX_PATH_STEPS:
            raise BuiltinError(f"graph.reachable_paths: more than {MAX_PATH_STEPS} path steps")
        root, path, on_path = stack.pop()
        k = to_key(root)
        edges = g.get(k, UNDEF)
        if edges is UNDEF:
            found.append(path)
            continue
        path = (*path, root)
        if _edge_count(edges) == 0:
            found.append(path)
            continue
        on_path = (*on_path, k)
        for neighbor in _vertices(edges):
            if to_key(neighbor) in on_path:
                found.append(path)
            else:
                stack.append((neighbor, path, on_path))
    return Set(found)
