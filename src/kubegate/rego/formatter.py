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

The work is shared by :mod:`~kubegate.rego.fmt_source` (where tokens and nodes
are in the source), :mod:`~kubegate.rego.fmt_writer` (output lines, blank lines
and comment placement) and :mod:`~kubegate.rego.fmt_terms` (literals, bodies
and terms); this module writes the package, imports and rules around them.
"""

from __future__ import annotations

from dataclasses import replace

from kubegate.errors import KubegateError, Location, RegoParseError
from kubegate.rego import ast
from kubegate.rego.ast import RegoVersion
from kubegate.rego.fmt_source import Source, node_line
from kubegate.rego.fmt_terms import TermPrinter, brace_led, dotted_path
from kubegate.rego.fmt_writer import Comment, Writer
from kubegate.rego.parser import ParsedSource, parse_module, parse_module_with_comments

__all__ = ["RegoFormatError", "equivalent_modules", "format_parsed", "format_source"]


class RegoFormatError(KubegateError):
    """The formatted text would not be the same module (a formatter limit or bug)."""

    code = "rego_format_error"


def _is_v0_import(imp: ast.Import) -> bool:
    return imp.path[:1] == ("future",) or imp.path == ("rego", "v1")


# ---------------------------------------------------------------- the formatter


class _Formatter:
    """Writes one module: package, imports and rules; the rest is :class:`~kubegate.rego.fmt_terms.TermPrinter`'s."""

    def __init__(self, parsed: ParsedSource, *, drop_v0_imports: bool) -> None:
        self._module = parsed.module
        self._src = Source(parsed.tokens)
        code_lines = {t.line for t in parsed.tokens} | {t.end_line for t in parsed.tokens}
        if drop_v0_imports:  # a comment after a dropped import stays, on its own line
            code_lines -= {i.loc.line for i in parsed.module.imports if _is_v0_import(i) and i.loc is not None}
        used = {c.line for c in parsed.comments} | {n for t in parsed.tokens for n in range(t.line, t.end_line + 1)}
        empty = [n for n in range(1, max(used, default=0)) if n not in used]
        self._w = Writer([Comment(c.line, c.text.rstrip(), c.line in code_lines) for c in parsed.comments], empty)
        self._drop = drop_v0_imports
        self._t = TermPrinter(self._src, self._w)
        self._ref_heads = any(  # OPA's refHeads: some head is `a.b.c` or `a.b contains x`
            len(r.head.ref.path) > 1 or (r.head.ref.path and r.head.key is not None) for r in parsed.module.rules
        )

    def source_line(self, line: int) -> int:
        return self._w.source_line(line)

    def run(self) -> str:
        module, w = self._module, self._w
        w.write("package " + dotted_path(module.package.path), node_line(module.package))
        w.blank()
        imports = [i for i in module.imports if not (self._drop and _is_v0_import(i))]
        group: list[ast.Import] = []
        for imp in imports:
            if group and (node_line(imp) or 0) != (node_line(group[-1]) or 0) + 1:
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
            text = "import " + dotted_path(imp.path, keywords=imp.path[0] == "future")
            self._w.write(text + (f" as {imp.alias}" if imp.alias else ""), node_line(imp))
            self._w.newline()
        self._w.blank()

    def _adjacent_one_liners(self, a: ast.Rule, b: ast.Rule) -> bool:
        def one_liner(r: ast.Rule) -> bool:
            return not r.default and (r.body is None or len(r.body) == 1) and self._src.end(r) == node_line(r)

        return one_liner(a) and one_liner(b) and node_line(b) == self._src.end(a) + 1

    # ---- rules

    def _rule(self, rule: ast.Rule) -> None:
        w, head = self._w, rule.head
        if rule.default:
            w.write("default ", node_line(rule))
        if self._ref_heads or len(head.ref.path) != 1:
            self._t.ref(head.ref)
        else:  # OPA writes `p["a"]`, not `p.a`, while no rule of the module needs a ref head
            self._t.term(head.ref.head)
            w.write("[")
            self._t.term(head.ref.path[0])
            w.write("]")
        if head.args is not None:
            opener = self._src.paren_after(head.ref.loc)
            self._t.seq("(", ")", opener, [self._t.entry(a) for a in head.args])
        if head.key is not None:
            w.write(" contains ")
            self._t.side(head.key)
        elif head.value is not None:
            w.write(f" {head.assign or '='} ")
            self._t.side(head.value)
        if rule.body is not None:
            self._clause_body(rule.body, self._src.end(head))
        chain = rule.else_
        while chain is not None:
            self._else(chain)
            chain = chain.else_
        w.newline()

    def _else(self, clause: ast.ElseClause) -> None:
        w, line = self._w, node_line(clause)
        i = self._src.index(clause.loc)
        if i is not None and i > 0 and self._src.tokens[i - 1].end_line < self._src.tokens[i].line:
            w.newline()
        else:
            w.write(" ")
        w.write("else", line)
        after = line or 0
        if clause.value is not None:
            w.write(f" {clause.assign or '='} ")
            self._t.side(clause.value)
            after = self._src.end(clause.value)
        if clause.body is not None:
            self._clause_body(clause.body, after)

    def _clause_body(self, body: ast.Body, after: int) -> None:
        """`` if x`` when the single literal was on the head's last line, else `` if { ... }``."""
        w = self._w
        if len(body) == 1 and node_line(body[0]) == after and not brace_led(body[0]):
            w.write(" if ", self._src.line_before(body[0].loc))
            self._t.literal(body[0])
            return
        opener = self._src.body_open(body)
        w.write(" if {", self._src.tokens[opener].line if opener is not None else None)
        closer = self._src.closing(opener)
        self._t.block(body, closer)
        w.write("}", closer, gap=False)


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
