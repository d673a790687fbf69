"""The values and functions of the ``text/template`` subset of :mod:`._gotemplate`.

After https://github.com/golang/go/blob/master/src/text/template/funcs.go
(``not len index slice eq ne lt le gt ge print printf println html urlquery``;
``and`` and ``or`` short-circuit in the executor) and the truth and printing
rules of https://github.com/golang/go/blob/master/src/text/template/exec.go.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubegate.evaluator.builtins import _gofmt
from kubegate.evaluator.builtins._gofmt import GoInt, JsonNumber, go_bytes
from kubegate.evaluator.builtins._gotemplate_parse import TemplateError

__all__ = ["BUILTINS", "MISSING", "UNDEFINED", "describe", "go_type", "plain", "print_value", "truth"]

#: A missing map key (Go's invalid ``reflect.Value``).
MISSING: Any = type("_Missing", (), {"__repr__": lambda self: "<no value>"})()
#: What OPA renders for a missing value (Go's ``<no value>``).
UNDEFINED = "<undefined>"


def truth(v: Any) -> bool:
    """Go's ``isTrue``: empty values, zero, false and nil are false."""
    if v is MISSING or v is None:
        return False
    if type(v) in (str, JsonNumber, list, tuple, dict):
        return len(v) > 0
    return bool(v)


def go_type(v: Any) -> str:
    """The Go type of a value in error messages."""
    return "interface {}" if v is None else _gofmt.go_type_name(v)


def describe(node: Any) -> str:
    """A command's first operand as Go's error messages show it."""
    if node[0] == "const":
        v = node[1]
        return _gofmt.go_quote(v) if type(v) is str else print_value(v)
    return {"dot": ".", "nil": "nil"}.get(str(node[0]), str(node[0]))


def plain(v: Any) -> Any:
    """``v``, with a missing value as ``nil``."""
    return None if v is MISSING else v


def print_value(value: Any) -> str:
    """A pipeline's value as ``{{...}}`` prints it (missing values as ``<undefined>``)."""
    if value is MISSING or value is None:
        return UNDEFINED
    if type(value) is str:
        return value
    return _gofmt.sprintf("%v", [value])


def _arity(name: str, args: list[Any], n: int) -> None:
    if len(args) != n:
        raise TemplateError(f"wrong number of args for {name}: want {n} got {len(args)}")


def _len(args: list[Any]) -> Any:
    _arity("len", args, 1)
    v = args[0]
    if type(v) in (str, JsonNumber):
        return GoInt(len(go_bytes(v)))
    if type(v) in (list, tuple, dict):
        return GoInt(len(v))
    raise TemplateError(f"len of type {go_type(plain(v))}")


def _index(args: list[Any]) -> Any:
    if not args:
        raise TemplateError("wrong number of args for index: want at least 1 got 0")
    item = args[0]
    for idx in args[1:]:
        if item is MISSING or item is None:
            raise TemplateError("index of untyped nil")
        if type(item) in (list, tuple, str, JsonNumber):
            if type(idx) is not GoInt:
                raise TemplateError(f"cannot index slice/array with type {go_type(plain(idx))}")
            seq = go_bytes(item) if type(item) in (str, JsonNumber) else item
            if not 0 <= idx < len(seq):
                raise TemplateError(f"index out of range: {int(idx)}")
            item = GoInt(seq[idx]) if isinstance(seq, bytes) else seq[idx]
        elif type(item) is dict:
            if type(idx) is not str:
                raise TemplateError(f"value has type {go_type(plain(idx))}; should be string")
            item = item.get(idx)
        else:
            raise TemplateError(f"can't index item of type {go_type(item)}")
    return item


def _slice(args: list[Any]) -> Any:
    if not args:
        raise TemplateError("wrong number of args for slice: want at least 1 got 0")
    item, idx = args[0], args[1:]
    if type(item) not in (list, tuple, str, JsonNumber):
        raise TemplateError(f"can't slice item of type {go_type(plain(item))}")
    if len(idx) > 3 or (len(idx) == 3 and type(item) is not list):
        raise TemplateError(f"too many slice indexes: {len(idx)}")
    if any(type(i) is not GoInt for i in idx):
        raise TemplateError("cannot index slice/array with nil")
    seq = item if type(item) in (list, tuple) else go_bytes(item)
    bounds = [int(i) for i in idx] + [len(seq)] * (2 - len(idx))
    lo, hi = bounds[0], bounds[1]
    if not 0 <= lo <= hi <= len(seq):
        raise TemplateError(f"index out of range: {hi if hi > len(seq) else lo}")
    part = seq[lo:hi]
    return part.decode("utf-8", "replace") if isinstance(part, bytes) else list(part)


