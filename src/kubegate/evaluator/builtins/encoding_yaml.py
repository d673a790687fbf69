"""YAML builtins: ``yaml.marshal``, ``yaml.unmarshal``, ``yaml.is_valid``.

Follows https://github.com/open-policy-agent/opa/blob/main/v1/topdown/encoding.go,
which goes through ``sigs.k8s.io/yaml`` (https://github.com/kubernetes-sigs/yaml/blob/master/yaml.go)
and so through go-yaml v2 (https://github.com/go-yaml/yaml/tree/v2.4.0):

* Reading is YAML -> go-yaml v2 values -> JSON -> OPA values. Plain scalars
  resolve as go-yaml v2 does (``y``/``yes``/``on`` are booleans, ``0777`` is
  octal, ``1_000`` is 1000, ``1e400`` stays a string, timestamps stay
  strings), keys become strings (``1: a`` is ``{"1": "a"}``; a null key is an
  error), duplicate keys keep the last value, ``<<`` merges as go-yaml v2 does,
  ``.nan``/``.inf`` values are refused by the JSON step, and only the first
  document of a stream is returned (every document must parse). Aliases are
  bounded by go-yaml's "excessive aliasing" rule, texts by
  :data:`MAX_YAML_BYTES`, nesting by libyaml's depth limit.
* Writing is the value's JSON read back by go-yaml and written with go-yaml's
  libyaml-derived emitter (here libyaml itself, through PyYAML's events):
  block style, keys in go-yaml's natural order, strings that would read back
  as another type double-quoted, multi-line strings as literal blocks.

Parsing is PyYAML's (libyaml's C parser when available); syntax errors are
reported in go-yaml's form ``yaml: line N: <problem>``.
"""

from __future__ import annotations

from typing import Any

import yaml

from kubegate.evaluator.builtins._gocompat import GoError
from kubegate.evaluator.builtins._goyaml_read import MAX_YAML_BYTES, yaml_to_value
from kubegate.evaluator.builtins._goyaml_write import value_to_yaml
from kubegate.evaluator.builtins.registry import BuiltinError, arg_string, implements

__all__ = ["MAX_YAML_BYTES", "yaml_is_valid", "yaml_marshal", "yaml_to_value", "yaml_unmarshal"]


@implements("yaml.unmarshal")
def yaml_unmarshal(x: Any) -> Any:
    """``yaml.unmarshal(x)``: the first document of a YAML text, as JSON data."""
    try:
        return yaml_to_value(arg_string(x, 1))
    except GoError as exc:
        raise BuiltinError(exc.message) from None
    except (RecursionError, MemoryError):
        raise BuiltinError("yaml: the document is too large or too deep") from None


@implements("yaml.is_valid")
def yaml_is_valid(x: Any) -> bool:
    """``yaml.is_valid(x)``: whether ``yaml.unmarshal`` would succeed (``false`` for a non-string)."""
    if type(x) is not str:
        return False
    try:
        yaml_to_value(x)
    except (GoError, RecursionError, MemoryError):
        return False
    return True


@implements("yaml.marshal")
def yaml_marshal(x: Any) -> str:
    """``yaml.marshal(x)``: block-style YAML as ``sigs.k8s.io/yaml`` writes it."""
    try:
        return value_to_yaml(x)
    except GoError as exc:
        raise BuiltinError(exc.message) from None
    except (yaml.YAMLError, RecursionError, MemoryError, ValueError) as exc:
        raise BuiltinError(f"yaml: {exc}") from None
