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

A case kubegate knowingly gets wrong carries ``xfail: <why>`` (strict: it must
keep failing, so a fix is noticed).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubegate.engine.backend import UNDEFINED, ModuleSource
from kubegate.engine.regopy_backend import RegopyBackend
from kubegate.rego.compat import COMPAT_MODULE_NAME, compat_printed
from kubegate.rego.normalize import normalize_module
from kubegate.rego.parser import parse_module
from kubegate.rego.printer import print_module

HERE = Path(__file__).parent / "conformance"


def _cases() -> list[Any]:
    out = []
    for path in sorted(HERE.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        for case in doc["cases"]:
            marks = []
            if case.get("xfail"):
                marks.append(pytest.mark.xfail(reason=str(case["xfail"]), strict=True))
            out.append(pytest.param(case, id=f"{path.stem}:{case['name']}", marks=marks))
    return out


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


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
    got = evaluator.query(compiled, case["rule"])
    if case.get("undefined"):
        assert got is UNDEFINED
        return
    assert got is not UNDEFINED, "undefined"
    want = case["want"]
    if case.get("want_set"):
        assert sorted(map(_canonical, got)) == sorted(map(_canonical, want))
    else:
        assert got == want
