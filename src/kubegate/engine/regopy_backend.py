"""The regopy backend: Microsoft's rego-cpp through its Python bindings.

Compilation uses ``Interpreter.build`` with explicit entrypoints, which yields
a bundle that any interpreter can evaluate; each thread keeps its own
interpreter and shares the bundle (rego-cpp calls go through ctypes and
release the GIL, so threads evaluate in parallel).

Known defects of the library are worked around by
:mod:`kubegate.rego.normalize` and pinned by ``tests/engine/test_backend_defects.py``.
Two more are handled here:

* a failed build prints its diagnostics to the process's standard output and
  returns an error node without locations; kubegate builds with the log level
  at ``NONE`` and, only when a build fails, repeats it in a child process to
  read the located message;
* the module text a build fails on is reported against kubegate's own
  module names, which the caller maps back to source files.
"""

from __future__ import annotations

import ctypes
import json
import re
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import regopy
from regopy import Input, Interpreter, LogLevel, rego_shared
from regopy.rego_shared import (
    NodeKind,
    rego_bundle_query_entrypoint,
    rego_free_output,
    rego_node_get,
    rego_node_json,
    rego_node_size,
    rego_node_type,
    rego_node_value,
    rego_output_expressions_at_index,
    rego_output_node,
    rego_output_ok,
    rego_output_string,
)

from kubegate.engine.backend import REGEX_FLAGS, UNDEFINED, ModuleSource
from kubegate.errors import BackendError, EvaluationError, InputError, KubegateError, Location, RegoCompileError

__all__ = ["RegopyBackend"]

_LOCATION = re.compile(r"^-- (?P<file>.+):(?P<line>\d+):(?P<col>\d+)\s*$")
_DIAGNOSE_TIMEOUT_S = 60

_DIAGNOSE_SCRIPT = r"""
import json, sys
import regopy
from regopy import Interpreter, LogLevel
spec = json.load(sys.stdin)
r = Interpreter()
r.log_level = LogLevel.ERROR
for name, text in spec["modules"]:
    r.add_module(name, text)
if spec["data"]:
    r.add_data(spec["data"])
b = r.build(None, spec["entrypoints"])
sys.stdout.flush()
"""


_TERM, _SCALAR, _STRING, _INT, _FLOAT = NodeKind.Term, NodeKind.Scalar, NodeKind.String, NodeKind.Int, NodeKind.Float
_TRUE, _FALSE, _BOOLEAN, _NULL = NodeKind.True_, NodeKind.False_, NodeKind.Boolean, NodeKind.Null
_ARRAY, _SET, _TERMS, _OBJECT = NodeKind.Array, NodeKind.Set, NodeKind.Terms, NodeKind.Object
_UNDEFINED, _ERROR, _ERROR_SEQ = NodeKind.Undefined, NodeKind.Error, NodeKind.ErrorSeq
_NEEDS_ESCAPE = re.compile(r'["\\\x00-\x1f]')
_lib = rego_shared.rego
_lib.regoOutputSize.restype = ctypes.c_uint32
_lib.regoOutputSize.argtypes = [ctypes.c_void_p]
rego_output_size = _lib.regoOutputSize


def _escaped(text: str) -> bytes:
    """rego-cpp keeps strings in their JSON-escaped source form; input must match."""
    if _NEEDS_ESCAPE.search(text):
        text = json.dumps(text, ensure_ascii=False)[1:-1]
    return text.encode("utf-8")


def _input_error(exc: Exception) -> InputError:
    if isinstance(exc, UnicodeEncodeError):
        return InputError(
            f"the input has a string with a lone UTF-16 surrogate ({exc.object[exc.start : exc.end]!a}), "
            "which is not valid Unicode",
            code="invalid_unicode",
        )
    if isinstance(exc, OverflowError):
        return InputError(
            "the input has a number beyond the range the regopy backend holds", code="number_out_of_range"
        )
    return InputError("the input nests too deeply for the regopy backend", code="input_too_deep")


