"""OPA's builtin functions, one module per family (as OPA's ``v1/topdown``).

Importing this package registers every family's implementations in
:data:`IMPLEMENTATIONS`; declared signatures are in :mod:`.signatures`.
"""

from __future__ import annotations

import importlib
from typing import Any

from kubegate.evaluator.builtins.registry import (
    IMPLEMENTATIONS,
    Builtin,
    BuiltinContext,
    BuiltinError,
    HaltError,
    OperandTypeError,
    guard_error,
)

__all__ = [
    "FAMILIES",
    "IMPLEMENTATIONS",
    "PLANNED",
    "UNSUPPORTED",
    "Builtin",
    "BuiltinContext",
    "BuiltinError",
    "HaltError",
    "OperandTypeError",
    "available",
    "guard_error",
    "lookup_signature",
]

# The families, one module each (OPA v1/topdown); importing registers them.
FAMILIES = (
    "aggregates",
    "arrays",
    "bits",
    "comparison",
    "crypto",
    "crypto_keys",
    "encoding",
    "encoding_yaml",
    "glob",
    "graphs",
    "jsonpath",
    "kubegate_image",
    "membership",
    "misc",
    "misc_http",
    "net",
    "numbers",
    "objects",
    "regex",
    "schemas",
    "semver",
    "sets",
    "sprintf",
    "strings",
    "timefns",
    "tokens",
    "typecheck",
    "units",
)

# Builtins the planner implements itself (operators, assignment, print).
PLANNED = frozenset({"assign", "eq", "print", "internal.print"})

# Declared by OPA 1.x but not offered by kubegate; a policy calling one fails
# to load with rego_type_error naming it (docs/compatibility.md).
UNSUPPORTED: dict[str, str] = {
    **{
        name: "GraphQL parsing needs a GraphQL library kubegate does not ship yet"
        for name in (
            "graphql.is_valid",
            "graphql.parse",
            "graphql.parse_and_verify",
            "graphql.parse_query",
            "graphql.parse_schema",
            "graphql.schema_is_valid",
        )
    },
    "internal.template_string": 'template strings ($"...") are not parsed by kubegate\'s Rego front-end yet',
    "internal.test_case": "used by OPA's test runner internally; kubegate test does not need it",
    "providers.aws.sign_req": "AWS SigV4 signing has not been checked against OPA's reference signatures",
    "rego.metadata.chain": "annotations are not exposed to rules at evaluation time yet",
    "rego.metadata.rule": "annotations are not exposed to rules at evaluation time yet",
    "rego.parse_module": "needs OPA's exact JSON form of the AST",
    "uri.parse": "OPA's output shape is not pinned down by conformance cases kubegate has",
    "uri.is_valid": "OPA's output shape is not pinned down by conformance cases kubegate has",
}

for _family in FAMILIES:
    importlib.import_module(f"{__name__}.{_family}")


def lookup_signature(name: str, rego_version: str = "v1") -> Any:
    """The declared signature of ``name`` for a module of ``rego_version``, or ``None``."""
    try:
        from kubegate.evaluator.builtins import signatures
    except ImportError:  # pragma: no cover - the table is part of the package
        return None
    return signatures.lookup(name, rego_version)


def available(name: str, rego_version: str) -> bool:
    """Whether a module of ``rego_version`` may call builtin ``name``
    (deprecated builtins only in v0 modules, as OPA 1.x)."""
    if name not in IMPLEMENTATIONS:
        return False
    try:
        from kubegate.evaluator.builtins import signatures
    except ImportError:  # pragma: no cover
        return True
    declared = signatures.SIGNATURES.get(name)
    if declared is None:
        return True
    return not (declared.deprecated and rego_version == "v1")
