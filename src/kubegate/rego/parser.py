"""Parse Rego v0 and v1 source into the :mod:`kubegate.rego.ast` tree.

The grammar lives in ``rego.lark`` (LALR(1), built once per process). This
module adds what a context-free grammar cannot express and OPA's hand-written
parser does (https://github.com/open-policy-agent/opa/blob/main/v1/ast/parser.go):

* keywords depend on the Rego version and on ``future.keywords`` / ``rego.v1``
  imports; ``contains(s, x)`` stays a call even where ``contains`` is a keyword;
* ``x[0]`` is a reference only when ``[`` touches the term; ``x [0]`` is not;
* a newline ends a literal only when the next token could not continue it.

Version handling: a caller may declare ``"v0"`` or ``"v1"``. Undeclared modules
are detected: ``import rego.v1`` or a module that parses with the v1 keywords
and uses no v0-only form (a rule body without ``if``) is v1, anything else v0.
Declared-v1 modules get OPA's v1 checks (``if`` required before a body,
``contains`` required for multi-value rules).
"""

from __future__ import annotations

import contextvars
import json
import threading
from dataclasses import dataclass, replace
from importlib import resources
from typing import Any

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedToken, VisitError
from lark.parsers.lalr_analysis import Shift

from kubegate.errors import InputError, Location, RegoParseError
from kubegate.rego import ast
from kubegate.rego.ast import RegoVersion
from kubegate.yamlio import read_yaml

__all__ = ["ParsedSource", "SourceToken", "parse_body", "parse_module", "parse_module_with_comments", "parse_term"]

_ALWAYS_KEYWORDS = {
    "package": "PACKAGE",
    "import": "IMPORT",
    "as": "AS",
    "default": "DEFAULT",
    "else": "ELSE",
    "some": "SOME",
    "not": "NOT",
    "with": "WITH",
    "true": "TRUE",
    "false": "FALSE",
    "null": "NULL",
}
_FUTURE_KEYWORDS = {"if": "IF", "contains": "CONTAINS", "in": "IN", "every": "EVERY"}
_REF_ENDERS = frozenset({"NAME", "RSQB", "RPAR", "RBRACE"})

_TOKEN_TEXT = {
    "NAME": "identifier",
    "STRING": "string",
    "RAWSTRING": "raw string",
    "NUMBER": "number",
    "SEP": "newline",
    "$END": "end of file",
    "LSQB_REF": "[",
    "LPAR_CALL": "(",
    "BODY_LBRACE": "{",
}

_current = contextvars.ContextVar[tuple[str, list[str]]]("kubegate_rego_source")
_lark_lock = threading.Lock()
_lark_instance: list[Lark] = []


def _lark() -> Lark:
    """The LALR parser for ``rego.lark``, built on first use (about 60 ms)."""
    with _lark_lock:
        if not _lark_instance:
            grammar = resources.files("kubegate.rego").joinpath("rego.lark").read_text("utf-8")
            _lark_instance.append(
                Lark(
                    grammar,
                    parser="lalr",
                    lexer="basic",
                    start=["start", "query", "infix"],
                    transformer=_Builder(),
                    maybe_placeholders=False,
                )
            )
        return _lark_instance[0]


# ------------------------------------------------------------------ locations


def _loc(tok: Token) -> Location:
    file, lines = _current.get()
    line = tok.line or 0
    snippet = lines[line - 1] if 0 < line <= len(lines) else None
    return Location(file, line, tok.column or 0, snippet)


def _loc_of(item: Any) -> Location | None:
    if isinstance(item, Token):
        return _loc(item)
    loc = getattr(item, "loc", None)
    if isinstance(loc, Location):
        return loc
    if isinstance(item, (list, tuple)):
        for sub in item:
            found = _loc_of(sub)
            if found is not None:
                return found
    return None


def _err(message: str, where: Any) -> RegoParseError:
    return RegoParseError(message, _loc_of(where))


# ------------------------------------------------------------------ tree builder


@dataclass(frozen=True)
class _Seg:
    kind: str  # "dot" | "bracket" | "call"
    value: Any
    tok: Token


@dataclass(frozen=True)
class _HeadParts:
    ref: ast.Ref
    args: tuple[ast.Term, ...] | None
    contains: ast.Term | None
    value: ast.Term | None
    assign: str | None
    loc: Location | None


@dataclass(frozen=True)
class _BodyParts:
    body: ast.Body
    has_if: bool
    loc: Location | None


