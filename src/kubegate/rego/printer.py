"""Print an AST as Rego v1 text.

The output is what the backend compiles, so it is always v1 syntax whatever the
module was written in: ``if`` before every body, ``contains`` for multi-value
rules, keywords never used as names. It is also meant to be read (``kubegate
compile`` shows it): one literal per line inside rule bodies, nested bodies on
one line separated by ``;``.

:func:`print_module` also returns a line map so an error the backend reports at
a line of the printed text can be traced to the original source location.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from kubegate.errors import Location
from kubegate.rego import ast

__all__ = ["V1_KEYWORDS", "PrintedModule", "print_body", "print_module", "print_term"]

V1_KEYWORDS = frozenset(
    {
        "as",
        "contains",
        "default",
        "else",
        "every",
        "false",
        "if",
        "import",
        "in",
        "not",
        "null",
        "package",
        "some",
        "true",
        "with",
    }
)
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_KV_MEMBER_PRECEDENCE = 0


@dataclass(frozen=True)
class PrintedModule:
    """Printed text plus, for each 1-based output line, the source location it came from."""

    text: str
    line_map: dict[int, Location] = field(default_factory=dict)

    def source_location(self, line: int) -> Location | None:
        """The original location for an output ``line`` (nearest mapped line at or above)."""
        for candidate in range(line, 0, -1):
            loc = self.line_map.get(candidate)
            if loc is not None:
                return loc
        return None


def _string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _scalar(term: ast.Scalar) -> str:
    value = term.value
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return _string(value)
    if term.text is not None:
        return term.text
    return repr(value)


def _precedence(term: ast.Term) -> int:
    if isinstance(term, ast.InfixCall):
        return ast.INFIX_PRECEDENCE[term.op]
    if isinstance(term, ast.Member):
        return _KV_MEMBER_PRECEDENCE if term.key is not None else ast.INFIX_PRECEDENCE["in"]
    return 100


def _item(term: ast.Term) -> str:
    """A term inside a collection, call or comprehension: parenthesise anything
    that could be re-read differently there (``|`` as a comprehension bar,
    ``k, v in xs`` as two items)."""
    text = print_term(term)
    if isinstance(term, ast.Member) and term.key is not None:
        return f"({text})"
    if isinstance(term, ast.InfixCall) and term.op == "|":
        return f"({text})"
    return text


def _bare(term: ast.Term) -> str:
    """A term where only a plain term is allowed (comprehension heads, ref heads)."""
    text = print_term(term)
    if isinstance(term, (ast.InfixCall, ast.Member)):
        return f"({text})"
    return text


def _ref(term: ast.Ref) -> str:
    out = [_bare(term.head)]
    for seg in term.path:
        if (
            isinstance(seg, ast.Scalar)
            and isinstance(seg.value, str)
            and _IDENT.match(seg.value)
            and seg.value not in V1_KEYWORDS
        ):
            out.append("." + seg.value)
        else:
            out.append("[" + print_term(seg) + "]")
    return "".join(out)


def print_term(term: ast.Term) -> str:
    """Prints one term as Rego v1."""
    if isinstance(term, ast.Scalar):
        return _scalar(term)
    if isinstance(term, ast.Var):
        return term.name
    if isinstance(term, ast.Ref):
        return _ref(term)
    if isinstance(term, ast.Call):
        return f"{'.'.join(term.func)}({', '.join(_item(a) for a in term.args)})"
    if isinstance(term, ast.InfixCall):
        prec = ast.INFIX_PRECEDENCE[term.op]
        lhs = print_term(term.lhs)
        rhs = print_term(term.rhs)
        if _precedence(term.lhs) < prec:
            lhs = f"({lhs})"
        if _precedence(term.rhs) <= prec:
            rhs = f"({rhs})"
        return f"{lhs} {term.op} {rhs}"
    if isinstance(term, ast.Member):
        prec = ast.INFIX_PRECEDENCE["in"]
        value = print_term(term.value)
        coll = print_term(term.collection)
        if _precedence(term.value) <= prec:
            value = f"({value})"
        if _precedence(term.collection) <= prec:
            coll = f"({coll})"
        if term.key is not None:
            key = print_term(term.key)
            if _precedence(term.key) <= prec:
                key = f"({key})"
            return f"{key}, {value} in {coll}"
        return f"{value} in {coll}"
    if isinstance(term, ast.ArrayTerm):
        return "[" + ", ".join(_item(i) for i in term.items) + "]"
    if isinstance(term, ast.SetTerm):
        if not term.items:
            return "set()"
        return "{" + ", ".join(_item(i) for i in term.items) + "}"
    if isinstance(term, ast.ObjectTerm):
        return "{" + ", ".join(f"{_item(k)}: {_item(v)}" for k, v in term.items) + "}"
    if isinstance(term, ast.ArrayCompr):
        return f"[{_bare(term.head)} | {print_body(term.body)}]"
    if isinstance(term, ast.SetCompr):
        return f"{{{_bare(term.head)} | {print_body(term.body)}}}"
    if isinstance(term, ast.ObjectCompr):
        return f"{{{_item(term.key)}: {_bare(term.value)} | {print_body(term.body)}}}"
    raise TypeError(f"not a term: {term!r}")  # pragma: no cover


def _side(term: ast.Term) -> str:
    text = print_term(term)
    if isinstance(term, ast.Member) and term.key is not None:
        return f"({text})"
    return text


def print_expression(expr: ast.Expression) -> str:
    if isinstance(expr, ast.Assign):
        return f"{_side(expr.lhs)} {expr.op} {_side(expr.rhs)}"
    if isinstance(expr, ast.SomeDecl):
        return "some " + ", ".join(v.name for v in expr.vars)
    if isinstance(expr, ast.SomeIn):
        lhs = print_term(expr.value) if expr.key is None else f"{print_term(expr.key)}, {print_term(expr.value)}"
        return f"some {lhs} in {_bare_domain(expr.domain)}"
    if isinstance(expr, ast.Every):
        lhs = expr.value.name if expr.key is None else f"{expr.key.name}, {expr.value.name}"
        return f"every {lhs} in {_bare_domain(expr.domain)} {{ {print_body(expr.body)} }}"
    return print_term(expr)


def _bare_domain(term: ast.Term) -> str:
    text = print_term(term)
    if isinstance(term, ast.Member):
        return f"({text})"
    return text


def print_literal(lit: ast.Literal) -> str:
    text = print_expression(lit.expr)
    if lit.negated:
        text = "not " + text
    for w in lit.withs:
        text += f" with {print_term(w.target)} as {_side(w.value)}"
    return text


def print_body(body: ast.Body) -> str:
    """Prints a body on one line, literals separated by ``; ``."""
    return "; ".join(print_literal(lit) for lit in body)


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.line_map: dict[int, Location] = {}

    def emit(self, text: str, loc: Location | None = None) -> None:
        for part in text.split("\n"):
            self.lines.append(part)
            if loc is not None:
                self.line_map[len(self.lines)] = loc
                loc = None


def _head_text(head: ast.RuleHead) -> str:
    text = _ref(head.ref)
    if head.args is not None:
        text += "(" + ", ".join(_item(a) for a in head.args) + ")"
    if head.key is not None:
        text += f" contains {_side(head.key)}"
    elif head.value is not None:
        text += f" {head.assign or '='} {_side(head.value)}"
    return text


def _write_body(w: _Writer, prefix: str, body: ast.Body, loc: Location | None) -> None:
    w.emit(prefix + " if {", loc)
    for lit in body:
        w.emit("\t" + print_literal(lit), lit.loc)


def _write_rule(w: _Writer, rule: ast.Rule) -> None:
    if rule.default:
        w.emit(f"default {_head_text(rule.head)}", rule.loc)
        return
    head = _head_text(rule.head)
    if rule.body is None:
        w.emit(head, rule.loc)
    else:
        _write_body(w, head, rule.body, rule.loc)
    chain = rule.else_
    closing = "}" if rule.body is not None else ""
    while chain is not None:
        value = f" {chain.assign or '='} {_side(chain.value)}" if chain.value is not None else " = true"
        if chain.body is None:
            w.emit(f"{closing} else{value}".lstrip(), chain.loc)
            closing = ""
        else:
            _write_body(w, f"{closing} else{value}".lstrip(), chain.body, chain.loc)
            closing = "}"
        chain = chain.else_
    if closing:
        w.emit(closing)


def _write_annotations(w: _Writer, annotations: ast.Annotations | None) -> None:
    """``# METADATA`` followed by the annotation's YAML, one comment line each."""
    if annotations is None or not annotations.raw:
        return
    import yaml  # only for printing annotations, which the backend never needs

    w.emit("# METADATA")
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    text = yaml.dump(annotations.raw, Dumper=dumper, sort_keys=False, allow_unicode=True, width=100)
    for line in text.rstrip("\n").splitlines():
        w.emit(f"# {line}".rstrip())


