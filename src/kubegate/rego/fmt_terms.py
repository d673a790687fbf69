"""Literals, bodies and terms as ``kubegate fmt`` writes them.

:class:`TermPrinter` writes literals (with their ``with`` modifiers), nested
bodies (comprehensions, ``every``), collections, calls and operators through a
:class:`~kubegate.rego.fmt_writer.Writer`, following the source layout a
:class:`~kubegate.rego.fmt_source.Source` gives: collections and arguments
stay on one line when written so, operator operands that are operators are
parenthesised, strings keep their spelling. The layout rules are OPA's
(open-policy-agent/opa ``v1/format/format.go``) and are listed in
:mod:`kubegate.rego.formatter`, which writes the rules around them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from kubegate.rego import ast
from kubegate.rego.fmt_source import Source, node_line
from kubegate.rego.fmt_writer import Writer
from kubegate.rego.printer import V1_KEYWORDS

__all__ = ["TermPrinter", "brace_led", "dotted_path"]

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_Thunk = Callable[[], None]


def _precedence(term: ast.Term) -> int:
    if isinstance(term, ast.InfixCall):
        return ast.INFIX_PRECEDENCE[term.op]
    if isinstance(term, ast.Member):
        return 0 if term.key is not None else ast.INFIX_PRECEDENCE["in"]
    return 100


def _leftmost(expr: ast.Expression) -> ast.Term | None:
    """The term a printed expression starts with, ``None`` if it starts with ``(`` or a keyword."""
    while True:
        if isinstance(expr, ast.Assign):
            if isinstance(expr.lhs, ast.Member) and expr.lhs.key is not None:
                return None
            expr = expr.lhs
        elif isinstance(expr, ast.InfixCall):
            if isinstance(expr.lhs, ast.InfixCall | ast.Member):
                return None
            expr = expr.lhs
        elif isinstance(expr, ast.Member):
            first = expr.key if expr.key is not None else expr.value
            chained = expr.key is None and isinstance(first, ast.Member) and first.key is None
            if not chained and _precedence(first) < 100:
                return None
            expr = first
        elif isinstance(expr, ast.Ref):
            if isinstance(expr.head, ast.InfixCall | ast.Member):
                return None
            expr = expr.head
        elif isinstance(expr, ast.SomeDecl | ast.SomeIn | ast.Every):
            return None
        else:
            return expr


def brace_led(lit: ast.Literal) -> bool:
    """Whether a literal prints starting with ``{`` (after ``if`` that would open a body).

    Args:
        lit: a literal of a rule or ``else`` body.

    Returns:
        ``True`` for a literal starting with a non-empty set, an object or a
        set/object comprehension, once parentheses are placed.
    """
    first = None if lit.negated else _leftmost(lit.expr)
    if isinstance(first, ast.SetTerm):
        return bool(first.items)
    return isinstance(first, ast.ObjectTerm | ast.SetCompr | ast.ObjectCompr)


def dotted_path(parts: tuple[str, ...], *, keywords: bool = False) -> str:
    """A package or import path as Rego text: ``a.b["not"]``.

    Args:
        parts: the path, first part the root name (``data``, ``input``, ``future`` ...).
        keywords: write v1 keywords as ``.name`` too (``future.keywords.in``).

    Returns:
        ``.name`` for each identifier part, ``["..."]`` (a JSON string) for the others.
    """
    out = [parts[0]]
    for part in parts[1:]:
        if _IDENT.match(part) and (keywords or part not in V1_KEYWORDS):
            out.append("." + part)
        else:
            out.append("[" + json.dumps(part, ensure_ascii=False) + "]")
    return "".join(out)


class TermPrinter:
    """Writes literals, bodies and terms; mirrors the writers of :mod:`kubegate.rego.printer`.

    Args:
        src: the source the module was parsed from (its layout is followed).
        writer: where the text goes.
    """

    def __init__(self, src: Source, writer: Writer) -> None:
        self._src = src
        self._w = writer
        self._paren_scalar = 0  # id() of a negative number to parenthesise (a literal starting with `-`)

    # ---- literals and bodies

    def block(self, body: ast.Body, closer: int | None) -> None:
        """A body one literal per line, one tab deeper; comments before line ``closer`` go inside."""
        self._w.indent()
        for n, lit in enumerate(body):
            self.literal(lit, first=n == 0)
            self._w.newline()
        self._w.dedent(closer)

    def literal(self, lit: ast.Literal, *, first: bool = True) -> None:
        """A literal with its ``with`` modifiers (on its line or indented below, as written).

        Args:
            lit: the literal.
            first: whether it starts its body or line; if not, a leading negative
                number is written ``(-1)`` so the literal cannot continue the previous one.
        """
        w = self._w
        if lit.negated:
            w.write("not ", node_line(lit))
        start = None if first else _leftmost(lit.expr)
        if isinstance(start, ast.Scalar) and start.text is not None and start.text.startswith("-"):
            self._paren_scalar = id(start)  # `-1` on a new line would continue the previous literal
        self._expression(lit.expr)
        previous = self._src.end(lit.expr)
        indented = False
        for modifier in lit.withs:
            row = node_line(modifier) or previous
            if row > previous:
                if not indented:
                    w.level += 1
                    indented = True
                w.newline()
            else:
                w.write(" ")
            w.write("with ", row)
            self.term(modifier.target)
            w.write(" as ")
            self.side(modifier.value)
            previous = self._src.end(modifier)
        if indented:
            w.level -= 1

    def _expression(self, expr: ast.Expression) -> None:
        w = self._w
        if isinstance(expr, ast.Assign):
            self.side(expr.lhs)
            w.write(f" {expr.op} ")
            self.side(expr.rhs)
        elif isinstance(expr, ast.SomeDecl):
            w.write("some ", node_line(expr))
            for n, var in enumerate(expr.vars):
                w.write((", " if n else "") + var.name, node_line(var))
        elif isinstance(expr, ast.SomeIn):
            w.write("some ", node_line(expr))
            if expr.key is not None:
                self.term(expr.key)
                w.write(", ")
            self.term(expr.value)
            w.write(" in ")
            self._wrap(expr.domain, isinstance(expr.domain, ast.Member))
        elif isinstance(expr, ast.Every):
            self._every(expr)
        else:
            self.term(expr)

    def _every(self, every: ast.Every) -> None:
        w, line = self._w, node_line(every)
        w.write("every ", line)
        if every.key is not None:
            w.write(every.key.name + ", ", node_line(every.key))
        w.write(every.value.name, node_line(every.value))
        w.write(" in ")
        self._wrap(every.domain, isinstance(every.domain, ast.Member))
        opener = self._src.body_open(every.body)
        closer = self._src.closing(opener)
        open_line = self._src.tokens[opener].line if opener is not None else line
        w.write(" {")
        self._body_in_brackets(every.body, open_line, closer, " }")

    def _body_in_brackets(self, body: ast.Body, row: int | None, closer: int | None, close: str) -> None:
        """A comprehension or ``every`` body: inline (``a; b``) when written on ``row``, else a block."""
        w = self._w
        spans = [(node_line(lit) or 0, self._src.end(lit)) for lit in body]
        inline = all(node_line(lit) == row for lit in body) and not (
            row is not None and closer is not None and w.pending_inside(row, closer, spans)
        )
        if inline:
            w.write(" ")
            for n, lit in enumerate(body):
                if n:
                    w.write("; ")
                self.literal(lit)
            w.write(close, closer)
            return
        self.block(body, closer)
        w.write(close.strip(), closer, gap=False)

    # ---- terms

    def entry(self, term: ast.Term) -> tuple[int | None, int, _Thunk]:
        """A collection element or argument for :meth:`seq`: first line, last line, writer."""
        return node_line(term), self._src.end(term), lambda: self._item(term)

    def _wrap(self, term: ast.Term, parens: bool) -> None:
        if parens:
            self._w.write("(", node_line(term))
        self.term(term)
        if parens:
            self._w.write(")")

    def _item(self, term: ast.Term) -> None:
        """A collection element, call argument or object key/value."""
        member_kv = isinstance(term, ast.Member) and term.key is not None
        self._wrap(term, member_kv or (isinstance(term, ast.InfixCall) and term.op == "|"))

    def _bare(self, term: ast.Term) -> None:
        """A comprehension head or ref head: operators need parentheses there."""
        self._wrap(term, isinstance(term, ast.InfixCall | ast.Member))

    def side(self, term: ast.Term) -> None:
        """An operand of ``:=``/``=``, a rule value or a ``with`` value."""
        self._wrap(term, isinstance(term, ast.Member) and term.key is not None)

    def term(self, t: ast.Term) -> None:
        """Any term; operators parenthesise operands that are operators, as OPA's formatter does."""
        w, line = self._w, node_line(t)
        if isinstance(t, ast.Scalar):
            text, end = self._scalar(t)
            if id(t) == self._paren_scalar:
                text = f"({text})"
            w.write(text, line, end=end)
        elif isinstance(t, ast.Var):
            w.write(t.name, line)
        elif isinstance(t, ast.Ref):
            self.ref(t)
        elif isinstance(t, ast.Call):
            opener = self._src.paren_after(t.loc)
            self.seq(t.name + "(", ")", opener, [self.entry(a) for a in t.args], line)
        elif isinstance(t, ast.InfixCall):
            # OPA's formatter parenthesises every operator operand of an operator.
            prec = ast.INFIX_PRECEDENCE[t.op]
            self._wrap(t.lhs, isinstance(t.lhs, ast.InfixCall) or _precedence(t.lhs) < prec)
            w.write(f" {t.op} ")
            self._wrap(t.rhs, isinstance(t.rhs, ast.InfixCall) or _precedence(t.rhs) <= prec)
        elif isinstance(t, ast.Member):
            if t.key is not None:
                self._wrap(t.key, _precedence(t.key) < 100)
                w.write(", ")
            chained = t.key is None and isinstance(t.value, ast.Member) and t.value.key is None
            self._wrap(t.value, not chained and _precedence(t.value) < 100)
            w.write(" in ")
            self._wrap(t.collection, _precedence(t.collection) < 100)
        elif isinstance(t, ast.SetTerm) and not t.items:
            w.write("set()", line)
        elif isinstance(t, ast.ArrayTerm | ast.SetTerm):
            brackets = "[]" if isinstance(t, ast.ArrayTerm) else "{}"
            items = [self.entry(i) for i in t.items]
            self.seq(brackets[0], brackets[1], self._src.index(t.loc), items, line)
        elif isinstance(t, ast.ObjectTerm):
            pairs = [(node_line(k), self._src.end(v), self._pair(k, v)) for k, v in t.items]
            self.seq("{", "}", self._src.index(t.loc), pairs, line)
        else:
            self._comprehension(t)

    def _pair(self, key: ast.Term, value: ast.Term) -> _Thunk:
        def write() -> None:
            self._item(key)
            self._w.write(": ")
            self._item(value)

        return write

    def _comprehension(self, t: ast.ArrayCompr | ast.SetCompr | ast.ObjectCompr) -> None:
        w, line = self._w, node_line(t)
        w.write("[" if isinstance(t, ast.ArrayCompr) else "{", line)
        if isinstance(t, ast.ObjectCompr):
            self._item(t.key)
            w.write(": ")
            self._bare(t.value)
            row = node_line(t.key)
        else:
            self._bare(t.head)
            row = node_line(t.head)
        w.write(" |")
        closer = self._src.closing(self._src.index(t.loc))
        self._body_in_brackets(t.body, row, closer, "]" if isinstance(t, ast.ArrayCompr) else "}")

    def ref(self, t: ast.Ref) -> None:
        """A reference: ``.name`` segments where written or allowed, else ``[term]``."""
        self._bare(t.head)
        for seg in t.path:
            if (
                isinstance(seg, ast.Scalar)
                and isinstance(seg.value, str)
                and _IDENT.match(seg.value)
                and (seg.value not in V1_KEYWORDS or self._written_as_name(seg))
            ):
                self._w.write("." + seg.value, node_line(seg))
            else:
                self._w.write("[")
                self.term(seg)
                self._w.write("]")

    def _written_as_name(self, seg: ast.Scalar) -> bool:
        """Whether a ref segment was written ``.name`` (OPA keeps ``input.not`` so; ``["not"]`` too)."""
        tok = self._src.token(seg.loc)
        return tok is not None and tok.type == "NAME"

    def _scalar(self, s: ast.Scalar) -> tuple[str, int | None]:
        """A scalar's text (strings as written when the token is known) and its last line."""
        value = s.value
        if value is True or value is False or value is None:
            return json.dumps(value), None
        if isinstance(value, str):
            tok = self._src.token(s.loc)
            if tok is not None and tok.type == "RAWSTRING" and tok.text[1:-1] == value:
                return tok.text, tok.end_line
            if tok is not None and tok.type == "STRING" and json.loads(tok.text) == value:
                return tok.text, None
            return json.dumps(value, ensure_ascii=False), None
        return (s.text if s.text is not None else repr(value)), None

    def seq(
        self,
        open_: str,
        close: str,
        opener: int | None,
        entries: list[tuple[int | None, int, _Thunk]],
        line: int | None = None,
    ) -> None:
        """Elements between brackets: one line if written on one line, else one line per source line."""
        w = self._w
        start = self._src.tokens[opener].line if opener is not None else (line or 0)
        closer = self._src.closing(opener)
        groups: list[list[_Thunk]] = []
        previous = start
        for row, end, thunk in entries:
            if not groups or (row is not None and row > previous):
                groups.append([])
            groups[-1].append(thunk)
            previous = max(previous, end)
        first_row = entries[0][0] if entries else None
        multiline = (
            len(groups) > 1
            or (first_row is not None and first_row > start)
            or (closer is not None and w.pending_inside(start, closer, [(r or 0, e) for r, e, _ in entries]))
        )
        w.write(open_, line or start or None)
        if not multiline:
            for n, (_, _, thunk) in enumerate(entries):
                if n:
                    w.write(", ")
                thunk()
            w.write(close, closer)
            return
        w.indent()
        for group in groups:
            for n, thunk in enumerate(group):
                if n:
                    w.write(", ")
                thunk()
            w.write(",")
            w.newline()
        w.dedent(closer)
        w.write(close, closer, gap=False)