@dataclass(frozen=True)
class _ElseParts:
    value: ast.Term | None
    assign: str | None
    body: _BodyParts | None
    loc: Location | None


def _no_tokens(children: list[Any]) -> list[Any]:
    return [c for c in children if not isinstance(c, Token)]


def _apply_segments(head: ast.Term, segs: list[_Seg]) -> ast.Term:
    current: ast.Term = head
    path: list[ast.Term] = []
    for seg in segs:
        if seg.kind == "call":
            if not isinstance(current, ast.Var) or not all(
                isinstance(p, ast.Scalar) and isinstance(p.value, str) for p in path
            ):
                raise _err("unexpected ( token: call operator must be a name", seg.tok)
            func = (current.name, *(str(p.value) for p in path if isinstance(p, ast.Scalar)))
            args: tuple[ast.Term, ...] = seg.value
            if func == ("set",) and not args:
                current = ast.SetTerm((), loc=current.loc)
            else:
                current = ast.Call(func, args, loc=current.loc)
            path = []
        else:
            path.append(seg.value)
    if path:
        return ast.Ref(current, tuple(path), loc=getattr(current, "loc", None))
    return current


def _decode_string(tok: Token) -> str:
    try:
        value = json.loads(str(tok))
    except ValueError:
        raise _err(f"illegal string literal: {tok}", tok) from None
    if not isinstance(value, str):  # pragma: no cover - the lexer only matches strings
        raise _err(f"illegal string literal: {tok}", tok)
    return value


