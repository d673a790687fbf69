"""Runs the Rego conformance cases in ``conformance/*.yaml``.

Each case gives one or more modules, an optional input and base data, an
entrypoint ``rule`` (``pkg/path/rule``) and the value OPA returns for it
(``want``), or ``undefined: true``. Partial sets are compared without order
(``want_set: true``). The modules go through kubegate's parser, normaliser and
printer, then the regopy backend, exactly as policies do.

Format::

    cases:
    - name: v0 partial set
      modules:
      - |
        package t
        deny[msg] { msg := "x" }
      rule: t/deny
      input: {}
      want: ["x"]
      want_set: true

Every case runs on both backends (a differential test). A case the regopy
backend knowingly gets wrong carries ``xfail: <why>`` (strict: it must keep
failing, so a fix is noticed); the compiled backend (kubegate's own
evaluator) must pass every case, unless ``xfail_compiled: <why>``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubegate.engine.backend import UNDEFINED, ModuleSource
from kubegate.engine.regopy_backend import RegopyBackend
from kubegate.evaluator.context import Context
from kubegate.evaluator.program import Program
from kubegate.evaluator.values import UNDEF, to_json
from kubegate.rego.compat import COMPAT_MODULE_NAME, compat_printed
from kubegate.rego.normalize import normalize_module
from kubegate.rego.parser import parse_module
from kubegate.rego.printer import print_module

HERE = Path(__file__).parent / "conformance"


def _cases(backend: str = "regopy") -> list[Any]:
    out = []
    key = "xfail" if backend == "regopy" else "xfail_compiled"
    for path in sorted(HERE.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        for case in doc["cases"]:
            marks = []
            if case.get(key):
                marks.append(pytest.mark.xfail(reason=str(case[key]), strict=True))
            out.append(pytest.param(case, id=f"{path.stem}:{case['name']}", marks=marks))
    return out


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _check(case: dict[str, Any], got: Any) -> None:
    if case.get("undefined"):
        assert got is UNDEFINED
        return
    assert got is not UNDEFINED, "undefined"
    want = case["want"]
    if case.get("want_set"):
        assert sorted(map(_canonical, got)) == sorted(map(_canonical, want))
    else:
        assert got == want


@pytest.mark.parametrize("case", _cases("compiled"))
def test_conformance_compiled(case: dict[str, Any]) -> None:
    """The modules as written, on kubegate's own evaluator."""
    modules = [parse_module(text, f"m{i}.rego", case.get("version")) for i, text in enumerate(case["modules"])]
    program = Program(modules, case.get("data") or {})
    node = program.node_at(tuple(case["rule"].split("/")))
    assert node is not None
    value = node.value(Context(case.get("input", {}), program.data, strict=False))
    _check(case, UNDEFINED if value is UNDEF else to_json(value))


@pytest.mark.parametrize("case", _cases())
def test_conformance(case: dict[str, Any]) -> None:
    modules = []
    for i, text in enumerate(case["modules"]):
        module = parse_module(text, f"m{i}.rego", case.get("version"))
        modules.append(ModuleSource(f"m{i}.rego", print_module(normalize_module(module)).text))
    modules.append(ModuleSource(COMPAT_MODULE_NAME, compat_printed().text))
    backend = RegopyBackend()
    compiled = backend.compile(modules, case.get("data") or {}, [case["rule"]])
    evaluator = backend.evaluator()
    evaluator.set_input(evaluator.prepare_input(case.get("input", {})))
    _check(case, evaluator.query(compiled, case["rule"]))
