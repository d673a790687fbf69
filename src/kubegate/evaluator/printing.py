"""Rego's text form of values, as OPA prints terms (``print``, ``sprintf("%v")``).

Strings inside collections are quoted, sets print as ``{1, 2}`` (``set()``
when empty), objects as ``{"a": 1}``; a top-level string prints bare in
``print`` output. Follows OPA's ``ast.Term.String``.
"""

from __future__ import annotations

import json
import math
from typing import Any

from kubegate.evaluator.values import Set, from_key, keys

__all__ = ["format_print_value", "rego_text"]


def _number(v: int | float) -> str:
    if type(v) is float:
        if math.isfinite(v) and v.is_integer() and abs(v) < 1e21:
            return str(int(v))
        return repr(v) if math.isfinite(v) else ("+Inf" if v > 0 else "-Inf" if v < 0 else "NaN")
    return str(v)


def rego_text(value: Any) -> str:
    """``value`` as Rego source text."""
    t = type(value)
    if t is str:
        return json.dumps(value, ensure_ascii=False)
    if t is bool:
        return "true" if value else "false"
    if value is None:
        return "null"
    if t is int or t is float:
        return _number(value)
    if t is list or t is tuple:
        return "[" + ", ".join(rego_text(v) for v in value) + "]"
    if t is dict:
        return "{" + ", ".join(f"{rego_text(k)}: {rego_text(value[_k(value, k)])}" for k in keys(value)) + "}"
    if t is Set:
        if not len(value):
            return "set()"
        return "{" + ", ".join(rego_text(v) for v in value.values()) + "}"
    return str(value)


def _k(obj: dict[Any, Any], k: Any) -> Any:
    from kubegate.evaluator.values import to_key

    return to_key(k)


def format_print_value(value: Any) -> str:
    """A ``print`` operand: strings bare, everything else as Rego text."""
    if type(value) is str:
        return value
    return rego_text(value)


_ = from_key
