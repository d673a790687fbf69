"""Format Rego source as ``opa fmt`` does, keeping comments.

https://www.openpolicyagent.org/docs/latest/cli/#opa-fmt; the layout rules
follow OPA's formatter (open-policy-agent/opa ``v1/format/format.go``), and a
module ``opa fmt`` wrote is left as it is:

* tabs for indentation; one blank line between rules, except between one-line
  rules that were on consecutive lines; empty lines inside bodies kept (one at
  most); imports after the package, sorted within each run of adjacent lines;
* Rego v1 keywords: ``if`` before every body, ``contains`` for multi-value
  rules; ``p if x`` stays on one line when the single condition was on the
  head's line, other bodies get one literal per line; ``p["a"] := 1`` is
  written so while no rule of the module needs a ref head (``a.b.c``);
* collections and call arguments stay on one line when written so, else one
  line per source line of elements, each ending with a comma (an element
  starting where the previous one ends, such as ``f({`` ... ``}, x)``, stays
  on its line); comprehension and ``every`` bodies stay inline when written
  on one line, else one literal per line;
* ``with`` modifiers stay on the expression's line or go on indented lines, as
  written; ``else`` stays after the closing brace or on its own line;
* operands of operators that are operators themselves are parenthesised
  (``(a + b) * c``, ``a + (b * c)``), other parentheses go; strings and
  numbers keep their spelling (escapes, raw strings), keyword ref segments
  the form they were written in (``input.not``, ``input["not"]``);
* comments are kept: a comment on its own line goes before the next thing
  written after it, at that thing's indentation; a comment ending a line goes
  at the end of the output line holding that source line's tokens (a second
  one on the same output line goes on its own line after it). ``# METADATA``
  blocks are comments and are kept as written.

Differences from OPA's output: ``=`` in rule heads is kept (OPA's v1 output
writes ``:=``, which forbids a second definition of the rule, so the module
would change); a v0 module is written as plain v1, its ``future.keywords`` /
``rego.v1`` imports dropped (OPA's ``--v0-v1`` adds ``import rego.v1`` so the
output also reads as v0); an explicit ``{ true }`` body stays (``p := 1 if
true``; OPA drops it); an ``else`` on its own line gets no blank line before
it; a literal starting with a negative number after another literal is
written ``(-1) < x`` (else the newline would not end the previous one).

:func:`format_source` parses the output again and raises
:class:`RegoFormatError` unless it is the same module (:func:`equivalent_modules`),
so a formatter bug never rewrites a policy into another one.
"""

from __future__ import annotations

import bisect
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, fields, is_dataclass, replace

from kubegate.errors import KubegateError, Location, RegoParseError
from kubegate.rego import ast
from kubegate.rego.ast import RegoVersion
from kubegate.rego.parser import ParsedSource, SourceToken, parse_module, parse_module_with_comments
from kubegate.rego.printer import V1_KEYWORDS

__all__ = ["RegoFormatError", "equivalent_modules", "format_parsed", "format_source"]

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_OPENERS = {"LPAR": "RPAR", "LSQB": "RSQB", "LBRACE": "RBRACE"}
_BRACKETED = (ast.ArrayTerm, ast.SetTerm, ast.ObjectTerm, ast.ArrayCompr, ast.SetCompr, ast.ObjectCompr)
_Thunk = Callable[[], None]


class RegoFormatError(KubegateError):
    """The formatted text would not be the same module (a formatter limit or bug)."""

    code = "rego_format_error"


# ---------------------------------------------------------------- output lines and comments


@dataclass(frozen=True, slots=True)
class _Comment:
    """A source comment: ``trailing`` when code precedes it on its line."""

    line: int
    text: str
    trailing: bool


