"""Loads OPA's conformance test cases and runs them against kubegate's evaluator.

OPA keeps its evaluation test suite as YAML files (``v1/test/cases/testdata/<v0|v1>/<family>/*.yaml``
in the OPA repository); every Rego implementation that claims conformance runs them. This
module reads that format and judges each case the way OPA's own driver does
(``v1/topdown/exported_test.go``: ``testRun`` / ``testAssertResultSet`` /
``testAssertErrorCode`` / ``testAssertErrorText``, on top of ``v1/test/cases/cases.go``).

File format (a mapping with one key, ``cases``, a list of mappings)::

    cases:
      - note: family/what it checks     # the case's name
        query: data.test.p = x          # a Rego query; its variables are the bindings compared
        modules: ["package test\\n..."] # optional; passed as {"case_0.rego": ..., "case_1.rego": ...}
        data: {a: 1}                    # optional base document (an object)
        input: {x: 1}                   # optional input document; absent or null: no input
        input_term: "{1, 2}"            # optional Rego term for input (sets, non-string keys)
        want_result: [{x: 1}]           # the expected result set, one mapping of bindings per result
        want_error_code: eval_type_error
        want_error: "message substring"
        strict_error: true              # run with strict built-in errors
        sort_bindings: true             # sort every array binding of each result before comparing
        env: {NAME: value}              # environment variables set while the case runs
        want_defined: true              # optional: only whether the result set is empty
        skip: "why"                     # extension (Regorus uses it): the case is not run
        rego_version: v0                # extension: else from the path (a ``v0``/``v1`` directory) or v1
        v0_compatible: true             # extension: the same as ``rego_version: v0``

How a case is judged (as ``testRun`` does, in order):

* ``want_error`` given: an error must be raised and its text must contain the wanted text.
  OPA's text is ``[location: ]code: message``; any of ``str(error)``, ``code: message`` and
  ``message`` may contain it. Two normalisations that only undo differences of this runner,
  never of the evaluator: OPA names modules ``test-<i>.rego`` where this runner names them
  ``case_<i>.rego``, and a leading ``file:line[:col]: `` location may be cut off, as the
  Styra VM driver of the same cases does.
* ``want_error_code`` given: the error raised must be a ``KubegateError`` whose ``code`` equals it.
  OPA's topdown driver only sees evaluation errors there (it compiles with ``MustCompile``);
  the rego-level drivers also see compile errors, so both are accepted here.
* an error raised when none is wanted: the case fails ("unexpected error").
* ``want_result`` given: the results are compared as a *set* of binding objects (order and
  duplicates do not matter; OPA builds an ``ast.Set`` of both sides). Values compare like
  ``ast.Compare``: ``1 == 1.0``, ``true != 1``, arrays in order. With ``sort_bindings`` every
  array binding of the results (not of the expectation) is sorted in OPA's order
  (``util.Compare``: null < booleans < numbers < strings < arrays < objects) first.
* an error wanted and raised, and ``want_result`` non-empty as well: OPA's ``Query.Run`` returns
  the results produced before the error along with it, and a few cases pin them; kubegate's
  ``eval`` raises without partial results, so such a case is judged on its error alone (the
  outcome says so).
* none of ``want_result``, ``want_error_code``, ``want_error`` (nor ``want_defined``): the case
  is invalid and fails, as OPA's driver does.

YAML is read the way OPA reads it (``util.Unmarshal``: go-yaml v2, then JSON): YAML 1.1 booleans
(``yes``/``no``/``on``/``off``), ``1e3`` is a number, no sexagesimal numbers, no timestamps (they stay
strings), non-string mapping keys become their JSON text, and a ``null`` field counts as absent.

Each case runs in this process under a timeout (``SIGALRM`` in the main thread, else a worker
thread that is given up on); an exception that is not a ``KubegateError`` fails the case with
``crash: <type>``; no case can stop a run.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal, Protocol, cast

import yaml

__all__ = [
    "MISSING",
    "CaseOutcome",
    "LoadError",
    "LoadResult",
    "OpaCase",
    "PrepareFn",
    "Summary",
    "canonical",
    "compare_result_sets",
    "default_prepare",
    "load_dir",
    "load_file",
    "load_yaml",
    "opa_sort_key",
    "parse_term",
    "run_case",
    "run_cases",
    "summarize",
]

RegoVersion = Literal["v0", "v1"]
Status = Literal["pass", "fail", "skip"]


class _Missing:
    """The marker for "this field is not in the case" (distinct from ``None``)."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()

