"""Policy directories as a source: read them, watch them, reload what changed.

Changes are seen through watchfiles (inotify): a write, a rename over a file
(editors and ``kubectl cp`` write a temporary file and rename it), a delete.
Events are gathered until none came for ``step_ms`` (50 ms), then the
directories are read until two reads ``settle_ms`` (50 ms) apart agree
(every file's text, size, mtime and inode), at most ``read_tries`` (5) times;
a directory still changing after that is read again on the next event or
poll (``recheck_s``, 0.5 s), never applied as it stood. A file rewritten in
place (opened with ``O_TRUNC`` and written, as ``cp``, ``echo >`` and many
editors do) is thus only read once its writer has been quiet for a while.

A stable read is handed to the manager, which rebuilds only what changed and
holds back a file that lost every policy or rule (a writer that paused longer than the
settle interval: see :mod:`kubegate.lifecycle.manager`); while something is
held, the directories are re-checked every ``recheck_s``. A file that cannot
be read keeps its last good content; a configured directory that disappears
is a source failure (the last good set stays) until it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from watchfiles import awatch

from kubegate.errors import InputError, KubegateError, Location
from kubegate.lifecycle.manager import ApplyOutcome, PolicyManager
from kubegate.policy.loader import read_policy_files

__all__ = ["DirectorySource"]

_log = logging.getLogger("kubegate.lifecycle")


_Stat = tuple[int, int, int] | None  # size (bytes), mtime (ns), inode; None: gone


@dataclass(frozen=True)
class _Read:
    """One read of the policy paths."""

    texts: dict[str, str]
    errors: list[KubegateError]
    stats: dict[str, _Stat]

    def agrees(self, other: _Read) -> bool:
        """Same files, same texts, sizes, mtimes and inodes, same read errors."""
        return (
            self.texts == other.texts
            and self.stats == other.stats
            and [(e.code, e.message) for e in self.errors] == [(e.code, e.message) for e in other.errors]
        )


def _stat(path: str) -> _Stat:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ino)


class DirectorySource:
    """Feeds ``manager`` from policy files and directories.

    Args:
        manager: receives every update.
        paths: policy files or directories.
        step_ms: quiet time (ms) after the last file event before reading.
        poll_s: how often (s) a missing directory is looked for again.
        settle_ms: time (ms) between two reads that must agree before a read is applied.
        read_tries: how many times a read is repeated to find two that agree
            before the change is left for the next event or poll.
        recheck_s: how often (s) the paths are read again while a change is
            unsettled or a suspect file is held back.
    """

    def __init__(
        self,
        manager: PolicyManager,
        paths: Sequence[str],
        step_ms: int = 50,
        poll_s: float = 0.5,
        settle_ms: float = 50.0,
        read_tries: int = 5,
        recheck_s: float = 0.5,
    ) -> None:
        self.manager = manager
        self.paths = list(paths)
        self.step_ms = step_ms
        self.poll_s = poll_s
        self.settle_ms = settle_ms
        self.read_tries = max(1, read_tries)
        self.recheck_s = recheck_s
        self.unsettled = False  # the last load found the files still changing
        self._last_load = 0.0
        manager.source.name = "dir:" + ",".join(self.paths)

    def _missing(self) -> list[str]:
        return [p for p in self.paths if not os.path.exists(p)]

    def _read(self) -> _Read:
        texts, errors = read_policy_files(self.paths)
        return _Read(texts, errors, {name: _stat(name) for name in texts})

    def read_stable(self) -> tuple[dict[str, str], list[KubegateError]] | None:
        """Reads the paths until two reads ``settle_ms`` apart agree.

        Returns:
            The texts and read errors of the last read, or ``None`` when no two
            of ``read_tries + 1`` reads agreed (a writer is still at work).
        """
        current = self._read()
        served = self.manager.files
        if not current.errors and served is not None and current.texts == served and not self.manager.suspects:
            return current.texts, current.errors  # nothing changed since the last update
        for _ in range(self.read_tries):
            time.sleep(self.settle_ms / 1000)
            again = self._read()
            if again.agrees(current):
                return again.texts, again.errors
            current = again
        return None

    def load(self) -> ApplyOutcome | None:
        """Reads the paths and applies them.

        Returns:
            The manager's outcome; ``None`` when the source itself is broken
            or the files are still changing (:attr:`unsettled`: they are read
            again on the next event or poll).
        """
        self._last_load = time.monotonic()
        missing = self._missing()
        if missing:
            self.manager.source_failed(
                InputError(f"policy path {missing[0]} does not exist", Location(missing[0]), code="file_not_found")
            )
            return None
        read = self.read_stable()
        self._last_load = time.monotonic()
        if read is None:
            if not self.unsettled:
                _log.info(
                    "policy files still changing after %d reads %s ms apart; reading them again later",
                    self.read_tries + 1,
                    self.settle_ms,
                )
            self.unsettled = True
            return None
        self.unsettled = False
        texts, errors = read
        unreadable: list[KubegateError] = []
        previous: Mapping[str, str] = self.manager.files or {}
        for error in errors:
            name = error.location.file if error.location else ""
            if name in previous:
                texts[name] = previous[name]  # keep the last good content of a file that cannot be read now
            unreadable.append(error)
        if not texts and errors:
            self.manager.source_failed(errors[0])
            return None
        outcome = self.manager.apply(texts, self.manager.source.name, hold_suspect=True)
        if unreadable:
            self.manager.source.detail["unreadable"] = [e.to_dict() for e in unreadable]
        else:
            self.manager.source.detail.pop("unreadable", None)
        return outcome

    def _recheck_due(self) -> bool:
        """Whether to read again without an event: a change did not settle, or a suspect file is held."""
        if not (self.unsettled or self.manager.suspects):
            return False
        return time.monotonic() - self._last_load >= self.recheck_s

    async def watch(self, stop: asyncio.Event) -> None:
        """Reloads on every change until ``stop`` is set (call :meth:`load` first)."""
        reload_first = False
        timeout_ms = max(10, int(min(self.recheck_s, self.poll_s) * 1000))
        while not stop.is_set():
            if self._missing():
                await asyncio.to_thread(self.load)  # reports the failure
                reload_first = True
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.poll_s)
                continue
            if reload_first or self.unsettled:  # back after a failure: what is there now was never seen as events
                await asyncio.to_thread(self.load)
                reload_first = False
            caught_up = False  # a change made between the last read and the watcher's start is no event
            try:
                async for changes in awatch(
                    *self.paths,
                    stop_event=stop,
                    debounce=1000,
                    step=self.step_ms,
                    rust_timeout=timeout_ms,
                    yield_on_timeout=True,
                ):
                    if self._missing():
                        break  # a watched directory went away: report it and wait for it
                    if changes or self._recheck_due() or not caught_up:
                        caught_up = True  # the watcher runs now: one read sees what it missed (unchanged: no-op)
                        await asyncio.to_thread(self.load)
            except (FileNotFoundError, RuntimeError, OSError) as exc:
                _log.warning("watching %s stopped (%s); watching again", self.paths, exc)
                reload_first = True
                await asyncio.sleep(self.poll_s)