class _Writer:
    """Output lines, with the comments still to place.

    Fragments are written with the source line they come from. A line starting
    with a fragment from source line ``n`` is preceded by the comments before
    ``n`` not yet placed (see :meth:`flush`) and by a blank line when the
    source had an empty line there.
    """

    def __init__(self, comments: list[_Comment], empty: list[int]) -> None:
        self.level = 0
        self._lines: list[tuple[int, str] | None] = []  # (indent, text); None is a blank line
        self._cur: list[str] | None = None
        self._indent = 0
        self._comments = comments
        self._next = 0
        self._waiting: list[_Comment] = []  # trailing comments not placed yet
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
        if self._cur is not None:
            self._lines.append((self._indent, "".join(self._cur)))
            self._cur = None

    def blank(self) -> None:
        """Ends the line and asks for a blank line before the next one."""
        self.newline()
        self._blank = True

    def indent(self) -> None:
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

    def _own_line(self, c: _Comment) -> None:
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


# ---------------------------------------------------------------- source positions


class _Source:
    """The module's tokens: bracket matching and where nodes end."""

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
        return None if loc is None else self._at.get((loc.line, loc.column))

    def token(self, loc: Location | None) -> SourceToken | None:
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


def _line(node: object) -> int | None:
    loc = getattr(node, "loc", None)
    return loc.line if isinstance(loc, Location) and loc.line else None


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


def _brace_led(lit: ast.Literal) -> bool:
    """Whether a literal prints starting with ``{`` (after ``if`` that would open a body)."""
    first = None if lit.negated else _leftmost(lit.expr)
    if isinstance(first, ast.SetTerm):
        return bool(first.items)
    return isinstance(first, ast.ObjectTerm | ast.SetCompr | ast.ObjectCompr)


def _is_v0_import(imp: ast.Import) -> bool:
    return imp.path[:1] == ("future",) or imp.path == ("rego", "v1")


def _path(parts: tuple[str, ...], *, keywords: bool = False) -> str:
    out = [parts[0]]
    for part in parts[1:]:
        if _IDENT.match(part) and (keywords or part not in V1_KEYWORDS):
            out.append("." + part)
        else:
            out.append("[" + json.dumps(part, ensure_ascii=False) + "]")
    return "".join(out)


# ---------------------------------------------------------------- the formatter


