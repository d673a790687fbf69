"""The lexer and parser of the ``text/template`` subset of :mod:`._gotemplate`.

After https://github.com/golang/go/blob/master/src/text/template/parse/lex.go and
https://github.com/golang/go/blob/master/src/text/template/parse/parse.go.
"""

from __future__ import annotations

import re
from typing import Any

from kubegate.evaluator.builtins._gofmt import INT64_MAX, INT64_MIN, GoInt

__all__ = ["FUNCS", "NAME", "Parser", "TemplateError", "Tok", "lex"]

#: The template's name, as OPA gives it (``template.New("template")``).
NAME = "template"


class TemplateError(Exception):
    """A parse or execution error, worded like Go's."""


# ------------------------------------------------------------------ lexer

_TOKEN = re.compile(
    r"""(?P<space>[ \t\r\n]+)
    |(?P<declare>:=)
    |(?P<punct>[=|(),])
    |(?P<string>"(?:[^"\\\n]|\\.)*")
    |(?P<raw>`[^`]*`)
    |(?P<char>'(?:[^'\\\n]|\\.[^']*)')
    |(?P<number>[+-]?(?:0[xX][0-9a-fA-F_]+(?:\.[0-9a-fA-F_]*)?(?:[pP][+-]?[0-9_]+)?|0[bB][01_]+|0[oO][0-7_]+
        |(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)(?:[eE][+-]?[0-9_]+)?))
    |(?P<variable>\$\w*)
    |(?P<field>\.\w+|\.)
    |(?P<ident>\w+)
    """,
    re.VERBOSE,
)


class Tok:
    """A token of an action; ``gap`` tells whether white space preceded it."""

    __slots__ = ("gap", "kind", "text")

    def __init__(self, kind: str, text: str, gap: bool) -> None:
        self.kind, self.text, self.gap = kind, text, gap

    def chained(self) -> bool:
        """Whether this is a ``.name`` directly after the previous token."""
        return self.kind == "field" and self.text != "." and not self.gap


def lex(template: str) -> list[tuple[str, Any, int]]:
    """Text and action items: ``("text", str, line)`` and ``("action", [tokens], line)``."""
    items: list[tuple[str, Any, int]] = []
    pos, n, trim_next = 0, len(template), False
    while pos <= n:
        start = template.find("{{", pos)
        text = template[pos:] if start < 0 else template[pos:start]
        if trim_next:
            text = text.lstrip(" \t\r\n")
        if start < 0:
            if text:
                items.append(("text", text, template.count("\n", 0, pos) + 1))
            break
        line = template.count("\n", 0, start) + 1
        i = start + 2
        if template.startswith("-", i) and template[i + 1 : i + 2] in (" ", "\t", "\r", "\n"):
            text = text.rstrip(" \t\r\n")
            i += 2
        if text:
            items.append(("text", text, line))
        if template.startswith("/*", i):
            close = template.find("*/", i + 2)
            if close < 0:
                raise TemplateError(f"template: {NAME}:{line}: unclosed comment")
            j = close + 2
            if template.startswith(" -}}", j):
                pos, trim_next = j + 4, True
            elif template.startswith("}}", j):
                pos, trim_next = j + 2, False
            else:
                raise TemplateError(f"template: {NAME}:{line}: comment ends before closing delimiter")
            continue
        tokens: list[Tok] = []
        gap = False
        while True:
            if template.startswith(" -}}", i) or template.startswith("\t-}}", i):
                pos, trim_next = i + 4, True
                break
            if template.startswith("}}", i):
                pos, trim_next = i + 2, False
                break
            m = _TOKEN.match(template, i)
            if m is None or m.end() == i:
                if i >= n:
                    raise TemplateError(f"template: {NAME}:{line}: unclosed action")
                raise TemplateError(f"template: {NAME}:{line}: unexpected {template[i]!r} in command")
            kind = m.lastgroup or ""
            if kind != "space":
                tokens.append(Tok(kind, m.group(), gap))
            gap = kind == "space"
            i = m.end()
        items.append(("action", tokens, line))
    return items


# ------------------------------------------------------------------ parser

