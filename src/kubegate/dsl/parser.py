"""Parse DSL source (``.kgr`` files) into :mod:`kubegate.dsl.ast`.

The grammar is ``dsl.lark`` (LALR(1), built once per process). Syntax errors
are :class:`DslError` s with code ``dsl_parse_error``, the file, line and
column, a caret snippet and the tokens that would have been accepted.
Message strings are parsed a second time for ``{operand}`` interpolations
(``{{`` and ``}}`` are literal braces).

String literals are JSON strings: a control character, an unknown escape
(``"\\q"``) or a digit-limit-breaking index is a ``dsl_parse_error`` at the
literal; a lone UTF-16 surrogate (raw, or a ``"\\ud800"`` escape without its
pair) is ``invalid_unicode``. Conditions and operands nest at most
:data:`MAX_DSL_DEPTH` levels (``dsl_too_deep``), which keeps the checker and
code generator far from Python's recursion limit.
"""

from __future__ import annotations

import json
import threading
from decimal import Decimal, InvalidOperation
from importlib import resources
from typing import Any

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedToken, VisitError

from kubegate.dsl import ast
from kubegate.errors import KubegateError, Location
from kubegate.yamlio import find_surrogate

__all__ = ["MAX_DSL_DEPTH", "DslError", "parse_dsl", "parse_quantity"]

MAX_DSL_DEPTH = 100
"""Deepest nesting of the parse tree (``NOT``, ``ANY``/``ALL``, calls, lists); hand-written rules nest fewer than 10."""


_QUANTITY_SUFFIXES = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
}

_TOKEN_TEXT = {
    "NAME": "a name",
    "STRING": "a string",
    "NUMBER": "a number",
    "QUANTITY": "a quantity (2Gi, 500m)",
    "INT": "an integer",
    "COMPARE": "a comparison (==, !=, <, <=, >, >=)",
    "QUANTIFIER": "ANY or ALL",
    "VERDICT": "DENY, WARN or AUDIT",
    "$END": "end of file",
    "LPAR": "(",
    "RPAR": ")",
    "LSQB": "[",
    "RSQB": "]",
    "COLON": ":",
    "COMMA": ",",
    "DOT": ".",
    "EQUAL": "=",
}


class DslError(KubegateError):
    """A problem in a DSL file: a syntax error or a finding of the checker."""

    code = "dsl_error"


_lock = threading.Lock()
_parsers: dict[str, Lark] = {}


def _lark(start: str = "start") -> Lark:
    with _lock:
        if start not in _parsers:
            grammar = resources.files("kubegate.dsl").joinpath("dsl.lark").read_text("utf-8")
            _parsers[start] = Lark(
                grammar, parser="lalr", start=start, propagate_positions=True, maybe_placeholders=True
            )
        return _parsers[start]


def parse_quantity(text: str) -> Decimal:
    """The amount of a Kubernetes quantity literal in base units (``2Gi`` -> 2147483648).

    Follows ``k8s.io/apimachinery/pkg/api/resource`` suffixes (binary Ki..Ei,
    decimal n, u, m, k, M, G, T, P, E).

    Raises:
        ValueError: not a quantity.
    """
    for suffix in sorted(_QUANTITY_SUFFIXES, key=len, reverse=True):
        if suffix and text.endswith(suffix):
            number = text[: -len(suffix)]
            break
    else:
        suffix, number = "", text
    try:
        return Decimal(number) * _QUANTITY_SUFFIXES[suffix]
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a quantity") from None


class _Source:
    def __init__(self, text: str, file: str) -> None:
        self.file = file
        self.lines = text.splitlines()

    def loc(self, line: int, column: int) -> Location:
        snippet = self.lines[line - 1] if 0 < line <= len(self.lines) else None
        return Location(self.file, line, column, snippet)

    def of(self, item: Any) -> Location | None:
        if isinstance(item, Token):
            return self.loc(item.line or 0, item.column or 0)
        meta = getattr(item, "meta", None)
        if meta is not None and not getattr(meta, "empty", True):
            return self.loc(meta.line, meta.column)
        return None


