"""JSON path builtins: ``json.filter``, ``json.remove`` and ``json.patch`` (RFC 6902).

Follows https://github.com/open-policy-agent/opa/blob/main/v1/topdown/json.go,
OPA's ``Object.Filter`` (``v1/ast/term.go``) and its patch engine
(``internal/edittree``). Paths are ``/``-separated JSON pointers (``~1`` is
``/``, ``~0`` is ``~``; leading slashes are dropped) or arrays of segments.
Every walk uses an explicit stack, and operands are never modified.
"""

from __future__ import annotations

import re
from typing import Any

from kubegate.evaluator.builtins._nc_support import (
    INT64_MAX,
    INT64_MIN,
    OperandError,
    guarded,
    one_of_error,
    safe_type_name,
)
from kubegate.evaluator.builtins.registry import BuiltinError, arg_array, arg_object, implements
from kubegate.evaluator.values import UNDEF, Set, equal, to_key

__all__ = ["json_filter", "json_patch", "json_remove", "parse_path", "paths_to_object"]


def parse_path(path: Any) -> list[Any]:
    """The segments of a JSON pointer string or of an array path."""
    t = type(path)
    if t is str:
        if path == "":
            return []
        return [p.replace("~1", "/").replace("~0", "~") for p in path.lstrip("/").split("/")]
    if t is list or t is tuple:
        return list(path)
    raise OperandError(
        "operand 2 must be one of {set, array} containing string paths or array of path segments "
        f"but got {safe_type_name(path)}"
    )


def _paths(operand: Any) -> list[list[Any]]:
    t = type(operand)
    if t is list or t is tuple:
        return [parse_path(p) for p in operand]
    if t is Set:
        return [parse_path(p) for p in operand.values()]
    raise one_of_error(2, operand, "set", "array")


def paths_to_object(paths: list[list[Any]]) -> dict[Any, Any]:
    """The tree of the paths: nested objects whose leaves are ``null`` (a shorter
    path wins over the longer ones it prefixes)."""
    root: dict[Any, Any] = {}
    for path in paths:
        if not path:
            continue
        node = root
        done = False
        for seg in path[:-1]:
            k = to_key(seg)
            child = node.get(k, UNDEF)
            if child is UNDEF:
                new: dict[Any, Any] = {}
                node[k] = new
                node = new
            elif child is None:
                done = True
                break
            else:
                node = child
        if not done:
            node[to_key(path[-1])] = None
    return root


_REMOVED = object()


def _transform(value: Any, tree: Any, remove: bool) -> Any:
    """``Object.Filter`` (``remove=False``) or OPA's ``jsonRemove`` (``remove=True``)
    of ``value`` by the path tree ``tree``, iteratively.

    Filtering keeps what the tree selects (its ``null`` leaves keep whole
    sub-values); removing drops the ``null`` leaves and keeps everything else.
    Array elements are selected by their index as a string (``"0"``), set
    elements by themselves.
    """
    out: list[Any] = [None]
    # Tasks: ("v", value, tree, container, slot) visits a value and stores its result
    # in container[slot]; ("d", obj) drops removed keys, ("a", items, container, slot)
    # compacts an array and ("s", items, container, slot) builds a set, once their
    # children are done (they are pushed before the children, so they run after).
    stack: list[tuple[Any, ...]] = [("v", value, tree, out, 0)]
    while stack:
        task = stack.pop()
        kind = task[0]
        if kind == "d":
            obj = task[1]
            for k in [k for k, x in obj.items() if x is _REMOVED]:
                del obj[k]
            continue
        if kind == "a":
            _, items, container, slot = task
            container[slot] = [i for i in items if i is not _REMOVED]
            continue
        if kind == "s":
            _, items, container, slot = task
            container[slot] = Set(i for i in items if i is not _REMOVED)
            continue
        _, v, t, container, slot = task
        if remove:
            if t is None:
                container[slot] = _REMOVED
                continue
            if type(t) is not dict:  # the paths diverged: keep the value
                container[slot] = v
                continue
        else:
            if t is None:
                container[slot] = v
                continue
            if type(t) is not dict:
                raise BuiltinError("invalid filter value, expected an object")
        tv = type(v)
        if tv is dict:
            res: dict[Any, Any] = {}
            container[slot] = res
            if remove:
                stack.append(("d", res))
                for k, child in v.items():
                    res[k] = None
                    stack.append(("v", child, t.get(k, UNDEF), res, k))
            else:
                keys = [k for k in v if k in t] if len(v) <= len(t) else [k for k in t if k in v]
                for k in keys:
                    res[k] = None
                    stack.append(("v", v[k], t[k], res, k))
        elif tv is list or tv is tuple:
            if remove:
                kept: list[Any] = [None] * len(v)
                stack.append(("a", kept, container, slot))
                for i, child in enumerate(v):
                    stack.append(("v", child, t.get(str(i), UNDEF), kept, i))
            else:
                chosen = [(i, child) for i, child in enumerate(v) if str(i) in t]
                lst: list[Any] = [None] * len(chosen)
                container[slot] = lst
                for j, (i, child) in enumerate(chosen):
                    stack.append(("v", child, t[str(i)], lst, j))
        elif tv is Set:
            elems = v.values()
            if not remove:
                elems = tuple(e for e in elems if to_key(e) in t)
            set_items: list[Any] = [None] * len(elems)
            stack.append(("s", set_items, container, slot))
            for j, e in enumerate(elems):
                stack.append(("v", e, t.get(to_key(e), UNDEF), set_items, j))
        else:
            container[slot] = v
    return out[0]