# Nodes are tuples: ("text", s) ("action", pipe) ("if"|"with"|"range", pipe, list, else_list)
# ("template", name, pipe | None) ("break",) ("continue",)
# A pipe is (decl: list[str], assign: bool, cmds: list[list[arg]]); an arg is
# ("field", [names]) ("var", name, [names]) ("dot",) ("nil",) ("const", value)
# ("ident", name) ("pipe", pipe, [names]).

FUNCS = {"and", "or", "not", "len", "index", "slice", "eq", "ne", "lt", "le", "gt", "ge",
          "print", "printf", "println", "html", "urlquery"}  # fmt: skip


class Parser:
    """Builds the node tree from lexed items."""

    def __init__(self, items: list[tuple[str, Any, int]]) -> None:
        self.items = items
        self.i = 0
        self.defines: dict[str, list[Any]] = {}
        self.line = 1

    def error(self, msg: str) -> TemplateError:
        """A parse error in Go's words."""
        return TemplateError(f"template: {NAME}:{self.line}: {msg}")

    def parse_list(self, ends: tuple[str, ...]) -> tuple[list[Any], str, list[Tok]]:
        """Nodes up to one of ``ends`` (``end``/``else``): the nodes, the end word and its tokens."""
        nodes: list[Any] = []
        while self.i < len(self.items):
            kind, value, self.line = self.items[self.i]
            self.i += 1
            if kind == "text":
                nodes.append(("text", value))
                continue
            toks: list[Tok] = value
            if not toks:
                raise self.error("missing value for command")
            word = toks[0].text if toks[0].kind == "ident" else ""
            if word in ("end", "else"):
                if word not in ends:
                    raise self.error(f"unexpected {{{{{word}}}}}")
                return nodes, word, toks
            if word in ("if", "with", "range"):
                nodes.append(self.parse_control(word, toks[1:]))
            elif word in ("define", "block"):
                if len(toks) < 2 or toks[1].kind not in ("string", "raw"):
                    raise self.error(f"unexpected {{{{{word}}}}} without name")
                name = _unquote(toks[1])
                body, _, _ = self.parse_list(("end",))
                self.defines[name] = body
                if word == "block":
                    nodes.append(("template", name, self.parse_pipe(toks[2:], False)))
            elif word == "template":
                if len(toks) < 2 or toks[1].kind not in ("string", "raw"):
                    raise self.error("unexpected in template clause")
                pipe = self.parse_pipe(toks[2:], False) if len(toks) > 2 else None
                nodes.append(("template", _unquote(toks[1]), pipe))
            elif word in ("break", "continue"):
                if len(toks) > 1:
                    raise self.error(f"unexpected {toks[1].text!r} in {{{{{word}}}}}")
                nodes.append((word,))
            else:
                nodes.append(("action", self.parse_pipe(toks, True)))
        if ends:
            raise self.error("unexpected EOF")
        return nodes, "", []

    def parse_control(self, word: str, toks: list[Tok]) -> tuple[Any, ...]:
        """``if``/``with``/``range`` with body and else branch."""
        pipe = self.parse_pipe(toks, True, allow_two=word == "range")
        body, end, etoks = self.parse_list(("end", "else"))
        else_list: list[Any] | None = None
        if end == "else":
            if len(etoks) > 1 and etoks[1].text in ("if", "with") and etoks[1].text == word:
                else_list = [self.parse_control(word, etoks[2:])]
            elif len(etoks) > 1:
                raise self.error(f"unexpected {etoks[1].text!r} in else")
            else:
                else_list, _, _ = self.parse_list(("end",))
        return (word, pipe, body, else_list)

    def parse_pipe(self, toks: list[Tok], allow_decl: bool, allow_two: bool = False) -> tuple[Any, ...]:
        """A pipeline: declared variables, assignment, commands."""
        decl: list[str] = []
        assign = False
        if allow_decl and toks and toks[0].kind == "variable":
            if len(toks) > 1 and toks[1].kind in ("declare", "punct") and toks[1].text in (":=", "="):
                decl, assign, toks = [toks[0].text], toks[1].text == "=", toks[2:]
            elif (
                allow_two
                and len(toks) > 3
                and toks[1].text == ","
                and toks[2].kind == "variable"
                and toks[3].text in (":=", "=")
            ):
                decl, assign, toks = [toks[0].text, toks[2].text], toks[3].text == "=", toks[4:]
        cmds: list[list[Any]] = [[]]
        pos = 0
        while pos < len(toks):
            tok = toks[pos]
            if tok.text == "|" and tok.kind == "punct":
                if not cmds[-1]:
                    raise self.error("missing command")
                cmds.append([])
                pos += 1
                continue
            arg, pos = self.parse_operand(toks, pos)
            cmds[-1].append(arg)
        if not cmds[-1]:
            raise self.error("missing value for command")
        return (decl, assign, cmds)

    def parse_operand(self, toks: list[Tok], pos: int) -> tuple[Any, int]:
        """One operand starting at ``pos``: the node and the next position."""
        tok = toks[pos]
        pos += 1
        kind, text = tok.kind, tok.text
        if kind == "field":
            node: Any = ("dot",) if text == "." else ("field", [text[1:]])
            while node[0] == "field" and pos < len(toks) and toks[pos].chained():
                node[1].append(toks[pos].text[1:])
                pos += 1
            return node, pos
        if kind == "variable":
            names: list[str] = []
            while pos < len(toks) and toks[pos].chained():
                names.append(toks[pos].text[1:])
                pos += 1
            return ("var", text, names), pos
        if kind == "punct" and text == "(":
            depth, j = 1, pos
            while j < len(toks) and depth:
                if toks[j].kind == "punct" and toks[j].text in "()":
                    depth += 1 if toks[j].text == "(" else -1
                j += 1
            if depth:
                raise self.error("unclosed left paren")
            inner = self.parse_pipe(toks[pos : j - 1], False)
            names = []
            while j < len(toks) and toks[j].chained():
                names.append(toks[j].text[1:])
                j += 1
            return ("pipe", inner, names), j
        if kind in ("string", "raw"):
            return ("const", _unquote(tok)), pos
        if kind == "char":
            return ("const", GoInt(ord(_unquote(tok)))), pos
        if kind == "number":
            return ("const", _number(text, self)), pos
        if kind == "ident":
            if text in ("true", "false"):
                return ("const", text == "true"), pos
            if text == "nil":
                return ("nil",), pos
            if text not in FUNCS:
                raise self.error(f'function "{text}" not defined')
            return ("ident", text), pos
        raise self.error(f"unexpected {text!r} in operand")