@v_args(meta=True)
class _Builder(Transformer[Token, Any]):
    """Lark tree -> AST."""

    def __init__(self, source: _Source) -> None:
        super().__init__()
        self.src = source

    def _loc(self, meta: Any) -> Location | None:
        return None if getattr(meta, "empty", True) else self.src.loc(meta.line, meta.column)

    def _str(self, token: Token) -> str:
        return _string(token, self.src.of(token))

    # ---- module
    def start(self, meta: Any, items: list[Any]) -> ast.Module:
        params = tuple(i for i in items if isinstance(i, ast.Param))
        rules = tuple(i for i in items if isinstance(i, ast.Rule))
        return ast.Module(self.src.file, params, rules)

    def type(self, meta: Any, items: list[Any]) -> ast.ParamType:
        name, item = items[0], items[1] if len(items) > 1 else None
        return ast.ParamType(str(name), item, self._loc(meta))

    def const_list(self, meta: Any, items: list[Any]) -> tuple[ast.Constant, ...]:
        return tuple(i for i in items if i is not None)

    def param(self, meta: Any, items: list[Any]) -> ast.Param:
        name, ptype = items[0], items[1]
        default = items[2] if len(items) > 2 else None
        return ast.Param(str(name), ptype, default, self.src.of(name))

    def rule(self, meta: Any, items: list[Any]) -> ast.Rule:
        rule_id = items[0]
        kinds: list[tuple[str, Location | None]] = []
        severity = description = rollout = ""
        severity_loc = None
        namespaces: list[str] = []
        excluded: list[str] = []
        when: ast.Condition | None = None
        actions: list[ast.Action] = []
        for item in items[1:]:
            if isinstance(item, tuple) and item and item[0] == "on":
                kinds.extend(item[1])
            elif isinstance(item, tuple) and item and item[0] == "severity":
                severity, severity_loc = item[1], item[2]
            elif isinstance(item, tuple) and item and item[0] == "description":
                description = item[1]
            elif isinstance(item, tuple) and item and item[0] == "rollout":
                rollout = item[1]
            elif isinstance(item, tuple) and item and item[0] == "in_namespaces":
                namespaces.extend(item[1])
            elif isinstance(item, tuple) and item and item[0] == "except_namespaces":
                excluded.extend(item[1])
            elif isinstance(item, ast.Verdict | ast.Hook):
                actions.append(item)
            else:
                when = item
        assert when is not None
        return ast.Rule(
            id=self._str(rule_id) if rule_id.type == "STRING" else str(rule_id),
            kinds=tuple(kinds),
            severity=severity,
            description=description,
            namespaces=tuple(namespaces),
            excluded_namespaces=tuple(excluded),
            when=when,
            actions=tuple(actions),
            loc=self.src.of(rule_id),
            severity_loc=severity_loc,
            rollout=rollout,
        )

    def rule_id(self, meta: Any, items: list[Token]) -> Token:
        return items[0]

    def on_clause(self, meta: Any, items: list[tuple[str, Location | None]]) -> tuple[str, list[Any]]:
        return ("on", list(items))

    def kind(self, meta: Any, items: list[Token]) -> tuple[str, Location | None]:
        return (str(items[0]), self.src.of(items[0]))

    def severity_clause(self, meta: Any, items: list[Token]) -> tuple[str, str, Location | None]:
        return ("severity", str(items[0]), self.src.of(items[0]))

    def description_clause(self, meta: Any, items: list[Token]) -> tuple[str, str]:
        return ("description", self._str(items[0]))

    def rollout_canary(self, meta: Any, items: list[Any]) -> tuple[str, str]:
        by = f" by {str(items[1]).lower()}" if len(items) > 1 and items[1] is not None else ""
        return ("rollout", f"canary {items[0]}{by}")

    def rollout_shadow(self, meta: Any, items: list[Any]) -> tuple[str, str]:
        return ("rollout", "shadow")

    def in_namespaces(self, meta: Any, items: list[Token]) -> tuple[str, list[str]]:
        return ("in_namespaces", [self._str(t) for t in items])

    def except_namespaces(self, meta: Any, items: list[Token]) -> tuple[str, list[str]]:
        return ("except_namespaces", [self._str(t) for t in items])

    # ---- conditions
    def or_cond(self, meta: Any, items: list[ast.Condition]) -> ast.Or:
        return ast.Or(tuple(items), self._loc(meta))

    def and_cond(self, meta: Any, items: list[ast.Condition]) -> ast.And:
        return ast.And(tuple(items), self._loc(meta))

    def negation(self, meta: Any, items: list[ast.Condition]) -> ast.Not:
        return ast.Not(items[0], self._loc(meta))

    def quantified(self, meta: Any, items: list[Any]) -> ast.Any_ | ast.All:
        quantifier, (var, binder, domain), body = items
        cls = ast.Any_ if str(quantifier) == "ANY" else ast.All
        return cls(var, binder, domain, body, self._loc(meta))

    def named_binder(self, meta: Any, items: list[Token]) -> tuple[str, str, None]:
        return (str(items[1]), str(items[0]), None)

    def domain_binder(self, meta: Any, items: list[Any]) -> tuple[str, None, ast.Operand]:
        return (str(items[0]), None, items[1])

    def comparison(self, meta: Any, items: list[Any]) -> ast.Compare:
        return ast.Compare(str(items[1]), items[0], items[2], self._loc(meta))

    def in_list(self, meta: Any, items: list[Any]) -> ast.Member:
        return ast.Member(items[0], tuple(items[1:]), None, False, self._loc(meta))

    def not_in_list(self, meta: Any, items: list[Any]) -> ast.Member:
        return ast.Member(items[0], tuple(items[1:]), None, True, self._loc(meta))

    def in_operand(self, meta: Any, items: list[Any]) -> ast.Member:
        return ast.Member(items[0], None, items[1], False, self._loc(meta))

    def not_in_operand(self, meta: Any, items: list[Any]) -> ast.Member:
        return ast.Member(items[0], None, items[1], True, self._loc(meta))

    def matches(self, meta: Any, items: list[Any]) -> ast.Matches:
        return ast.Matches(items[0], items[1], False, self._loc(meta))

    def not_matches(self, meta: Any, items: list[Any]) -> ast.Matches:
        return ast.Matches(items[0], items[1], True, self._loc(meta))

    def _string_test(self, op: str, negated: bool, meta: Any, items: list[Any]) -> ast.StringTest:
        return ast.StringTest(op, items[0], items[1], negated, self._loc(meta))  # type: ignore[arg-type]

    def starts_with(self, meta: Any, items: list[Any]) -> ast.StringTest:
        return self._string_test("starts_with", False, meta, items)

    def not_starts_with(self, meta: Any, items: list[Any]) -> ast.StringTest:
        return self._string_test("starts_with", True, meta, items)

    def ends_with(self, meta: Any, items: list[Any]) -> ast.StringTest:
        return self._string_test("ends_with", False, meta, items)

    def not_ends_with(self, meta: Any, items: list[Any]) -> ast.StringTest:
        return self._string_test("ends_with", True, meta, items)

    def contains(self, meta: Any, items: list[Any]) -> ast.StringTest:
        return self._string_test("contains", False, meta, items)

    def not_contains(self, meta: Any, items: list[Any]) -> ast.StringTest:
        return self._string_test("contains", True, meta, items)

    def exists(self, meta: Any, items: list[Any]) -> ast.Exists:
        return ast.Exists(items[0], True, self._loc(meta))

    def missing(self, meta: Any, items: list[Any]) -> ast.Exists:
        return ast.Exists(items[0], False, self._loc(meta))

    def truthy(self, meta: Any, items: list[Any]) -> ast.Truthy:
        return ast.Truthy(items[0], self._loc(meta))

    # ---- operands
    def path(self, meta: Any, items: list[Any]) -> ast.Path:
        return ast.Path(str(items[0]), tuple(items[1:]), self._loc(meta))

    def field(self, meta: Any, items: list[Token]) -> ast.Segment:
        return ast.Segment(str(items[0]), True, self.src.of(items[0]))

    def key(self, meta: Any, items: list[Token]) -> ast.Segment:
        return ast.Segment(self._str(items[0]), False, self.src.of(items[0]))

    def index(self, meta: Any, items: list[Token]) -> ast.Segment:
        token = items[0]
        if len(str(token)) > 18:  # beyond any list; int() refuses over 4300 digits
            raise DslError(f"index {str(token)[:20]}... is too large", self.src.of(token), code="dsl_parse_error")
        return ast.Segment(int(token), False, self.src.of(token))

    def call(self, meta: Any, items: list[Any]) -> ast.Call:
        return ast.Call(str(items[0]), tuple(i for i in items[1:] if i is not None), self._loc(meta))

    def list_operand(self, meta: Any, items: list[Any]) -> ast.ListOperand:
        return ast.ListOperand(tuple(i for i in items if i is not None), self._loc(meta))

    def string(self, meta: Any, items: list[Token]) -> ast.Constant:
        return ast.Constant("string", self._str(items[0]), str(items[0]), self.src.of(items[0]))

    def number(self, meta: Any, items: list[Token]) -> ast.Constant:
        return ast.Constant("number", Decimal(str(items[0])), str(items[0]), self.src.of(items[0]))

    def quantity(self, meta: Any, items: list[Token]) -> ast.Constant:
        return ast.Constant("quantity", parse_quantity(str(items[0])), str(items[0]), self.src.of(items[0]))

    def true(self, meta: Any, items: list[Any]) -> ast.Constant:
        return ast.Constant("boolean", True, "true", self._loc(meta))

    def false(self, meta: Any, items: list[Any]) -> ast.Constant:
        return ast.Constant("boolean", False, "false", self._loc(meta))

    def null(self, meta: Any, items: list[Any]) -> ast.Constant:
        return ast.Constant("null", None, "null", self._loc(meta))

    # ---- actions
    def verdict(self, meta: Any, items: list[Token]) -> ast.Verdict:
        kind = str(items[0])
        return ast.Verdict(kind, self._template(items[1]), self.src.of(items[0]))  # type: ignore[arg-type]

    def hook(self, meta: Any, items: list[Any]) -> ast.Hook:
        args: list[ast.Operand | ast.Template] = []
        for item in items[1:]:
            if isinstance(item, ast.Constant) and item.kind == "string" and "{" in item.text:
                args.append(self._template_from_constant(item))
            elif item is not None:
                args.append(item)
        return ast.Hook(str(items[0]), tuple(args), self.src.of(items[0]))

    def _template_from_constant(self, constant: ast.Constant) -> ast.Template:
        loc = constant.loc
        token = Token("STRING", constant.text, line=loc.line if loc else 0, column=loc.column if loc else 0)
        return self._template(token)

    def _template(self, token: Token) -> ast.Template:
        return parse_template(token, self.src)


