"""The small interface between kubegate and a Rego evaluator.

A backend compiles a set of normalised Rego v1 modules plus base data into a
:class:`CompiledPolicy` once, then answers queries on named entrypoints for
many inputs. A policy set is compiled as several independent units (see
:mod:`kubegate.engine.prepared`); one :class:`Evaluator` per thread holds the
current input and queries any of them, so an input is converted once per
review whatever the number of units. Everything above this interface
(parsing, normalisation, Gatekeeper semantics, decisions) is
backend-independent; adding a backend (OPA over HTTP, a WASM build) means
implementing these protocols.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = [
    "REGEX_FLAGS",
    "UNDEFINED",
    "Backend",
    "CompiledPolicy",
    "Evaluator",
    "ModuleSource",
    "PreparedInput",
    "set_thread_deadline",
    "thread_deadline",
]

_deadlines = threading.local()


def set_thread_deadline(deadline: float) -> None:
    """Sets this thread's evaluation deadline (a ``time.monotonic()`` value; 0 for none).

    Backends that can stop an evaluation (the compiled backend) end it with
    ``eval_cancel_error`` past the deadline; the webhook's pool sets it per request.
    """
    _deadlines.value = deadline


def thread_deadline() -> float:
    """This thread's evaluation deadline, or 0."""
    return float(getattr(_deadlines, "value", 0.0))


class _Undefined:
    """The result of a query whose entrypoint is undefined for the input."""

    _instance: _Undefined | None = None

    def __new__(cls) -> _Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNDEFINED"

    def __bool__(self) -> bool:
        return False


UNDEFINED: Any = _Undefined()

# Key of :attr:`Backend.divergences` for a backend that cannot evaluate RE2 flag
# groups (``(?i)``) the front-end left in place (kubegate.rego.regex).
REGEX_FLAGS = "regex flags"


@dataclass(frozen=True)
class ModuleSource:
    """One module handed to a backend.

    Attributes:
        name: unique name the backend reports errors against (``K8sFoo/template.rego``).
        text: normalised Rego v1 source.
        module: the module as written (no backend workarounds), for backends
            that compile the AST themselves; ``None`` for generated modules.
    """

    name: str
    text: str
    module: Any = None


class PreparedInput(Protocol):
    """An input document converted once to the backend's representation."""


class CompiledPolicy(Protocol):
    """An immutable compiled unit: modules, base data and entrypoints."""

    @property
    def entrypoints(self) -> Sequence[str]:
        """The entrypoints that can be queried."""


class Evaluator(Protocol):
    """Evaluates compiled units for one thread. Not thread-safe: one per thread."""

    def prepare_input(self, value: Any) -> PreparedInput:
        """Converts a JSON-compatible value for :meth:`set_input`.

        Raises:
            EvaluationError: the value has no JSON form.
        """

    def set_input(self, value: PreparedInput) -> None:
        """Sets the ``input`` document for the following queries."""

    def release_input(self) -> None:
        """Forgets the input and whatever was remembered while evaluating it
        (called when the queries on one input are done; the caller may mutate
        the input afterwards)."""

    def query(self, compiled: CompiledPolicy, entrypoint: str) -> Any:
        """Evaluates ``entrypoint`` (``"pkg/path/rule"``) of ``compiled`` and returns
        its JSON value, or :data:`UNDEFINED`.

        Raises:
            EvaluationError: the backend reported a run-time error.
        """


class Backend(Protocol):
    """Compiles modules into :class:`CompiledPolicy` units and evaluates them."""

    name: str
    version: str

    @property
    def divergences(self) -> Mapping[str, str]:
        """Builtin name (or :data:`REGEX_FLAGS`) -> how the backend's result differs from OPA's."""

    def is_builtin(self, name: str) -> bool:
        """Whether the backend provides the builtin function ``name`` (``"regex.match"``)."""

    def compile(
        self, modules: Sequence[ModuleSource], data: Mapping[str, Any], entrypoints: Sequence[str]
    ) -> CompiledPolicy:
        """Compiles ``modules`` with base document ``data``.

        Raises:
            RegoCompileError: a module does not compile; ``location`` names the
                module and the line in its normalised text.
            BackendError: the backend failed for reasons unrelated to the policy.
        """

    def evaluator(self) -> Evaluator:
        """This thread's evaluator (created on first use)."""