def _basic(v: Any) -> tuple[str, Any]:
    t = type(v)
    if t is bool:
        return "bool", v
    if t is GoInt:
        return "int", int(v)
    if t is float:
        return "float", v
    if t is str or t is JsonNumber:
        return "string", str(v)
    return "other", v


def _eq(args: list[Any]) -> Any:
    if len(args) < 2:
        raise TemplateError("missing argument for comparison")
    k1, v1 = _basic(plain(args[0]))
    for arg in args[1:]:
        k2, v2 = _basic(plain(arg))
        if k1 != k2:
            if plain(args[0]) is not None and plain(arg) is not None:
                raise TemplateError("incompatible types for comparison")
            truth = False
        elif k1 == "other":
            if type(v1) in (list, dict) or type(v2) in (list, dict):
                raise TemplateError(f"non-comparable type {print_value(v1 if type(v1) in (list, dict) else v2)}")
            truth = v1 is None and v2 is None
        else:
            truth = v1 == v2
        if truth:
            return True
    return False


def _lt(args: list[Any]) -> bool:
    _arity("lt", args, 2)
    k1, v1 = _basic(plain(args[0]))
    k2, v2 = _basic(plain(args[1]))
    if k1 in ("bool", "other") or k2 in ("bool", "other"):
        raise TemplateError("invalid type for comparison")
    if k1 != k2:
        raise TemplateError("incompatible types for comparison")
    return bool(v1 < v2)


def _le(args: list[Any]) -> bool:
    _arity("le", args, 2)
    return _lt(args) or _eq(args)


def _print_args(args: list[Any]) -> list[Any]:
    return [plain(a) for a in args]


def _sprint(args: list[Any], ln: bool) -> str:
    parts: list[str] = []
    prev_string = False
    for i, a in enumerate(_print_args(args)):
        is_string = type(a) is str
        if i > 0 and (ln or (not is_string and not prev_string)):
            parts.append(" ")
        parts.append(_gofmt.sprintf("%v", [a]))
        prev_string = is_string
    return "".join(parts) + ("\n" if ln else "")


def _printf(args: list[Any]) -> str:
    if not args or type(args[0]) is not str:
        raise TemplateError("wrong type for value; expected string")
    return _gofmt.sprintf(args[0], _print_args(args[1:]))


def _eval_args(args: list[Any]) -> str:
    if len(args) == 1 and type(args[0]) is str:
        return args[0]
    return _sprint(args, False)


def _html(args: list[Any]) -> str:
    s = _eval_args(args)
    table = {"\0": "\ufffd", '"': "&#34;", "'": "&#39;", "&": "&amp;", "<": "&lt;", ">": "&gt;"}
    return "".join(table.get(c, c) for c in s)


def _urlquery(args: list[Any]) -> str:
    out = []
    for b in go_bytes(_eval_args(args)):
        c = chr(b)
        if c.isascii() and (c.isalnum() or c in "-_.~"):
            out.append(c)
        elif c == " ":
            out.append("+")
        else:
            out.append(f"%{b:02X}")
    return "".join(out)


def _not(args: list[Any]) -> bool:
    _arity("not", args, 1)
    return not truth(args[0])


def _ne(args: list[Any]) -> bool:
    _arity("ne", args, 2)
    return not _eq(args)


def _gt(args: list[Any]) -> bool:
    _arity("gt", args, 2)
    return not _le(args)


def _ge(args: list[Any]) -> bool:
    _arity("ge", args, 2)
    return not _lt(args)


BUILTINS: dict[str, Callable[[list[Any]], Any]] = {
    "not": _not,
    "len": _len,
    "index": _index,
    "slice": _slice,
    "eq": _eq,
    "ne": _ne,
    "lt": _lt,
    "le": _le,
    "gt": _gt,
    "ge": _ge,
    "print": lambda a: _sprint(a, False),
    "println": lambda a: _sprint(a, True),
    "printf": _printf,
    "html": _html,
    "urlquery": _urlquery,
}