def build_input(value: Any) -> Input:
    """Converts a JSON-compatible value into a regopy ``Input``.

    Unlike ``regopy.Input(value)``, strings and keys are JSON-escaped, as the
    backend stores string literals: without it a string containing a quote, a backslash
    or a control character compares unequal to the same literal in a policy
    and breaks the JSON of results (regression test: test_backend_defects.py).

    Raises:
        EvaluationError: for values JSON cannot represent.
        InputError: ``invalid_unicode`` (a string with a lone UTF-16
            surrogate, which has no UTF-8 form), ``number_out_of_range`` (an
            integer beyond the float range, which this backend cannot hold),
            ``input_too_deep`` (nesting beyond the recursion limit).
    """
    put_str, put_int, put_float = _lib.regoInputString, _lib.regoInputInt, _lib.regoInputFloat
    put_bool, put_null = _lib.regoInputBoolean, _lib.regoInputNull
    put_item, put_obj, put_arr = _lib.regoInputObjectItem, _lib.regoInputObject, _lib.regoInputArray
    handle = _lib.regoNewInput()
    failed = 0

    def add(v: Any) -> None:
        nonlocal failed
        if isinstance(v, str):
            failed |= put_str(handle, _escaped(v))
        elif v is True or v is False:
            failed |= put_bool(handle, v)
        elif isinstance(v, int):
            if -(2**63) <= v < 2**63:
                failed |= put_int(handle, v)
            else:
                failed |= put_float(handle, float(v))
        elif isinstance(v, float):
            failed |= put_float(handle, v)
        elif v is None:
            failed |= put_null(handle)
        elif isinstance(v, dict):
            for key, item in v.items():
                failed |= put_str(handle, _escaped(str(key)))
                add(item)
                failed |= put_item(handle)
            failed |= put_obj(handle, len(v))
        elif isinstance(v, (list, tuple)):
            for item in v:
                add(item)
            failed |= put_arr(handle, len(v))
        else:
            raise EvaluationError(f"input contains a {type(v).__name__}, which has no JSON form")

    try:
        add(value)
    except (UnicodeEncodeError, OverflowError, RecursionError) as exc:
        _lib.regoFreeInput(handle)
        raise _input_error(exc) from None
    except (EvaluationError, ctypes.ArgumentError) as exc:
        _lib.regoFreeInput(handle)
        raise EvaluationError(f"input cannot be passed to the backend: {exc}") from None
    if failed:
        _lib.regoFreeInput(handle)
        raise EvaluationError("input cannot be passed to the backend")
    prepared: Input = Input.__new__(Input)
    prepared._impl = handle
    return prepared


def _quiet_interpreter() -> Interpreter:
    interp = Interpreter()
    interp.log_level = LogLevel.NONE
    return interp


class _RegopyCompiled:
    """A compiled unit: a regopy bundle and its entrypoints (immutable, shared by threads)."""

    def __init__(self, bundle: Any, entrypoints: Sequence[str]) -> None:
        self.bundle = bundle
        self._entrypoints = tuple(entrypoints)

    @property
    def entrypoints(self) -> Sequence[str]:
        return self._entrypoints


class _RegopyEvaluator:
    """One interpreter per thread: holds the input, queries any compiled unit."""

    def __init__(self) -> None:
        self._interp = _quiet_interpreter()

    def prepare_input(self, value: Any) -> Any:
        return build_input(value)

    def set_input(self, value: Any) -> None:
        self._interp.set_input(value)

    def release_input(self) -> None:
        """Nothing to forget: rego-cpp keeps the input until the next one."""

    def query(self, compiled: Any, entrypoint: str) -> Any:
        impl = rego_bundle_query_entrypoint(self._interp._impl, compiled.bundle._impl, entrypoint)
        try:
            # rego-cpp may flag an error result as "ok"; look at the node before
            # descending into it (reading an error node as results aborts the process).
            root = rego_output_node(impl)
            kind = rego_node_type(root) if root else None
            if not rego_output_ok(impl) or kind in (_ERROR, _ERROR_SEQ):
                raise EvaluationError(f"evaluating {entrypoint} failed: {_error_message(rego_output_string(impl))}")
            if kind == _UNDEFINED or rego_output_size(impl) == 0:
                return UNDEFINED
            node = rego_output_expressions_at_index(impl, 0)
            if not node or rego_node_size(node) == 0:
                return UNDEFINED
            return read_node(rego_node_get(node, 0))
        finally:
            rego_free_output(impl)


def _error_message(text: str) -> str:
    """The ``errormsg`` of a backend error dump, else its first line."""
    found = _NODE_MESSAGE.search(text)
    if found:
        return found.group("message").strip()
    return (text.strip().splitlines() or ["backend error"])[0]


