"""Per-query evaluation state: input, data, caches, mocks, deadline, print sink.

Compiled code is immutable and shared between threads; everything that
changes during one query lives in a :class:`Context`. A ``with`` modifier
derives a child context (other input, data overrides or function mocks, and a
fresh virtual-document cache, as OPA's ``with`` invalidates cached values:
https://www.openpolicyagent.org/docs/latest/policy-language/#with-keyword).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

from kubegate.errors import EvaluationError, Location
from kubegate.evaluator.values import UNDEF

__all__ = ["CHECK_EVERY", "Context", "PrintSink", "cancel_error"]

PrintSink = Callable[[str], None]

# How many loop steps run between two deadline checks.
CHECK_EVERY = 256


def _stderr_sink(text: str) -> None:
    print(text, file=sys.stderr)


def cancel_error(location: Location | None = None) -> EvaluationError:
    return EvaluationError("caller cancelled query execution", location, code="eval_cancel_error")


class Context:
    """The mutable state of one query evaluation.

    Attributes:
        input: the ``input`` document (caller's object, read in place) or ``UNDEF``.
        data: the base ``data`` document (caller's mapping, read in place).
        memo: rule node id -> value, the virtual-document cache of this query.
        shared: cache of values that do not depend on ``input.parameters`` (kept
            across the constraints of one review; ``None`` when not sharing).
        mocks: function name (``"time.now_ns"``, ``"data.lib.f"``) -> replacement.
        overrides: ``with data.<path> as value`` replacements, outermost first.
        strict: ``strict_builtin_errors``.
        deadline: ``time.monotonic()`` value after which evaluation stops, or 0.
        cache: per-query cache of non-deterministic builtins (OPA's ``Cache``).
    """

    __slots__ = (
        "_now_ns",
        "budget",
        "cache",
        "data",
        "deadline",
        "fcache",
        "http_send_enabled",
        "http_send_timeout_s",
        "input",
        "memo",
        "mocks",
        "overrides",
        "print_sink",
        "shared",
        "strict",
    )

    def __init__(
        self,
        input: Any = UNDEF,  # noqa: A002 - OPA's name
        data: Mapping[str, Any] | None = None,
        *,
        strict: bool = False,
        timeout_s: float | None = None,
        print_sink: PrintSink | None = None,
        http_send_enabled: bool = False,
        http_send_timeout_s: float = 5.0,
        now_ns: int | None = None,
    ) -> None:
        self.input = input
        self.data: Mapping[str, Any] = data if data is not None else {}
        self.memo: dict[Any, Any] = {}
        self.fcache: dict[Any, Any] = {}
        self.shared: dict[Any, Any] | None = None
        self.mocks: dict[str, Any] = {}
        self.overrides: tuple[tuple[tuple[Any, ...], Any], ...] = ()
        self.strict = strict
        self.deadline = time.monotonic() + timeout_s if timeout_s else 0.0
        self.budget = CHECK_EVERY
        self.cache: dict[Any, Any] = {}
        self.print_sink = print_sink or _stderr_sink
        self.http_send_enabled = http_send_enabled
        self.http_send_timeout_s = http_send_timeout_s
        self._now_ns = now_ns

    def child(self) -> Context:
        """A context for a ``with`` modifier: same query, fresh value caches."""
        c = Context.__new__(Context)
        c.input = self.input
        c.data = self.data
        c.memo = {}
        c.fcache = {}
        c.shared = None
        c.mocks = self.mocks
        c.overrides = self.overrides
        c.strict = self.strict
        c.deadline = self.deadline
        c.budget = CHECK_EVERY
        c.cache = self.cache
        c.print_sink = self.print_sink
        c.http_send_enabled = self.http_send_enabled
        c.http_send_timeout_s = self.http_send_timeout_s
        c._now_ns = self._now_ns if self._now_ns is not None else self.now_ns()
        return c

    def tick(self) -> None:
        """Counts one loop step; raises ``eval_cancel_error`` past the deadline.

        Raises:
            EvaluationError: ``eval_cancel_error``.
        """
        self.budget -= 1
        if self.budget <= 0:
            self.check_deadline()

    def check_deadline(self) -> None:
        """Resets the step budget; raises ``eval_cancel_error`` past the deadline.

        Raises:
            EvaluationError: ``eval_cancel_error``.
        """
        self.budget = CHECK_EVERY
        if self.deadline:
            if time.monotonic() > self.deadline:
                raise cancel_error()
            # Under a deadline (a server's evaluation thread): give the GIL
            # away so the event loop and the other threads keep running.
            time.sleep(0)

    # -- BuiltinContext protocol
    def now_ns(self) -> int:
        if self._now_ns is None:
            self._now_ns = time.time_ns()
        return self._now_ns

    def print(self, text: str) -> None:
        self.print_sink(text)
