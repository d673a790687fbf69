"""Where things are in the source a module is formatted from (``kubegate fmt``).

:class:`Source` indexes a module's tokens (as
:func:`~kubegate.rego.parser.parse_module_with_comments` returns them) so the
formatter can lay the output out as the source was written: which bracket
closes which, the ``(`` after a call's name, the ``{`` opening a body, and the
last source line of any AST node. :mod:`kubegate.rego.formatter` describes the
layout rules (those of OPA's ``v1/format/format.go``).
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass

from kubegate.errors import Location
from kubegate.rego import ast
from kubegate.rego.parser import SourceToken

__all__ = ["Source", "node_line"]

_OPENERS = {"LPAR": "RPAR", "LSQB": "RSQB", "LBRACE": "RBRACE"}
_BRACKETED = (ast.ArrayTerm, ast.SetTerm, ast.ObjectTerm, ast.ArrayCompr, ast.SetCompr, ast.ObjectCompr)


def node_line(node: object) -> int | None:
    """The source line an AST node starts on.

    Args:
        node: any AST node (an object with a ``loc`` attribute) or other value.

    Returns:
        The 1-based line of ``node.loc``, or ``None`` when the node has no
        location (built by a rewrite, not read from the source).
    """
    loc = getattr(node, "loc", None)
    return loc.line if isinstance(loc, Location) and loc.line else None


class Source:
    """A module's tokens: bracket matching and where nodes end.

    Args:
        tokens: the significant tokens in source order
            (:attr:`~kubegate.rego.parser.ParsedSource.tokens`).

    Token indexes are positions in ``tokens``; lines are 1-based source lines.
    """

    def __init__(self, tokens: tuple[SourceToken, ...]) -> None:
        self.tokens = tokens
        self._at = {(t.line, t.column): i for i, t in enumerate(tokens)}
        self._match: dict[int, int] = {}
        self._ends: dict[int, int] = {}
        stack: list[int] = []
        for i, tok in enumerate(tokens):
            if tok.type in _OPENERS:
                stack.append(i)
            elif tok.type in _OPENERS.values() and stack:
                self._match[stack.pop()] = i

    def index(self, loc: Location | None) -> int | None:
        """The index of the token starting at ``loc``, or ``None``."""
        return None if loc is None else self._at.get((loc.line, loc.column))

    def token(self, loc: Location | None) -> SourceToken | None:
        """The token starting at ``loc``, or ``None``."""
        i = self.index(loc)
        return None if i is None else self.tokens[i]

    def closing(self, opener: int | None) -> int | None:
        """The line of the bracket closing the one at token index ``opener``."""
        j = None if opener is None else self._match.get(opener)
        return None if j is None else self.tokens[j].line

    def paren_after(self, loc: Location | None) -> int | None:
        """The ``(`` opening the arguments after the name at ``loc`` (a call or a function head)."""
        i = self.index(loc)
        while i is not None and i < len(self.tokens):
            kind = self.tokens[i].type
            if kind == "LPAR":
                return i
            if kind == "LSQB":
                j = self._match.get(i)
                i = None if j is None else j + 1
            elif kind in ("NAME", "DOT"):
                i += 1
            else:
                return None
        return None

    def line_before(self, loc: Location | None) -> int | None:
        """The line of the token before the one at ``loc`` (``if`` before a one-line body)."""
        i = self.index(loc)
        return self.tokens[i - 1].line if i else None

    def body_open(self, body: ast.Body | None) -> int | None:
        """The ``{`` before a body's first literal, or ``None`` (an ``if x`` body)."""
        i = self.index(body[0].loc) if body else None
        while i is not None and i > 0:
            i -= 1
            if self.tokens[i].type != "LPAR":
                return i if self.tokens[i].type == "LBRACE" else None
        return None

    def end(self, node: object) -> int:
        """The last source line of ``node`` (a node or a tuple of nodes)."""
        if isinstance(node, tuple):
            return max((self.end(x) for x in node), default=0)
        if not is_dataclass(node) or isinstance(node, type | ast.Annotations):
            return 0
        cached = self._ends.get(id(node))
        if cached is not None:
            return cached
        loc: Location | None = getattr(node, "loc", None)
        best = loc.line if loc is not None else 0
        i = self.index(loc)
        if i is not None:
            best = max(best, self.tokens[i].end_line)
            if isinstance(node, _BRACKETED):
                best = max(best, self.closing(i) or 0)
        if isinstance(node, ast.Call) or (isinstance(node, ast.RuleHead) and node.args is not None):
            best = max(best, self.closing(self.paren_after(loc)) or 0)
        if isinstance(node, ast.Rule | ast.ElseClause | ast.Every):
            best = max(best, self.closing(self.body_open(node.body)) or 0)
        for f in fields(node):
            if f.name != "loc":
                best = max(best, self.end(getattr(node, f.name)))
        self._ends[id(node)] = best
        return best