class _Builder(Transformer[Token, Any]):
    """Turns parse-tree callbacks into AST nodes (runs inline in the LALR parser)."""

    # ---- module level
    def start(self, c: list[Any]) -> tuple[ast.Package, list[ast.Import], list[ast.Rule]]:
        pkg = c[0]
        imports = [x for x in c[1:] if isinstance(x, ast.Import)]
        rules: list[ast.Rule] = []
        for x in c[1:]:
            if isinstance(x, list):
                rules.extend(x)
        return pkg, imports, rules

    def package_decl(self, c: list[Any]) -> ast.Package:
        return ast.Package(tuple(c[1]), loc=_loc(c[0]))

    def import_decl(self, c: list[Any]) -> ast.Import:
        alias = str(c[3]) if len(c) > 3 else None
        return ast.Import(tuple(c[1]), alias, loc=_loc(c[0]))

    def path(self, c: list[Any]) -> list[str]:
        return [str(c[0]), *c[1:]]

    def path_seg(self, c: list[Any]) -> str:
        if c[0].type == "DOT":
            return str(c[1])
        return _decode_string(c[1])

    # ---- rules
    def default_rule(self, c: list[Any]) -> list[ast.Rule]:
        ref = c[1]
        args = c[2] if isinstance(c[2], tuple) else None
        op, value = c[-2], c[-1]
        head = ast.RuleHead(ref, args, None, value, op, loc=ref.loc)
        return [ast.Rule(head, None, default=True, loc=_loc(c[0]))]

    def rule_head(self, c: list[Any]) -> _HeadParts:
        ref: ast.Ref = c[0]
        args = None
        contains = value = None
        assign = None
        for item in c[1:]:
            if isinstance(item, tuple) and (not item or not isinstance(item[0], str)):
                args = item
            elif isinstance(item, tuple) and item[0] == "contains":
                contains = item[1]
            elif isinstance(item, tuple):
                assign, value = item
        if contains is not None and args is not None:
            raise _err(
                f"the contains keyword can only be used with multi-value rule definitions "
                f"(e.g., {_ref_name(ref)} contains <VALUE> {{ ... }})",
                ref,
            )
        return _HeadParts(ref, args, contains, value, assign, ref.loc)

    def head_contains(self, c: list[Any]) -> tuple[str, ast.Term]:
        return ("contains", c[1])

    def head_assign(self, c: list[Any]) -> tuple[str, ast.Term]:
        return (c[0], c[1])

    def head_ref(self, c: list[Any]) -> ast.Ref:
        return ast.Ref(ast.Var(str(c[0]), loc=_loc(c[0])), tuple(c[1:]), loc=_loc(c[0]))

    def head_seg(self, c: list[Any]) -> ast.Term:
        if isinstance(c[0], Token) and c[0].type == "DOT":
            return ast.Scalar(str(c[1]), loc=_loc(c[1]))
        term: ast.Term = c[1]
        return term

    def call_params(self, c: list[Any]) -> tuple[ast.Term, ...]:
        params: tuple[ast.Term, ...] = c[1] if len(c) == 3 else ()
        return params

    def assign_op(self, c: list[Any]) -> str:
        return str(c[0])

    def rule_no_body(self, c: list[Any]) -> list[ast.Rule]:
        parts: _HeadParts = c[0]
        return [ast.Rule(_make_head(parts, has_if=False), None, loc=parts.loc)]

    def rule_with_body(self, c: list[Any]) -> list[ast.Rule]:
        parts: _HeadParts = c[0]
        first: _BodyParts = c[1]
        more = c[2:]
        head = _make_head(parts, has_if=first.has_if)
        elses = [m for m in more if isinstance(m, _ElseParts)]
        extra = [m for m in more if isinstance(m, _BodyParts)]
        if elses and extra:
            raise _err("expected else keyword", extra[0].loc)
        else_chain = None
        if elses:
            ref = head.ref
            if head.key is not None:
                raise _err("else keyword cannot be used on multi-value rules", elses[0].loc)
            if ref.path and not all(_is_ground(p) for p in ref.path):
                raise _err("else keyword cannot be used on rules with variables in head", elses[0].loc)
            for e in elses[:-1]:
                if e.body is None:
                    raise _err("unexpected else keyword: the previous else has no body", e.loc)
            for e in reversed(elses):
                else_chain = ast.ElseClause(
                    e.value,
                    e.assign,
                    e.body.body if e.body else None,
                    e.body.has_if if e.body else False,
                    else_chain,
                    loc=e.loc,
                )
        rules = [ast.Rule(head, first.body, first.has_if, else_=else_chain, loc=parts.loc)]
        for body in extra:
            rules.append(ast.Rule(head, body.body, body.has_if, loc=body.loc))
        return rules

    def if_brace_body(self, c: list[Any]) -> _BodyParts:
        return _BodyParts(c[2], True, _loc(c[0]))

    def if_literal_body(self, c: list[Any]) -> _BodyParts:
        return _BodyParts((c[1],), True, _loc(c[0]))

    def brace_body(self, c: list[Any]) -> _BodyParts:
        return _BodyParts(c[1], False, _loc(c[0]))

    def extra_body(self, c: list[Any]) -> _BodyParts:
        return _BodyParts(c[1], False, _loc(c[0]))

    def else_clause(self, c: list[Any]) -> _ElseParts:
        value = assign = None
        body = None
        for item in c[1:]:
            if isinstance(item, tuple):
                assign, value = item
            elif isinstance(item, _BodyParts):
                body = item
        return _ElseParts(value, assign, body, _loc(c[0]))

    def else_value(self, c: list[Any]) -> tuple[str, ast.Term]:
        return (c[0], c[1])

    # ---- bodies
    def query(self, c: list[Any]) -> ast.Body:
        return tuple(_no_tokens(c))

    def with_clause(self, c: list[Any]) -> ast.With:
        target = c[1]
        if not isinstance(target, (ast.Var, ast.Ref)):
            raise _err("expected with target path", c[1])
        return ast.With(target, c[3], loc=_loc(c[0]))

    def some_literal(self, c: list[Any]) -> ast.Literal:
        items: list[ast.Term] = c[1]
        withs = tuple(x for x in c[2:] if isinstance(x, ast.With))
        rest = [x for x in c[2:] if not isinstance(x, (Token, ast.With))]
        if rest:
            domain = rest[0]
            if len(items) == 1:
                expr: ast.Expression = ast.SomeIn(None, items[0], domain, loc=_loc(c[0]))
            elif len(items) == 2:
                expr = ast.SomeIn(items[0], items[1], domain, loc=_loc(c[0]))
            else:
                raise _err("illegal domain: expected `x in xs` or `k, v in xs`", c[0])
            return ast.Literal(expr, False, withs, loc=_loc(c[0]))
        for item in items:
            if not isinstance(item, ast.Var):
                raise _err("unexpected token after some: expected var", item)
        if withs:
            raise _err("with modifiers cannot be used on some declarations", withs[0])
        variables = tuple(i for i in items if isinstance(i, ast.Var))
        return ast.Literal(ast.SomeDecl(variables, loc=_loc(c[0])), loc=_loc(c[0]))

    def some_items(self, c: list[Any]) -> list[ast.Term]:
        return _no_tokens(c)

    def every_literal(self, c: list[Any]) -> ast.Literal:
        terms = [x for x in c[1:] if not isinstance(x, (Token, tuple, ast.With))]
        body = next(x for x in c if isinstance(x, tuple))
        withs = tuple(x for x in c if isinstance(x, ast.With))
        if len(terms) == 3:
            key, value, domain = terms
        else:
            key, (value, domain) = None, terms
        if key is not None and not isinstance(key, ast.Var):
            raise _err("expected key to be a variable", key)
        if not isinstance(value, ast.Var):
            raise _err("expected value to be a variable", value)
        expr = ast.Every(key, value, domain, body, loc=_loc(c[0]))
        return ast.Literal(expr, False, withs, loc=_loc(c[0]))

    def not_literal(self, c: list[Any]) -> ast.Literal:
        withs = tuple(x for x in c[2:] if isinstance(x, ast.With))
        return ast.Literal(c[1], True, withs, loc=_loc(c[0]))

    def expr_literal(self, c: list[Any]) -> ast.Literal:
        withs = tuple(x for x in c[1:] if isinstance(x, ast.With))
        return ast.Literal(c[0], False, withs, loc=_loc_of(c[0]))

    def expr(self, c: list[Any]) -> ast.Expression:
        if len(c) == 1:
            return c[0]  # type: ignore[no-any-return]
        return ast.Assign(c[1], c[0], c[2], loc=_loc_of(c[0]))

    # ---- operators
    def kv_member(self, c: list[Any]) -> ast.Member:
        return ast.Member(c[0], c[2], c[4], loc=_loc_of(c[0]))

    def member(self, c: list[Any]) -> ast.Member:
        return ast.Member(None, c[0], c[2], loc=_loc_of(c[0]))

    def infix_call(self, c: list[Any]) -> ast.InfixCall:
        return ast.InfixCall(str(c[1]), c[0], c[2], loc=_loc_of(c[0]))

    def rel_op(self, c: list[Any]) -> str:
        return str(c[0])

    add_op = rel_op
    mul_op = rel_op

    # ---- terms
    def name_term(self, c: list[Any]) -> ast.Term:
        return _apply_segments(ast.Var(str(c[0]), loc=_loc(c[0])), c[1:])

    def collection_term(self, c: list[Any]) -> ast.Term:
        for seg in c[1:]:
            if seg.kind == "call":
                raise _err("unexpected ( token: call operator must be a name", seg.tok)
        return _apply_segments(c[0], c[1:])

    def dot_seg(self, c: list[Any]) -> _Seg:
        return _Seg("dot", ast.Scalar(str(c[1]), loc=_loc(c[1])), c[0])

    def bracket_seg(self, c: list[Any]) -> _Seg:
        return _Seg("bracket", c[1], c[0])

    def call_seg(self, c: list[Any]) -> _Seg:
        return _Seg("call", c[1] if len(c) == 3 else (), c[0])

    def scalar(self, c: list[Any]) -> ast.Scalar:
        tok: Token = c[0]
        loc = _loc(tok)
        if tok.type == "STRING":
            return ast.Scalar(_decode_string(tok), loc=loc)
        if tok.type == "RAWSTRING":
            return ast.Scalar(str(tok)[1:-1], loc=loc)
        if tok.type == "NUMBER":
            return ast.Scalar(_number(str(tok)), str(tok), loc=loc)
        if tok.type == "TRUE":
            return ast.Scalar(True, loc=loc)
        if tok.type == "FALSE":
            return ast.Scalar(False, loc=loc)
        return ast.Scalar(None, loc=loc)

    def neg_number(self, c: list[Any]) -> ast.Scalar:
        text = "-" + str(c[1])
        return ast.Scalar(_number(text), text, loc=_loc(c[0]))

    def paren_term(self, c: list[Any]) -> ast.Term:
        return c[1]  # type: ignore[no-any-return]

    def list_items(self, c: list[Any]) -> tuple[ast.Term, ...]:
        return tuple(_no_tokens(c))

    def array(self, c: list[Any]) -> ast.ArrayTerm:
        items = c[1] if len(c) == 3 else ()
        return ast.ArrayTerm(items, loc=_loc(c[0]))

    def array_compr(self, c: list[Any]) -> ast.ArrayCompr:
        return ast.ArrayCompr(c[1], c[3], loc=_loc(c[0]))

    def empty_object(self, c: list[Any]) -> ast.ObjectTerm:
        return ast.ObjectTerm((), loc=_loc(c[0]))

    def set_literal(self, c: list[Any]) -> ast.SetTerm:
        return ast.SetTerm(c[1], loc=_loc(c[0]))

    def object_literal(self, c: list[Any]) -> ast.ObjectTerm:
        return ast.ObjectTerm(c[1], loc=_loc(c[0]))

    def set_compr(self, c: list[Any]) -> ast.SetCompr:
        return ast.SetCompr(c[1], c[3], loc=_loc(c[0]))

    def object_compr(self, c: list[Any]) -> ast.ObjectCompr:
        return ast.ObjectCompr(c[1], c[3], c[5], loc=_loc(c[0]))

    def obj_items(self, c: list[Any]) -> tuple[tuple[ast.Term, ast.Term], ...]:
        return tuple(_no_tokens(c))

    def obj_item(self, c: list[Any]) -> tuple[ast.Term, ast.Term]:
        return (c[0], c[2])


