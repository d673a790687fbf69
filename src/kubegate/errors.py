"""The error hierarchy shared by every layer of kubegate.

Every error kubegate raises for bad input derives from :class:`KubegateError`
and carries three things a caller can rely on:

* ``code`` -- a stable snake_case string (``rego_parse_error``,
  ``constraint_parameters_invalid`` ...). Tests and tooling match on codes, never
  on message wording. The codes follow OPA's convention
  (https://www.openpolicyagent.org/docs/latest/rest-api/#errors).
* ``location`` -- a :class:`Location` (file, line, column; 1-based) when the error
  can be pinned to a place in an input file, else ``None``.
* ``message`` -- one human sentence, without the location prefix.

``str(error)`` renders ``file:line:col: code: message`` followed by a caret
snippet when the source line is known.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "BackendError",
    "ErrorList",
    "EvaluationError",
    "InputError",
    "KubegateError",
    "Location",
    "PolicyLoadError",
    "RegoCompileError",
    "RegoParseError",
    "UsageError",
]


@dataclass(frozen=True, slots=True)
class Location:
    """A position in a source file.

    Attributes:
        file: path or pseudo-name (``<stdin>``, ``template k8srequiredlabels``).
        line: 1-based line number; 0 when unknown.
        column: 1-based column number; 0 when unknown.
        snippet: the text of the source line, used to draw a caret; optional.
    """

    file: str
    line: int = 0
    column: int = 0
    snippet: str | None = field(default=None, compare=False, repr=False)

    def __str__(self) -> str:
        if self.line and self.column:
            return f"{self.file}:{self.line}:{self.column}"
        if self.line:
            return f"{self.file}:{self.line}"
        return self.file

    def shifted(self, file: str | None = None, line_offset: int = 0, column_offset: int = 0) -> Location:
        """Returns this location moved into an enclosing file.

        Used when Rego embedded in a YAML block scalar is reported against the
        YAML file: ``line_offset`` is the line of the block's first line minus
        one, ``column_offset`` its indentation.
        """
        return Location(
            file=file if file is not None else self.file,
            line=self.line + line_offset if self.line else 0,
            column=self.column + column_offset if self.column else 0,
            snippet=self.snippet,
        )

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "column": self.column}


class KubegateError(Exception):
    """Root of every error kubegate raises on purpose.

    Args:
        message: one sentence describing the problem.
        location: where in an input it happened, if known.
        code: overrides the class default ``code``.
        details: extra JSON-serialisable facts (field path, expected values...).
    """

    code: str = "kubegate_error"

    def __init__(
        self,
        message: str,
        location: Location | None = None,
        *,
        code: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.location = location
        if code is not None:
            self.code = code
        self.details: dict[str, Any] = dict(details or {})

    def __str__(self) -> str:
        head = f"{self.location}: " if self.location is not None else ""
        text = f"{head}{self.code}: {self.message}"
        snippet = self.snippet()
        return f"{text}\n{snippet}" if snippet else text

    def snippet(self) -> str:
        """Returns the source line and a caret under the column, or ``""``."""
        loc = self.location
        if loc is None or not loc.snippet or not loc.column:
            return ""
        line = loc.snippet.rstrip("\n").expandtabs(1)
        caret = " " * (loc.column - 1) + "^"
        return f"  {line}\n  {caret}"

    def to_dict(self) -> dict[str, Any]:
        """Returns a JSON-serialisable form: ``{"code", "message", "location"?, "details"?}``."""
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.location is not None:
            out["location"] = self.location.to_dict()
        if self.details:
            out["details"] = self.details
        return out


class UsageError(KubegateError):
    """A caller passed arguments that cannot work (bad flag combination, unknown id)."""

    code = "usage_error"


class InputError(KubegateError):
    """An input document (manifest, suite, AdmissionReview) is malformed."""

    code = "input_error"


class RegoParseError(KubegateError):
    """Rego source does not parse. Mirrors OPA's ``rego_parse_error``."""

    code = "rego_parse_error"


class RegoCompileError(KubegateError):
    """Rego parses but cannot be compiled (unsafe vars, unknown refs...).

    Mirrors OPA's ``rego_compile_error``; raised when the backend rejects a
    normalised module.
    """

    code = "rego_compile_error"


class PolicyLoadError(KubegateError):
    """A policy unit (template, constraint, module) cannot be loaded."""

    code = "policy_load_error"


class EvaluationError(KubegateError):
    """Evaluating a prepared policy failed at run time (``eval_error`` in OPA)."""

    code = "eval_error"


class BackendError(KubegateError):
    """The Rego backend itself failed (not the policy's fault)."""

    code = "backend_error"


class ErrorList(KubegateError):
    """Several errors found in one pass; ``errors`` keeps them all, in order."""

    code = "multiple_errors"

    def __init__(self, errors: Iterable[KubegateError]) -> None:
        self.errors: list[KubegateError] = list(errors)
        summary = f"{len(self.errors)} errors" if len(self.errors) != 1 else self.errors[0].message
        super().__init__(summary, self.errors[0].location if len(self.errors) == 1 else None)

    def __iter__(self) -> Iterator[KubegateError]:
        return iter(self.errors)

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)
