"""The ``sprintf`` builtin: Go's ``fmt.Sprintf`` over Rego values.

Follows ``builtinSprintf`` of https://github.com/open-policy-agent/opa/blob/main/v1/topdown/strings.go:
each element of the array becomes a Go value before ``fmt.Sprintf`` (ported in
:mod:`._gofmt`) sees it:

* a string is a Go ``string`` (``%v`` and ``%s`` print it bare);
* a number written without fraction or exponent (a Python ``int``) is an
  ``int64``, or a ``*big.Int`` when it does not fit (printed exactly by ``%d``,
  ``%s``, ``%v``, ``%x`` ...); any other number (a ``float``) is a ``float64``;
* anything else (booleans, null, arrays, objects, sets) is the *string* of its
  Rego text: ``true``, ``null``, ``["a", 1]``, ``{"a": 1}``, ``{1, 2}``,
  ``set()``. So ``sprintf("%d", ["a"])`` is ``%!d(string=a)`` and
  ``sprintf("%t", [true])`` is ``%!t(string=true)``, as in OPA.

Missing, extra and ill-typed arguments give Go's notes: ``%!d(MISSING)``,
``%!(EXTRA string=x)``, ``%!s(int64=5)``.
"""

from __future__ import annotations

from typing import Any

from kubegate.evaluator.builtins import _gofmt
from kubegate.evaluator.builtins._gostrconv import go_quote, int_text
from kubegate.evaluator.builtins.registry import BuiltinError, arg_array, arg_string, implements
from kubegate.evaluator.values import Set, items

__all__ = ["rego_text", "sprintf"]


def _number_text(value: int | float) -> str:
    if type(value) is int:
        return _gofmt.int_text(value)
    return repr(value)


def rego_text(value: Any) -> str:
    """OPA's ``ast.Value.String()``: strings Go-quoted, object keys and set
    elements in OPA's order, ``set()`` for the empty set."""
    t = type(value)
    if t is str:
        return _gofmt.go_quote(value)
    if t is bool:
        return "true" if value else "false"
    if value is None:
        return "null"
    if t is int or t is float:
        return _number_text(value)
    if t is list or t is tuple:
        return "[" + ", ".join(rego_text(v) for v in value) + "]"
    if t is dict:
        return "{" + ", ".join(f"{rego_text(k)}: {rego_text(v)}" for k, v in items(value)) + "}"
    if t is Set:
        if not value:
            return "set()"
        return "{" + ", ".join(rego_text(v) for v in value.values()) + "}"
    raise BuiltinError(f"illegal value of type {t.__name__}")


def _go_arg(value: Any) -> Any:
    t = type(value)
    if t is str or t is int or t is float:
        return value
    if t is bool:
        return "true" if value else "false"
    return rego_text(value)


@implements("sprintf")
def sprintf(format_: Any, values: Any) -> str:
    """``format_`` with Go ``fmt`` verbs applied to the elements of ``values``."""
    fmt = arg_string(format_, 1)
    arr = arg_array(values, 2)
    try:
        args = [_go_arg(v) for v in arr]
        fast = _simple_sprintf(fmt, args)
        if fast is not None:
            return fast
        return _gofmt.sprintf(fmt, args)
    except _gofmt.FormatTooLarge:
        raise BuiltinError(f"result longer than {_gofmt.MAX_OUTPUT} characters") from None
    except RecursionError:
        raise BuiltinError("value too deeply nested") from None
    except MemoryError:
        raise BuiltinError("out of memory") from None
    except (ArithmeticError, ValueError, TypeError, KeyError, IndexError) as exc:
        raise BuiltinError(f"illegal value: {exc}") from None


# Formats whose verbs are all bare %v, %s, %d or %q (the usual violation
# message), split once: (literal pieces, verbs). None: use the full printer.
_plans: dict[str, tuple[tuple[str, ...], str] | None] = {}
_MAX_PLANS = 4096


def _plan(fmt: str) -> tuple[tuple[str, ...], str] | None:
    pieces: list[str] = []
    verbs: list[str] = []
    current: list[str] = []
    i, n = 0, len(fmt)
    while i < n:
        j = fmt.find("%", i)
        if j < 0:
            current.append(fmt[i:])
            break
        current.append(fmt[i:j])
        if j + 1 >= n:
            return None
        verb = fmt[j + 1]
        if verb == "%":
            current.append("%")
        elif verb in "vsdq":
            pieces.append("".join(current))
            current = []
            verbs.append(verb)
        else:
            return None
        i = j + 2
    pieces.append("".join(current))
    return tuple(pieces), "".join(verbs)


def _simple_sprintf(fmt: str, args: list[Any]) -> str | None:
    """Go's result for a simple format with strings and integers, else ``None``."""
    if fmt in _plans:
        plan = _plans[fmt]
    else:
        plan = _plan(fmt)
        if len(_plans) >= _MAX_PLANS:
            _plans.clear()
        _plans[fmt] = plan
    if plan is None:
        return None
    pieces, verbs = plan
    if len(verbs) != len(args):
        return None
    out = [pieces[0]]
    for verb, arg, piece in zip(verbs, args, pieces[1:], strict=True):
        t = type(arg)
        if t is str and verb in "vs":
            out.append(arg)
        elif t is str and verb == "q":
            out.append(go_quote(arg))
        elif t is int and verb in "vd":
            out.append(int_text(arg))
        else:
            return None
        out.append(piece)
    text = "".join(out)
    return text if len(text) <= _gofmt.MAX_OUTPUT else None
