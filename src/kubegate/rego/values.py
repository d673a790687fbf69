"""Convert JSON values to Rego terms and back.

Used to embed constraint parameters into generated Rego (``with
input.parameters as {...}``) and to read constant rule values.
"""

from __future__ import annotations

import math
from typing import Any

from kubegate.rego import ast

__all__ = ["term_from_value", "value_from_term"]


def term_from_value(value: Any) -> ast.Term:
    """Returns the Rego term for a JSON-compatible Python value.

    Args:
        value: ``None``, ``bool``, ``int``, ``float``, ``str``, a list/tuple or a
            dict with string keys (nested arbitrarily).

    Raises:
        ValueError: for values JSON cannot represent (NaN, sets of dicts, other
            types).
    """
    if value is None or isinstance(value, bool):
        return ast.Scalar(value)
    if isinstance(value, int):
        return ast.Scalar(value, str(value))
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise ValueError(f"{value!r} has no JSON representation")
        return ast.Scalar(value, repr(value))
    if isinstance(value, str):
        return ast.Scalar(value)
    if isinstance(value, (list, tuple)):
        return ast.ArrayTerm(tuple(term_from_value(v) for v in value))
    if isinstance(value, dict):
        return ast.ObjectTerm(tuple((term_from_value(str(k)), term_from_value(v)) for k, v in value.items()))
    raise ValueError(f"cannot convert {type(value).__name__} to a Rego term")


def value_from_term(term: ast.Term) -> Any:
    """Returns the JSON value of a ground term, sets as lists.

    Raises:
        ValueError: when ``term`` is not ground (contains variables, refs, calls).
    """
    if isinstance(term, ast.Scalar):
        return term.value
    if isinstance(term, ast.ArrayTerm | ast.SetTerm):
        return [value_from_term(t) for t in term.items]
    if isinstance(term, ast.ObjectTerm):
        out: dict[str, Any] = {}
        for k, v in term.items:
            key = value_from_term(k)
            if not isinstance(key, str):
                raise ValueError("object keys must be strings to convert to JSON")
            out[key] = value_from_term(v)
        return out
    raise ValueError("term is not a ground value")
