"""gojsonschema's reporting on top of the ``jsonschema`` library, for
:mod:`kubegate.evaluator.builtins.schemas`.

Follows OPA's copy of gojsonschema
(https://github.com/open-policy-agent/opa/tree/main/internal/gojsonschema,
``validation.go``, ``errors.go`` and its locale): validator classes for drafts 4, 6
and 7 whose keywords report what gojsonschema reports (a wrong type alone,
``anyOf``/``oneOf`` with the closest branch's errors, ``allOf`` and ``if`` with
their own error, one error per missing property or dependency), checked in
gojsonschema's order, and the translation of each error into
``{error, type, field, desc}``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import jsonschema
from jsonschema.exceptions import ValidationError

__all__ = ["DRAFTS", "FORMATS", "JSON_TYPES", "translate"]

JSON_TYPES = ("array", "boolean", "integer", "number", "null", "object", "string")

_TEMPLATES = {
    "false": "False always fails validation",
    "required": "{property} is required",
    "invalid_type": "Invalid type. Expected: {expected}, given: {given}",
    "number_any_of": "Must validate at least one schema (anyOf)",
    "number_one_of": "Must validate one and only one schema (oneOf)",
    "number_all_of": "Must validate all the schemas (allOf)",
    "number_not": "Must not validate the schema (not)",
    "missing_dependency": "Has a dependency on {dependency}",
    "const": "{field} does not match: {allowed}",
    "enum": "{field} must be one of the following: {allowed}",
    "array_no_additional_items": "No additional items allowed on array",
    "array_min_items": "Array must have at least {min} items",
    "array_max_items": "Array must have at most {max} items",
    "unique": "{type} items[{i},{j}] must be unique",
    "contains": "At least one of the items must match",
    "array_min_properties": "Must have at least {min} properties",
    "array_max_properties": "Must have at most {max} properties",
    "additional_property_not_allowed": "Additional property {property} is not allowed",
    "invalid_property_name": 'Property name of "{property}" does not match',
    "string_gte": "String length must be greater than or equal to {min}",
    "string_lte": "String length must be less than or equal to {max}",
    "pattern": "Does not match pattern '{pattern}'",
    "format": "Does not match format '{format}'",
    "multiple_of": "Must be a multiple of {multiple}",
    "number_gte": "Must be greater than or equal to {min}",
    "number_gt": "Must be greater than {min}",
    "number_lte": "Must be less than or equal to {max}",
    "number_lt": "Must be less than {max}",
    "condition_then": 'Must validate "then" as "if" was valid',
    "condition_else": 'Must validate "else" as "if" was not valid',
}

# gojsonschema's order of checks within one schema (validateSchema, then the
# number/array/object checks, validateCommon, the string checks, properties).
_ORDER = {
    k: i
    for i, k in enumerate(
        (
            "$ref",
            "type",
            "anyOf",
            "oneOf",
            "allOf",
            "not",
            "dependencies",
            "if",
            "multipleOf",
            "maximum",
            "exclusiveMaximum",
            "minimum",
            "exclusiveMinimum",
            "items",
            "additionalItems",
            "minItems",
            "maxItems",
            "uniqueItems",
            "contains",
            "minProperties",
            "maxProperties",
            "required",
            "patternProperties",
            "additionalProperties",
            "propertyNames",
            "const",
            "enum",
            "format",
            "minLength",
            "maxLength",
            "pattern",
            "properties",
        )
    )
}


def _go_error(kind: str, **details: Any) -> ValidationError:
    err = ValidationError(kind)
    err._go = (kind, details)  # type: ignore[attr-defined]
    return err


def _marshal(value: Any) -> str:
    """Go's ``json.Marshal``: compact, sorted keys, HTML characters escaped."""
    text = json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(ch, esc)
    return text


def _num(value: Any) -> str:
    """A schema number as gojsonschema prints a ``big.Float`` (``%.10g``)."""
    try:
        return format(float(value), ".10g")
    except (TypeError, ValueError, OverflowError):
        return str(value)


def _given(instance: Any) -> str:
    if instance is None:
        return "null"
    t = type(instance)
    if t is bool:
        return "boolean"
    if t is int or (t is float and instance.is_integer()):
        return "integer"
    if t is float:
        return "number"
    if t is str:
        return "string"
    if t is list:
        return "array"
    return "object"


def _types(value: Any) -> str:
    if isinstance(value, list):
        return value[0] if len(value) == 1 else "[" + ",".join(str(v) for v in value) + "]"
    return str(value)


def _type_ok(validator: Any, types: Any, instance: Any) -> bool:
    names = types if isinstance(types, list) else [types]
    return any(validator.is_type(instance, t) for t in names if isinstance(t, str))


def _descend(validator: Any, instance: Any, schema: Any, path: Any = None, schema_path: Any = None) -> Any:
    """``validator.descend``, keeping the path for a ``false`` schema (the library
    drops it there)."""
    if schema is False:
        err = _go_error("false")
        if path is not None:
            err.path.appendleft(path)
        return iter([err])
    return validator.descend(instance, schema, path=path, schema_path=schema_path)


