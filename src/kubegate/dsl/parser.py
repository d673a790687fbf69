"""Parse DSL source (``.kgr`` files) into :mod:`kubegate.dsl.ast`.

The grammar is ``dsl.lark`` (LALR(1), built once per process). Syntax errors
are :class:`DslError` s with code ``dsl_parse_error``, the file, line and
column, a caret snippet and the tokens that would have been accepted.
Message strings are parsed a second time for ``{operand}`` interpolations
(``{{`` and ``}}`` are literal braces).
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

__all__ = ["DslError", "parse_dsl", "parse_quantity"]

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
            id=_string(rule_id) if rule_id.type == "STRING" else str(rule_id),
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
        return ("description", _string(items[0]))

    def rollout_canary(self, meta: Any, items: list[Any]) -> tuple[str, str]:
        by = f" by {str(items[1]).lower()}" if len(items) > 1 and items[1] is not None else ""
        return ("rollout", f"canary {items[0]}{by}")

    def rollout_shadow(self, meta: Any, items: list[Any]) -> tuple[str, str]:
        return ("rollout", "shadow")

    def in_namespaces(self, meta: Any, items: list[Token]) -> tuple[str, list[str]]:
        return ("in_namespaces", [_string(t) for t in items])

    def except_namespaces(self, meta: Any, items: list[Token]) -> tuple[str, list[str]]:
        return ("except_namespaces", [_string(t) for t in items])

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
        return ast.Segment(_string(items[0]), False, self.src.of(items[0]))

    def index(self, meta: Any, items: list[Token]) -> ast.Segment:
        return ast.Segment(int(items[0]), False, self.src.of(items[0]))

    def call(self, meta: Any, items: list[Any]) -> ast.Call:
        return ast.Call(str(items[0]), tuple(i for i in items[1:] if i is not None), self._loc(meta))

    def list_operand(self, meta: Any, items: list[Any]) -> ast.ListOperand:
        return ast.ListOperand(tuple(i for i in items if i is not None), self._loc(meta))

    def string(self, meta: Any, items: list[Token]) -> ast.Constant:
        return ast.Constant("string", _string(items[0]), str(items[0]), self.src.of(items[0]))

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


def _string(token: Token | str) -> str:
    value = json.loads(str(token))
    assert isinstance(value, str)
    return value


def parse_template(token: Token, src: _Source) -> ast.Template:
    """Splits a message string into text and ``{operand}`` parts.

    Raises:
        DslError: ``dsl_parse_error`` for an unclosed ``{`` or a bad operand.
    """
    raw = str(token)[1:-1]  # without the quotes, escapes kept so columns line up
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
                parts.append(json.loads('"' + "".join(text) + '"'))
                text = []
            inner = json.loads('"' + raw[i + 1 : end] + '"')
            parts.append(_parse_operand(inner, src, line, column + i + 1))
            i = end + 1
            continue
        text.append(ch)
        i += 1
    if text:
        parts.append(json.loads('"' + "".join(text) + '"'))
    return ast.Template(tuple(parts), _string(token), src.loc(line, column - 1))


def _parse_operand(text: str, src: _Source, line: int, column: int) -> ast.Operand:
    try:
        tree = _lark("operand").parse(text)
    except (UnexpectedCharacters, UnexpectedToken, UnexpectedEOF):
        raise DslError(
            f'{{{text}}} in a message must be a path or a function call (c.name, labels["app"], len(c.ports))',
            src.loc(line, column),
            code="dsl_parse_error",
        ) from None
    operand = _Builder(_ShiftedSource(src, line, column - 1)).transform(tree)
    return operand  # type: ignore[no-any-return]


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
        DslError: ``dsl_parse_error`` with file:line:col and the expected tokens.
    """
    src = _Source(text, file)
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
    try:
        module = _Builder(src).transform(tree)
    except VisitError as exc:
        if isinstance(exc.orig_exc, DslError):
            raise exc.orig_exc from None
        raise
    assert isinstance(module, ast.Module)
    return ast.Module(module.file, module.params, module.rules, text)