def _number(text: str) -> int | float:
    if any(ch in text for ch in ".eE"):
        return float(text)
    return int(text)


def _ref_name(ref: ast.Ref) -> str:
    head = ref.head.name if isinstance(ref.head, ast.Var) else "?"
    return head + "".join(f".{p.value}" if isinstance(p, ast.Scalar) else "[...]" for p in ref.path)


def _is_ground(term: ast.Term) -> bool:
    return isinstance(term, ast.Scalar)


def _make_head(parts: _HeadParts, *, has_if: bool) -> ast.RuleHead:
    """Applies OPA's head rules (parser.go parseRules) for ``p[x]`` forms."""
    ref, args, key, value = parts.ref, parts.args, parts.contains, parts.value
    if key is None and args is None and len(ref.path) == 1 and not has_if and value is None:
        # v0 `p[x] { ... }` is a multi-value rule p containing x; with a value,
        # `p[k] = v { ... }` stays a single-value rule on ref p[k].
        key, ref = ref.path[0], ast.Ref(ref.head, (), loc=ref.loc)
    return ast.RuleHead(ref, args, key, value, parts.assign, loc=parts.loc)


# ------------------------------------------------------------------ token feeding


def _accepts(ip: Any, token_type: str) -> bool:
    """Whether the LALR parser in ``ip`` would shift ``token_type`` next."""
    states = ip.parser_state.parse_conf.states
    stack = list(ip.parser_state.state_stack)
    while True:
        row = states[stack[-1]]
        action = row.get(token_type)
        if action is None:
            return False
        kind, arg = action
        if kind is Shift:
            return True
        size = len(arg.expansion)
        if size:
            del stack[-size:]
        stack.append(states[stack[-1]][arg.origin.name][1])


