"""kubegate: a policy engine for Kubernetes.

The SDK in one import::

    from kubegate import Engine
    engine = Engine(["policies/"])
    result = engine.review(pod)

and OPA-style queries::

    from kubegate import prepare_query
    results = prepare_query("data.x.allow", modules={"x.rego": text}).eval(input={...})

Public names are re-exported here; everything else is internal and may change.
"""

from kubegate.engine.backend import Backend
from kubegate.engine.compiled_backend import CompiledBackend
from kubegate.engine.decision import Decision, ReviewResult, SkippedPolicy, Violation
from kubegate.engine.engine import Engine
from kubegate.engine.regopy_backend import RegopyBackend
from kubegate.errors import (
    BackendError,
    ErrorList,
    EvaluationError,
    InputError,
    KubegateError,
    Location,
    PolicyLoadError,
    RegoCompileError,
    RegoParseError,
    UsageError,
)
from kubegate.evaluator.query import PreparedQuery, QueryResult, prepare_query
from kubegate.policy.catalog import DslFile, RegoFile
from kubegate.policy.inventory import Inventory
from kubegate.policy.units import Policy

__all__ = [
    "Backend",
    "BackendError",
    "CompiledBackend",
    "Decision",
    "DslFile",
    "Engine",
    "ErrorList",
    "EvaluationError",
    "InputError",
    "Inventory",
    "KubegateError",
    "Location",
    "Policy",
    "PolicyLoadError",
    "PreparedQuery",
    "QueryResult",
    "RegoCompileError",
    "RegoFile",
    "RegoParseError",
    "RegopyBackend",
    "ReviewResult",
    "SkippedPolicy",
    "UsageError",
    "Violation",
    "prepare_query",
]