def _errors(validator: Any, instance: Any, schema: Any, **kw: Any) -> list[ValidationError]:
    return list(_descend(validator, instance, schema, **kw))


def _properties(validator: Any, value: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if isinstance(instance, dict) and isinstance(value, dict):
        for prop, sub in value.items():
            if prop in instance:
                yield from _descend(validator, instance[prop], sub, path=prop, schema_path=prop)


def _pattern_properties(validator: Any, value: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if isinstance(instance, dict) and isinstance(value, dict):
        for pattern, sub in value.items():
            for prop, child in instance.items():
                if re.search(pattern, prop):
                    yield from _descend(validator, child, sub, path=prop, schema_path=pattern)


# Keyword implementations reporting what gojsonschema reports.


def _all_of(validator: Any, value: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
    failed = False
    for i, sub in enumerate(value):
        errs = _errors(validator, instance, sub, schema_path=i)
        failed = failed or bool(errs)
        yield from errs
    if failed:
        yield _go_error("number_all_of")


def _any_of(validator: Any, value: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
    best: list[ValidationError] | None = None
    for i, sub in enumerate(value):
        errs = _errors(validator, instance, sub, schema_path=i)
        if not errs:
            return
        if best is None or len(errs) < len(best):
            best = errs
    yield _go_error("number_any_of")
    yield from best or ()


def _one_of(validator: Any, value: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
    valid = 0
    best: list[ValidationError] | None = None
    for i, sub in enumerate(value):
        errs = _errors(validator, instance, sub, schema_path=i)
        if not errs:
            valid += 1
        elif valid == 0 and (best is None or len(errs) < len(best)):
            best = errs
    if valid != 1:
        yield _go_error("number_one_of")
        if valid == 0:
            yield from best or ()


def _if(validator: Any, value: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if validator.evolve(schema=value).is_valid(instance):
        if "then" in schema:
            errs = _errors(validator, instance, schema["then"], schema_path="then")
            if errs:
                yield _go_error("condition_then")
                yield from errs
    elif "else" in schema:
        errs = _errors(validator, instance, schema["else"], schema_path="else")
        if errs:
            yield _go_error("condition_else")
            yield from errs


def _required(validator: Any, value: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if isinstance(instance, dict):
        for prop in value:
            if prop not in instance:
                yield _go_error("required", property=prop)


def _dependencies(validator: Any, value: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if not isinstance(instance, dict):
        return
    for prop in instance:
        dep = value.get(prop) if isinstance(value, dict) else None
        if isinstance(dep, list):
            for other in dep:
                if other not in instance:
                    yield _go_error("missing_dependency", dependency=other)
        elif dep is not None:
            yield from validator.descend(instance, dep, schema_path=prop)


def _additional_properties(validator: Any, value: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if not isinstance(instance, dict):
        return
    props = schema.get("properties", {})
    patterns = list(schema.get("patternProperties", {}))
    for prop in instance:
        if prop in props or any(re.search(p, prop) for p in patterns):
            continue
        if value is False:
            yield _go_error("additional_property_not_allowed", property=prop)
        elif isinstance(value, dict):
            yield from _descend(validator, instance[prop], value, path=prop)


def _property_names(validator: Any, value: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if isinstance(instance, dict):
        for prop in instance:
            errs = _errors(validator, prop, value)
            if errs:
                yield _go_error("invalid_property_name", property=prop)
                yield from errs


def _contains(validator: Any, value: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if not isinstance(instance, list):
        return
    best: list[ValidationError] | None = None
    for i, item in enumerate(instance):
        errs = _errors(validator, item, value, path=i)
        if not errs:
            return
        if best is None or len(errs) < len(best):
            best = errs
    yield _go_error("contains")
    yield from best or ()


def _unique_items(validator: Any, value: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if value is True and isinstance(instance, list):
        seen: dict[str, int] = {}
        for j, item in enumerate(instance):
            key = _marshal(item)
            if key in seen:
                yield _go_error("unique", type="array", i=seen[key], j=j)
            seen[key] = j


_OVERRIDES: dict[str, Callable[..., Iterator[ValidationError]]] = {
    "allOf": _all_of,
    "anyOf": _any_of,
    "oneOf": _one_of,
    "if": _if,
    "required": _required,
    "dependencies": _dependencies,
    "additionalProperties": _additional_properties,
    "propertyNames": _property_names,
    "contains": _contains,
    "uniqueItems": _unique_items,
    "properties": _properties,
    "patternProperties": _pattern_properties,
}


def _typed(keyword: str, fn: Callable[..., Any]) -> Callable[..., Iterator[ValidationError]]:
    """``fn`` run only when the instance has one of the schema's types: gojsonschema
    reports a wrong type alone, skipping the schema's other checks."""

    def check(validator: Any, value: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
        if keyword != "type" and "type" in schema and not _type_ok(validator, schema["type"], instance):
            return
        yield from fn(validator, value, instance, schema) or ()

    return check


def _applicable(schema: Any) -> Any:
    if not isinstance(schema, dict):
        return []
    if "$ref" in schema:
        return [("$ref", schema["$ref"])]
    return sorted(schema.items(), key=lambda kv: _ORDER.get(kv[0], len(_ORDER)))


_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")
_TIME = re.compile(r"\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")
_LABEL = r"([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9\-]{0,61}[a-zA-Z0-9])"
_HOSTNAME = re.compile(rf"{_LABEL}(\.{_LABEL})*")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_POINTER = re.compile(r"(/([^~/]|~0|~1)*)*", re.DOTALL)
_REL_POINTER = re.compile(r"(0|[1-9][0-9]*)(#|(/([^~/]|~0|~1)*)*)", re.DOTALL)


def _date_time(s: str) -> bool:
    if not _DATE_TIME.fullmatch(s):
        return False
    try:
        datetime.strptime(s[:19], "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return False
    return True


def _uri(s: str, absolute: bool) -> bool:
    if "\\" in s:
        return False
    try:
        parts = urlsplit(s)
    except ValueError:
        return False
    return bool(parts.scheme) or not absolute


def _format_checker() -> jsonschema.FormatChecker:
    checker = jsonschema.FormatChecker()
    extra: dict[str, Callable[[str], bool]] = {
        "date-time": _date_time,
        "time": lambda s: bool(_TIME.fullmatch(s)),
        "hostname": lambda s: len(s) <= 255 and bool(_HOSTNAME.fullmatch(s)),
        "uri": lambda s: _uri(s, True),
        "uri-reference": lambda s: _uri(s, False),
        "uuid": lambda s: bool(_UUID.fullmatch(s)),
        "json-pointer": lambda s: bool(_POINTER.fullmatch(s)),
        "relative-json-pointer": lambda s: bool(_REL_POINTER.fullmatch(s)),
    }
    for name, fn in extra.items():

        def check(instance: object, fn: Callable[[str], bool] = fn) -> bool:
            return not isinstance(instance, str) or fn(instance)

        checker.checks(name)(check)
    return checker


FORMATS = _format_checker()


def _make(base: Any) -> Any:
    validators = {k: _typed(k, _OVERRIDES.get(k, fn)) for k, fn in base.VALIDATORS.items()}
    return jsonschema.validators.create(
        meta_schema=base.META_SCHEMA,
        validators=validators,
        type_checker=base.TYPE_CHECKER,
        format_checker=FORMATS,
        id_of=base.ID_OF,
        applicable_validators=_applicable,
    )


DRAFTS = {
    4: (jsonschema.Draft4Validator, _make(jsonschema.Draft4Validator)),
    6: (jsonschema.Draft6Validator, _make(jsonschema.Draft6Validator)),
    7: (jsonschema.Draft7Validator, _make(jsonschema.Draft7Validator)),
}


def translate(err: ValidationError, draft: int) -> dict[str, str]:
    path = [str(p) for p in err.absolute_path]  # the instance path
    field = ".".join(path) if path else "(root)"
    go = getattr(err, "_go", None)
    if go is not None:
        kind, details = go
    else:
        kind, details = _classify(err, draft)
    template = _TEMPLATES.get(kind)
    desc = template.format(field=field, **details) if template is not None else str(details.get("message", ""))
    return {"error": f"{field}: {desc}", "type": kind, "field": field, "desc": desc}


def _classify(err: ValidationError, draft: int) -> tuple[str, dict[str, Any]]:
    k, schema = err.validator, err.schema
    v: Any = err.validator_value
    exclusive = isinstance(schema, dict) and draft == 4
    simple = {
        "minLength": ("string_gte", "min"),
        "maxLength": ("string_lte", "max"),
        "minItems": ("array_min_items", "min"),
        "maxItems": ("array_max_items", "max"),
        "minProperties": ("array_min_properties", "min"),
        "maxProperties": ("array_max_properties", "max"),
        "pattern": ("pattern", "pattern"),
        "format": ("format", "format"),
    }
    if k is None:
        return "false", {}
    if k == "type":
        return "invalid_type", {"expected": _types(v), "given": _given(err.instance)}
    if k == "enum":
        allowed = ", ".join(_marshal(x) for x in v) if v else "(none)"
        return "enum", {"allowed": allowed}
    if k == "const":
        return "const", {"allowed": _marshal(v)}
    if k in simple:
        kind, name = simple[str(k)]
        return kind, {name: v}
    if k == "multipleOf":
        return "multiple_of", {"multiple": _num(v)}
    if k == "maximum":
        lt = exclusive and isinstance(schema, dict) and schema.get("exclusiveMaximum") is True
        return ("number_lt" if lt else "number_lte"), {"max": _num(v)}
    if k == "minimum":
        gt = exclusive and isinstance(schema, dict) and schema.get("exclusiveMinimum") is True
        return ("number_gt" if gt else "number_gte"), {"min": _num(v)}
    if k == "exclusiveMaximum":
        return "number_lt", {"max": _num(v)}
    if k == "exclusiveMinimum":
        return "number_gt", {"min": _num(v)}
    if k in ("additionalItems", "items"):
        return "array_no_additional_items", {}
    if k == "not":
        return "number_not", {}
    return str(k), {"message": err.message}
