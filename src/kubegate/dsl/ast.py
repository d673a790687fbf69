"""The DSL's abstract syntax tree: frozen dataclasses, each with its source location.

A file is a :class:`Module` of :class:`Param` declarations and :class:`Rule` s.
A rule's ``WHEN`` is a :data:`Condition` tree over :data:`Operand` s; its
``THEN`` is a list of :data:`Action` s. Messages are :class:`Template` s:
literal text and ``{operand}`` interpolations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal as TypingLiteral
from typing import TypeAlias

from kubegate.errors import Location

__all__ = [
    "Action",
    "All",
    "And",
    "Any_",
    "Call",
    "Compare",
    "Condition",
    "Constant",
    "Exists",
    "Hook",
    "ListOperand",
    "Matches",
    "Member",
    "Module",
    "Not",
    "Operand",
    "Or",
    "Param",
    "ParamType",
    "Path",
    "Rule",
    "Segment",
    "StringTest",
    "Template",
    "Truthy",
    "Verdict",
]

_LOC = field(default=None, compare=False, repr=False)

ConstantKind = TypingLiteral["string", "number", "quantity", "boolean", "null"]


# ---------------------------------------------------------------- operands


@dataclass(frozen=True, slots=True)
class Constant:
    """A literal. ``value`` is the parsed value (a quantity is its amount in base
    units: ``2Gi`` -> 2147483648, ``500m`` -> 0.5); ``text`` is the source spelling."""

    kind: ConstantKind
    value: str | Decimal | bool | None
    text: str
    loc: Location | None = _LOC


@dataclass(frozen=True, slots=True)
class Segment:
    """One step of a path: ``.name`` or ``["key"]`` (``key`` str) or ``[0]`` (``key`` int)."""

    key: str | int
    dotted: bool
    loc: Location | None = _LOC


@dataclass(frozen=True, slots=True)
class Path:
    """``root.a["b"][0]``: a root name (a built-in root, a parameter or a bound variable) and segments."""

    root: str
    segments: tuple[Segment, ...]
    loc: Location | None = _LOC

    def text(self) -> str:
        out = self.root
        for seg in self.segments:
            if seg.dotted:
                out += f".{seg.key}"
            elif isinstance(seg.key, int):
                out += f"[{seg.key}]"
            else:
                out += f'["{seg.key}"]'
        return out


@dataclass(frozen=True, slots=True)
class Call:
    """A function: ``len(x)``, ``lower(x)``, ``coalesce(a, b)``..."""

    name: str
    args: tuple[Operand, ...]
    loc: Location | None = _LOC


@dataclass(frozen=True, slots=True)
class ListOperand:
    """``[a, b, c]``."""

    items: tuple[Operand, ...]
    loc: Location | None = _LOC


Operand: TypeAlias = Path | Call | Constant | ListOperand


# ---------------------------------------------------------------- conditions


@dataclass(frozen=True, slots=True)
class Compare:
    """``left op right`` with ``op`` one of ``== != < <= > >=``."""

    op: str
    left: Operand
    right: Operand
    loc: Location | None = _LOC


@dataclass(frozen=True, slots=True)
class Member:
    """``left [NOT] IN (a, b)`` (``items``) or ``left [NOT] IN operand`` (``collection``)."""

    left: Operand
    items: tuple[Operand, ...] | None
    collection: Operand | None
    negated: bool
    loc: Location | None = _LOC


@dataclass(frozen=True, slots=True)
class Matches:
    """``left [NOT] MATCHES pattern`` (RE2 syntax, as OPA's ``regex.match``)."""

    left: Operand
    pattern: Operand
    negated: bool
    loc: Location | None = _LOC


@dataclass(frozen=True, slots=True)
class StringTest:
    """``left [NOT] STARTS WITH | ENDS WITH | CONTAINS right``."""

    op: TypingLiteral["starts_with", "ends_with", "contains"]
    left: Operand
    right: Operand
    negated: bool
    loc: Location | None = _LOC


@dataclass(frozen=True, slots=True)
class Exists:
    """``operand EXISTS`` (``present`` true) or ``operand MISSING``."""

    operand: Operand
    present: bool
    loc: Location | None = _LOC


@dataclass(frozen=True, slots=True)
class Truthy:
    """A boolean operand used as a condition: ``c.securityContext.privileged``."""

    operand: Operand
    loc: Location | None = _LOC


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Condition, ...]
    loc: Location | None = _LOC


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Condition, ...]
    loc: Location | None = _LOC