def _decode_string(raw: str) -> str:
    """Decodes a backend string (its escaped source form, quotes included).

    Builtins such as ``sprintf`` insert raw ``"`` into that form, and string
    functions can leave escapes like ``\\N``; both are decoded leniently.
    """
    if len(raw) >= 2 and raw[0] == '"' and raw[-1] == '"':
        raw = raw[1:-1]
    if "\\" not in raw and '"' not in raw:
        return raw
    try:
        value = json.loads('"' + raw + '"')
        if isinstance(value, str):
            return value
    except ValueError:
        pass
    out: list[str] = []
    i, n = 0, len(raw)
    simple = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
    while i < n:
        ch = raw[i]
        if ch == "\\" and i + 1 < n:
            nxt = raw[i + 1]
            if nxt in simple:
                out.append(simple[nxt])
                i += 2
                continue
            if nxt == "u" and i + 6 <= n:
                try:
                    out.append(chr(int(raw[i + 2 : i + 6], 16)))
                    i += 6
                    continue
                except ValueError:
                    pass
            out.append(nxt)
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def read_node(node: Any) -> Any:
    """Converts a backend result node into a JSON-compatible value.

    Reading the node tree instead of the backend's JSON text keeps results
    intact when a string holds characters the backend does not escape.
    """
    kind = rego_node_type(node)
    if kind in (_TERM, _SCALAR):
        return read_node(rego_node_get(node, 0))
    if kind == _STRING:
        return _decode_string(rego_node_value(node))
    if kind == _INT:
        return int(rego_node_value(node))
    if kind == _FLOAT:
        return float(rego_node_value(node))
    if kind in (_TRUE, _FALSE, _BOOLEAN):
        # rego-cpp spells computed booleans "True" in some paths (membership results).
        return str(rego_node_value(node)).lower() == "true" if kind == _BOOLEAN else kind == _TRUE
    if kind == _NULL:
        return None
    if kind in (_ARRAY, _SET, _TERMS):
        return [read_node(rego_node_get(node, i)) for i in range(rego_node_size(node))]
    if kind == _OBJECT:
        out: dict[str, Any] = {}
        for i in range(rego_node_size(node)):
            item = rego_node_get(node, i)
            key = read_node(rego_node_get(item, 0))
            out[key if isinstance(key, str) else json.dumps(key)] = read_node(rego_node_get(item, 1))
        return out
    if kind == _UNDEFINED:
        return UNDEFINED
    if kind in (_ERROR, _ERROR_SEQ):
        raise EvaluationError(f"the backend returned an error term: {rego_node_json(node)[:200]}")
    raise EvaluationError(f"unexpected backend result node kind {kind}")


# Builtins whose rego-cpp implementation differs from OPA in ways kubegate
# cannot rewrite around (measured; see docs/compatibility.md).
KNOWN_DIVERGENCES: dict[str, str] = {
    "semver.compare": "compares 1.10.0 below 1.9.0 and ranks pre-releases above releases",
    "net.cidr_contains": "is undefined for every input",
    "json.marshal": "is undefined for input values that contain arrays",
    "object.union": "replaces nested objects instead of merging them",
    "format_int": "gives wrong digits for bases other than 10 and for negative numbers",
    "strings.replace_n": "applies the replacements one after another instead of in one pass",
    "upper": "only changes ASCII letters",
    "lower": "only changes ASCII letters",
    REGEX_FLAGS: "never matches: flags such as (?i) work only in a literal pattern argument",
}