_KEYWORD_TYPES = frozenset(_ALWAYS_KEYWORDS.values()) | frozenset(_FUTURE_KEYWORDS.values())
_SYMBOLS = {
    "ASSIGN": ":=", "UNIFY": "=", "EQ": "==", "NEQ": "!=", "LT": "<", "GT": ">", "LTE": "<=", "GTE": ">=",
    "LBRACE": "{", "RBRACE": "}", "LSQB": "[", "RSQB": "]", "LPAR": "(", "RPAR": ")", "COMMA": ",",
    "COLON": ":", "SEMI": ";", "DOT": ".", "PIPE": "|", "AMP": "&", "PLUS": "+", "MINUS": "-",
    "STAR": "*", "SLASH": "/", "PERCENT": "%",
}  # fmt: skip


def _describe(tok: Token) -> str:
    """How an unexpected token is named in a message (OPA style: ``unexpected } token``)."""
    if tok.type == "$END":
        return "end of file"
    if tok.type == "NAME":
        return f"identifier {tok.value!r}"
    if tok.type in ("STRING", "RAWSTRING", "NUMBER"):
        return f"{_TOKEN_TEXT[tok.type]} {tok.value}"
    if tok.type == "SEP":
        return "newline"
    return f"{tok.value} {'keyword' if tok.type in _KEYWORD_TYPES else 'token'}"


def _expected_text(expected: set[str]) -> str:
    """``expected X or Y`` for a short list of acceptable tokens, else ``""``."""
    pretty = sorted({_SYMBOLS.get(e, _TOKEN_TEXT.get(e, e.lower())) for e in expected})
    if not pretty or len(pretty) > 8:
        return ""
    return "expected " + " or ".join(pretty)


