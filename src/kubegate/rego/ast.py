"""The Rego abstract syntax tree: frozen dataclasses with source locations.

The shapes follow OPA's AST (https://pkg.go.dev/github.com/open-policy-agent/opa/v1/ast)
closely enough that OPA's documentation explains them, with two deliberate
differences that keep the printer simple: infix operators stay
:class:`InfixCall` nodes (OPA turns them into calls to ``plus``, ``equal`` ...),
and membership (``x in xs``, ``k, v in xs``) is its own :class:`Member` node.

Every node has a ``loc`` that is excluded from equality, so two trees that print
the same compare equal whatever file they came from.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, TypeAlias
from typing import Literal as TypingLiteral

from kubegate.errors import Location

__all__ = [
    "INFIX_PRECEDENCE",
    "Annotations",
    "ArrayCompr",
    "ArrayTerm",
    "Assign",
    "Body",
    "Call",
    "ElseClause",
    "Every",
    "Expression",
    "Import",
    "InfixCall",
    "Literal",
    "Member",
    "Module",
    "ObjectCompr",
    "ObjectTerm",
    "Package",
    "Ref",
    "RegoVersion",
    "Rule",
    "RuleHead",
    "Scalar",
    "SetCompr",
    "SetTerm",
    "SomeDecl",
    "SomeIn",
    "Term",
    "Var",
    "With",
    "data_prefix",
    "shallow_nodes",
]

RegoVersion: TypeAlias = TypingLiteral["v0", "v1"]

_LOC = field(default=None, compare=False, repr=False)


# ---------------------------------------------------------------- terms


@dataclass(frozen=True, slots=True)
class Scalar:
    """A string, number, boolean or null literal.

    ``text`` keeps a number's source spelling so printing never loses precision.
    """

    value: str | int | float | bool | None
    text: str | None = None
    loc: Location | None = _LOC


@dataclass(frozen=True, slots=True)
class Var:
    """A variable; ``_`` is the wildcard."""

    name: str
    loc: Location | None = _LOC

    @property
    def is_wildcard(self) -> bool:
        return self.name == "_"


@dataclass(frozen=True, slots=True)
class Ref:
    """A reference ``head.a[b]...``.

    ``head`` is a :class:`Var` (``input``, ``data``, a local) or a collection,
    comprehension or :class:`Call` term; ``path`` holds one term per segment,
    dot segments as string :class:`Scalar` s.
    """

    head: Term
    path: tuple[Term, ...]
    loc: Location | None = _LOC


@dataclass(frozen=True, slots=True)
class Call:
    """A function call ``f(args)``; ``func`` is the dotted name as a tuple."""

    func: tuple[str, ...]
    args: tuple[Term, ...]
    loc: Location | None = _LOC

    @property
    def name(self) -> str:
        return ".".join(self.func)


# Precedence of infix operators, lowest first (OPA's parser: parseTermIn ->
# parseTermRelation -> parseTermOr -> parseTermAnd -> parseTermArith ->
# parseTermFactor).
INFIX_PRECEDENCE: dict[str, int] = {
    "in": 1,
    "==": 2,
    "!=": 2,
    "<": 2,
    ">": 2,
    "<=": 2,
    ">=": 2,
    "|": 3,
    "&": 4,
    "+": 5,
    "-": 5,
    "*": 6,
    "/": 6,
    "%": 6,
}


@dataclass(frozen=True, slots=True)
class InfixCall:
    """A binary operator application ``lhs op rhs``."""

    op: str
    lhs: Term
    rhs: Term
    loc: Location | None = _LOC


@dataclass(frozen=True, slots=True)
class Member:
    """Membership ``value in collection`` or ``key, value in collection``."""

    key: Term | None
    value: Term
    collection: Term
    loc: Location | None = _LOC


@dataclass(frozen=True, slots=True)
class ArrayTerm:
    items: tuple[Term, ...]
    loc: Location | None = _LOC


@dataclass(frozen=True, slots=True)
class SetTerm:
    """A set literal; ``set()`` is the empty set."""

    items: tuple[Term, ...]
    loc: Location | None = _LOC


@dataclass(frozen=True, slots=True)
class ObjectTerm:
    items: tuple[tuple[Term, Term], ...]
    loc: Location | None = _LOC


@dataclass(frozen=True, slots=True)
class ArrayCompr:
    head: Term
    body: Body
    loc: Location | None = _LOC


@dataclass(frozen=True, slots=True)
class SetCompr:
    head: Term
    body: Body
    loc: Location | None = _LOC


@dataclass(frozen=True, slots=True)
class ObjectCompr:
    key: Term
    value: Term
    body: Body
    loc: Location | None = _LOC


Term: TypeAlias = (
    Scalar
    | Var
    | Ref
    | Call
    | InfixCall
    | Member
    | ArrayTerm
    | SetTerm
    | ObjectTerm
    | ArrayCompr
    | SetCompr
    | ObjectCompr
)


# ---------------------------------------------------------------- expressions


@dataclass(frozen=True, slots=True)
class Assign:
    """``lhs := rhs`` (``op == ":="``) or unification ``lhs = rhs``."""

    op: str
    lhs: Term
    rhs: Term
    loc: Location | None = _LOC


@dataclass(frozen=True, slots=True)
class SomeDecl:
    """``some x, y``: declares local variables."""

    vars: tuple[Var, ...]
    loc: Location | None = _LOC


@dataclass(frozen=True, slots=True)
class SomeIn:
    """``some x in xs`` / ``some k, v in xs``."""

    key: Term | None
    value: Term
    domain: Term
    loc: Location | None = _LOC


@dataclass(frozen=True, slots=True)
class Every:
    """``every [k,] v in domain { body }``."""

    key: Var | None
    value: Var
    domain: Term
    body: Body
    loc: Location | None = _LOC


Expression: TypeAlias = Term | Assign | SomeDecl | SomeIn | Every


@dataclass(frozen=True, slots=True)
class With:
    """``with target as value``."""

    target: Term
    value: Term
    loc: Location | None = _LOC


@dataclass(frozen=True, slots=True)
class Literal:
    """One statement of a body: an expression, maybe negated, with modifiers."""

    expr: Expression
    negated: bool = False
    withs: tuple[With, ...] = ()
    loc: Location | None = _LOC


Body: TypeAlias = tuple[Literal, ...]


# ---------------------------------------------------------------- module level


@dataclass(frozen=True, slots=True)
class Annotations:
    """A parsed ``# METADATA`` block (https://www.openpolicyagent.org/docs/latest/policy-language/#annotations).

    ``scope`` is ``package``, ``rule``, ``document`` or ``subpackages``;
    ``raw`` keeps every key of the YAML block, including ones kubegate does not
    interpret. ``custom`` is the ``custom:`` mapping (``id``, ``enforcement``...).
    """

    scope: str
    title: str | None
    description: str | None
    custom: dict[str, Any]
    raw: dict[str, Any]
    entrypoint: bool = False
    loc: Location | None = _LOC


@dataclass(frozen=True, slots=True)
class RuleHead:
    """A rule head.

    Attributes:
        ref: the rule's reference: ``Ref(Var("p"), ())`` for ``p``,
            ``Ref(Var("p"), (Var("k"),))`` for ``p[k] := v``, ``a.b.c`` for ref heads.
        args: function arguments, ``None`` for non-functions.
        key: the element of a multi-value (partial set) rule: ``p contains key``
            and v0 ``p[key] { ... }``.
        value: the value, ``None`` when implicitly ``true`` (or for ``contains``).
        assign: ``":="`` or ``"="`` when a value was written.
    """

    ref: Ref
    args: tuple[Term, ...] | None = None
    key: Term | None = None
    value: Term | None = None
    assign: str | None = None
    loc: Location | None = _LOC

    @property
    def name(self) -> str:
        """The first name of the ref (``p`` in ``p.q[r]``)."""
        head = self.ref.head
        return head.name if isinstance(head, Var) else "?"

    @property
    def is_multi_value(self) -> bool:
        return self.key is not None


@dataclass(frozen=True, slots=True)
class ElseClause:
    """``else [= value] [if] { body }``; chains through ``else_``."""

    value: Term | None
    assign: str | None
    body: Body | None
    has_if: bool
    else_: ElseClause | None = None
    loc: Location | None = _LOC


@dataclass(frozen=True, slots=True)
class Rule:
    """A rule: ``head`` plus optional body and ``else`` chain.

    ``body`` is ``None`` when the rule has none (``p := 1``, ``p contains "x"``).
    ``has_if`` records whether ``if`` was written (v1 style). A v0 rule with several
    bodies (``p { a } { b }``) is parsed, like OPA does, into several rules that
    share the head.
    """

    head: RuleHead
    body: Body | None
    has_if: bool = False
    default: bool = False
    else_: ElseClause | None = None
    annotations: Annotations | None = None
    loc: Location | None = _LOC


@dataclass(frozen=True, slots=True)
class Package:
    path: tuple[str, ...]
    annotations: Annotations | None = None
    loc: Location | None = _LOC

    @property
    def dotted(self) -> str:
        return ".".join(self.path)


@dataclass(frozen=True, slots=True)
class Import:
    """``import path [as alias]``; ``path`` is the dotted path including the root."""

    path: tuple[str, ...]
    alias: str | None = None
    loc: Location | None = _LOC


@dataclass(frozen=True, slots=True)
class Module:
    """A parsed Rego module.

    ``version`` is the syntax the module was written in (declared or detected);
    the normalised form the backend sees is always v1.
    """

    package: Package
    imports: tuple[Import, ...]
    rules: tuple[Rule, ...]
    version: RegoVersion
    file: str
    annotations: tuple[Annotations, ...] = ()
    loc: Location | None = _LOC

    @property
    def package_annotations(self) -> Annotations | None:
        return self.package.annotations


# ---------------------------------------------------------------- traversal


def shallow_nodes(node: object) -> Iterator[object]:
    """Every term and expression in ``node`` (a node or nested tuples/lists of
    them), without entering comprehension bodies; comprehensions themselves are
    yielded. Order is depth-first, last child first."""
    stack: list[object] = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, tuple | list):
            stack.extend(item)
            continue
        yield item
        if isinstance(item, Ref):
            stack.extend([item.head, item.path])
        elif isinstance(item, Call):
            stack.append(item.args)
        elif isinstance(item, InfixCall | Assign):
            stack.extend([item.lhs, item.rhs])
        elif isinstance(item, Member):
            stack.extend([item.key, item.value, item.collection])
        elif isinstance(item, ArrayTerm | SetTerm):
            stack.append(item.items)
        elif isinstance(item, ObjectTerm):
            stack.append([x for pair in item.items for x in pair])
        elif isinstance(item, SomeIn):
            stack.extend([item.key, item.value, item.domain])
        elif isinstance(item, Every):
            stack.append(item.domain)
        elif isinstance(item, Literal):
            stack.append(item.expr)


def data_prefix(ref: Ref) -> tuple[str, ...] | None:
    """The constant path after ``data`` of a ``data`` reference
    (``data.lib.x[i].y`` -> ``("lib", "x")``), or ``None`` for other refs."""
    if not (isinstance(ref.head, Var) and ref.head.name == "data"):
        return None
    names: list[str] = []
    for seg in ref.path:
        if not (isinstance(seg, Scalar) and isinstance(seg.value, str)):
            break
        names.append(seg.value)
    return tuple(names)
