"""Compile-time checks Kubernetes applies to CEL and cel-cpp does not
(docs/cel-notes.md §1, §7).

:func:`validate` reports, on the AST of the user's text (:mod:`kubegate.cel.ast`):

* mixed-type list and map literals (``[1, 'a']``), with Kubernetes' message
  ``expected type 'int' but found 'string'``: cel-go's
  ``ValidateHomogeneousAggregateLiterals`` (``cel/validator.go``; exact type
  equivalence, so ``[object.x, 1]`` is refused too; literals inside a
  ``format()`` call are exempt);
* invalid regex literals: ``s.matches(re)``, ``s.find(re)``, ``s.findAll(re)``
  (Go's ``regexp`` syntax through :func:`compile_go`), as cel-go's
  ``ValidateRegexLiterals`` and the ``RegexOptimization``\\ s of cel-go and
  ``pkg/cel/library/regex.go`` refuse them before evaluation. For the global
  ``matches(s, re)``, both ``re`` and (cel-go's validator reads argument 0)
  ``s`` are checked;
* invalid ``duration('…')`` (Go's ``time.ParseDuration``) and
  ``timestamp('…')`` literals (``time.RFC3339``, years 1 to 9999), as
  ``ValidateDurationLiterals``/``ValidateTimestampLiterals``: ``invalid
  duration argument``;
* ``cel.bind``, which Kubernetes does not offer (no bindings extension in
  ``pkg/cel/environment/base.go``; kubegate's env enables it only for the text
  it generates, so run this on the user's text only). The user env cannot even
  type-check it (``undeclared reference to 'x'``); a parsed-only AST
  (``compile(text, disable_check=True)``) shows the call;
* message literals of Kubernetes' opaque types (``kubernetes.Quantity{...}``):
  they are :mod:`kubegate.cel.carriers` here, opaque in Kubernetes.

These checks are those of Kubernetes 1.29+ (``base.go``). Every finding is
``cel_type_error``, located (1-based line, column in code points) in the text.

:func:`cross_type_literals` handles the opposite divergence: cel-cpp refuses
``1 < 1.5`` (``found no matching overload for '_<_' applied to '(int,
double)'``), which Kubernetes accepts (``CrossTypeNumericComparisons``, 1.28+)
and evaluates as the runtime already does for dynamic operands. The fix
wraps the right operand in ``dyn()``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kubegate.cel.ast import Call, Comprehension, CreateList, CreateMap, CreateStruct, Ident, Literal, Node, children
from kubegate.cel.carriers import CARRIER_TYPES
from kubegate.evaluator.builtins._regex_re2 import compile_go
from kubegate.evaluator.builtins.registry import BuiltinError
from kubegate.evaluator.builtins.timefns_go import GoTimeError
from kubegate.evaluator.builtins.timefns_goduration import parse_duration
from kubegate.evaluator.builtins.timefns_goparse import parse_layout

__all__ = ["CrossTypeFix", "Finding", "cross_type_literals", "validate"]

_RFC3339 = "2006-01-02T15:04:05Z07:00"
_MIN_UNIX, _MAX_UNIX = -62135596800, 253402300799  # 0001-01-01T00:00:00Z, 9999-12-31T23:59:59Z (cel-go)
_REGEX_FUNCTIONS = frozenset({"matches", "find", "findAll"})


@dataclass(frozen=True)
class Finding:
    """A located compile-time error: ``line`` and ``col`` are 1-based (code points)."""

    line: int
    col: int
    message: str
    code: str = "cel_type_error"


def validate(node: Node, text: str, fix: CrossTypeFix | None = None) -> list[Finding]:
    """The findings of the module docstring on ``node``, sorted by position.

    Args:
        node: the AST (:func:`kubegate.cel.ast.parse`) of the user's text, or of
            ``fix.text`` when :func:`cross_type_literals` rewrote it. The type
            checks need a checked AST; a parsed-only one gets the others.
        text: the user's text.
        fix: the rewrite the AST was compiled from, if any: positions are then
            mapped back into ``text``.
    """
    found: list[tuple[Node, str]] = []
    _visit(node, False, found)
    findings = []
    for at, message in found:
        line, col = (at.line, at.col) if fix is None else fix.locate(at.line, at.col)
        findings.append(Finding(line, col, message))
    return sorted(findings, key=lambda f: (f.line, f.col))


def _visit(node: Node, in_format: bool, found: list[tuple[Node, str]]) -> None:
    if isinstance(node, CreateList) and not in_format:
        _homogeneous([(e, i in node.optional) for i, e in enumerate(node.elements)], found, first_only=True)
    elif isinstance(node, CreateMap) and not in_format:
        _homogeneous([(e.key, False) for e in node.entries], found, first_only=False)
        _homogeneous([(e.value, e.optional) for e in node.entries], found, first_only=False)
    elif isinstance(node, Call):
        _literal_arguments(node, found)
        if node.function == "bind" and isinstance(node.target, Ident) and node.target.name == "cel":
            found.append((node, "cel.bind is not available in Kubernetes CEL (no bindings extension)"))
    elif isinstance(node, Comprehension) and node.is_bind:
        found.append((node, "cel.bind is not available in Kubernetes CEL (no bindings extension)"))
    elif isinstance(node, CreateStruct) and node.message_name.lstrip(".") in CARRIER_TYPES:
        name = node.message_name.lstrip(".")
        found.append((node, f"'{name}' is not a message type: Kubernetes' {name} is opaque and has no literals"))
    format_call = isinstance(node, Call) and node.function == "format"
    keeps = in_format and isinstance(node, (CreateList, CreateMap))  # cel-go: format's lists and their nested lists
    for child in children(node):
        _visit(child, format_call or keeps, found)


def _homogeneous(items: list[tuple[Node, bool]], found: list[tuple[Node, str]], *, first_only: bool) -> None:
    expected = None
    for item, optional in items:
        if item.type is None:
            return  # a parsed-only AST
        actual = item.type.params[0] if optional and item.type.params else item.type
        if expected is None:
            expected = actual
        elif actual != expected:
            found.append((item, f"expected type '{expected}' but found '{actual}'"))
            if first_only:
                return


def _literal_arguments(call: Call, found: list[tuple[Node, str]]) -> None:
    checks: list[Node] = []
    if call.function in _REGEX_FUNCTIONS:
        checks = list(call.args[:1]) if call.target is not None else list(call.args[:2])
    elif call.function in ("duration", "timestamp") and call.target is None:
        checks = list(call.args[:1])
    for arg in checks:
        if isinstance(arg, Literal):
            problem = _literal_problem(call.function, arg)
            if problem is not None:
                found.append((arg, f"invalid {call.function} argument: {problem}"))


def _literal_problem(function: str, arg: Literal) -> str | None:
    if function in _REGEX_FUNCTIONS:
        if arg.kind != "string":
            return None
        try:
            compile_go(arg.value)
        except BuiltinError as exc:
            return str(exc)
        return None
    if function == "timestamp" and arg.kind == "int":
        return None if _MIN_UNIX <= arg.value <= _MAX_UNIX else "timestamp overflow"
    if arg.kind != "string":
        return None
    try:
        if function == "duration":
            parse_duration(arg.value)
            return None
        unix, _ = parse_layout(_RFC3339, arg.value, lambda _name, _unix: None)
    except GoTimeError as exc:
        return str(exc)
    return None if _MIN_UNIX <= unix <= _MAX_UNIX else "timestamp overflow"


# ---------------------------------------------------------------- cross-type numeric comparisons

_CROSS_TYPE = re.compile(
    r"<input>:(\d+):(\d+): found no matching overload for '_(<|<=|>|>=)_' applied to "
    r"'\((int|uint|double), (int|uint|double)\)'"
)
_ANY_ERROR = re.compile(r"<input>:\d+:\d+: ")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class CrossTypeFix:
    """A rewrite of :attr:`original` into :attr:`text`: ``inserted`` holds
    ``(offset in original, inserted length)`` pairs, in ascending order."""

    text: str
    original: str
    inserted: tuple[tuple[int, int], ...]

    def locate(self, line: int, col: int) -> tuple[int, int]:
        """The position in :attr:`original` of ``line``:``col`` (1-based, code
        points) of :attr:`text`; inside an insertion, the position it was made at."""
        if line <= 0:
            return line, col
        offset = _offset(self.text, line, col)
        original, shift = offset, 0
        for at, length in self.inserted:
            placed = at + shift
            if offset >= placed + length:
                original -= length
            elif offset >= placed:
                original = at
                break
            shift += length
        prefix = self.original[:original]
        return prefix.count("\n") + 1, original - (prefix.rfind("\n") + 1) + 1


def _offset(text: str, line: int, col: int) -> int:
    start = 0
    for _ in range(line - 1):
        start = text.index("\n", start) + 1
    return start + col - 1


def cross_type_literals(text: str, error: str) -> CrossTypeFix | None:
    """``text`` with ``dyn()`` around the right operand of each ordering
    comparison cel-cpp refused for mixed numeric types (``1 < 1.5``,
    ``size(x) >= 1.5``, ``2u > 1``), as Kubernetes accepts them
    (``CrossTypeNumericComparisons``).

    Args:
        text: the user's text.
        error: the text of the ``RuntimeError`` its compilation raised.

    Returns:
        The rewrite, or ``None`` when some error of ``error`` is of another kind
        (report the original error then: its positions are the user's).
    """
    fixes = _CROSS_TYPE.findall(error)
    if not fixes or len(fixes) != len(_ANY_ERROR.findall(error)):
        return None
    starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]
    insertions: list[tuple[int, str]] = []
    for line, col, op, left, right in fixes:
        if left == right or int(line) > len(starts):
            return None
        at = starts[int(line) - 1] + int(col) - 1
        if not text.startswith(op, at):
            return None
        start, end = _operand(text, at + len(op))
        if start >= end:
            return None
        insertions += [(start, "dyn("), (end, ")")]
    insertions.sort(key=lambda x: x[0])
    out, last = [], 0
    for at, piece in insertions:
        out += [text[last:at], piece]
        last = at
    out.append(text[last:])
    return CrossTypeFix("".join(out), text, tuple((at, len(piece)) for at, piece in insertions))


def _operand(text: str, i: int) -> tuple[int, int]:
    """The span of the operand after index ``i``: up to the first token that ends
    a relational operand at depth 0 (``&& || ? : , < > = != in``, a closing
    bracket, the end); operators of higher precedence bind into it."""
    n = len(text)
    depth, start, end = 0, -1, i
    while i < n:
        ch = text[i]
        word = _IDENT.match(text, i)
        if ch.isspace():
            i += 1
            continue
        if text.startswith("//", i):
            newline = text.find("\n", i)
            i = n if newline < 0 else newline
            continue
        if depth == 0 and (
            text.startswith(("&&", "||", "!="), i)
            or ch in ",:<>="
            or (ch == "?" and not text[:i].rstrip().endswith("."))  # not an optional select .?x
            or (word is not None and word.group() == "in")
        ):
            break
        if ch in ")]}":
            if depth == 0:
                break
            depth -= 1
        elif ch in "([{":
            depth += 1
        start = i if start < 0 else start
        if ch in "'\"":
            i = _string_end(text, i)
        elif word is not None:
            i = word.end()
            prefix = word.group().lower()
            if i < n and text[i] in "'\"" and prefix in ("r", "b", "rb", "br"):
                i = _string_end(text, i, raw="r" in prefix)
        else:
            i += 1
        end = i
    return (start if start >= 0 else end), end


def _string_end(text: str, i: int, raw: bool = False) -> int:
    """The index after the string literal whose quote is ``text[i]``."""
    quote = text[i]
    close = quote * 3 if text.startswith(quote * 3, i) else quote
    j = i + len(close)
    while j < len(text):
        if text[j] == "\\" and not raw:
            j += 2
        elif text.startswith(close, j):
            return j + len(close)
        else:
            j += 1
    return len(text)