def _json_text(quoted: str, where: Location | None) -> str:
    """Decodes a JSON string literal (quotes included).

    Raises:
        DslError: ``dsl_parse_error`` (control character, bad escape) or
            ``invalid_unicode`` (a lone surrogate), at ``where``.
    """
    try:
        value = json.loads(quoted)
    except ValueError as exc:
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        raise DslError(
            f"invalid string literal: {reason.lower()} (control characters must be escaped, "
            'escapes are \\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)',
            where,
            code="dsl_parse_error",
        ) from None
    if not isinstance(value, str):  # pragma: no cover - the lexer only matches strings
        raise DslError("invalid string literal", where, code="dsl_parse_error")
    if find_surrogate(value) >= 0:
        raise DslError(
            "the string holds a lone UTF-16 surrogate (a \\ud800-\\udfff escape without its pair)",
            where,
            code="invalid_unicode",
        )
    return value


def _string(token: Token, where: Location | None = None) -> str:
    return _json_text(str(token), where)


def parse_template(token: Token, src: _Source) -> ast.Template:
    """Splits a message string into text and ``{operand}`` parts.

    Raises:
        DslError: ``dsl_parse_error`` for an unclosed ``{`` or a bad operand.
    """
    raw = str(token)[1:-1]  # without the quotes, escapes kept so columns line up
    where = src.loc(token.line or 0, token.column or 0)
    value = _json_text(str(token), where)  # the whole literal first: its errors point at it
    parts: list[str | ast.Operand] = []
    text: list[str] = []
    i = 0
    line, column = token.line or 0, (token.column or 0) + 1
    while i < len(raw):
        ch = raw[i]
        if ch == "\\" and i + 1 < len(raw):
            text.append(raw[i : i + 2])
            i += 2
            continue
        if raw.startswith("{{", i) or raw.startswith("}}", i):
            text.append(ch)
            i += 2
            continue
        if ch == "{":
            end = raw.find("}", i)
            if end < 0:
                raise DslError("unclosed { in message", src.loc(line, column + i), code="dsl_parse_error")
            if text:
                parts.append(_json_text('"' + "".join(text) + '"', where))
                text = []
            inner = _json_text('"' + raw[i + 1 : end] + '"', where)
            parts.append(_parse_operand(inner, src, line, column + i + 1))
            i = end + 1
            continue
        text.append(ch)
        i += 1
    if text:
        parts.append(_json_text('"' + "".join(text) + '"', where))
    return ast.Template(tuple(parts), value, src.loc(line, column - 1))