class _Formatter:
    """Writes one module; the term, body and rule writers mirror :mod:`kubegate.rego.printer`."""

    def __init__(self, parsed: ParsedSource, *, drop_v0_imports: bool) -> None:
        self._module = parsed.module
        self._src = _Source(parsed.tokens)
        code_lines = {t.line for t in parsed.tokens} | {t.end_line for t in parsed.tokens}
        if drop_v0_imports:  # a comment after a dropped import stays, on its own line
            code_lines -= {i.loc.line for i in parsed.module.imports if _is_v0_import(i) and i.loc is not None}
        used = {c.line for c in parsed.comments} | {n for t in parsed.tokens for n in range(t.line, t.end_line + 1)}
        empty = [n for n in range(1, max(used, default=0)) if n not in used]
        self._w = _Writer([_Comment(c.line, c.text.rstrip(), c.line in code_lines) for c in parsed.comments], empty)
        self._drop = drop_v0_imports
        self._paren_scalar = 0  # id() of a negative number to parenthesise (a literal starting with `-`)
        self._ref_heads = any(  # OPA's refHeads: some head is `a.b.c` or `a.b contains x`
            len(r.head.ref.path) > 1 or (r.head.ref.path and r.head.key is not None) for r in parsed.module.rules
        )

    def source_line(self, line: int) -> int:
        return self._w.source_line(line)

    def run(self) -> str:
        module, w = self._module, self._w
        w.write("package " + _path(module.package.path), _line(module.package))
        w.blank()
        imports = [i for i in module.imports if not (self._drop and _is_v0_import(i))]
        group: list[ast.Import] = []
        for imp in imports:
            if group and (_line(imp) or 0) != (_line(group[-1]) or 0) + 1:
                self._imports(group)
                group = []
            group.append(imp)
        if group:
            self._imports(group)
        previous: ast.Rule | None = None
        for rule in module.rules:
            if previous is not None and not self._adjacent_one_liners(previous, rule):
                w.blank()
            self._rule(rule)
            previous = rule
        return w.text()

    def _imports(self, group: list[ast.Import]) -> None:
        self._w.hold({i.loc.line for i in group if i.loc is not None})
        for imp in sorted(group, key=lambda i: (i.path, i.alias or "")):
            text = "import " + _path(imp.path, keywords=imp.path[0] == "future")
            self._w.write(text + (f" as {imp.alias}" if imp.alias else ""), _line(imp))
            self._w.newline()
        self._w.blank()

    def _adjacent_one_liners(self, a: ast.Rule, b: ast.Rule) -> bool:
        def one_liner(r: ast.Rule) -> bool:
            return not r.default and (r.body is None or len(r.body) == 1) and self._src.end(r) == _line(r)

        return one_liner(a) and one_liner(b) and _line(b) == self._src.end(a) + 1

    # ---- rules

    def _rule(self, rule: ast.Rule) -> None:
        w, head = self._w, rule.head
        if rule.default:
            w.write("default ", _line(rule))
        if self._ref_heads or len(head.ref.path) != 1:
            self._ref(head.ref)
        else:  # OPA writes `p["a"]`, not `p.a`, while no rule of the module needs a ref head
            self._term(head.ref.head)
            w.write("[")
            self._term(head.ref.path[0])
            w.write("]")
        if head.args is not None:
            opener = self._src.paren_after(head.ref.loc)
            self._seq("(", ")", opener, [self._entry(a) for a in head.args])
        if head.key is not None:
            w.write(" contains ")
            self._side(head.key)
        elif head.value is not None:
            w.write(f" {head.assign or '='} ")
            self._side(head.value)
        if rule.body is not None:
            self._clause_body(rule.body, self._src.end(head))
        chain = rule.else_
        while chain is not None:
            self._else(chain)
            chain = chain.else_
        w.newline()

    def _else(self, clause: ast.ElseClause) -> None:
        w, line = self._w, _line(clause)
        i = self._src.index(clause.loc)
        if i is not None and i > 0 and self._src.tokens[i - 1].end_line < self._src.tokens[i].line:
            w.newline()
        else:
            w.write(" ")
        w.write("else", line)
        after = line or 0
        if clause.value is not None:
            w.write(f" {clause.assign or '='} ")
            self._side(clause.value)
            after = self._src.end(clause.value)
        if clause.body is not None:
            self._clause_body(clause.body, after)

    def _clause_body(self, body: ast.Body, after: int) -> None:
        """`` if x`` when the single literal was on the head's last line, else `` if { ... }``."""
        w = self._w
        if len(body) == 1 and _line(body[0]) == after and not _brace_led(body[0]):
            w.write(" if ", self._src.line_before(body[0].loc))
            self._literal(body[0])
            return
        opener = self._src.body_open(body)
        w.write(" if {", self._src.tokens[opener].line if opener is not None else None)
        closer = self._src.closing(opener)
        self._block(body, closer)
        w.write("}", closer, gap=False)

    def _block(self, body: ast.Body, closer: int | None) -> None:
        self._w.indent()
        for n, lit in enumerate(body):
            self._literal(lit, first=n == 0)
            self._w.newline()
        self._w.dedent(closer)

    # ---- literals

    def _literal(self, lit: ast.Literal, *, first: bool = True) -> None:
        w = self._w
        if lit.negated:
            w.write("not ", _line(lit))
        start = None if first else _leftmost(lit.expr)
        if isinstance(start, ast.Scalar) and start.text is not None and start.text.startswith("-"):
            self._paren_scalar = id(start)  # `-1` on a new line would continue the previous literal
        self._expression(lit.expr)
        previous = self._src.end(lit.expr)
        indented = False
        for modifier in lit.withs:
            row = _line(modifier) or previous
            if row > previous:
                if not indented:
                    w.level += 1
                    indented = True
                w.newline()
            else:
                w.write(" ")
            w.write("with ", row)
            self._term(modifier.target)
            w.write(" as ")
            self._side(modifier.value)
            previous = self._src.end(modifier)
        if indented:
            w.level -= 1

    def _expression(self, expr: ast.Expression) -> None:
        w = self._w
        if isinstance(expr, ast.Assign):
            self._side(expr.lhs)
            w.write(f" {expr.op} ")
            self._side(expr.rhs)
        elif isinstance(expr, ast.SomeDecl):
            w.write("some ", _line(expr))
            for n, var in enumerate(expr.vars):
                w.write((", " if n else "") + var.name, _line(var))
        elif isinstance(expr, ast.SomeIn):
            w.write("some ", _line(expr))
            if expr.key is not None:
                self._term(expr.key)
                w.write(", ")
            self._term(expr.value)
            w.write(" in ")
            self._wrap(expr.domain, isinstance(expr.domain, ast.Member))
        elif isinstance(expr, ast.Every):
            self._every(expr)
        else:
            self._term(expr)

    def _every(self, every: ast.Every) -> None:
        w, line = self._w, _line(every)
        w.write("every ", line)
        if every.key is not None:
            w.write(every.key.name + ", ", _line(every.key))
        w.write(every.value.name, _line(every.value))
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
        spans = [(_line(lit) or 0, self._src.end(lit)) for lit in body]
        inline = all(_line(lit) == row for lit in body) and not (
            row is not None and closer is not None and w.pending_inside(row, closer, spans)
        )
        if inline:
            w.write(" ")
            for n, lit in enumerate(body):
                if n:
                    w.write("; ")
                self._literal(lit)
            w.write(close, closer)
            return
        self._block(body, closer)
        w.write(close.strip(), closer, gap=False)

    # ---- terms

    def _entry(self, term: ast.Term) -> tuple[int | None, int, _Thunk]:
        """A collection element or argument for :meth:`_seq`: first line, last line, writer."""
        return _line(term), self._src.end(term), lambda: self._item(term)

    def _wrap(self, term: ast.Term, parens: bool) -> None:
        if parens:
            self._w.write("(", _line(term))
        self._term(term)
        if parens:
            self._w.write(")")

    def _item(self, term: ast.Term) -> None:
        """A collection element, call argument or object key/value."""
        member_kv = isinstance(term, ast.Member) and term.key is not None
        self._wrap(term, member_kv or (isinstance(term, ast.InfixCall) and term.op == "|"))

    def _bare(self, term: ast.Term) -> None:
        """A comprehension head or ref head: operators need parentheses there."""
        self._wrap(term, isinstance(term, ast.InfixCall | ast.Member))

    def _side(self, term: ast.Term) -> None:
        """An operand of ``:=``/``=``, a rule value or a ``with`` value."""
        self._wrap(term, isinstance(term, ast.Member) and term.key is not None)

    def _term(self, t: ast.Term) -> None:
        w, line = self._w, _line(t)
        if isinstance(t, ast.Scalar):
            text, end = self._scalar(t)
            if id(t) == self._paren_scalar:
                text = f"({text})"
            w.write(text, line, end=end)
        elif isinstance(t, ast.Var):
            w.write(t.name, line)
        elif isinstance(t, ast.Ref):
            self._ref(t)
        elif isinstance(t, ast.Call):
            opener = self._src.paren_after(t.loc)
            self._seq(t.name + "(", ")", opener, [self._entry(a) for a in t.args], line)
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
            items = [self._entry(i) for i in t.items]
            self._seq(brackets[0], brackets[1], self._src.index(t.loc), items, line)
        elif isinstance(t, ast.ObjectTerm):
            pairs = [(_line(k), self._src.end(v), self._pair(k, v)) for k, v in t.items]
            self._seq("{", "}", self._src.index(t.loc), pairs, line)
        else:
            self._comprehension(t)

    def _pair(self, key: ast.Term, value: ast.Term) -> _Thunk:
        def write() -> None:
            self._item(key)
            self._w.write(": ")
            self._item(value)

        return write

    def _comprehension(self, t: ast.ArrayCompr | ast.SetCompr | ast.ObjectCompr) -> None:
        w, line = self._w, _line(t)
        w.write("[" if isinstance(t, ast.ArrayCompr) else "{", line)
        if isinstance(t, ast.ObjectCompr):
            self._item(t.key)
            w.write(": ")
            self._bare(t.value)
            row = _line(t.key)
        else:
            self._bare(t.head)
            row = _line(t.head)
        w.write(" |")
        closer = self._src.closing(self._src.index(t.loc))
        self._body_in_brackets(t.body, row, closer, "]" if isinstance(t, ast.ArrayCompr) else "}")

    def _ref(self, t: ast.Ref) -> None:
        self._bare(t.head)
        for seg in t.path:
            if (
                isinstance(seg, ast.Scalar)
                and isinstance(seg.value, str)
                and _IDENT.match(seg.value)
                and (seg.value not in V1_KEYWORDS or self._written_as_name(seg))
            ):
                self._w.write("." + seg.value, _line(seg))
            else:
                self._w.write("[")
                self._term(seg)
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

    def _seq(
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


# ---------------------------------------------------------------- entry points


def format_parsed(parsed: ParsedSource, *, drop_v0_imports: bool = False) -> str:
    """The formatted text of a module parsed by :func:`~kubegate.rego.parser.parse_module_with_comments`.

    Args:
        parsed: the module with its tokens and comments.
        drop_v0_imports: leave out ``future.keywords`` and ``rego.v1`` imports
            (always done for a module read as v0, whose output is v1).

    Returns:
        The text, ending with one newline. Not checked: see :func:`format_source`.
    """
    drop = drop_v0_imports or parsed.module.version == "v0"
    return _Formatter(parsed, drop_v0_imports=drop).run()


def format_source(
    source: str,
    file: str = "<module>",
    *,
    version: RegoVersion | None = "v1",
    drop_v0_imports: bool = False,
) -> str:
    """Formats one Rego module, as ``opa fmt`` (``--v0-v1`` with ``version="v0"``).

    Args:
        source: the module text.
        file: name used in errors.
        version: the syntax to read: ``"v1"`` (``opa fmt``'s default), ``"v0"``
            (printed as v1), or ``None`` to detect it as :func:`~kubegate.rego.parser.parse_module` does.
        drop_v0_imports: also drop ``future.keywords``/``rego.v1`` imports from a v1 module.

    Returns:
        The formatted text (Rego v1, tab-indented, one trailing newline).

    Raises:
        RegoParseError: the source does not parse (``rego_parse_error`` with file:line:col).
        RegoFormatError: the formatted text would not parse back to the same
            module (for example a v0 module using a v1 keyword as a name), or
            the module nests too deeply (a few hundred levels) to be formatted.
    """
    parsed = parse_module_with_comments(source, file, version)
    where = parsed.module.loc or Location(file, 1, 1)
    formatter = _Formatter(parsed, drop_v0_imports=drop_v0_imports or parsed.module.version == "v0")
    try:
        text = formatter.run()
        again = parse_module(text, file, "v1")
        same = equivalent_modules(parsed.module, again)
    except RegoParseError as exc:
        line = formatter.source_line(exc.location.line if exc.location else 1)
        lines = source.splitlines()
        at = Location(file, line, 1, lines[line - 1] if line <= len(lines) else None)
        raise RegoFormatError(f"cannot be written as Rego v1: {exc.message}", at) from None
    except RecursionError:
        raise RegoFormatError("the module nests too deeply to be formatted", where) from None
    if not same:
        raise RegoFormatError("the formatted text would be a different module; left as written", where)
    return text


def _canonical_else(clause: ast.ElseClause | None) -> ast.ElseClause | None:
    if clause is None:
        return None
    return replace(clause, has_if=False, else_=_canonical_else(clause.else_))


def equivalent_modules(a: ast.Module, b: ast.Module) -> bool:
    """Whether two modules are the same policy, ignoring how they were written.

    Ignored: locations, the file name, the Rego version, whether ``if`` was
    written, ``future.keywords``/``rego.v1`` imports and the order of imports.
    """

    def canonical(m: ast.Module) -> ast.Module:
        imports = sorted((i for i in m.imports if not _is_v0_import(i)), key=lambda i: (i.path, i.alias or ""))
        rules = tuple(replace(r, has_if=False, else_=_canonical_else(r.else_)) for r in m.rules)
        return replace(m, imports=tuple(imports), rules=rules, version="v1", file="")

    return canonical(a) == canonical(b)