def _future_keywords(tokens: list[Token]) -> set[str]:
    """Keywords enabled by ``import future.keywords[.kw]`` or ``import rego.v1``."""
    enabled: set[str] = set()
    for i, tok in enumerate(tokens):
        if tok.type != "NAME" or tok.value != "import":
            continue
        path = []
        j = i + 1
        while j < len(tokens) and tokens[j].type == "NAME":
            path.append(tokens[j].value)
            if j + 1 < len(tokens) and tokens[j + 1].type == "DOT":
                j += 2
            else:
                break
        if path[:2] == ["future", "keywords"]:
            enabled |= set(_FUTURE_KEYWORDS) if len(path) == 2 else {path[2]}
        elif path == ["rego", "v1"]:
            enabled |= set(_FUTURE_KEYWORDS)
    return enabled


def _lex(source: str) -> tuple[list[Token], list[Token]]:
    significant: list[Token] = []
    comments: list[Token] = []
    try:
        for tok in _lark().lex(source, dont_ignore=True):
            if tok.type == "COMMENT":
                comments.append(tok)
            elif tok.type != "WS":
                significant.append(tok)
    except UnexpectedCharacters as exc:
        file, lines = _current.get()
        pos = exc.pos_in_stream or 0
        char = source[pos] if pos < len(source) else ""
        snippet = lines[exc.line - 1] if 0 < exc.line <= len(lines) else None
        loc = Location(file, exc.line, exc.column, snippet)
        if char == '"':
            raise RegoParseError("non-terminated string", loc) from None
        if char == "`":
            raise RegoParseError("non-terminated raw string", loc) from None
        if char == "$":
            raise RegoParseError('template strings ($"...") are not supported', loc) from None
        raise RegoParseError(f"illegal token {char!r}", loc) from None
    return significant, comments


def _feed(start: str, tokens: list[Token], keywords: set[str]) -> Any:
    ip = _lark().parse_interactive(start=start)
    prev: Token | None = None
    n = len(tokens)
    try:
        for i, raw in enumerate(tokens):
            tok = raw
            typ = raw.type
            if typ == "NAME" and not (prev is not None and prev.type == "DOT"):
                value = raw.value
                kw = _ALWAYS_KEYWORDS.get(value)
                if kw is None and value in keywords:
                    kw = _FUTURE_KEYWORDS[value]
                    if kw == "CONTAINS":
                        nxt = tokens[i + 1] if i + 1 < n else None
                        called = nxt is not None and nxt.type == "LPAR" and nxt.start_pos == raw.end_pos
                        if called or not _accepts(ip, "CONTAINS"):
                            kw = None
                if kw is not None:
                    typ = kw
            elif typ == "LSQB":
                if prev is not None and prev.end_pos == raw.start_pos and prev.type in _REF_ENDERS:
                    typ = "LSQB_REF"
            elif typ == "LPAR":
                if prev is not None and prev.end_pos == raw.start_pos and prev.type == "NAME":
                    typ = "LPAR_CALL"
            elif typ == "LBRACE" and prev is not None and prev.type == "IF":
                typ = "BODY_LBRACE"
            if typ != raw.type:
                tok = Token.new_borrow_pos(typ, raw.value, raw)
            # OPA: a newline ends a literal only where the next token cannot continue it.
            newline = prev is not None and (raw.line or 0) > (prev.end_line or 0)
            if newline and prev is not None and not _accepts(ip, typ) and _accepts(ip, "SEP"):
                ip.feed_token(Token.new_borrow_pos("SEP", "\n", prev))
            ip.feed_token(tok)
            prev = tok
        return ip.feed_eof(prev)  # type: ignore[no-untyped-call]
    except UnexpectedToken as exc:
        tok = exc.token
        if tok.type == "$END" and prev is not None:
            tok = prev
            loc = _loc(prev)
            loc = Location(loc.file, prev.end_line or loc.line, prev.end_column or loc.column, loc.snippet)
            raise RegoParseError("unexpected end of input", loc) from None
        expected = _expected_text(set(exc.expected))
        message = f"unexpected {_describe(tok)}"
        if expected:
            message += f": {expected}"
        raise RegoParseError(message, _loc(tok)) from None
    except VisitError as exc:
        if isinstance(exc.orig_exc, RegoParseError):
            raise exc.orig_exc from None
        raise


# ------------------------------------------------------------------ annotations


def _annotation_blocks(comments: list[Token]) -> list[tuple[Token, int, list[str]]]:
    """Groups ``# METADATA`` comment blocks: (first token, last line, yaml lines)."""
    blocks: list[tuple[Token, int, list[str]]] = []
    current: tuple[Token, int, list[str]] | None = None
    for tok in comments:
        text = tok.value[1:]
        if current is not None:
            first, last, lines = current
            if tok.line == last + 1 and tok.column == 1 and not text.strip().startswith("METADATA"):
                lines.append(text[1:] if text.startswith(" ") else text)
                current = (first, tok.line, lines)
                blocks[-1] = current
                continue
            current = None
        if text.strip().startswith("METADATA"):
            current = (tok, tok.line or 0, [])
            blocks.append(current)
    return blocks