def _parse_operand(text: str, src: _Source, line: int, column: int) -> ast.Operand:
    try:
        tree = _lark("operand").parse(text)
    except (UnexpectedCharacters, UnexpectedToken, UnexpectedEOF):
        raise DslError(
            f'{{{text}}} in a message must be a path or a function call (c.name, labels["app"], len(c.ports))',
            src.loc(line, column),
            code="dsl_parse_error",
        ) from None
    try:
        operand = _Builder(_ShiftedSource(src, line, column - 1)).transform(tree)
    except VisitError as exc:
        raise _unwrap(exc) from None
    return operand  # type: ignore[no-any-return]


def _unwrap(exc: VisitError) -> BaseException:
    """The DslError a transformer callback raised (possibly wrapped twice), else ``exc``."""
    orig: BaseException = exc
    while isinstance(orig, VisitError):
        orig = orig.orig_exc
    return orig if isinstance(orig, DslError) else exc


def _too_deep(tree: Tree[Token], src: _Source) -> DslError | None:
    """A ``dsl_too_deep`` error at the first node deeper than :data:`MAX_DSL_DEPTH`, if any."""
    stack: list[tuple[Tree[Token], int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DSL_DEPTH:
            meta = node.meta
            loc = None if getattr(meta, "empty", True) else src.loc(meta.line, meta.column)
            return DslError(
                f"the rule nests deeper than {MAX_DSL_DEPTH} levels; split it into smaller rules or conditions",
                loc or src.loc(1, 1),
                code="dsl_too_deep",
                details={"limit": MAX_DSL_DEPTH},
            )
        stack.extend((child, depth + 1) for child in node.children if isinstance(child, Tree))
    return None


class _ShiftedSource(_Source):
    """Positions inside a message string, reported against the file."""

    def __init__(self, src: _Source, line: int, column_offset: int) -> None:
        self.file = src.file
        self.lines = src.lines
        self._line = line
        self._offset = column_offset

    def loc(self, line: int, column: int) -> Location:
        return super().loc(self._line, self._offset + column)


def _expected(exc: UnexpectedToken | UnexpectedEOF) -> str:
    names = sorted({_TOKEN_TEXT.get(t, t.strip('"')) for t in exc.expected if not t.startswith("__")})
    return ", ".join(names[:12])


def parse_dsl(text: str, file: str) -> ast.Module:
    """Parses one DSL file.

    Args:
        text: the file's content.
        file: the name errors are reported against.

    Raises:
        DslError: ``dsl_parse_error`` with file:line:col and the expected tokens,
            ``invalid_unicode`` (a lone surrogate), ``dsl_too_deep``.
    """
    src = _Source(text, file)
    lone = find_surrogate(text)
    if lone >= 0:
        line = text.count("\n", 0, lone) + 1
        column = lone - (text.rfind("\n", 0, lone) + 1) + 1
        raise DslError(
            "lone UTF-16 surrogate in the file (not valid Unicode text)", src.loc(line, column), code="invalid_unicode"
        )
    try:
        tree: Tree[Token] = _lark().parse(text)
    except UnexpectedCharacters as exc:
        pos = exc.pos_in_stream or 0
        raise DslError(
            f"unexpected character {text[pos]!r}" if pos < len(text) else "unexpected end",
            src.loc(exc.line, exc.column),
            code="dsl_parse_error",
        ) from None
    except UnexpectedToken as exc:
        token = exc.token
        found = "end of file" if token.type == "$END" else repr(str(token))
        raise DslError(
            f"unexpected {found}; expected {_expected(exc)}",
            src.loc(token.line or len(src.lines), token.column or 1),
            code="dsl_parse_error",
        ) from None
    except UnexpectedEOF as exc:
        raise DslError(
            f"unexpected end of file; expected {_expected(exc)}", src.loc(len(src.lines), 1), code="dsl_parse_error"
        ) from None
    deep = _too_deep(tree, src)
    if deep is not None:
        raise deep
    try:
        module = _Builder(src).transform(tree)
    except VisitError as exc:
        raise _unwrap(exc) from None
    assert isinstance(module, ast.Module)
    return ast.Module(module.file, module.params, module.rules, text)