CASE_FIELDS = frozenset(
    {
        "note",
        "query",
        "modules",
        "data",
        "input",
        "input_term",
        "want_result",
        "want_error_code",
        "want_error",
        "want_defined",
        "want_plan_result",
        "strict_error",
        "sort_bindings",
        "ignore_generated_vars",
        "env",
        "skip",
        "rego_version",
        "v0_compatible",
        "traces",
        "error",
        "capabilities",
    }
)
CASE_SUFFIXES = (".yaml", ".yml", ".json")


# --------------------------------------------------------------------------- YAML as OPA reads it

_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_BOOL_TAG = "tag:yaml.org,2002:bool"
_DROPPED_TAGS = {_INT_TAG, _FLOAT_TAG, _BOOL_TAG, "tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:value"}


class _OpaYamlLoader(yaml.SafeLoader):
    """PyYAML's safe loader with go-yaml v2's implicit scalar types (what OPA's ``util.Unmarshal`` uses)."""


_OpaYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in _DROPPED_TAGS]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_OpaYamlLoader.add_implicit_resolver(
    _BOOL_TAG,
    re.compile(r"^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$"),
    list("yYnNtTfFoO"),
)
_OpaYamlLoader.add_implicit_resolver(
    _INT_TAG,
    re.compile(r"^(?:[-+]?(?:0|[1-9][0-9_]*)|[-+]?0[0-7_]+|[-+]?0b[01_]+|[-+]?0o[0-7_]+|[-+]?0x[0-9a-fA-F_]+)$"),
    list("-+0123456789"),
)
_OpaYamlLoader.add_implicit_resolver(
    _FLOAT_TAG,
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)

_YAML_TRUE = {"y", "yes", "true", "on"}


def _construct_bool(loader: yaml.SafeLoader, node: yaml.Node) -> bool:
    value = loader.construct_scalar(node)  # type: ignore[arg-type]
    return str(value).lower() in _YAML_TRUE


def _construct_int(loader: yaml.SafeLoader, node: yaml.Node) -> int:
    text = str(loader.construct_scalar(node)).replace("_", "")  # type: ignore[arg-type]
    sign = -1 if text.startswith("-") else 1
    body = text.lstrip("+-")
    if body.startswith(("0b", "0o", "0x")):
        return sign * int(body, 0)
    if len(body) > 1 and body.startswith("0"):
        return sign * int(body, 8)
    return sign * int(body)


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
    """Mapping keys become their JSON text right away: ``true`` and ``1`` are distinct keys
    in go-yaml, but equal in a Python dict."""
    assert isinstance(node, yaml.MappingNode)
    loader.flatten_mapping(node)
    out: dict[str, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        out[_json_key(key)] = loader.construct_object(value_node, deep=True)
    return out


_OpaYamlLoader.add_constructor(_BOOL_TAG, _construct_bool)
_OpaYamlLoader.add_constructor(_INT_TAG, _construct_int)
_OpaYamlLoader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)


def _go_float_text(value: float) -> str:
    """A float as Go's ``strconv.FormatFloat(f, 'g', -1, 64)`` spells it (for mapping keys)."""
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return repr(value).replace("e+0", "e+").replace("e-0", "e-")


def _json_key(key: Any) -> str:
    if isinstance(key, str):
        return key
    if key is None:
        return "null"
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int):
        return str(key)
    if isinstance(key, float):
        return _go_float_text(key)
    return json.dumps(_jsonify(key), sort_keys=True, separators=(",", ":"))