@dataclass(frozen=True, slots=True)
class Not:
    item: Condition
    loc: Location | None = _LOC


@dataclass(frozen=True, slots=True)
class Any_:
    """``ANY binder var: body``. ``binder`` is ``container`` / ``initContainer`` /
    ``ephemeralContainer`` for the named forms, ``None`` with ``domain`` for ``ANY x IN path``."""

    var: str
    binder: str | None
    domain: Operand | None
    body: Condition
    loc: Location | None = _LOC


@dataclass(frozen=True, slots=True)
class All:
    """``ALL binder var: body`` (true for an empty or missing list)."""

    var: str
    binder: str | None
    domain: Operand | None
    body: Condition
    loc: Location | None = _LOC


Condition: TypeAlias = Compare | Member | Matches | StringTest | Exists | Truthy | And | Or | Not | Any_ | All


# ---------------------------------------------------------------- actions and rules


@dataclass(frozen=True, slots=True)
class Template:
    """A message: ``parts`` alternate literal text (str) and interpolated operands."""

    parts: tuple[str | Operand, ...]
    text: str
    loc: Location | None = _LOC


@dataclass(frozen=True, slots=True)
class Verdict:
    """``DENY(msg)`` / ``WARN(msg)`` / ``AUDIT(msg)``."""

    kind: TypingLiteral["DENY", "WARN", "AUDIT"]
    message: Template
    loc: Location | None = _LOC


@dataclass(frozen=True, slots=True)
class Hook:
    """``CALL name(args)``: an action hook registered from Python, run after the decision."""

    name: str
    args: tuple[Operand | Template, ...]
    loc: Location | None = _LOC


Action: TypeAlias = Verdict | Hook


@dataclass(frozen=True, slots=True)
class ParamType:
    """``string``, ``int``, ``number``, ``bool``, ``quantity`` or ``list[T]``."""

    name: str
    item: ParamType | None = None
    loc: Location | None = _LOC

    def text(self) -> str:
        return f"{self.name}[{self.item.text()}]" if self.item is not None else self.name


@dataclass(frozen=True, slots=True)
class Param:
    """``PARAM name: type [= default]``."""

    name: str
    type: ParamType
    default: Constant | tuple[Constant, ...] | None
    loc: Location | None = _LOC


@dataclass(frozen=True, slots=True)
class Rule:
    """``RULE id ON kinds [SEVERITY s] [DESCRIPTION d] [IN|EXCEPT NAMESPACES (...)] [ROLLOUT ...]
    WHEN cond THEN actions``; ``rollout`` is ``"canary 10%"``, ``"canary 10% by namespace"``,
    ``"shadow"`` or ``""``."""

    id: str
    kinds: tuple[tuple[str, Location | None], ...]
    severity: str
    description: str
    namespaces: tuple[str, ...]
    excluded_namespaces: tuple[str, ...]
    when: Condition
    actions: tuple[Action, ...]
    loc: Location | None = _LOC
    severity_loc: Location | None = field(default=None, compare=False, repr=False)
    rollout: str = ""


@dataclass(frozen=True, slots=True)
class Module:
    """One DSL file."""

    file: str
    params: tuple[Param, ...]
    rules: tuple[Rule, ...]
    source: str = field(default="", compare=False, repr=False)
