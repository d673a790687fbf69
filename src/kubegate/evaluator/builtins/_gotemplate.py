"""A subset of Go's ``text/template`` for ``strings.render_template``.

OPA (https://github.com/open-policy-agent/opa/blob/main/v1/topdown/template.go)
converts the variables object with ``ast.As`` (JSON decoding: objects become
``map[string]any``, numbers ``json.Number``) and executes the template; a
missing key renders as ``<undefined>``.

Supported, after https://github.com/golang/go/tree/master/src/text/template:
text, ``{{- ... -}}`` trimming, comments, pipelines with ``|``, fields
(``.a.b``), ``$`` and ``$x`` variables (``:=`` and ``=``), parenthesised
pipelines, string/raw/char/number/``true``/``false``/``nil`` constants,
``if``/``else if``/``else``, ``range`` (arrays, maps in key order, integers;
``break``, ``continue``), ``with``, ``define``/``template``/``block`` and the
functions ``and or not len index slice eq ne lt le gt ge print printf println
html urlquery``. Not supported: methods, ``call``, ``js``, custom delimiters.
"""

from __future__ import annotations

from typing import Any

from kubegate.evaluator.builtins import _gofmt
from kubegate.evaluator.builtins._gofmt import GoInt, JsonNumber, go_is_print
from kubegate.evaluator.builtins._gotemplate_funcs import BUILTINS, MISSING, describe, go_type, print_value, truth
from kubegate.evaluator.builtins._gotemplate_parse import NAME, Parser, TemplateError, lex
from kubegate.evaluator.values import Set, from_key

__all__ = ["MAX_STEPS", "TemplateError", "render"]

_MAX_DEPTH = 10_000

#: The most template nodes one execution runs. Go has no limit (OPA cancels long
#: queries); nested ranges would otherwise run for minutes.
MAX_STEPS = 1_000_000


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


# ------------------------------------------------------------------ variables (ast.As)


def _convert(value: Any, depth: int = 0) -> Any:
    """The Go value ``encoding/json`` decodes from the Rego value's JSON."""
    if depth > _MAX_DEPTH:
        raise TemplateError("json: exceeded max depth")
    t = type(value)
    if t is str:
        _check_json_string(value)
        return value
    if t is bool or value is None:
        return value
    if t is int:
        return JsonNumber(_gofmt.int_text(value))
    if t is float:
        return JsonNumber(_number_text(value))
    if t is list or t is tuple:
        return [_convert(v, depth + 1) for v in value]
    if t is dict:
        out = {}
        for k, v in value.items():
            key = from_key(k)
            if type(key) is not str:
                raise TemplateError("invalid character looking for beginning of object key string")
            _check_json_string(key)
            out[key] = _convert(v, depth + 1)
        return out
    if t is Set:
        raise TemplateError("invalid character looking for beginning of value")
    raise TemplateError("unsupported value")


def _check_json_string(s: str) -> None:
    # OPA prints the value as Rego (Go-quoted strings) and decodes it as JSON: escapes
    # JSON lacks (\a, \v, \x.., \U........) fail.
    for ch in s:
        cp = ord(ch)
        if cp in (7, 11) or (cp < 0x20 and cp not in (8, 9, 10, 12, 13)) or cp == 0x7F:
            raise TemplateError("invalid character in string escape code")
        if cp > 0xFFFF and not go_is_print(cp):
            raise TemplateError("invalid character in string escape code")


def _number_text(f: float) -> str:
    return repr(f)


# ------------------------------------------------------------------ execution


