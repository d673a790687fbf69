"""The progress bar of long `kubegate check` runs: only on a terminal, only for many objects."""

from __future__ import annotations

import io

from rich.console import Console

from kubegate.cli.progress import MIN_OBJECTS, progress_wanted, tracked


def test_the_bar_needs_a_terminal_and_many_objects() -> None:
    assert progress_wanted(MIN_OBJECTS, lambda: True)
    assert not progress_wanted(MIN_OBJECTS - 1, lambda: True)
    assert not progress_wanted(10_000, lambda: False)


def test_tracked_yields_every_item_and_draws_on_its_console() -> None:
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=80)
    items = list(range(120))
    assert list(tracked(iter(items), len(items), "reviewing 120 objects", console=console)) == items
    drawn = screen.getvalue()
    assert "reviewing 120 objects" in drawn and "120/120" in drawn
