"""JSON Schema builtins: ``json.verify_schema`` and ``json.match_schema``.

Follows https://github.com/open-policy-agent/opa/blob/main/v1/topdown/jsonschema.go,
which uses OPA's copy of gojsonschema (drafts 4, 6 and 7, picked by ``$schema``,
else a mix of them). Validation is done by the ``jsonschema`` library; its
errors are reported the way gojsonschema reports them: objects with ``error``
(``"<field>: <desc>"``), ``type`` (``invalid_type``, ``required``, ...),
``field`` (the dotted path of the value, ``(root)`` for the document) and
``desc``, in gojsonschema's keyword order and with its wording.

References are resolved only inside the schema: a ``$ref`` to anything else
(a URL, a file) is an error, never fetched.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import referencing
import referencing.exceptions
from jsonschema.exceptions import SchemaError

from kubegate.evaluator.builtins._gojsonschema import DRAFTS, FORMATS, JSON_TYPES, translate
from kubegate.evaluator.builtins._nc_support import guarded
from kubegate.evaluator.builtins.registry import BuiltinError, implements
from kubegate.evaluator.values import to_json

__all__ = ["json_match_schema", "json_verify_schema"]


class _SchemaProblem(Exception):
    """The document or the schema cannot be used (OPA's loader or compile error)."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"invalid JSON number {name}")


def _load(value: Any) -> Any:
    """The JSON document of an operand: a string is parsed as JSON, an object or
    array is taken as is."""
    t = type(value)
    if t is str:
        try:
            return json.loads(value, parse_constant=_reject_constant)
        except (ValueError, RecursionError):
            raise _SchemaProblem("invalid JSON string") from None
    if t is dict or t is list or t is tuple:
        return to_json(value)
    raise _SchemaProblem("wrong type, expected string or object")


_SUBSCHEMA_MAPS = ("properties", "patternProperties", "definitions", "$defs", "dependencies")
_SUBSCHEMA_ONE = ("additionalItems", "additionalProperties", "not", "if", "then", "else", "contains", "propertyNames")
_SUBSCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "items")


def _subschemas(schema: Any) -> Iterator[Any]:
    """Every schema object inside ``schema``, itself included (iteratively)."""
    stack = [schema]
    while stack:
        s = stack.pop()
        if not isinstance(s, dict):
            continue
        yield s
        for key in _SUBSCHEMA_MAPS:
            m = s.get(key)
            if isinstance(m, dict):
                stack.extend(m.values())
        for key in _SUBSCHEMA_ONE:
            stack.append(s.get(key))
        for key in _SUBSCHEMA_LISTS:
            m = s.get(key)
            if isinstance(m, list):
                stack.extend(m)
            elif key == "items":
                stack.append(m)


def _check_types(schema: Any) -> None:
    for s in _subschemas(schema):
        types = s.get("type")
        names = types if isinstance(types, list) else [types] if isinstance(types, str) else []
        seen: list[str] = []
        for name in names:
            if not isinstance(name, str) or name not in JSON_TYPES:
                expected = "[" + " ".join(JSON_TYPES) + "]"
                raise _SchemaProblem(
                    f"has a primitive type that is NOT VALID -- given: /{name}/ Expected valid values are:{expected}"
                )
            if name in seen:
                raise _SchemaProblem(f"{name} type is duplicated")
            seen.append(name)


def _draft_of(schema: Any) -> int:
    uri = schema.get("$schema") if isinstance(schema, dict) else None
    if isinstance(uri, str):
        for draft in (4, 6, 7):
            if f"draft-0{draft}/schema" in uri:
                return draft
    return 0


def _compile(schema: Any) -> tuple[Any, int]:
    """A validator for ``schema`` and its draft, or :class:`_SchemaProblem`."""
    if not isinstance(schema, (dict, bool)):
        raise _SchemaProblem("Expected: valid schema, given: Invalid JSON")
    _check_types(schema)
    draft = _draft_of(schema)
    candidates = [draft] if draft else [7, 4]
    problem: SchemaError | None = None
    for d in candidates:
        stock, cls = DRAFTS[d]
        try:
            stock.check_schema(schema)
        except SchemaError as exc:
            problem = problem or exc
            continue
        validator = cls(schema, registry=referencing.Registry(), format_checker=FORMATS)
        _check_refs(validator, schema)
        return validator, d
    assert problem is not None
    raise _SchemaProblem(problem.message)


def _check_refs(validator: Any, schema: Any) -> None:
    resolver = validator._resolver
    for s in _subschemas(schema):
        ref = s.get("$ref")
        if isinstance(ref, str):
            try:
                resolver.lookup(ref)
            except referencing.exceptions.Unresolvable:
                raise _SchemaProblem(f"unable to resolve reference {ref}") from None


def _validate(validator: Any, draft: int, document: Any) -> tuple[bool, tuple[dict[str, str], ...]]:
    try:
        errors = list(validator.iter_errors(document))
    except referencing.exceptions.Unresolvable as exc:
        raise _SchemaProblem(f"unable to resolve reference: {exc}") from None
    return not errors, tuple(translate(e, draft) for e in errors)


@implements("json.verify_schema")
@guarded
def json_verify_schema(schema: Any) -> tuple[bool, Any]:
    """``[true, null]`` when ``schema`` (an object or a JSON string) is a valid JSON
    Schema, else ``[false, "jsonschema: <why>"]``."""
    try:
        _compile(_load(schema))
    except _SchemaProblem as exc:
        return False, f"jsonschema: {exc}"
    return True, None


@implements("json.match_schema")
@guarded
def json_match_schema(document: Any, schema: Any) -> tuple[bool, Any]:
    """``[true, []]`` when ``document`` matches ``schema`` (each an object, array or
    JSON string), else ``[false, errors]`` with gojsonschema's error objects.

    Raises:
        BuiltinError: the document or schema is not valid JSON, or the schema is not
            a valid JSON Schema.
    """
    try:
        doc = _load(document)
        validator, draft = _compile(_load(schema))
        ok, errors = _validate(validator, draft, doc)
    except _SchemaProblem as exc:
        raise BuiltinError(str(exc)) from None
    return ok, errors
