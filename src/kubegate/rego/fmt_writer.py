"""The output side of ``kubegate fmt``: indented lines, blank lines and comments.

:class:`Writer` collects the formatted text fragment by fragment, each tagged
with the source line it comes from, and places the source's comments
(:class:`Comment`) and empty lines around them as OPA's formatter does
(open-policy-agent/opa ``v1/format/format.go``; the rules are listed in
:mod:`kubegate.rego.formatter`). It also keeps the map from output lines back
to source lines used to report where a formatting error comes from.
"""

from __future__ import annotations

import bisect
import sys
from dataclasses import dataclass

__all__ = ["Comment", "Writer"]


@dataclass(frozen=True, slots=True)
class Comment:
    """A source comment: ``trailing`` when code precedes it on its line.

    Attributes:
        line: its 1-based source line.
        text: the comment, ``#`` included, trailing whitespace removed.
        trailing: whether code precedes it on its line (it then ends an output line).
    """

    line: int
    text: str
    trailing: bool


class Writer:
    """Output lines, with the comments still to place.

    Fragments are written with the source line they come from. A line starting
    with a fragment from source line ``n`` is preceded by the comments before
    ``n`` not yet placed (see :meth:`flush`) and by a blank line when the
    source had an empty line there.

    Args:
        comments: every comment of the source, in source order.
        empty: the sorted source lines holding nothing (neither code nor comment).

    Attributes:
        level: the indentation, in tabs, of the next line opened.
        origin: output line -> the first source line written on it, filled by :meth:`text`.
    """

    def __init__(self, comments: list[Comment], empty: list[int]) -> None:
        self.level = 0
        self._lines: list[tuple[int, str] | None] = []  # (indent, text); None is a blank line
        self._cur: list[str] | None = None
        self._indent = 0
        self._comments = comments
        self._next = 0
        self._waiting: list[Comment] = []  # trailing comments not placed yet
        self._notes: dict[int, str] = {}  # output line -> its trailing comment
        self._held: set[int] = set()
        self._empty = empty  # sorted source lines holding nothing
        self._out_line: dict[int, int] = {}  # source line -> output line holding its last fragment
        self._last = 0  # last source line written
        self._blank = False
        self._block_start = True
        self.origin: dict[int, int] = {}  # output line -> source line, filled by text()

    def write(self, text: str, src: int | None = None, *, gap: bool = True, end: int | None = None) -> None:
        """Appends ``text`` (from source lines ``src``..``end``); ``gap=False`` keeps no blank line before it."""
        cur = self._cur
        if cur is None:
            if src is not None:
                self.flush(src)
                if gap and self._empty_between(self._last, src):
                    self._blank = True
            cur = self._open()
        cur.append(text)
        if src is not None:
            self._out_line[src] = self._out_line[end or src] = len(self._lines)
            self._last = max(self._last, end or src)

    def _empty_between(self, a: int, b: int) -> bool:
        """Whether the source has an empty line between lines ``a`` and ``b`` (``a`` written)."""
        i = bisect.bisect_right(self._empty, a)
        return a > 0 and i < len(self._empty) and self._empty[i] < b

    def _open(self) -> list[str]:
        if self._blank and not self._block_start and self._lines and self._lines[-1] is not None:
            self._lines.append(None)
        self._blank = self._block_start = False
        self._indent = self.level
        self._cur = []
        return self._cur

    def newline(self) -> None:
        """Ends the current output line, if one is open."""
        if self._cur is not None:
            self._lines.append((self._indent, "".join(self._cur)))
            self._cur = None

    def blank(self) -> None:
        """Ends the line and asks for a blank line before the next one."""
        self.newline()
        self._blank = True

    def indent(self) -> None:
        """Ends the line and starts a block one tab deeper (no blank line at its start)."""
        self.newline()
        self.level += 1
        self._block_start = True

    def dedent(self, closer: int | None) -> None:
        """Ends a block: comments before its ``closer`` line go inside it."""
        self.newline()
        if closer is not None:
            self.flush(closer)
        self.level -= 1
        self._blank = self._block_start = False

    def pending_inside(self, first: int, last: int, nested: list[tuple[int, int]]) -> bool:
        """Whether an own-line comment not yet written lies between source lines ``first``
        and ``last`` but not inside one of the ``nested`` (first, last) line spans."""
        for c in self._comments[self._next :]:
            if c.line >= last:
                return False
            if c.line > first and not c.trailing and not any(a < c.line < b for a, b in nested):
                return True
        return False

    def flush(self, before: int) -> None:
        """Places the comments before source line ``before``.

        A trailing comment goes at the end of the output line holding its
        source line; when that line has one already, on its own line here
        (where formatting the output again puts it too).
        """
        while self._next < len(self._comments) and self._comments[self._next].line < before:
            c = self._comments[self._next]
            self._next += 1
            if c.trailing:
                self._waiting.append(c)
            else:
                self._place_waiting(before)
                self._own_line(c)
        self._place_waiting(before)

    def hold(self, lines: set[int]) -> None:
        """Source lines that will be written later than lines after them (sorted imports)."""
        self._held |= lines

    def _place_waiting(self, before: int) -> None:
        waiting, self._waiting = self._waiting, []
        for c in waiting:
            target = self._out_line.get(c.line)
            if target is None and (c.line in self._held or c.line >= before):
                self._waiting.append(c)
                continue
            if target is None:  # only unmarked tokens on its line: the nearest written line above
                keys = sorted(k for k in self._out_line if k < c.line)
                target = self._out_line[keys[-1]] if keys else None
            if target is None or target in self._notes:
                self._own_line(c)
            else:
                self._notes[target] = c.text

    def _own_line(self, c: Comment) -> None:
        self.newline()
        if self._empty_between(self._last, c.line):
            self._blank = True
        self._open().append(c.text)
        self.newline()
        self._last = max(self._last, c.line)

    def text(self) -> str:
        """The output text, every comment placed."""
        self.newline()
        self.level = 0
        self._held.clear()
        self.flush(sys.maxsize)
        first_source: dict[int, int] = {}
        for src, n in self._out_line.items():
            first_source[n] = min(src, first_source.get(n, src))
        out: list[str] = []
        for n, line in enumerate(self._lines):
            if n in first_source:
                self.origin[len(out) + 1] = first_source[n]
            if line is None:
                out.append("")
                continue
            tabs = "\t" * line[0]
            note = self._notes.get(n)
            out.extend((tabs + line[1] + (" " + note if note else "")).split("\n"))
        return "\n".join(out) + "\n"

    def source_line(self, line: int) -> int:
        """The source line an output line (1-based) was written from, or the nearest one above."""
        return next((self.origin[n] for n in range(line, 0, -1) if n in self.origin), 1)
