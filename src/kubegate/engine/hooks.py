"""Action hooks: Python callables that DSL rules name with ``CALL name(args)``.

A violation produced by a rule with ``CALL notify("payments", c.name)``
carries ``details["hooks"] == [{"name": "notify", "args": ["payments", "api"]}]``.
After a review is decided, :class:`HookRunner` hands each such call to the
callable registered under its name, on a background thread: hooks never
delay the decision, cannot change it, and an exception in one is logged and
counted, never raised. A name with no registered hook is logged once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from kubegate.engine.decision import ReviewResult, Violation

__all__ = ["HookCall", "HookFunction", "HookRunner"]

_log = logging.getLogger("kubegate.hooks")


@dataclass(frozen=True)
class HookCall:
    """One ``CALL``: the hook's name, its evaluated arguments, and the violation it came with."""

    name: str
    args: tuple[Any, ...]
    violation: Violation


HookFunction = Callable[[HookCall], object]


class HookRunner:
    """Runs registered hooks for decided reviews, one at a time, in the background.

    Args:
        hooks: ``{name: callable}`` registered at once.
    """

    def __init__(self, hooks: Mapping[str, HookFunction] | None = None) -> None:
        self._hooks: dict[str, HookFunction] = dict(hooks or {})
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._pending: set[Future[None]] = set()
        self._unknown: set[str] = set()
        self.failures = 0
        self.completed = 0

    def register(self, name: str, hook: HookFunction) -> None:
        """Registers (or replaces) the hook called by ``CALL name(...)``."""
        with self._lock:
            self._hooks[name] = hook

    def calls(self, result: ReviewResult) -> list[HookCall]:
        """The hook calls a review's violations ask for."""
        out = []
        for violation in result.violations:
            details = violation.details if isinstance(violation.details, Mapping) else {}
            for call in details.get("hooks") or ():
                if isinstance(call, Mapping) and isinstance(call.get("name"), str):
                    args = call.get("args")
                    out.append(HookCall(call["name"], tuple(args) if isinstance(args, list) else (), violation))
        return out

    def dispatch(self, result: ReviewResult) -> int:
        """Schedules the hooks of ``result``; returns how many were scheduled (never blocks)."""
        calls = self.calls(result)
        scheduled = 0
        for call in calls:
            with self._lock:
                hook = self._hooks.get(call.name)
                if hook is None:
                    if call.name not in self._unknown:
                        self._unknown.add(call.name)
                        _log.warning("no hook registered for CALL %s (policy %s)", call.name, call.violation.policy)
                    continue
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(1, thread_name_prefix="kubegate-hooks")
                future = self._executor.submit(self._run, hook, call)
                self._pending.add(future)
            future.add_done_callback(self._done)
            scheduled += 1
        return scheduled

    def _run(self, hook: HookFunction, call: HookCall) -> None:
        try:
            hook(call)
        except Exception:
            self.failures += 1
            _log.exception("hook %s failed (policy %s)", call.name, call.violation.policy)
        else:
            self.completed += 1

    def _done(self, future: Future[None]) -> None:
        with self._lock:
            self._pending.discard(future)

    def drain(self, timeout_s: float | None = None) -> bool:
        """Waits for scheduled hooks; returns whether all finished in time."""
        with self._lock:
            pending = list(self._pending)
        _, not_done = wait(pending, timeout=timeout_s)
        return not not_done

    def close(self) -> None:
        """Lets scheduled hooks finish, then stops the thread."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)