@implements("json.filter")
@guarded
def json_filter(obj: Any, paths: Any) -> Any:
    """``obj`` with only the values at ``paths`` (an array or set of paths)."""
    o = arg_object(obj, 1)
    return _transform(o, paths_to_object(_paths(paths)), remove=False)


@implements("json.remove")
@guarded
def json_remove(obj: Any, paths: Any) -> Any:
    """``obj`` without the values at ``paths`` (removed array elements close up)."""
    o = arg_object(obj, 1)
    result = _transform(o, paths_to_object(_paths(paths)), remove=True)
    return UNDEF if result is _REMOVED else result


class _PatchError(Exception):
    """A patch operation cannot be applied (``json.patch`` is then undefined)."""


_INDEX = re.compile(r"[+-]?[0-9]+")
_VALID_OPS = frozenset({"add", "remove", "replace", "move", "copy", "test"})


def _to_index(length: int, seg: Any) -> int:
    """An array index from a path segment (edittree's ``toIndex``): an integer
    number, ``"-"`` for the end, or a decimal string without leading zeros."""
    t = type(seg)
    if t is int:
        i: int = seg
    elif t is str:
        if seg == "-":
            return length
        if not _INDEX.fullmatch(seg):
            raise _PatchError("invalid string for indexing")
        if seg != "0" and seg.startswith("0"):
            raise _PatchError("leading zeros are not allowed in JSON paths")
        i = int(seg)
    else:
        raise _PatchError("invalid type for indexing")
    if not INT64_MIN <= i <= INT64_MAX:
        raise _PatchError("invalid number for indexing")
    return i


def _child(container: Any, seg: Any) -> tuple[Any, Any]:
    """``(slot, child)`` of ``container`` at ``seg``; the slot is a key form, an
    index or (for sets) the element itself."""
    t = type(container)
    if t is dict:
        k = to_key(seg)
        child = container.get(k, UNDEF)
        if child is UNDEF:
            raise _PatchError("path does not exist in object")
        return k, child
    if t is list or t is tuple:
        i = _to_index(len(container), seg)
        if not 0 <= i < len(container):
            raise _PatchError("path does not exist in array")
        return i, container[i]
    if t is Set:
        if seg not in container:
            raise _PatchError("path does not exist in set")
        return seg, seg
    raise _PatchError("expected composite type")


def _replace_child(container: Any, slot: Any, old: Any, new: Any) -> Any:
    t = type(container)
    if t is dict:
        d = dict(container)
        d[slot] = new
        return d
    if t is list or t is tuple:
        lst = list(container)
        lst[slot] = new
        return lst
    keys = set(container.keys)
    keys.discard(to_key(old))
    keys.add(to_key(new))
    return Set.from_keys(frozenset(keys))