def _parse_annotation(first: Token, lines: list[str], following: str) -> ast.Annotations:
    loc = _loc(first)
    try:
        loaded = read_yaml("\n".join(lines), loc.file) if lines else None
    except InputError as exc:  # malformed, or over a bound of kubegate.yamlio (aliases, depth, numbers)
        at = exc.location
        if at is not None and at.line:
            loc = Location(loc.file, loc.line + at.line, at.column + 2, None)
        code = None if exc.code == "yaml_parse_error" else exc.code
        message = exc.message.removeprefix("malformed YAML: ")
        raise RegoParseError(f"invalid METADATA block: {message}", loc, code=code) from None
    data = loaded.value if loaded is not None else {}
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise RegoParseError("invalid METADATA block: expected a YAML mapping", loc)
    scope = data.get("scope", following)
    if scope not in ("rule", "package", "document", "subpackages"):
        raise RegoParseError(f"invalid METADATA scope {scope!r}", loc)
    custom = data.get("custom") or {}
    if not isinstance(custom, dict):
        raise RegoParseError("invalid METADATA block: custom must be a mapping", loc)
    return ast.Annotations(
        scope=str(scope),
        title=data.get("title"),
        description=data.get("description"),
        custom=custom,
        raw=data,
        entrypoint=bool(data.get("entrypoint", False)),
        loc=loc,
    )


def _attach_annotations(
    pkg: ast.Package, rules: list[ast.Rule], comments: list[Token]
) -> tuple[ast.Package, list[ast.Rule], tuple[ast.Annotations, ...]]:
    blocks = _annotation_blocks(comments)
    if not blocks:
        return pkg, rules, ()
    statements: list[tuple[int, str, int]] = [((pkg.loc.line if pkg.loc else 0), "package", -1)]
    statements += [((r.loc.line if r.loc else 0), "rule", i) for i, r in enumerate(rules)]
    statements.sort()
    all_annotations: list[ast.Annotations] = []
    rules = list(rules)
    for first, last_line, lines in blocks:
        target = next((s for s in statements if s[0] > last_line), None)
        following = target[1] if target else "rule"
        annotation = _parse_annotation(first, lines, following)
        all_annotations.append(annotation)
        if target is None:
            continue
        if target[1] == "package" and annotation.scope in ("package", "subpackages"):
            pkg = replace(pkg, annotations=annotation)
        elif target[1] == "rule" and annotation.scope in ("rule", "document"):
            idx = target[2]
            rules[idx] = replace(rules[idx], annotations=annotation)
    return pkg, rules, tuple(all_annotations)


# ------------------------------------------------------------------ entry points


def _check_v1(rules: list[ast.Rule]) -> None:
    for rule in rules:
        if rule.body is not None and not rule.has_if and not rule.default:
            raise RegoParseError("`if` keyword is required before rule body", rule.loc)
        chain = rule.else_
        while chain is not None:
            if chain.body is not None and not chain.has_if:
                raise RegoParseError("`if` keyword is required before rule body", chain.loc)
            chain = chain.else_


def _uses_v0_forms(rules: list[ast.Rule]) -> bool:
    return any(r.body is not None and not r.has_if for r in rules)


def parse_module(source: str, file: str = "<module>", version: RegoVersion | None = None) -> ast.Module:
    """Parses one Rego module.

    Args:
        source: the module text.
        file: name used in locations and errors.
        version: ``"v0"``, ``"v1"`` or ``None`` to detect (see module docstring).

    Returns:
        The :class:`~kubegate.rego.ast.Module`, with ``version`` set to the syntax
        it was read as.

    Raises:
        RegoParseError: code ``rego_parse_error``, with file:line:col and the
            source line for a caret snippet.
    """
    token = _current.set((file, source.splitlines()))
    try:
        tokens, comments = _lex(source)
        if not tokens:
            raise RegoParseError("empty module: expected package declaration", Location(file, 1, 1))
        imported = _future_keywords(tokens)
        detected: RegoVersion
        if version == "v1" or _imports_rego_v1(tokens):
            pkg, imports, rules = _feed("start", tokens, set(_FUTURE_KEYWORDS))
            _check_v1(rules)
            detected = "v1"
        elif version == "v0":
            pkg, imports, rules = _feed("start", tokens, imported)
            detected = "v0"
        else:
            try:
                pkg, imports, rules = _feed("start", tokens, set(_FUTURE_KEYWORDS))
                detected = "v0" if _uses_v0_forms(rules) else "v1"
            except RegoParseError as v1_error:
                try:
                    pkg, imports, rules = _feed("start", tokens, imported)
                except RegoParseError as v0_error:
                    raise _further(v1_error, v0_error) from None
                detected = "v0"
        pkg, rules, annotations = _attach_annotations(pkg, rules, comments)
        return ast.Module(
            package=pkg,
            imports=tuple(imports),
            rules=tuple(rules),
            version=detected,
            file=file,
            annotations=annotations,
            loc=pkg.loc,
        )
    finally:
        _current.reset(token)


