"""Check DSL rules against Kubernetes schemas before any Rego is generated.

Every finding is a :class:`~kubegate.dsl.parser.DslError` with a stable code,
file:line:col and a snippet; one run reports all of them:

``dsl_missing_on``, ``dsl_unknown_kind``, ``dsl_no_pod_template``
    a rule without ``ON``, a kind that is neither built in nor a loaded CRD,
    a container binder or ``pod`` on a kind without pods;
``dsl_unknown_field``
    a field the schema does not have (with a did-you-mean);
``dsl_type_mismatch``
    string vs number, quantity vs plain number, ordering booleans, a list
    used as a scalar, a parameter default of the wrong type...;
``dsl_enum_value``
    a value outside an enumerated field's values (``seccompProfile.type``);
``dsl_never_true``
    comparisons the schema makes impossible (an integer field equal to 1.5,
    ``kind == "Service"`` in a rule ``ON Pod``, ``len(x) < 0``);
``dsl_unbound_name``
    a name that is neither a root, a parameter nor a bound variable, in a
    condition or a message (a variable bound by ``ALL``, under ``NOT`` or in
    only some ``OR`` branches cannot be named in a message);
``dsl_duplicate_rule``, ``dsl_duplicate_param``, ``dsl_shadowed_name``,
``dsl_unknown_function``, ``dsl_unknown_type``, ``dsl_invalid_severity``,
``dsl_missing_verdict``, ``dsl_invalid_regex``.

A rule ``ON`` several kinds is checked once per kind; a field must exist in
every one of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from kubegate.dsl import ast
from kubegate.dsl.parser import DslError
from kubegate.dsl.schema import ANY, STRING, KindInfo, SchemaSet, Type, closest
from kubegate.errors import Location

__all__ = ["BINDERS", "POD_KINDS", "ROOTS", "RuleInfo", "check_module", "param_type"]

SEVERITIES = ("low", "medium", "high", "critical")
POD_KINDS = frozenset(
    {"Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job", "CronJob"}
)
BINDERS = {
    "container": "io.k8s.api.core.v1.Container",
    "initContainer": "io.k8s.api.core.v1.Container",
    "ephemeralContainer": "io.k8s.api.core.v1.EphemeralContainer",
}
ROOTS = (
    "object",
    "old",
    "metadata",
    "spec",
    "pod",
    "labels",
    "annotations",
    "namespace",
    "name",
    "kind",
    "operation",
    "user",
    "groups",
    "namespaceObject",
)
FUNCTIONS = (
    "len",
    "lower",
    "upper",
    "number",
    "floor",
    "ceil",
    "max",
    "min",
    "quantity",
    "coalesce",
    "image_verified",
    "image_reason",
)
_PARAM_TYPES = {"string": "string", "int": "integer", "number": "number", "bool": "boolean", "quantity": "quantity"}
_ORDERING = frozenset({"<", "<=", ">", ">="})


@dataclass
class RuleInfo:
    """What the checker learned about a rule, for the code generator.

    Attributes:
        rule: the rule.
        kinds: the resolved ``ON`` kinds.
        types: ``id(operand)`` -> its type (the first kind's when kinds disagree).
        witnesses: variables a message may name (bound by ``ANY`` on every path).
        binder_vars: variables bound by a container binder.
    """

    rule: ast.Rule
    kinds: list[KindInfo]
    types: dict[int, Type] = field(default_factory=dict)
    witnesses: set[str] = field(default_factory=set)
    binder_vars: set[str] = field(default_factory=set)
    ok: bool = True


def param_type(p: ast.ParamType) -> Type | None:
    """The DSL type of a parameter type, ``None`` when the name is unknown."""
    if p.name == "list":
        item = param_type(p.item) if p.item is not None else None
        return Type("list", "list", item=item) if item is not None else None
    kind = _PARAM_TYPES.get(p.name)
    return Type(kind, p.name) if kind is not None and p.item is None else None  # type: ignore[arg-type]


def _constant_type(c: ast.Constant) -> Type:
    if c.kind == "number":
        assert isinstance(c.value, Decimal)
        return Type("integer" if c.value == c.value.to_integral_value() else "number", "number")
    if c.kind == "boolean":
        return Type("boolean", "boolean")
    return Type(c.kind, c.kind)


def _numeric(t: Type) -> bool:
    return t.kind in ("integer", "number", "any", "int-or-string")


def _stringish(t: Type) -> bool:
    return t.kind in ("string", "any", "int-or-string")


def _compatible(a: Type, b: Type) -> bool:
    """Whether ``==`` between values of these types can be true."""
    if "any" in (a.kind, b.kind) or "null" in (a.kind, b.kind):
        return True
    kinds = {a.kind, b.kind}
    if kinds <= {"integer", "number"}:
        return True
    if "int-or-string" in kinds:
        return kinds <= {"int-or-string", "string", "integer", "number"}
    if kinds == {"quantity", "string"}:
        return True  # "2Gi" compared as text
    if kinds <= {"map", "object"}:
        return True
    return a.kind == b.kind


class _Env:
    def __init__(self, kind: KindInfo, params: Mapping[str, Type]) -> None:
        self.kind = kind
        self.params = params
        self.vars: dict[str, Type] = {}


class Checker:
    """Checks one module; collects diagnostics instead of stopping at the first."""

    def __init__(self, schemas: SchemaSet, module: ast.Module) -> None:
        self.schemas = schemas
        self.module = module
        self.errors: list[DslError] = []
        self._seen: set[tuple[str, int, int]] = set()
        self._info: RuleInfo | None = None
        self._var_types: dict[str, Type] = {}

    # ---- diagnostics
    def error(self, code: str, message: str, loc: Location | None) -> None:
        key = (code, loc.line if loc else 0, loc.column if loc else 0)
        if key in self._seen:
            return
        self._seen.add(key)
        self.errors.append(DslError(message, loc or Location(self.module.file), code=code))
        if self._info is not None:
            self._info.ok = False

    # ---- module
    def params(self) -> dict[str, Type]:
        out: dict[str, Type] = {}
        for p in self.module.params:
            if p.name in out:
                self.error("dsl_duplicate_param", f"parameter {p.name} is declared twice", p.loc)
                continue
            if p.name in ROOTS or p.name in BINDERS:
                self.error("dsl_shadowed_name", f"parameter {p.name} hides the built-in name {p.name}", p.loc)
            t = param_type(p.type)
            if t is None:
                self.error(
                    "dsl_unknown_type",
                    f"unknown parameter type {p.type.text()}; use string, int, number, bool, quantity or list[T]",
                    p.type.loc or p.loc,
                )
                t = ANY
            if p.default is not None:
                self._check_default(p, t)
            out[p.name] = t
        return out

    def _check_default(self, p: ast.Param, t: Type) -> None:
        values = p.default if isinstance(p.default, tuple) else (p.default,)
        if isinstance(p.default, tuple) != (t.kind == "list"):
            self.error("dsl_type_mismatch", f"default of {p.name} must be a {t.describe()}", p.loc)
            return
        expected = t.item if t.kind == "list" and t.item else t
        for value in values:
            assert isinstance(value, ast.Constant)
            if not _compatible(expected, _constant_type(value)) or (
                expected.kind == "quantity" and value.kind == "number"
            ):
                self.error(
                    "dsl_type_mismatch",
                    f"default {value.text} of {p.name} is not a {expected.describe()}",
                    value.loc or p.loc,
                )

    def rule(self, rule: ast.Rule, params: Mapping[str, Type]) -> RuleInfo:
        info = RuleInfo(rule, [])
        self._info = info
        if not rule.kinds:
            self.error("dsl_missing_on", f"rule {rule.id} has no ON clause: name the kinds it applies to", rule.loc)
        for name, loc in rule.kinds:
            found = self.schemas.kind(name)
            if found is None:
                hint = closest(name, self.schemas.kind_names())
                extra = f"; did you mean {hint}?" if hint else " (load its CustomResourceDefinition with --crd)"
                self.error(
                    "dsl_unknown_kind",
                    f"unknown kind {name} for Kubernetes {self.schemas.version}{extra}",
                    loc,
                )
            else:
                info.kinds.append(found)
        if rule.severity and rule.severity not in SEVERITIES:
            self.error(
                "dsl_invalid_severity",
                f"severity {rule.severity} is not one of {', '.join(SEVERITIES)}",
                rule.severity_loc or rule.loc,
            )
        verdicts = [a for a in rule.actions if isinstance(a, ast.Verdict)]
        if len(verdicts) != 1:
            self.error(
                "dsl_missing_verdict",
                f"rule {rule.id} needs exactly one DENY, WARN or AUDIT action (has {len(verdicts)})",
                rule.loc,
            )
        info.witnesses = _witnesses(rule.when)
        for kind in info.kinds or [KindInfo("?", "", "", ANY)]:
            env = _Env(kind, params)
            self._var_types = {}
            self.condition(rule.when, env)
            env.vars = {v: self._var_types.get(v, ANY) for v in info.witnesses}
            for action in rule.actions:
                self.action(action, env, rule.when)
        self._info = None
        return info

    # ---- conditions
    def condition(self, cond: ast.Condition, env: _Env) -> None:
        if isinstance(cond, ast.And | ast.Or):
            for item in cond.items:
                self.condition(item, env)
        elif isinstance(cond, ast.Not):
            self.condition(cond.item, env)
        elif isinstance(cond, ast.Any_ | ast.All):
            self.quantified(cond, env)
        elif isinstance(cond, ast.Compare):
            self.compare(cond, env)
        elif isinstance(cond, ast.Member):
            self.member(cond, env)
        elif isinstance(cond, ast.Matches):
            left = self.operand(cond.left, env)
            pattern = self.operand(cond.pattern, env)
            self._expect_string(left, cond.left, "MATCHES")
            self._expect_string(pattern, cond.pattern, "a MATCHES pattern")
            if isinstance(cond.pattern, ast.Constant) and isinstance(cond.pattern.value, str):
                try:
                    re.compile(cond.pattern.value)
                except re.error as exc:
                    self.error("dsl_invalid_regex", f"invalid regular expression: {exc}", cond.pattern.loc)
        elif isinstance(cond, ast.StringTest):
            self._expect_string(self.operand(cond.left, env), cond.left, cond.op.replace("_", " ").upper())
            self._expect_string(self.operand(cond.right, env), cond.right, cond.op.replace("_", " ").upper())
        elif isinstance(cond, ast.Exists):
            if not isinstance(cond.operand, ast.Path):
                self.error("dsl_type_mismatch", "EXISTS and MISSING apply to a field path", cond.loc)
            self.operand(cond.operand, env)
        elif isinstance(cond, ast.Truthy):
            t = self.operand(cond.operand, env)
            if t.kind not in ("boolean", "any"):
                self.error(
                    "dsl_type_mismatch",
                    f"{_text(cond.operand)} is a {t.describe()}, not a condition: "
                    "compare it (==, IN, ...) or test EXISTS",
                    cond.loc,
                )

    def quantified(self, cond: ast.Any_ | ast.All, env: _Env) -> None:
        if cond.var in env.vars or cond.var in ROOTS or cond.var in env.params:
            hint = (
                " (the body of an ANY/ALL runs to the end of the condition: put the outer one in parentheses to end it)"
                if cond.var in env.vars
                else ""
            )
            self.error(
                "dsl_shadowed_name", f"{cond.var} is already a name here; pick another variable name{hint}", cond.loc
            )
        if cond.binder is not None:
            definition = BINDERS.get(cond.binder)
            if definition is None:
                like = closest(cond.binder, BINDERS)
                self.error(
                    "dsl_unknown_binder",
                    f"unknown binder {cond.binder}"
                    + (f"; did you mean {like}?" if like else f"; use {', '.join(BINDERS)} or `NAME IN list`"),
                    cond.loc,
                )
                item = ANY
            else:
                self._needs_pods(env, cond.binder, cond.loc)
                item = self.schemas.definition(definition)
                if self._info is not None:
                    self._info.binder_vars.add(cond.var)
        else:
            assert cond.domain is not None
            domain = self.operand(cond.domain, env)
            if domain.kind in ("list", "map"):
                item = domain.item or ANY
            elif domain.kind == "any":
                item = ANY
            else:
                self.error(
                    "dsl_type_mismatch",
                    f"{_text(cond.domain)} is a {domain.describe()}; ANY/ALL need a list",
                    cond.domain.loc if hasattr(cond.domain, "loc") else cond.loc,
                )
                item = ANY
        outer = env.vars.get(cond.var)
        env.vars[cond.var] = item
        self._var_types.setdefault(cond.var, item)
        self.condition(cond.body, env)
        if outer is None:
            del env.vars[cond.var]
        else:
            env.vars[cond.var] = outer

    def compare(self, cond: ast.Compare, env: _Env) -> None:
        left = self.operand(cond.left, env)
        right = self.operand(cond.right, env)
        if cond.op in _ORDERING:
            self._ordering(cond, left, right)
        elif not _compatible(left, right) or _quantity_vs_number(left, right, cond.right, cond.left):
            self._mismatch(cond, left, right)
        else:
            for field_t, other in ((left, cond.right), (right, cond.left)):
                self._enum(field_t, other, _text(cond.left if other is cond.right else cond.right))
            self._never_true(cond, left, right, env)

    def _ordering(self, cond: ast.Compare, left: Type, right: Type) -> None:
        kinds = {left.kind, right.kind} - {"any"}
        if "quantity" in kinds:
            plain = (
                cond.right
                if right.kind in ("integer", "number")
                else cond.left
                if left.kind in ("integer", "number")
                else None
            )
            if plain is not None:
                self.error(
                    "dsl_type_mismatch",
                    f"a quantity is compared with the plain number {_text(plain)}: write the unit (2Gi, 500m) "
                    f'or quantity("{_text(plain)}")',
                    plain.loc if hasattr(plain, "loc") else cond.loc,
                )
                return
            if not kinds <= {"quantity"}:
                self._mismatch(cond, left, right)
            return
        if kinds <= {"integer", "number", "int-or-string"} or kinds <= {"string"}:
            if (
                isinstance(cond.left, ast.Call)
                and cond.left.name == "len"
                and isinstance(cond.right, ast.Constant)
                and isinstance(cond.right.value, Decimal)
            ):
                limit = cond.right.value
                if (cond.op == "<" and limit <= 0) or (cond.op == "<=" and limit < 0):
                    self.error("dsl_never_true", f"{_text(cond.left)} is never {cond.op} {limit}", cond.loc)
            return
        if not kinds:
            return
        self._mismatch(cond, left, right)

    def _mismatch(self, cond: ast.Compare, left: Type, right: Type) -> None:
        hint = ""
        if _quantity_vs_number(left, right, cond.right, cond.left):
            hint = ": write a quantity with its unit (2Gi, 500m)"
        self.error(
            "dsl_type_mismatch",
            f"cannot compare {_text(cond.left)} ({left.describe()}) {cond.op} "
            f"{_text(cond.right)} ({right.describe()}){hint}",
            cond.loc,
        )

    def _enum(self, field_t: Type, other: ast.Operand, field_text: str) -> None:
        if field_t.enum is None or not isinstance(other, ast.Constant) or not isinstance(other.value, str):
            return
        if other.value not in field_t.enum:
            hint = closest(other.value, field_t.enum)
            self.error(
                "dsl_enum_value",
                f"{other.value!r} is not a value of {field_text}"
                + (f"; did you mean {hint!r}?" if hint else "")
                + f" (one of {', '.join(repr(v) for v in field_t.enum)})",
                other.loc,
            )

    def _never_true(self, cond: ast.Compare, left: Type, right: Type, env: _Env) -> None:
        if cond.op != "==":
            return
        for t, other in ((left, cond.right), (right, cond.left)):
            if (
                t.kind == "integer"
                and isinstance(other, ast.Constant)
                and isinstance(other.value, Decimal)
                and other.value != other.value.to_integral_value()
            ):
                self.error("dsl_never_true", f"an integer is never equal to {other.text}", cond.loc)
        for path, other in ((cond.left, cond.right), (cond.right, cond.left)):
            if (
                isinstance(path, ast.Path)
                and path.root == "kind"
                and not path.segments
                and isinstance(other, ast.Constant)
                and isinstance(other.value, str)
                and self._info is not None
                and other.value not in {k.kind for k in self._info.kinds}
                and self._info.kinds
            ):
                self.error(
                    "dsl_never_true",
                    f"kind is never {other.value!r} in a rule ON {', '.join(k.kind for k in self._info.kinds)}",
                    cond.loc,
                )

    def member(self, cond: ast.Member, env: _Env) -> None:
        left = self.operand(cond.left, env)
        if cond.items is not None:
            for item in cond.items:
                t = self.operand(item, env)
                if not _compatible(left, t) or _quantity_vs_number(left, t, item, cond.left):
                    self.error(
                        "dsl_type_mismatch",
                        f"{_text(item)} ({t.describe()}) can never be {_text(cond.left)} ({left.describe()})",
                        getattr(item, "loc", None) or cond.loc,
                    )
                else:
                    self._enum(left, item, _text(cond.left))
            return
        assert cond.collection is not None
        coll = self.operand(cond.collection, env)
        if coll.kind == "list":
            if coll.item is not None and not _compatible(left, coll.item):
                self.error(
                    "dsl_type_mismatch",
                    f"{_text(cond.left)} ({left.describe()}) can never be in "
                    f"{_text(cond.collection)} ({coll.describe()})",
                    cond.loc,
                )
        elif coll.kind != "any":
            self.error(
                "dsl_type_mismatch",
                f"IN needs a list, {_text(cond.collection)} is a {coll.describe()}"
                + ("; use CONTAINS for text" if coll.kind == "string" else ""),
                cond.loc,
            )

    def _expect_string(self, t: Type, operand: ast.Operand, what: str) -> None:
        if not _stringish(t) and t.kind != "null":
            self.error(
                "dsl_type_mismatch",
                f"{what} needs text; {_text(operand)} is a {t.describe()}",
                getattr(operand, "loc", None),
            )

    def _needs_pods(self, env: _Env, what: str, loc: Location | None) -> None:
        kind = env.kind.kind
        if kind != "?" and kind not in POD_KINDS:
            self.error(
                "dsl_no_pod_template",
                f"{kind} has no pod template, so {what} means nothing for it; "
                f"ON kinds with pods: {', '.join(sorted(POD_KINDS))}",
                loc,
            )

    # ---- operands
    def operand(self, op: ast.Operand, env: _Env) -> Type:
        t = self._operand(op, env)
        if self._info is not None:
            self._info.types.setdefault(id(op), t)
        return t

    def _operand(self, op: ast.Operand, env: _Env) -> Type:
        if isinstance(op, ast.Constant):
            return _constant_type(op)
        if isinstance(op, ast.ListOperand):
            items = [self.operand(i, env) for i in op.items]
            return Type("list", "list", item=items[0] if items else ANY)
        if isinstance(op, ast.Call):
            return self.call(op, env)
        return self.path(op, env)

    def root(self, path: ast.Path, env: _Env) -> Type | None:
        name = path.root
        if name in env.vars:
            return env.vars[name]
        if name in env.params:
            return env.params[name]
        kind_t = env.kind.type
        if name in ("object", "old"):
            return kind_t
        if name == "metadata":
            return self.schemas.definition("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")
        if name == "spec":
            spec = self.schemas.field(kind_t, "spec") if kind_t.kind == "object" else ANY
            if spec is None:
                self.error("dsl_unknown_field", f"{env.kind.kind} has no field 'spec'", path.loc)
                return ANY
            return spec
        if name == "pod":
            self._needs_pods(env, "pod", path.loc)
            return self.schemas.definition("io.k8s.api.core.v1.PodSpec")
        if name in ("labels", "annotations"):
            return Type("map", name, item=STRING)
        if name in ("namespace", "name", "kind", "operation", "user"):
            return STRING
        if name == "groups":
            return Type("list", "groups", item=STRING)
        if name == "namespaceObject":
            return self.schemas.definition("io.k8s.api.core.v1.Namespace")
        return None

    def path(self, path: ast.Path, env: _Env) -> Type:
        t = self.root(path, env)
        if t is None:
            names = [*ROOTS, *env.params, *env.vars, *BINDERS]
            hint = closest(path.root, names)
            self.error(
                "dsl_unbound_name",
                f"unknown name {path.root}" + (f"; did you mean {hint}?" if hint else ""),
                path.loc,
            )
            return ANY
        walked = path.root
        for seg in path.segments:
            t = self.segment(t, seg, walked, env)
            walked += f".{seg.key}" if seg.dotted else f"[{seg.key!r}]"
        return t

    def segment(self, t: Type, seg: ast.Segment, walked: str, env: _Env) -> Type:
        if t.kind == "any":
            return ANY
        if isinstance(seg.key, int):
            if t.kind != "list":
                self.error("dsl_type_mismatch", f"{walked} is a {t.describe()}; [{seg.key}] indexes lists", seg.loc)
                return ANY
            return t.item or ANY
        if t.kind == "map":
            return t.item or ANY
        if t.kind == "object":
            found = self.schemas.field(t, seg.key)
            if found is None:
                hint = closest(seg.key, self.schemas.fields(t))
                where = t.describe()
                on = f" ({env.kind.kind})" if self._info is not None and len(self._info.kinds) > 1 else ""
                self.error(
                    "dsl_unknown_field",
                    f"{where}{on} has no field {seg.key!r}" + (f"; did you mean {hint!r}?" if hint else ""),
                    seg.loc,
                )
                return ANY
            return found
        if t.kind == "list":
            self.error(
                "dsl_type_mismatch",
                f"{walked} is a {t.describe()}; use ANY x IN {walked}: x.{seg.key} ...",
                seg.loc,
            )
            return ANY
        self.error("dsl_type_mismatch", f"{walked} is a {t.describe()}; it has no field {seg.key!r}", seg.loc)
        return ANY

    def call(self, call: ast.Call, env: _Env) -> Type:
        args = [self.operand(a, env) for a in call.args]
        name = call.name
        if name not in FUNCTIONS:
            hint = closest(name, FUNCTIONS)
            self.error(
                "dsl_unknown_function",
                f"unknown function {name}"
                + (f"; did you mean {hint}?" if hint else f"; known: {', '.join(FUNCTIONS)}"),
                call.loc,
            )
            return ANY
        want = {"coalesce": None, "max": None, "min": None, "image_verified": 2, "image_reason": 2}.get(name, 1)
        if (want is not None and len(args) != want) or (want is None and len(args) < 2):
            arity = {None: "two or more arguments", 1: "one argument", 2: "two arguments"}[want]
            self.error("dsl_type_mismatch", f"{name} takes {arity}, got {len(args)}", call.loc)
            return ANY
        if name in ("image_verified", "image_reason"):  # kubegate.image.verify (docs/images.md)
            self._expect_string(args[0], call.args[0], name)
            self._expect_string(args[1], call.args[1], name)
            return Type("boolean", name) if name == "image_verified" else STRING
        if name == "len":
            if args[0].kind not in ("list", "map", "string", "any"):
                self.error("dsl_type_mismatch", f"len needs a list, map or text, got {args[0].describe()}", call.loc)
            return Type("integer", "len")
        if name in ("lower", "upper"):
            self._expect_string(args[0], call.args[0], name)
            return STRING
        if name in ("floor", "ceil"):
            if not _numeric(args[0]) and args[0].kind != "quantity":
                self.error("dsl_type_mismatch", f"{name} needs a number, got {args[0].describe()}", call.loc)
            return Type("integer", name)
        if name == "number":
            if args[0].kind not in ("string", "integer", "number", "int-or-string", "any"):
                self.error("dsl_type_mismatch", f"number needs text or a number, got {args[0].describe()}", call.loc)
            return Type("number", "number")
        if name == "quantity":
            if args[0].kind not in ("string", "integer", "number", "int-or-string", "quantity", "any"):
                self.error("dsl_type_mismatch", f"quantity needs text or a number, got {args[0].describe()}", call.loc)
            return Type("quantity", "quantity")
        if name in ("max", "min"):
            for arg, operand in zip(args, call.args, strict=True):
                if not _numeric(arg):
                    where = getattr(operand, "loc", None) or call.loc
                    self.error("dsl_type_mismatch", f"{name} needs numbers, got {arg.describe()}", where)
            return Type("number", name)
        first = args[0]
        for arg, operand in zip(args[1:], call.args[1:], strict=True):
            if not _compatible(first, arg):
                self.error(
                    "dsl_type_mismatch",
                    f"coalesce arguments must have one type: {first.describe()} and {arg.describe()}",
                    getattr(operand, "loc", None) or call.loc,
                )
        return first

    # ---- actions
    def action(self, action: ast.Action, env: _Env, when: ast.Condition) -> None:
        if isinstance(action, ast.Verdict):
            self.template(action.message, env, when)
            return
        for arg in action.args:
            if isinstance(arg, ast.Template):
                self.template(arg, env, when)
            else:
                self._message_operand(arg, env, when)

    def template(self, template: ast.Template, env: _Env, when: ast.Condition) -> None:
        for part in template.parts:
            if not isinstance(part, str):
                self._message_operand(part, env, when)

    def _message_operand(self, op: ast.Operand, env: _Env, when: ast.Condition) -> None:
        for path in _paths(op):
            if path.root in env.vars or path.root in env.params or path.root in ROOTS:
                continue
            reason = _why_unbound(path.root, when)
            self.error(
                "dsl_unbound_name",
                f"{path.root} cannot be named in a message: {reason}"
                if reason
                else f"unknown name {path.root} in a message",
                path.loc,
            )
        self.operand(op, env)


def _paths(op: ast.Operand) -> Iterable[ast.Path]:
    if isinstance(op, ast.Path):
        yield op
    elif isinstance(op, ast.Call):
        for a in op.args:
            yield from _paths(a)
    elif isinstance(op, ast.ListOperand):
        for a in op.items:
            yield from _paths(a)


def _witnesses(cond: ast.Condition) -> set[str]:
    """Variables with one value per violation: bound by ANY on every path through ``cond``."""
    if isinstance(cond, ast.And):
        out: set[str] = set()
        for item in cond.items:
            out |= _witnesses(item)
        return out
    if isinstance(cond, ast.Or):
        sets = [_witnesses(i) for i in cond.items]
        return set.intersection(*sets) if sets else set()
    if isinstance(cond, ast.Any_):
        return {cond.var} | _witnesses(cond.body)
    return set()


def _binds(cond: ast.Condition, name: str) -> str:
    """How ``cond`` binds ``name`` when it is not a witness: ``all``, ``not``, ``or`` or ``""``."""
    if isinstance(cond, ast.All):
        return "all" if cond.var == name or _binds(cond.body, name) else ""
    if isinstance(cond, ast.Not):
        return "not" if _binds(cond.item, name) or _mentions(cond.item, name) else ""
    if isinstance(cond, ast.Any_):
        return "" if cond.var == name else _binds(cond.body, name)
    if isinstance(cond, ast.And):
        return next((r for r in (_binds(i, name) for i in cond.items) if r), "")
    if isinstance(cond, ast.Or):
        inner = next((r for r in (_binds(i, name) for i in cond.items) if r), "")
        return inner or ("or" if any(_mentions(i, name) for i in cond.items) else "")
    return ""


def _mentions(cond: ast.Condition, name: str) -> bool:
    if isinstance(cond, ast.Any_ | ast.All):
        return cond.var == name or _mentions(cond.body, name)
    if isinstance(cond, ast.And | ast.Or):
        return any(_mentions(i, name) for i in cond.items)
    if isinstance(cond, ast.Not):
        return _mentions(cond.item, name)
    return False


def _why_unbound(name: str, when: ast.Condition) -> str:
    how = _binds(when, name)
    return {
        "all": f"{name} is bound by ALL, which has no single element to name",
        "not": f"{name} is bound under NOT, so no element satisfies the rule",
        "or": f"{name} is bound in only some OR alternatives",
    }.get(how, "")


def _quantity_vs_number(a: Type, b: Type, b_op: object, a_op: object) -> bool:
    return (a.kind == "quantity" and b.kind in ("integer", "number")) or (
        b.kind == "quantity" and a.kind in ("integer", "number")
    )


def _text(op: object) -> str:
    if isinstance(op, ast.Path):
        return op.text()
    if isinstance(op, ast.Constant):
        return op.text
    if isinstance(op, ast.Call):
        return f"{op.name}({', '.join(_text(a) for a in op.args)})"
    if isinstance(op, ast.ListOperand):
        return "[" + ", ".join(_text(a) for a in op.items) + "]"
    return "?"


def check_module(
    module: ast.Module, schemas: SchemaSet, known_rules: Mapping[str, Location | None] | None = None
) -> tuple[list[RuleInfo], dict[str, Type], list[DslError]]:
    """Checks every parameter and rule of ``module``.

    Args:
        module: a parsed DSL file.
        schemas: the kinds and types to check against.
        known_rules: rule ids already defined elsewhere (other files), with
            where; a rule reusing one is a ``dsl_duplicate_rule``.

    Returns:
        Per-rule information (in order), the parameter types, and every diagnostic.
    """
    checker = Checker(schemas, module)
    params = checker.params()
    seen: dict[str, Location | None] = dict(known_rules or {})
    infos = []
    for rule in module.rules:
        if rule.id in seen:
            where = seen[rule.id]
            checker.error(
                "dsl_duplicate_rule", f"rule {rule.id} is already defined" + (f" at {where}" if where else ""), rule.loc
            )
        seen[rule.id] = rule.loc
        infos.append(checker.rule(rule, params))
    return infos, params, checker.errors


def all_rule_ids(modules: Sequence[ast.Module]) -> dict[str, Location | None]:
    """Rule ids of several modules with their first location."""
    out: dict[str, Location | None] = {}
    for m in modules:
        for r in m.rules:
            out.setdefault(r.id, r.loc)
    return out