def _jsonify(value: Any) -> Any:
    """A YAML-decoded value as JSON would carry it: string keys, lists for sequences."""
    if isinstance(value, dict):
        return {_json_key(k): _jsonify(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonify(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def load_yaml(text: str) -> Any:
    """Parses ``text`` (YAML or JSON) as OPA's ``util.Unmarshal`` would."""
    return _jsonify(yaml.load(text, Loader=_OpaYamlLoader))  # a SafeLoader subclass: no arbitrary objects


# --------------------------------------------------------------------------- cases


@dataclass(frozen=True)
class OpaCase:
    """One case of an OPA case file, with its expectations as OPA reads them."""

    note: str
    query: str
    file: Path
    family: str
    index: int
    rego_version: RegoVersion
    modules: tuple[str, ...] = ()
    data: Mapping[str, Any] | None = None
    input: Any = MISSING
    input_term: str | None = None
    want_result: list[dict[str, Any]] | None = None
    want_error_code: str | None = None
    want_error: str | None = None
    want_defined: bool | None = None
    strict_error: bool = False
    sort_bindings: bool = False
    ignore_generated_vars: bool = False
    env: Mapping[str, str] = field(default_factory=dict)
    skip: str | None = None
    unknown_fields: tuple[str, ...] = ()

    @property
    def case_id(self) -> str:
        """A stable id: ``<family>/<file name>#<index>``."""
        return f"{self.family}/{self.file.name}#{self.index}"

    @property
    def module_map(self) -> dict[str, str]:
        """The modules as the evaluator gets them."""
        return {f"case_{i}.rego": text for i, text in enumerate(self.modules)}


@dataclass(frozen=True)
class LoadError:
    """A case file (or one case of it) that could not be read."""

    file: Path
    family: str
    message: str


@dataclass
class LoadResult:
    """The cases under a directory and the files that could not be read."""

    cases: list[OpaCase] = field(default_factory=list)
    errors: list[LoadError] = field(default_factory=list)


def _version_from_path(path: Path) -> RegoVersion | None:
    for part in reversed(path.parts[:-1]):
        if part == "v0":
            return "v0"
        if part == "v1":
            return "v1"
    return None


def _family(path: Path, root: Path | None) -> str:
    if root is not None:
        try:
            rel = path.resolve().relative_to(root.resolve())
        except ValueError:
            rel = Path(path.name)
        parts = rel.parts[:-1]
        if parts:
            return "/".join(parts)
        version = _version_from_path(path)
        return f"{version}/{path.parent.name}" if version and path.parent.name != version else path.parent.name
    return path.parent.name or "."


def _opt_str(raw: Mapping[str, Any], key: str) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a string, not {type(value).__name__}")
    return value


def _case_version(raw: Mapping[str, Any], default: RegoVersion) -> RegoVersion:
    version = raw.get("rego_version")
    if version is not None:
        text = str(version).lower().removeprefix("rego")
        text = text if text.startswith("v") else f"v{text}"
        if text not in ("v0", "v1"):
            raise ValueError(f"rego_version must be v0 or v1, not {version!r}")
        return "v0" if text == "v0" else "v1"
    if raw.get("v0_compatible") is True:
        return "v0"
    return default


def _make_case(raw: Any, *, file: Path, family: str, index: int, default_version: RegoVersion) -> OpaCase:
    if not isinstance(raw, dict):
        raise ValueError(f"case {index} is a {type(raw).__name__}, not a mapping")
    query = raw.get("query")
    if not isinstance(query, str):
        raise ValueError(f"case {index} has no query string")
    note = raw.get("note")
    note_text = note if isinstance(note, str) and note else f"{family}/{file.name}#{index}"
    modules = raw.get("modules") or []
    if not isinstance(modules, list) or not all(isinstance(m, str) for m in modules):
        raise ValueError("modules must be a list of strings")
    data = raw.get("data")
    if data is not None and not isinstance(data, dict):
        raise ValueError("data must be an object")
    want_result = raw.get("want_result")
    if want_result is not None and (
        not isinstance(want_result, list) or not all(isinstance(b, dict) for b in want_result)
    ):
        raise ValueError("want_result must be a list of objects")
    want_defined = raw.get("want_defined")
    env = raw.get("env") or {}
    if not isinstance(env, dict):
        raise ValueError("env must be an object")
    skip_raw = raw.get("skip")
    skip = None if skip_raw in (None, False) else ("skip: true" if skip_raw is True else str(skip_raw))
    # input: a null pointer in Go (absent or `input: null`) means no input at all.
    input_value = raw.get("input", MISSING)
    if input_value is None:
        input_value = MISSING
    return OpaCase(
        note=note_text,
        query=query,
        file=file,
        family=family,
        index=index,
        rego_version=_case_version(raw, default_version),
        modules=tuple(modules),
        data=data,
        input=input_value,
        input_term=_opt_str(raw, "input_term"),
        want_result=want_result,
        want_error_code=_opt_str(raw, "want_error_code"),
        want_error=_opt_str(raw, "want_error"),
        want_defined=bool(want_defined) if want_defined is not None else None,
        strict_error=bool(raw.get("strict_error")),
        sort_bindings=bool(raw.get("sort_bindings")),
        ignore_generated_vars=bool(raw.get("ignore_generated_vars")),
        env={str(k): "" if v is None else str(v) for k, v in env.items()},
        skip=skip,
        unknown_fields=tuple(sorted(set(raw) - CASE_FIELDS)),
    )


def load_file(
    path: Path | str, *, root: Path | str | None = None, default_version: RegoVersion | None = None
) -> LoadResult:
    """Reads one case file. ``root`` (the directory a run was given) names the family;
    the Rego version comes from a ``v0``/``v1`` directory on the path, else ``default_version``
    (else v1), unless a case says otherwise."""
    p = Path(path)
    root_p = Path(root) if root is not None else None
    family = _family(p, root_p)
    version: RegoVersion = _version_from_path(p) or default_version or "v1"
    out = LoadResult()
    try:
        doc = load_yaml(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        out.errors.append(LoadError(p, family, f"cannot read: {type(exc).__name__}: {exc}"))
        return out
    if doc is None:
        return out
    cases = doc.get("cases") if isinstance(doc, dict) else None
    if not isinstance(cases, list):
        out.errors.append(LoadError(p, family, "no list of cases (the file needs a `cases:` list)"))
        return out
    for i, raw in enumerate(cases):
        try:
            out.cases.append(_make_case(raw, file=p, family=family, index=i, default_version=version))
        except ValueError as exc:
            out.errors.append(LoadError(p, family, f"case {i}: {exc}"))
    return out


def iter_case_files(root: Path | str) -> Iterator[Path]:
    """Every case file under ``root`` (or ``root`` itself), in a stable order."""
    r = Path(root)
    if r.is_file():
        yield r
        return
    for dirpath, dirnames, filenames in os.walk(r):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.endswith(CASE_SUFFIXES) and not name.startswith("."):
                yield Path(dirpath) / name


def load_dir(root: Path | str, *, default_version: RegoVersion | None = None) -> LoadResult:
    """Reads every case file under ``root`` (``*.yaml``, ``*.yml``, ``*.json``; hidden ones skipped)."""
    r = Path(root)
    out = LoadResult()
    base = r.parent if r.is_file() else r
    for path in iter_case_files(r):
        one = load_file(path, root=base, default_version=default_version)
        out.cases.extend(one.cases)
        out.errors.extend(one.errors)
    return out


# --------------------------------------------------------------------------- Rego terms (input_term)


class TermSyntaxError(ValueError):
    """An ``input_term`` this runner cannot read (only ground terms are supported)."""


_NUMBER_RE = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
_STRING_RE = re.compile(r'"(?:[^"\\\n]|\\.)*"')


def _make_set(elements: list[Any]) -> Any:
    try:
        from kubegate.evaluator.values import Set
    except ImportError:  # pragma: no cover - the evaluator package ships values.py
        return frozenset(json.dumps(e, sort_keys=True) for e in elements)
    return Set(elements)


def _make_object(pairs: list[tuple[Any, Any]]) -> Any:
    if all(isinstance(k, str) for k, _ in pairs):
        return dict(pairs)
    try:
        from kubegate.evaluator.values import make_object
    except ImportError:  # pragma: no cover
        return {_json_key(k): v for k, v in pairs}
    return make_object(pairs)


class _TermParser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, what: str) -> TermSyntaxError:
        return TermSyntaxError(f"input_term: {what} at offset {self.pos} of {self.text!r}")

    def skip_ws(self) -> None:
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch in " \t\r\n":
                self.pos += 1
            elif ch == "#":
                end = self.text.find("\n", self.pos)
                self.pos = len(self.text) if end < 0 else end + 1
            else:
                return

    def peek(self) -> str:
        self.skip_ws()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def expect(self, ch: str) -> None:
        if self.peek() != ch:
            raise self.fail(f"expected {ch!r}")
        self.pos += 1

    def parse(self) -> Any:
        value = self.term()
        if self.peek():
            raise self.fail("unexpected text after the term")
        return value

    def term(self) -> Any:
        ch = self.peek()
        if ch == "[":
            return self.array()
        if ch == "{":
            return self.brace()
        if ch == '"':
            m = _STRING_RE.match(self.text, self.pos)
            if m is None:
                raise self.fail("unterminated string")
            self.pos = m.end()
            return json.loads(m.group(0))
        if ch == "`":
            end = self.text.find("`", self.pos + 1)
            if end < 0:
                raise self.fail("unterminated raw string")
            value = self.text[self.pos + 1 : end]
            self.pos = end + 1
            return value
        if ch == "-" or ch.isdigit():
            m = _NUMBER_RE.match(self.text, self.pos)
            if m is None:
                raise self.fail("bad number")
            self.pos = m.end()
            text = m.group(0)
            if re.fullmatch(r"-?[0-9]+", text):
                return int(text)
            return float(text)
        keywords: tuple[tuple[str, Any], ...] = (("null", None), ("true", True), ("false", False))
        for word, value in keywords:
            if self.text.startswith(word, self.pos) and not self._ident_char(self.pos + len(word)):
                self.pos += len(word)
                return value
        if self.text.startswith("set(", self.pos):
            self.pos += 4
            self.expect(")")
            return _make_set([])
        raise self.fail("not a ground term (only null, booleans, numbers, strings, arrays, objects, sets)")

    def _ident_char(self, pos: int) -> bool:
        return pos < len(self.text) and (self.text[pos].isalnum() or self.text[pos] == "_")

    def array(self) -> list[Any]:
        self.expect("[")
        items: list[Any] = []
        while self.peek() != "]":
            items.append(self.term())
            if self.peek() == ",":
                self.pos += 1
            elif self.peek() != "]":
                raise self.fail("expected ',' or ']'")
        self.pos += 1
        return items

    def brace(self) -> Any:
        self.expect("{")
        if self.peek() == "}":
            self.pos += 1
            return {}
        first = self.term()
        if self.peek() == ":":
            self.pos += 1
            pairs = [(first, self.term())]
            while self.peek() == ",":
                self.pos += 1
                if self.peek() == "}":
                    break
                key = self.term()
                self.expect(":")
                pairs.append((key, self.term()))
            self.expect("}")
            return _make_object(pairs)
        elements = [first]
        while self.peek() == ",":
            self.pos += 1
            if self.peek() == "}":
                break
            elements.append(self.term())
        self.expect("}")
        return _make_set(elements)


def parse_term(text: str) -> Any:
    """A ground Rego term (``{1, 2}``, ``{[1]: "a"}``, ``set()``, JSON) as an evaluator value:
    sets become ``kubegate.evaluator.values.Set``, objects with non-string keys are built with
    ``values.make_object``."""
    return _TermParser(text).parse()


# --------------------------------------------------------------------------- comparing values


def _to_json(value: Any) -> Any:
    """A binding as JSON (a guard in case an evaluator hands out tuples or sets)."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, list | tuple):
        return [_to_json(v) for v in value]
    if isinstance(value, dict):
        return {(k if isinstance(k, str) else _json_key(_to_json(k))): _to_json(v) for k, v in value.items()}
    if isinstance(value, frozenset | set):
        return sorted((_to_json(v) for v in value), key=opa_sort_key)
    try:
        from kubegate.evaluator.values import Set, to_json
    except ImportError:  # pragma: no cover
        raise TypeError(f"not a JSON value: {type(value).__name__}") from None
    if isinstance(value, Set):
        return to_json(value)
    key = getattr(value, "value", MISSING)
    if key is not MISSING:  # a values.Key
        return _to_json(key)
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def _number_key(value: int | float) -> Any:
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return int(value)
        return value
    return value


def canonical(value: Any) -> Any:
    """A hashable form of a JSON value in which OPA-equal values are equal (``1 == 1.0``,
    ``true != 1``)."""
    if value is None:
        return ("null",)
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int | float):
        return ("num", _number_key(value))
    if isinstance(value, str):
        return ("str", value)
    if isinstance(value, list | tuple):
        return ("arr", tuple(canonical(v) for v in value))
    if isinstance(value, dict):
        return ("obj", tuple(sorted(((canonical(k), canonical(v)) for k, v in value.items()), key=_pair_order)))
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def _pair_order(pair: tuple[Any, Any]) -> Any:
    return (_canon_order(pair[0]), _canon_order(pair[1]))


def _canon_order(c: Any) -> Any:
    tag = c[0]
    if tag == "null":
        return (0,)
    if tag == "bool":
        return (1, c[1])
    if tag == "num":
        v = c[1]
        return (2, Fraction(v) if isinstance(v, int) or math.isfinite(v) else v)
    if tag == "str":
        return (3, c[1])
    if tag == "arr":
        return (4, tuple(_canon_order(x) for x in c[1]))
    return (5, tuple((_canon_order(k), _canon_order(v)) for k, v in c[1]))


def opa_sort_key(value: Any) -> Any:
    """A sort key giving OPA's order of JSON values (``util.Compare``)."""
    return _canon_order(canonical(value))


def _numbers_close(a: Any, b: Any) -> bool:
    """Numbers beyond float precision: OPA reads YAML numbers through float64."""
    if a[0] != b[0]:
        return False
    if a[0] == "num":
        x, y = a[1], b[1]
        if x == y:
            return True
        if isinstance(x, float) or isinstance(y, float) or abs(x) > 2**63 or abs(y) > 2**63:
            try:
                return float(x) == float(y)
            except OverflowError:
                return False
        return False
    if a[0] == "arr":
        return len(a[1]) == len(b[1]) and all(_numbers_close(x, y) for x, y in zip(a[1], b[1], strict=True))
    if a[0] == "obj":
        return len(a[1]) == len(b[1]) and all(
            ka == kb and _numbers_close(va, vb) for (ka, va), (kb, vb) in zip(a[1], b[1], strict=True)
        )
    return bool(a == b)


def _binding_object(bindings: Mapping[str, Any]) -> Any:
    return canonical(dict(bindings))


def _sets_equal(want: set[Any], got: set[Any]) -> bool:
    if want == got:
        return True
    if len(want) != len(got):
        return False
    rest = list(got - want)
    for w in want - got:
        for i, g in enumerate(rest):
            if _numbers_close(w, g):
                del rest[i]
                break
        else:
            return False
    return not rest


def _pretty_set(objs: Iterable[dict[str, Any]]) -> list[str]:
    lines = [json.dumps(o, sort_keys=True, ensure_ascii=False) for o in objs]
    return sorted(set(lines))


def compare_result_sets(
    want: Sequence[Mapping[str, Any]],
    got: Sequence[Mapping[str, Any]],
    *,
    sort_bindings: bool = False,
    ignore_generated_vars: bool = False,
) -> tuple[bool, str]:
    """Compares result sets as OPA's ``testAssertResultSet`` does; returns (equal, diff text).

    ``want`` is the case's ``want_result``; ``got`` the bindings of each result.
    """
    got_json: list[dict[str, Any]] = []
    for bindings in got:
        row: dict[str, Any] = {}
        for name, value in bindings.items():
            if ignore_generated_vars and name.startswith("__"):
                continue
            v = _to_json(value)
            if sort_bindings and isinstance(v, list):
                v = sorted(v, key=opa_sort_key)
            row[str(name)] = v
        got_json.append(row)
    want_json = [{str(k): v for k, v in b.items()} for b in want]
    want_set = {_binding_object(b) for b in want_json}
    got_set = {_binding_object(b) for b in got_json}
    if _sets_equal(want_set, got_set):
        return True, ""
    diff = difflib.unified_diff(_pretty_set(want_json), _pretty_set(got_json), "want", "got", lineterm="", n=3)
    return False, "\n".join(diff)


# --------------------------------------------------------------------------- running


class PreparedQueryLike(Protocol):
    """What ``prepare_query`` returns: ``eval(input=...)`` gives the results."""

    def eval(self, **kwargs: Any) -> Sequence[Any]: ...


PrepareFn = Callable[..., PreparedQueryLike]


def default_prepare() -> PrepareFn:
    """kubegate's ``prepare_query`` (``kubegate.evaluator.query``, else ``kubegate``).

    Raises:
        ImportError: the evaluator's query API is not there.
    """
    try:
        from kubegate.evaluator.query import prepare_query
    except ImportError:
        import kubegate

        fn = getattr(kubegate, "prepare_query", None)
        if fn is None:
            raise
        return cast(PrepareFn, fn)
    return cast(PrepareFn, prepare_query)


def _kubegate_error_type() -> type[BaseException]:
    try:
        from kubegate.errors import KubegateError
    except ImportError:  # pragma: no cover - kubegate.errors exists in every build
        return _NeverRaised
    return KubegateError


class _NeverRaised(Exception):
    pass


@dataclass
class CaseOutcome:
    """The verdict on one case."""

    case: OpaCase | None
    status: Status
    reason: str = ""
    diff: str = ""
    seconds: float = 0.0
    file: Path | None = None
    family: str = ""
    note: str = ""

    def __post_init__(self) -> None:
        if self.case is not None:
            self.file = self.file or self.case.file
            self.family = self.family or self.case.family
            self.note = self.note or self.case.note

    @property
    def passed(self) -> bool:
        return self.status == "pass"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "family": self.family,
            "file": str(self.file) if self.file else None,
            "note": self.note,
            "status": self.status,
            "seconds": round(self.seconds, 6),
        }
        if self.case is not None:
            out["index"] = self.case.index
            out["rego_version"] = self.case.rego_version
        if self.reason:
            out["reason"] = self.reason
        if self.diff:
            out["diff"] = self.diff
        return out


class CaseTimeout(BaseException):
    """Raised into a case that ran past its time (a ``BaseException``, so an evaluator's
    ``except Exception`` lets it through)."""


@contextmanager
def _alarm(seconds: float) -> Iterator[None]:
    if seconds <= 0:
        yield
        return

    def on_alarm(signum: int, frame: Any) -> None:
        raise CaseTimeout()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextmanager
def _environment(env: Mapping[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@dataclass
class _Attempt:
    results: list[Any] | None = None
    error: BaseException | None = None
    phase: str = ""


def _attempt(case: OpaCase, prepare: PrepareFn, backend: str | None, input_value: Any) -> _Attempt:
    out = _Attempt()
    try:
        out.phase = "prepare"
        kwargs: dict[str, Any] = {
            "modules": case.module_map,
            "data": case.data,
            "rego_version": case.rego_version,
            "strict_builtin_errors": case.strict_error,
        }
        if backend is not None:
            kwargs["backend"] = backend
        pq = prepare(case.query, **kwargs)
        out.phase = "eval"
        results = pq.eval() if input_value is MISSING else pq.eval(input=input_value)
        out.results = list(results)
    except CaseTimeout:
        raise
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        out.error = exc
    return out


def _run_with_timeout(
    case: OpaCase, prepare: PrepareFn, backend: str | None, input_value: Any, timeout: float
) -> _Attempt | None:
    """The attempt, or ``None`` when it ran out of time."""
    if timeout > 0 and threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer"):
        try:
            with _alarm(timeout):
                return _attempt(case, prepare, backend, input_value)
        except CaseTimeout:
            return None
    if timeout <= 0:
        return _attempt(case, prepare, backend, input_value)
    box: list[_Attempt] = []
    worker = threading.Thread(
        target=lambda: box.append(_attempt(case, prepare, backend, input_value)),
        name=f"opa-case-{case.index}",
        daemon=True,
    )
    worker.start()
    worker.join(timeout)
    return box[0] if box else None


_LOCATION_PREFIX = re.compile(r"^[^\s:]+:\d+(?::\d+)?: ")
_TEST_MODULE = re.compile(r"\btest-(\d+)\.rego\b")


def _error_texts(exc: BaseException) -> list[str]:
    code = getattr(exc, "code", None)
    message = getattr(exc, "message", None)
    texts = [str(exc)]
    if isinstance(message, str):
        texts.append(message)
        if code:
            texts.append(f"{code}: {message}")
    return texts


def _want_error_variants(want: str) -> list[str]:
    variants = [want]
    renamed = _TEST_MODULE.sub(lambda m: f"case_{m.group(1)}.rego", want)
    for text in (want, renamed):
        if text not in variants:
            variants.append(text)
        cut = _LOCATION_PREFIX.sub("", text, count=1)
        if cut and cut not in variants:
            variants.append(cut)
    return variants


def _describe_error(exc: BaseException) -> str:
    code = getattr(exc, "code", None)
    message = getattr(exc, "message", None)
    if code and isinstance(message, str):
        return f"{code}: {message}"
    return f"{type(exc).__name__}: {exc}"


def _describe_results(results: Sequence[Any]) -> str:
    rows = []
    for r in results[:5]:
        try:
            rows.append(json.dumps(_to_json(dict(getattr(r, "bindings", {}))), sort_keys=True, ensure_ascii=False))
        except (TypeError, ValueError):
            rows.append(repr(r))
    more = f" (+{len(results) - 5} more)" if len(results) > 5 else ""
    return "[" + ", ".join(rows) + "]" + more


def _judge(case: OpaCase, attempt: _Attempt) -> tuple[Status, str, str]:
    kube_error = _kubegate_error_type()
    err = attempt.error
    if err is not None and not isinstance(err, kube_error):
        return "fail", f"crash: {type(err).__name__}: {err}".rstrip(": "), _traceback_tail(err)
    if case.want_error is not None:
        if err is None:
            return "fail", f"expected an error containing {case.want_error!r}, got success", ""
        texts = _error_texts(err)
        if not any(v in t for v in _want_error_variants(case.want_error) for t in texts):
            return (
                "fail",
                "wrong error text",
                f"want text: {case.want_error}\ngot error: {_describe_error(err)}",
            )
    if case.want_error_code is not None:
        if err is None:
            return "fail", f"expected error code {case.want_error_code}, got success", ""
        code = getattr(err, "code", None)
        if code != case.want_error_code:
            return (
                "fail",
                f"expected error code {case.want_error_code}, got {code}",
                f"got error: {_describe_error(err)}",
            )
    if err is not None and case.want_error_code is None and case.want_error is None:
        return "fail", f"unexpected error ({attempt.phase}): {_describe_error(err)}", ""
    results = attempt.results or []
    if err is not None and case.want_result:
        # OPA's Query.Run hands back the results produced before the error next to it, and a few
        # cases pin those; kubegate's eval raises instead, so only the error can be judged.
        return "pass", "error as wanted; want_result (results OPA yields before the error) not comparable", ""
    if case.want_result is not None:
        try:
            got = [dict(getattr(r, "bindings", {}) or {}) for r in results]
            ok, diff = compare_result_sets(
                case.want_result,
                got,
                sort_bindings=case.sort_bindings,
                ignore_generated_vars=case.ignore_generated_vars,
            )
        except (TypeError, ValueError) as exc:
            return "fail", f"crash: {type(exc).__name__}: bad result value: {exc}", ""
        if not ok:
            reason = "unexpected query result"
            if not case.want_result and results:
                reason = "expected undefined (no results), got results"
            elif case.want_result and not results and err is None:
                reason = "got undefined (no results)"
            return "fail", reason, diff
    if case.want_defined is not None and err is None and bool(results) != case.want_defined:
        want = "defined" if case.want_defined else "undefined"
        return "fail", f"expected {want}, got {_describe_results(results)}", ""
    if (
        case.want_result is None
        and case.want_error_code is None
        and case.want_error is None
        and case.want_defined is None
    ):
        return "fail", "invalid case: expected one of 'want_result', 'want_error_code' or 'want_error'", ""
    return "pass", "", ""


def _traceback_tail(exc: BaseException, frames: int = 6) -> str:
    import traceback

    lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
    tail = "".join(lines[-frames:]) if len(lines) > frames else "".join(lines)
    return tail.rstrip()


def run_case(
    case: OpaCase,
    *,
    prepare: PrepareFn | None = None,
    backend: str | None = None,
    timeout: float = 10.0,
    run_skipped: bool = False,
) -> CaseOutcome:
    """Runs one case and judges it; never raises (except ``KeyboardInterrupt``)."""
    if case.skip is not None and not run_skipped:
        return CaseOutcome(case, "skip", case.skip)
    start = time.perf_counter()
    try:
        if prepare is None:
            prepare = default_prepare()
        input_value = case.input
        if case.input_term is not None:
            input_value = parse_term(case.input_term)
        with _environment(case.env):
            attempt = _run_with_timeout(case, prepare, backend, input_value, timeout)
        if attempt is None:
            status: Status = "fail"
            reason, diff = f"timeout: still running after {timeout:g} s", ""
        else:
            status, reason, diff = _judge(case, attempt)
    except TermSyntaxError as exc:
        status, reason, diff = "fail", f"unsupported input_term: {exc}", ""
    except ImportError as exc:
        status, reason, diff = "fail", f"api unavailable: {exc}", ""
    except Exception as exc:
        status, reason, diff = "fail", f"crash: {type(exc).__name__}: {exc} (in the runner)", _traceback_tail(exc)
    return CaseOutcome(case, status, reason, diff, time.perf_counter() - start)


def run_cases(
    cases: Iterable[OpaCase],
    *,
    prepare: PrepareFn | None = None,
    backend: str | None = None,
    timeout: float = 10.0,
    run_skipped: bool = False,
    progress: Callable[[CaseOutcome], None] | None = None,
) -> list[CaseOutcome]:
    """Runs every case; one outcome per case, in order."""
    if prepare is None:
        prepare = default_prepare()
    out = []
    for case in cases:
        outcome = run_case(case, prepare=prepare, backend=backend, timeout=timeout, run_skipped=run_skipped)
        out.append(outcome)
        if progress is not None:
            progress(outcome)
    return out


def load_error_outcomes(errors: Iterable[LoadError]) -> list[CaseOutcome]:
    """Files that could not be read, as failed outcomes (so they count and are listed)."""
    return [
        CaseOutcome(None, "fail", f"load error: {e.message}", file=e.file, family=e.family, note=e.file.name)
        for e in errors
    ]


@dataclass
class FamilyCount:
    """Counts for one family (directory) of cases."""

    passed: int = 0
    failed: int = 0
    skipped: int = 0

    @property
    def run(self) -> int:
        return self.passed + self.failed


@dataclass
class Summary:
    """Per-family and total counts of a run."""

    families: dict[str, FamilyCount]
    passed: int
    failed: int
    skipped: int

    @property
    def run(self) -> int:
        return self.passed + self.failed

    @property
    def percent(self) -> float:
        return 100.0 * self.passed / self.run if self.run else 0.0

    def total_line(self) -> str:
        skipped = f", {self.skipped} skipped" if self.skipped else ""
        return f"{self.passed}/{self.run} passed ({self.percent:.1f} %){skipped}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "failed": self.failed,
            "skipped": self.skipped,
            "run": self.run,
            "percent": round(self.percent, 2),
            "families": {
                name: {"passed": c.passed, "failed": c.failed, "skipped": c.skipped}
                for name, c in sorted(self.families.items())
            },
        }


def summarize(outcomes: Iterable[CaseOutcome]) -> Summary:
    """Counts outcomes per family and in total."""
    families: dict[str, FamilyCount] = {}
    passed = failed = skipped = 0
    for o in outcomes:
        count = families.setdefault(o.family, FamilyCount())
        if o.status == "pass":
            count.passed += 1
            passed += 1
        elif o.status == "skip":
            count.skipped += 1
            skipped += 1
        else:
            count.failed += 1
            failed += 1
    return Summary(families, passed, failed, skipped)