class _State:
    def __init__(self, defines: dict[str, list[Any]], data: Any) -> None:
        self.defines = defines
        self.vars: list[tuple[str, Any]] = [("$", data)]
        self.out: list[str] = []
        self.size = 0
        self.depth = 0
        self.steps = 0

    def error(self, msg: str) -> TemplateError:
        """An execution error in Go's words."""
        return TemplateError(f'template: {NAME}: executing "{NAME}": {msg}')

    def write(self, s: str) -> None:
        """Appends output, bounded by ``MAX_OUTPUT``."""
        self.size += len(s)
        if self.size > _gofmt.MAX_OUTPUT:
            raise self.error("output too large")
        self.out.append(s)

    def walk(self, dot: Any, nodes: list[Any]) -> None:
        """Executes a list of nodes with ``dot``."""
        for node in nodes:
            self.steps += 1
            if self.steps > MAX_STEPS:
                raise self.error(f"more than {MAX_STEPS} steps")
            kind = node[0]
            if kind == "text":
                self.write(node[1])
            elif kind == "action":
                value = self.pipeline(dot, node[1])
                if not node[1][0]:
                    self.write(print_value(value))
            elif kind in ("if", "with"):
                mark = len(self.vars)
                value = self.pipeline(dot, node[1])
                if truth(value):
                    self.walk(value if kind == "with" else dot, node[2])
                elif node[3] is not None:
                    self.walk(dot, node[3])
                del self.vars[mark:]
            elif kind == "range":
                self.range(dot, node)
            elif kind == "template":
                self.template(dot, node)
            elif kind == "break":
                raise _Break
            else:
                raise _Continue

    def template(self, dot: Any, node: tuple[Any, ...]) -> None:
        """``{{template "name" pipeline}}``."""
        body = self.defines.get(node[1])
        if body is None:
            raise self.error(f'template: no template "{node[1]}" associated with template "{NAME}"')
        new_dot = self.pipeline(dot, node[2]) if node[2] is not None else None
        self.depth += 1
        if self.depth > 100:
            raise self.error("exceeded maximum template depth (100)")
        saved, self.vars = self.vars, [("$", new_dot)]
        try:
            self.walk(new_dot, body)
        finally:
            self.vars, self.depth = saved, self.depth - 1

    def range(self, dot: Any, node: tuple[Any, ...]) -> None:
        """``{{range}}``: arrays, maps in key order, integers."""
        _, pipe, body, else_list = node
        mark = len(self.vars)
        decl = pipe[0]
        value = self.pipeline(dot, ([], False, pipe[2]))
        t = type(value)
        if t is list or t is tuple:
            pairs: list[tuple[Any, Any]] = [(GoInt(i), v) for i, v in enumerate(value)]
        elif t is dict:
            pairs = [(k, value[k]) for k in sorted(value)]
        elif t is GoInt:
            pairs = [(GoInt(i), GoInt(i)) for i in range(max(int(value), 0))]
        elif value is MISSING or value is None:
            pairs = []
        else:
            raise self.error(f"range can't iterate over {print_value(value)}")
        for key, elem in pairs:
            if decl:
                self.vars.append((decl[-1], elem))
                if len(decl) > 1:
                    self.vars.insert(len(self.vars) - 1, (decl[0], key))
            try:
                self.walk(elem, body)
            except _Continue:
                pass
            except _Break:
                del self.vars[mark:]
                return
            del self.vars[mark:]
        if not pairs and else_list is not None:
            self.walk(dot, else_list)

    def pipeline(self, dot: Any, pipe: tuple[Any, ...]) -> Any:
        """Evaluates a pipeline, declaring or assigning its variables."""
        decl, assign, cmds = pipe
        value: Any = _NOFINAL
        for cmd in cmds:
            value = self.command(dot, cmd, value)
        if decl:
            if assign:
                for idx in range(len(self.vars) - 1, -1, -1):
                    if self.vars[idx][0] == decl[0]:
                        self.vars[idx] = (decl[0], value)
                        break
                else:
                    raise self.error(f"undefined variable: {decl[0]}")
            else:
                self.vars.append((decl[0], value))
        return value

    def command(self, dot: Any, cmd: list[Any], final: Any) -> Any:
        """One command of a pipeline; ``final`` is the value piped in."""
        first = cmd[0]
        kind = first[0]
        if kind == "field":
            return self.field_chain(dot, dot, first[1], cmd, final)
        if kind == "ident":
            return self.function(dot, first[1], cmd, final)
        if len(cmd) > 1 or final is not _NOFINAL:
            raise self.error(f"can't give argument to non-function {describe(first)}")
        return self.arg(dot, first)

    def arg(self, dot: Any, node: Any) -> Any:
        """The value of an operand."""
        kind = node[0]
        if kind == "dot":
            return dot
        if kind == "nil":
            raise self.error("nil is not a command")
        if kind == "const":
            return node[1]
        if kind == "field":
            return self.field_chain(dot, dot, node[1], [node], _NOFINAL)
        if kind == "var":
            value = self.variable(node[1])
            return self.field_chain(dot, value, node[2], [node], _NOFINAL) if node[2] else value
        if kind == "pipe":
            value = self.pipeline(dot, node[1])
            return self.field_chain(dot, value, node[2], [node], _NOFINAL) if node[2] else value
        return self.function(dot, node[1], [node], _NOFINAL)

    def variable(self, name: str) -> Any:
        """The value of ``$name``."""
        for var, value in reversed(self.vars):
            if var == name:
                return value
        raise self.error(f"undefined variable: {name}")

    def field_chain(self, dot: Any, receiver: Any, names: list[str], args: list[Any], final: Any) -> Any:
        """``.a.b`` on ``receiver``."""
        for i, name in enumerate(names):
            last = i == len(names) - 1
            if receiver is MISSING:
                return MISSING
            if receiver is None:
                raise self.error(f"nil pointer evaluating interface {{}}.{name}")
            if type(receiver) is not dict:
                raise self.error(f"can't evaluate field {name} in type {go_type(receiver)}")
            if last and (len(args) > 1 or final is not _NOFINAL):
                raise self.error(f"{name} is not a method but has arguments")
            receiver = receiver.get(name, MISSING)
        return receiver

    def function(self, dot: Any, name: str, cmd: list[Any], final: Any) -> Any:
        """Calls a template function (``and``/``or`` short-circuit)."""
        nodes = cmd[1:]
        if name in ("and", "or"):
            if not nodes and final is _NOFINAL:
                raise self.error(f"wrong number of args for {name}: want at least 1 got 0")
            value: Any = None
            for node in nodes:
                value = self.arg(dot, node)
                if truth(value) == (name == "or"):
                    return value
            if final is not _NOFINAL:
                value = final
            return value
        args = [self.arg(dot, n) for n in nodes]
        if final is not _NOFINAL:
            args.append(final)
        try:
            return BUILTINS[name](args)
        except TemplateError as exc:
            raise self.error(f"error calling {name}: {exc}") from None


_NOFINAL: Any = type("_NoFinal", (), {})()


def render(template: str, variables: dict[Any, Any]) -> str:
    """``template`` executed with the Rego object ``variables``.

    Raises:
        TemplateError: the variables do not decode as JSON, the template does not
            parse, or its execution fails.
    """
    data = _convert(variables)
    parser = Parser(lex(template))
    body, _, _ = parser.parse_list(())
    state = _State(parser.defines, data)
    try:
        state.walk(data, body)
    except (_Break, _Continue):
        raise TemplateError(f"template: {NAME}: {{{{break}}}} outside {{{{range}}}}") from None
    except _gofmt.FormatTooLarge:
        raise state.error("output too large") from None
    return "".join(state.out)