class RegopyBackend:
    """:class:`~kubegate.engine.backend.Backend` over regopy (rego-cpp)."""

    name = "regopy"
    version = str(regopy.__version__)
    divergences: Mapping[str, str] = KNOWN_DIVERGENCES

    def __init__(self) -> None:
        self._probe = _quiet_interpreter()
        self._builtins: dict[str, bool] = {}
        self._probe_lock = threading.Lock()
        self._local = threading.local()

    def evaluator(self) -> _RegopyEvaluator:
        """See :meth:`kubegate.engine.backend.Backend.evaluator`."""
        ev: _RegopyEvaluator | None = getattr(self._local, "evaluator", None)
        if ev is None:
            ev = _RegopyEvaluator()
            self._local.evaluator = ev
        return ev

    def is_builtin(self, name: str) -> bool:
        """See :meth:`kubegate.engine.backend.Backend.is_builtin`."""
        with self._probe_lock:
            known = self._builtins.get(name)
            if known is None:
                known = bool(self._probe.is_builtin(name))
                self._builtins[name] = known
            return known

    def compile(
        self, modules: Sequence[ModuleSource], data: Mapping[str, Any], entrypoints: Sequence[str]
    ) -> _RegopyCompiled:
        """See :meth:`kubegate.engine.backend.Backend.compile`."""
        if not entrypoints:
            raise BackendError("nothing to compile: no entrypoints")
        interp = _quiet_interpreter()
        try:
            for module in modules:
                interp.add_module(module.name, module.text)
            if data:
                interp.add_data(dict(data))
            bundle = interp.build(None, list(entrypoints))
        except regopy.RegoError as exc:
            raise parse_node_error(str(exc), {m.name: m.text for m in modules}) from None
        if not bundle.ok():
            raise _diagnose(modules, data, entrypoints)
        return _RegopyCompiled(bundle, entrypoints)


def _diagnose(modules: Sequence[ModuleSource], data: Mapping[str, Any], entrypoints: Sequence[str]) -> RegoCompileError:
    """Rebuilds in a child process with diagnostics on; returns the first error."""
    spec = {"modules": [[m.name, m.text] for m in modules], "data": dict(data), "entrypoints": list(entrypoints)}
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _DIAGNOSE_SCRIPT],
            input=json.dumps(spec),
            capture_output=True,
            text=True,
            timeout=_DIAGNOSE_TIMEOUT_S,
            check=False,
        )
        text = proc.stdout + proc.stderr
        crashed = proc.returncode < 0
    except (OSError, subprocess.TimeoutExpired) as exc:
        return RegoCompileError(f"the policy set does not compile (diagnostics unavailable: {exc})")
    if crashed:
        return RegoCompileError(f"the backend crashed compiling the policy set (signal {-proc.returncode})")
    return parse_backend_errors(text, {m.name: m.text for m in modules})


_NODE_ERROR = re.compile(r"\(error \d+:(?P<file>[^|\s]+)\|(?P<offset>\d+)\|(?P<length>\d+)")
_NODE_MESSAGE = re.compile(r"\(errormsg \d+:(?P<message>[^)\n]*)\)")


def parse_node_error(text: str, sources: Mapping[str, str]) -> KubegateError:
    """Turns the error-node dump regopy raises from ``add_module`` into a located error.

    The dump names the module and a byte offset: ``(error 31:name|797|238``.
    """
    where = _NODE_ERROR.search(text)
    what = _NODE_MESSAGE.search(text)
    message = what.group("message").strip() if what else "the backend rejected a module"
    if where is None or where.group("file") not in sources:
        return BackendError(f"regopy rejected the policy set: {message}")
    source = sources[where.group("file")]
    offset = min(int(where.group("offset")), len(source.encode("utf-8")))
    prefix = source.encode("utf-8")[:offset].decode("utf-8", errors="replace")
    line = prefix.count("\n") + 1
    column = len(prefix) - (prefix.rfind("\n") + 1) + 1
    lines = source.splitlines()
    snippet = lines[line - 1] if 0 < line <= len(lines) else None
    return RegoCompileError(message, Location(where.group("file"), line, column, snippet))


def parse_backend_errors(text: str, sources: Mapping[str, str]) -> RegoCompileError:
    """Turns rego-cpp's printed diagnostics into a :class:`RegoCompileError`.

    The printed form is ``Errors:`` then, per error, the message, a
    ``-- file:line:col`` line, the source line, a marker line, and the error code.
    """
    lines = text.splitlines()
    message = None
    location = None
    code = None
    for i, line in enumerate(lines):
        m = _LOCATION.match(line)
        if m and message is None:
            message = lines[i - 1].strip() if i > 0 else "compile error"
            file = m.group("file")
            line_no = int(m.group("line"))
            src = sources.get(file, "").splitlines()
            snippet = src[line_no - 1] if 0 < line_no <= len(src) else None
            location = Location(file, line_no, int(m.group("col")), snippet)
            for follow in lines[i + 1 : i + 8]:
                if follow.strip().endswith("_error"):
                    code = follow.strip()
                    break
    if message is None:
        message = next((ln.strip() for ln in lines if ln.strip() and ln.strip() != "Errors:"), "compile error")
    details = {"backendCode": code} if code else {}
    return RegoCompileError(message, location, details=details)
