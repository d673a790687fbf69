"""A progress bar on stderr for long ``kubegate check`` runs (rich).

Shown only when stderr is a terminal and the run reviews at least
:data:`MIN_OBJECTS` objects, so CI logs and pipes never get control codes.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

__all__ = ["MIN_OBJECTS", "progress_wanted", "tracked"]

MIN_OBJECTS = 50
T = TypeVar("T")


def progress_wanted(count: int, is_terminal: Callable[[], bool] = sys.stderr.isatty) -> bool:
    """Whether a run of ``count`` objects shows a bar (stderr a terminal, enough objects)."""
    return count >= MIN_OBJECTS and is_terminal()


def tracked(items: Iterable[T], total: int, label: str = "reviewing", console: Console | None = None) -> Iterator[T]:
    """Yields ``items`` while a bar of ``total`` steps advances on stderr (transient:
    the bar is removed when the run ends, leaving the report alone on the screen)."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console or Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=total)
        for item in items:
            yield item
            bar.advance(task)
