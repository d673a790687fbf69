"""Policy directories as a source: read them, watch them, reload what changed.

Changes are seen through watchfiles (inotify): a write, a rename over a file
(editors and ``kubectl cp`` write a temporary file and rename it), a delete.
Events are gathered until none came for ``step_ms`` (10 ms), then the
directories are read. Whether a changed file is whole is told by its writer
(:mod:`kubegate.lifecycle.writers`, inotify ``IN_CLOSE_WRITE``/``IN_MOVED_TO``):

- every changed file closed by its writer or renamed into place: the read is
  applied at once (after a second read that agrees, made straight away);
- a changed file still open for writing (written within ``writing_for_s``,
  2 s, and not closed): nothing is applied; it is read again on the next
  event or re-check (``recheck_s``, 0.5 s);
- otherwise (no inotify, a change from before the watcher started, a file in a
  subdirectory or behind a symlink, a writer silent for ``writing_for_s``): the
  directories are read until two reads ``settle_ms`` (50 ms) apart agree (every
  file's text, size, mtime and inode), at most ``read_tries`` (5) times; a
  directory still changing after that is read again on the next event or
  re-check, never applied as it stood.

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
from kubegate.lifecycle.writers import WriterTracker
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
        settle_ms: time (ms) between two reads that must agree before a read is applied
            when the writers' events do not tell that the files are whole.
        read_tries: how many times a read is repeated to find two that agree
            before the change is left for the next event or poll.
        recheck_s: how often (s) the paths are read again while a change is
            unsettled or a suspect file is held back.
        track_writers: follow writers through inotify while watching (Linux); off:
            every change takes the settle read.
        writing_for_s: how long (s) after its last write a file not yet closed holds
            the change back before the settle read is used instead.
    """

    def __init__(
        self,
        manager: PolicyManager,
        paths: Sequence[str],
        step_ms: int = 10,
        poll_s: float = 0.5,
        settle_ms: float = 50.0,
        read_tries: int = 5,
        recheck_s: float = 0.5,
        track_writers: bool = True,
        writing_for_s: float = 2.0,
    ) -> None:
        self.manager = manager
        self.paths = list(paths)
        self.step_ms = step_ms
        self.poll_s = poll_s
        self.settle_ms = settle_ms
        self.read_tries = max(1, read_tries)
        self.recheck_s = recheck_s
        self.track_writers = track_writers
        self.writing_for_s = writing_for_s
        self.finished_reads = 0  # reads applied because every writer was done (no settle read)
        self.settled_reads = 0  # reads that took the settle path
        self.writing = 0  # reads held back because a file was still being written
        self.unsettled = False  # the last load found the files still changing
        self._last_load = 0.0
        self._writers: WriterTracker | None = None  # while watching, on Linux
        manager.source.name = "dir:" + ",".join(self.paths)

    def _missing(self) -> list[str]:
        return [p for p in self.paths if not os.path.exists(p)]

    def _read(self) -> _Read:
        texts, errors = read_policy_files(self.paths)
        return _Read(texts, errors, {name: _stat(name) for name in texts})

    def read_stable(self) -> tuple[dict[str, str], list[KubegateError]] | None:
        """Reads the paths once every changed file is whole (see the module's text).

        Returns:
            The texts and read errors of the last read, or ``None`` when a changed
            file is still open for writing or no two of ``read_tries + 1`` reads agreed.
        """
        current = self._read()
        served = self.manager.files
        if not current.errors and served is not None and current.texts == served and not self.manager.suspects:
            return current.texts, current.errors  # nothing changed since the last update
        if self._writers is not None and not current.errors and served is not None:
            changed = [name for name, text in current.texts.items() if served.get(name) != text]
            # Only deletions (or a held file re-checked): nothing a writer could leave half done.
            state = self._writers.state(changed, self.writing_for_s)
            if state == "writing":
                self.writing += 1
                return None  # read again once its writer closed it (the next recheck)
            # Every changed file closed by its writer or renamed into place, and still so
            # after a second read at once (a writer that started meanwhile is caught).
            if (
                state == "finished"
                and self._read().agrees(current)
                and self._writers.state(changed, self.writing_for_s) == "finished"
            ):
                self.finished_reads += 1
                return current.texts, current.errors
        self.settled_reads += 1
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
                _log.info("policy files still being written; reading them again later")
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
        try:
            await self._watch(stop)
        finally:
            self._track_writers(False)

    def _track_writers(self, on: bool) -> None:
        """(Re)starts the writer tracker, whose watches die with a directory, or stops it."""
        if self._writers is not None:
            self._writers.close()
            self._writers = None
        if on and self.track_writers:
            self._writers = WriterTracker.start(self.paths)

    async def _watch(self, stop: asyncio.Event) -> None:
        reload_first = False
        timeout_ms = max(10, int(min(self.recheck_s, self.poll_s) * 1000))
        while not stop.is_set():
            if self._missing():
                await asyncio.to_thread(self.load)  # reports the failure
                reload_first = True
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.poll_s)
                continue
            self._track_writers(True)  # before the reads below: a change after this point has its events
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