def _update(doc: Any, parents: list[Any], edit: Any) -> Any:
    """``doc`` with the container at ``parents`` replaced by ``edit(container)``,
    copying only the containers along the way."""
    trail: list[tuple[Any, Any, Any]] = []
    cur = doc
    for seg in parents:
        slot, child = _child(cur, seg)
        trail.append((cur, slot, child))
        cur = child
    new = edit(cur)
    for container, slot, old in reversed(trail):
        new = _replace_child(container, slot, old, new)
    return new


def _insert(doc: Any, path: list[Any], value: Any) -> Any:
    if not path:
        return value
    last = path[-1]

    def edit(container: Any) -> Any:
        t = type(container)
        if t is dict:
            d = dict(container)
            d[to_key(last)] = value
            return d
        if t is list or t is tuple:
            i = _to_index(len(container), last)
            if not 0 <= i <= len(container):
                raise _PatchError("index for array insertion out of bounds")
            lst = list(container)
            lst.insert(i, value)
            return lst
        if t is Set:
            if not equal(last, value):
                raise _PatchError("set key does not equal value to be inserted")
            return Set.from_keys(container.keys | {to_key(value)})
        raise _PatchError("expected composite type")

    return _update(doc, path[:-1], edit)


def _delete(doc: Any, path: list[Any]) -> Any:
    if not path:
        return _REMOVED
    last = path[-1]

    def edit(container: Any) -> Any:
        t = type(container)
        if t is dict:
            k = to_key(last)
            if k not in container:
                raise _PatchError("cannot delete child key that does not exist")
            return {kk: vv for kk, vv in container.items() if kk != k}
        if t is list or t is tuple:
            i = _to_index(len(container), last)
            if not 0 <= i < len(container):
                raise _PatchError("index for array delete out of bounds")
            return list(container[:i]) + list(container[i + 1 :])
        if t is Set:
            if last not in container:
                raise _PatchError("cannot delete child key that does not exist")
            return Set.from_keys(container.keys - {to_key(last)})
        raise _PatchError("expected composite type")

    return _update(doc, path[:-1], edit)


def _render(doc: Any, path: list[Any]) -> Any:
    cur = doc
    for seg in path:
        _, cur = _child(cur, seg)
    return cur


def _attribute(op: dict[Any, Any], name: str) -> Any:
    value = op.get(name, UNDEF)
    if value is UNDEF:
        raise _PatchError(f"missing '{name}' attribute")
    return value


def _patch_path(value: Any) -> list[Any]:
    try:
        return parse_path(value)
    except OperandError as exc:
        raise _PatchError(exc.message) from None


def _apply(doc: Any, operations: list[Any] | tuple[Any, ...]) -> Any:
    for op in operations:
        if type(op) is not dict:
            raise _PatchError("must be an array of JSON-Patch objects, but at least one element is not an object")
        name = _attribute(op, "op")
        if type(name) is not str:
            raise _PatchError("attribute 'op' must be a string")
        if name not in _VALID_OPS:
            raise _PatchError(f"unrecognized op '{name}'")
        path = _patch_path(_attribute(op, "path"))
        source = _patch_path(_attribute(op, "from")) if name in ("move", "copy") else []
        value = _attribute(op, "value") if name in ("add", "replace", "test") else None
        if doc is _REMOVED and (path or name != "add"):
            raise _PatchError("deleted node encountered")
        if name == "add":
            doc = _insert(doc, path, value)
        elif name == "remove":
            doc = _delete(doc, path)
        elif name == "replace":
            doc = _insert(_delete(doc, path), path, value) if path else value
        elif name == "move":
            chunk = _render(doc, source)
            doc = _insert(_delete(doc, source), path, chunk)
        elif name == "copy":
            doc = _insert(doc, path, _render(doc, source))
        elif not equal(_render(doc, path), value):
            raise _PatchError("value from EditTree != patch value")
    return doc


@implements("json.patch")
@guarded
def json_patch(target: Any, patches: Any) -> Any:
    """``target`` with the RFC 6902 operations of ``patches`` applied in turn
    (undefined when one of them cannot be applied)."""
    operations = arg_array(patches, 2)
    try:
        result = _apply(target, operations)
    except _PatchError:
        return UNDEF
    return UNDEF if result is _REMOVED else result
