"""Which policy files a writer has finished: inotify's close-write and moved-to events.

The directory source must never apply a half-written file. Without knowing when a
writer is done it can only wait for quiet time and read twice (its settle read,
:mod:`kubegate.lifecycle.local`). inotify tells more (``inotify(7)``): a file whose
last event is ``IN_CLOSE_WRITE`` (its writer closed it) or ``IN_MOVED_TO`` (renamed
into place whole, as editors, ``kubectl cp`` and ``install`` do) is complete; one
whose last event is ``IN_MODIFY`` or ``IN_CREATE`` still has a writer at work.

:class:`WriterTracker` watches the top level of each policy directory (and the
directory of each policy file: a rename over a file replaces its inode) for those
events, and answers :meth:`WriterTracker.state` for a set of files. A file it
has seen no event for (changed before it started, in a subdirectory, or behind a
symlink such as a ConfigMap volume's ``..data``) is not known to be finished, and
neither is anything after the kernel's event queue overflowed, so the caller falls
back to its settle read. Linux only: elsewhere, or when inotify cannot be set up
(``fs.inotify.max_user_watches`` reached), :meth:`WriterTracker.start` returns
``None``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterable, Sequence
from typing import Literal

__all__ = ["WriterState", "WriterTracker"]

_log = logging.getLogger("kubegate.lifecycle")

#: What the events say of a set of files: every writer done; one still writing; or not known.
WriterState = Literal["finished", "writing", "unknown"]


class WriterTracker:
    """Follows writers of the files under ``paths`` through one inotify descriptor.

    Args:
        paths: policy files or directories (as :class:`~kubegate.lifecycle.local.DirectorySource` has them).

    Raises:
        OSError: inotify could not be set up (use :meth:`start`, which returns ``None`` instead).
    """

    def __init__(self, paths: Sequence[str]) -> None:
        from inotify_simple import INotify, flags

        self._flags = flags
        self._inotify = INotify(nonblocking=True)
        self._dirs: dict[int, str] = {}  # watch descriptor -> absolute directory
        # absolute path -> "finished", or the monotonic time (s) of its last write event
        self._states: dict[str, str | float] = {}
        mask = (
            flags.CREATE
            | flags.MODIFY
            | flags.CLOSE_WRITE
            | flags.MOVED_TO
            | flags.MOVED_FROM
            | flags.DELETE
            | flags.DELETE_SELF
            | flags.MOVE_SELF
        )
        try:
            for directory in sorted({_directory_of(p) for p in paths}):
                with contextlib.suppress(FileNotFoundError, NotADirectoryError):  # missing: the source reports it
                    self._dirs[self._inotify.add_watch(directory, mask)] = directory
        except OSError:
            self._inotify.close()
            raise

    @classmethod
    def start(cls, paths: Sequence[str]) -> WriterTracker | None:
        """A tracker for ``paths``, or ``None`` where inotify is not available (the reason is logged)."""
        try:
            return cls(paths)
        except (OSError, AttributeError, ImportError) as exc:  # not Linux, no libc symbol, watch limit
            _log.info("inotify unavailable (%s): policy files are read twice before they are applied", exc)
            return None

    def _drain(self) -> None:
        """Reads every queued event (never blocks) and updates the files' states."""
        flags = self._flags
        for event in self._inotify.read(timeout=0):
            if event.mask & flags.Q_OVERFLOW:
                self._states.clear()  # events were lost: nothing is known to be finished
                continue
            directory = self._dirs.get(event.wd)
            if directory is None:
                continue
            if event.mask & (flags.DELETE_SELF | flags.MOVE_SELF | flags.IGNORED):
                self._forget(directory)
                continue
            if event.mask & flags.ISDIR or not event.name:
                continue
            path = os.path.join(directory, event.name)
            if event.mask & (flags.DELETE | flags.MOVED_FROM):
                self._states.pop(path, None)  # gone: a later create or move starts afresh
            elif event.mask & (flags.CLOSE_WRITE | flags.MOVED_TO):
                self._states[path] = "finished"
            elif event.mask & (flags.MODIFY | flags.CREATE):
                self._states[path] = time.monotonic()

    def _forget(self, directory: str) -> None:
        prefix = directory + os.sep
        for path in [p for p in self._states if p.startswith(prefix)]:
            del self._states[path]

    def state(self, files: Iterable[str], writing_for_s: float) -> WriterState:
        """What the events say of ``files`` (paths, relative or absolute, that changed since
        the last applied read and still exist).

        Args:
            files: the paths.
            writing_for_s: how long (s) after its last write a file still open for writing
                counts as being written; after that it is ``"unknown"`` (a writer that
                keeps a finished file open must not hold updates back for ever).

        Returns:
            ``"writing"`` if one file was written within ``writing_for_s`` and not closed;
            else ``"finished"`` if every file was closed or renamed into place; else ``"unknown"``.
        """
        self._drain()
        now = time.monotonic()
        result: WriterState = "finished"
        for name in files:
            state = self._states.get(os.path.abspath(name))
            if isinstance(state, float):
                if now - state < writing_for_s:
                    return "writing"
                result = "unknown"
            elif state is None:
                result = "unknown"
        return result

    def close(self) -> None:
        """Releases the inotify descriptor."""
        self._inotify.close()


def _directory_of(path: str) -> str:
    absolute = os.path.abspath(path)
    return absolute if os.path.isdir(absolute) else os.path.dirname(absolute)