def print_module(
    module: ast.Module,
    *,
    package: tuple[str, ...] | None = None,
    annotations: bool = False,
    rego_v1_import: bool = False,
) -> PrintedModule:
    """Prints ``module`` as Rego v1.

    Args:
        module: the (normalised) module.
        package: print this package path instead of the module's own.
        annotations: also print the package's and rules' ``# METADATA``
            blocks (their ``raw`` YAML), for output meant to be read or used
            with other tools; the backend does not need them.
        rego_v1_import: start with ``import rego.v1`` so OPA 0.x reads the
            output as v1 too.

    ``future.keywords`` and ``rego.v1`` imports are dropped: v1 has them built in.
    """
    w = _Writer()
    if annotations:
        _write_annotations(w, module.package.annotations)
    w.emit("package " + _package_path(package or module.package.path), module.package.loc)
    imports = [i for i in module.imports if i.path[:1] not in (("future",), ("rego",))]
    if rego_v1_import:
        imports.insert(0, ast.Import(("rego", "v1")))
    if imports:
        w.emit("")
    for imp in imports:
        text = "import " + _package_path(imp.path)
        if imp.alias:
            text += f" as {imp.alias}"
        w.emit(text, imp.loc)
    for rule in module.rules:
        w.emit("")
        if annotations:
            _write_annotations(w, rule.annotations)
        _write_rule(w, rule)
    return PrintedModule("\n".join(w.lines) + "\n", w.line_map)


def _package_path(path: tuple[str, ...]) -> str:
    out = [path[0]]
    for part in path[1:]:
        if _IDENT.match(part) and part not in V1_KEYWORDS:
            out.append("." + part)
        else:
            out.append("[" + _string(part) + "]")
    return "".join(out)
