"""Policy directories as a source: read them, watch them, reload what changed.

Changes are seen through watchfiles (inotify): a write, a rename over a file
(editors and ``kubectl cp`` write a temporary file and rename it), a delete.
Events are gathered for ``step_ms`` after the last one, then the directories
are read again and handed to the manager, which rebuilds only what changed.
A file that cannot be read keeps its last good content; a configured
directory that disappears is a source failure (the last good set stays)
until it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Sequence

from watchfiles import awatch

from kubegate.errors import InputError, KubegateError, Location
from kubegate.lifecycle.manager import ApplyOutcome, PolicyManager
from kubegate.policy.loader import read_policy_files

__all__ = ["DirectorySource"]

_log = logging.getLogger("kubegate.lifecycle")


class DirectorySource:
    """Feeds ``manager`` from policy files and directories.

    Args:
        manager: receives every update.
        paths: policy files or directories.
        step_ms: quiet time after the last file event before reloading.
        poll_s: how often a missing directory is looked for again.
    """

    def __init__(self, manager: PolicyManager, paths: Sequence[str], step_ms: int = 5, poll_s: float = 0.5) -> None:
        self.manager = manager
        self.paths = list(paths)
        self.step_ms = step_ms
        self.poll_s = poll_s
        manager.source.name = "dir:" + ",".join(self.paths)

    def _missing(self) -> list[str]:
        return [p for p in self.paths if not os.path.exists(p)]

    def load(self) -> ApplyOutcome | None:
        """Reads the paths and applies them; ``None`` when the source itself is broken."""
        missing = self._missing()
        if missing:
            self.manager.source_failed(
                InputError(f"policy path {missing[0]} does not exist", Location(missing[0]), code="file_not_found")
            )
            return None
        texts, errors = read_policy_files(self.paths)
        unreadable: list[KubegateError] = []
        for error in errors:
            name = error.location.file if error.location else ""
            previous = self.manager._files or {}
            if name in previous:
                texts[name] = previous[name]  # keep the last good content of a file that cannot be read now
            unreadable.append(error)
        if not texts and errors:
            self.manager.source_failed(errors[0])
            return None
        outcome = self.manager.apply(texts, self.manager.source.name)
        if unreadable:
            self.manager.source.detail["unreadable"] = [e.to_dict() for e in unreadable]
        return outcome

    async def watch(self, stop: asyncio.Event) -> None:
        """Reloads on every change until ``stop`` is set (call :meth:`load` first)."""
        reload_first = False
        while not stop.is_set():
            if self._missing():
                await asyncio.to_thread(self.load)  # reports the failure
                reload_first = True
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.poll_s)
                continue
            if reload_first:  # back after a failure: what is there now was never seen as events
                await asyncio.to_thread(self.load)
                reload_first = False
            try:
                async for changes in awatch(
                    *self.paths,
                    stop_event=stop,
                    debounce=1000,
                    step=self.step_ms,
                    rust_timeout=500,
                    yield_on_timeout=True,
                ):
                    if self._missing():
                        break  # a watched directory went away: report it and wait for it
                    if changes:
                        await asyncio.to_thread(self.load)
            except (FileNotFoundError, RuntimeError, OSError) as exc:
                _log.warning("watching %s stopped (%s); watching again", self.paths, exc)
                reload_first = True
                await asyncio.sleep(self.poll_s)