_ESC = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\", "'": "'", '"': '"'}


def _unquote(tok: Tok) -> str:
    text = tok.text
    if tok.kind == "raw":
        return text[1:-1].replace("\r", "")
    body, out, i = text[1:-1], [], 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        e = body[i + 1 : i + 2]
        if e in _ESC:
            out.append(_ESC[e])
            i += 2
        elif e in ("x", "u", "U"):
            size = {"x": 2, "u": 4, "U": 8}[e]
            digits = body[i + 2 : i + 2 + size]
            if len(digits) != size or not re.fullmatch("[0-9a-fA-F]+", digits):
                raise TemplateError(f"template: {NAME}: invalid syntax: {text}")
            out.append(chr(min(int(digits, 16), 0x10FFFF)))
            i += 2 + size
        elif re.fullmatch("[0-7]{3}", body[i + 1 : i + 4]):
            out.append(chr(int(body[i + 1 : i + 4], 8)))
            i += 4
        else:
            raise TemplateError(f"template: {NAME}: invalid syntax: {text}")
    result = "".join(out)
    if tok.kind == "char" and len(result) != 1:
        raise TemplateError(f"template: {NAME}: malformed character constant: {text}")
    return result


def _number(text: str, parser: Parser) -> Any:
    clean = text.replace("_", "")
    try:
        if re.fullmatch(r"[+-]?0[xX][0-9a-fA-F]+|[+-]?0[bBoO][0-7]+|[+-]?[0-9]+", clean):
            if re.fullmatch(r"[+-]?0[0-7]+", clean):
                return GoInt(int(clean, 8))
            value = int(clean, 0) if clean.lstrip("+-")[:2].lower() in ("0x", "0b", "0o") else int(clean)
            if not INT64_MIN <= value <= INT64_MAX:
                raise ValueError
            return GoInt(value)
        if clean.lstrip("+-")[:2].lower() == "0x":
            return float.fromhex(clean)
        return float(clean)
    except ValueError:
        raise parser.error(f"illegal number syntax: {text!r}") from None