def _imports_rego_v1(tokens: list[Token]) -> bool:
    for i in range(len(tokens) - 3):
        a, b, c, d = tokens[i : i + 4]
        if a.value == "import" and b.value == "rego" and c.type == "DOT" and d.value == "v1":
            return True
    return False


def _further(a: RegoParseError, b: RegoParseError) -> RegoParseError:
    """Of two errors for the same text, the one found further into it."""

    def key(e: RegoParseError) -> tuple[int, int]:
        return (e.location.line, e.location.column) if e.location else (0, 0)

    return a if key(a) >= key(b) else b


def _parse_fragment(source: str, file: str, start: str) -> Any:
    token = _current.set((file, source.splitlines()))
    try:
        tokens, _ = _lex(source)
        if not tokens:
            raise RegoParseError("empty input", Location(file, 1, 1))
        return _feed(start, tokens, set(_FUTURE_KEYWORDS))
    finally:
        _current.reset(token)


def parse_body(source: str, file: str = "<query>") -> ast.Body:
    """Parses a query (``a; b`` or one literal per line) into a body, v1 syntax.

    Raises:
        RegoParseError: as :func:`parse_module`.
    """
    body: ast.Body = _parse_fragment(source, file, "query")
    return body


def parse_term(source: str, file: str = "<term>") -> ast.Term:
    """Parses a single term (``input.x[0]``, ``{"a": 1}``, ``f(x) + 1``), v1 syntax."""
    term: ast.Term = _parse_fragment(source, file, "infix")
    return term


@dataclass(frozen=True, slots=True)
class SourceToken:
    """One lexed token of a module's text, as :func:`parse_module_with_comments` returns it.

    ``type`` is the lexer's terminal name (``NAME``, ``STRING``, ``RAWSTRING``,
    ``LBRACE``, ``COMMENT`` ...; keywords are ``NAME`` and brackets keep their
    plain names, whatever the parser made of them); ``text`` is the exact
    source spelling. Lines and columns are 1-based, ``end_column`` is one past
    the last character.
    """

    type: str
    text: str
    line: int
    column: int
    end_line: int
    end_column: int


@dataclass(frozen=True, slots=True)
class ParsedSource:
    """A module with the tokens it was read from: what a formatter needs beside the AST.

    Attributes:
        module: exactly what :func:`parse_module` returns for the same arguments.
        tokens: the significant tokens in source order (no comments, no whitespace).
        comments: the ``#`` comments in source order, ``text`` including the ``#``.
    """

    module: ast.Module
    tokens: tuple[SourceToken, ...]
    comments: tuple[SourceToken, ...]


def _source_token(tok: Token) -> SourceToken:
    return SourceToken(tok.type, str(tok), tok.line or 0, tok.column or 0, tok.end_line or 0, tok.end_column or 0)


def parse_module_with_comments(source: str, file: str = "<module>", version: RegoVersion | None = None) -> ParsedSource:
    """Parses one Rego module and also returns its tokens and comments.

    The module is the one :func:`parse_module` returns; the tokens let a
    formatter keep comments, raw strings and string escapes as written (OPA's
    formatter keeps them too: https://www.openpolicyagent.org/docs/latest/cli/#opa-fmt).

    Args:
        source: the module text.
        file: name used in locations and errors.
        version: as for :func:`parse_module`.

    Raises:
        RegoParseError: as :func:`parse_module`.
    """
    module = parse_module(source, file, version)
    token = _current.set((file, source.splitlines()))
    try:
        significant, comments = _lex(source)
    finally:
        _current.reset(token)
    return ParsedSource(module, tuple(_source_token(t) for t in significant), tuple(_source_token(t) for t in comments))
