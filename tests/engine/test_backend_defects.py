"""Regression tests pinning the regopy (rego-cpp) defects kubegate works around.

Each test runs the *raw* backend on a snippet and asserts the defect is still
there. When a regopy upgrade fixes one, its test fails: then the matching
workaround in kubegate.rego.normalize / kubegate.engine.regopy_backend can be
reconsidered (and this test turned around). A second test per defect shows
kubegate's normalised form giving OPA's answer on the same snippet.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import Any

import pytest
from regopy import Interpreter, LogLevel
from regopy.rego_shared import rego_output_string, rego_query

from kubegate.engine.backend import UNDEFINED, ModuleSource
from kubegate.engine.regopy_backend import RegopyBackend
from kubegate.rego.compat import COMPAT_MODULE_NAME, compat_printed
from kubegate.rego.normalize import normalize_module
from kubegate.rego.parser import parse_module
from kubegate.rego.printer import print_module


def raw(module: str, query: str, input_value: Any = None) -> str:
    """Evaluates ``query`` on the bare backend; returns its output text."""
    interp = Interpreter()
    interp.log_level = LogLevel.NONE
    interp.add_module("m.rego", textwrap.dedent(module))
    if input_value is not None:
        interp.set_input(input_value)
    return str(rego_output_string(rego_query(interp._impl, query)))


def kubegate(module: str, rule: str, input_value: Any = None) -> Any:
    """Evaluates ``rule`` (``pkg/rule``) on kubegate's normalised form of ``module``."""
    text = print_module(normalize_module(parse_module(textwrap.dedent(module), "m.rego"))).text
    modules = [ModuleSource("m.rego", text), ModuleSource(COMPAT_MODULE_NAME, compat_printed().text)]
    backend = RegopyBackend()
    compiled = backend.compile(modules, {}, [rule])
    ev = backend.evaluator()
    ev.set_input(ev.prepare_input(input_value if input_value is not None else {}))
    return ev.query(compiled, rule)


def values(output: str) -> Any:
    return json.loads(output)["expressions"][0] if output != "undefined" else UNDEFINED


# 1. v0 partial-set heads are read as partial objects.
V0_PARTIAL_SET = """
    package t
    deny[msg] { msg := "bad" }
"""


def test_defect_v0_partial_set_read_as_object() -> None:
    assert values(raw(V0_PARTIAL_SET, "data.t.deny")) == {"bad": True}


def test_kubegate_v0_partial_set_is_a_set() -> None:
    assert kubegate(V0_PARTIAL_SET, "t/deny") == ["bad"]


# 2. A ref with a variable inside a call argument is mis-evaluated.
REF_IN_CALL = """
    package t
    import rego.v1
    ok contains i if { some i; startswith("abc", input.repos[i]) }
"""


def test_defect_ref_with_var_in_call_argument_yields_nothing() -> None:
    assert values(raw(REF_IN_CALL, "data.t.ok", {"repos": ["ab", "x"]})) == []


def test_defect_wildcard_in_call_argument_is_rejected() -> None:
    out = raw('package t\nimport rego.v1\nok if startswith("abc", input.repos[_])\n', "data.t.ok", {"repos": ["a"]})
    assert out == "<error>"  # "Invalid bracket argument"


def test_kubegate_hoists_ref_out_of_call() -> None:
    assert kubegate(REF_IN_CALL, "t/ok", {"repos": ["ab", "x"]}) == [0]


# 3. A v0 rule with several bodies is rejected for partial rules.
MULTI_BODY = """
    package t
    p[x] { x := input.a } { x := input.b }
"""


def test_defect_multi_body_partial_rule_rejected() -> None:
    assert raw(MULTI_BODY, "data.t.p", {"a": 1, "b": 2}) == "<error>"  # "only one body for dynamic keys"


def test_kubegate_splits_multi_body_rules() -> None:
    assert sorted(kubegate(MULTI_BODY, "t/p", {"a": 1, "b": 2})) == [1, 2]


# 4. `c := xs[_]` then `ys[c]` crashes the process (SIGSEGV) at compile time.
CRASH = """
    package t
    import rego.v1
    p contains t if {
        c := input.x[_]
        t := input.y[c]
    }
"""


def test_defect_assignment_from_iteration_used_as_key_crashes() -> None:
    code = "import regopy, sys\nr = regopy.Interpreter()\nr.add_module('m.rego', sys.stdin.read())\nr.query('x := 1')\n"
    proc = subprocess.run(
        [sys.executable, "-c", code], input=textwrap.dedent(CRASH), capture_output=True, text=True, timeout=60
    )
    assert proc.returncode < 0, "the backend no longer crashes on this pattern"


def test_kubegate_avoids_the_crash() -> None:
    assert kubegate(CRASH, "t/p", {"x": ["a", "b"], "y": {"a": 1, "b": 2}}) == [1, 2]


# 5. Unifying an unbound variable with a computed value fails to compile.
CYCLE = """
    package t
    import rego.v1
    res := x if {
        c := input.c
        x := [good | repo = input.repos[_]; good = startswith(c.image, repo)]
    }
"""


def test_defect_unify_with_call_result_is_a_cycle() -> None:
    assert raw(CYCLE, "data.t.res", {"c": {"image": "ab/x"}, "repos": ["ab", "x"]}) == "<error>"  # unify cycle


def test_kubegate_declares_instead_of_unifying() -> None:
    assert kubegate(CYCLE, "t/res", {"c": {"image": "ab/x"}, "repos": ["ab", "x"]}) == [True, False]


# 6. Input strings with quotes/backslashes compare unequal to the same literal.
ESCAPES = """
    package t
    import rego.v1
    eq := input.s == "q\\"uote"
"""


def test_defect_unescaped_input_strings_compare_unequal() -> None:
    assert raw(ESCAPES, "data.t.eq", {"s": 'q"uote'}) == "undefined"


def test_kubegate_escapes_input_strings() -> None:
    assert kubegate(ESCAPES, "t/eq", {"s": 'q"uote'}) is True


# 7. sprintf with surrounding text prints computed strings in quotes.
SPRINTF = """
    package t
    import rego.v1
    msg := m if { v := "lit"; m := sprintf("at: %v", [v]) }
"""


def test_defect_sprintf_quotes_computed_strings() -> None:
    assert '"lit"' in raw(SPRINTF, "data.t.msg")


def test_kubegate_formats_like_opa() -> None:
    assert kubegate(SPRINTF, "t/msg") == "at: lit"


# 8. Deprecated v0 builtins are missing.
@pytest.mark.parametrize("name", ["re_match", "any", "all", "set_diff", "cast_array", "cast_set", "print"])
def test_defect_deprecated_builtins_missing(name: str) -> None:
    assert not Interpreter().is_builtin(name)


def test_kubegate_rewrites_deprecated_builtins() -> None:
    module = """
        package t
        p { re_match("^a", "abc"); any([false, true]); not all([true, false]); print("x") }
    """
    assert kubegate(module, "t/p") is True


# 9. A comparison whose two sides both iterate finds nothing (OPA enumerates both).
BOTH_SIDES_ITERATE = """
    package t
    import rego.v1
    same contains [i, j] if { some i, j; input[i].kind == input[j].kind; i != j }
    less contains [i, j] if { input[i].n < input[j].n }
"""
ITEMS = [{"kind": "A", "n": 1}, {"kind": "A", "n": 2}, {"kind": "B", "n": 3}]


def test_defect_comparison_of_two_iterating_refs_finds_nothing() -> None:
    assert values(raw(BOTH_SIDES_ITERATE, "data.t.same", ITEMS)) == []
    assert values(raw(BOTH_SIDES_ITERATE, "data.t.less", ITEMS)) == []


def test_kubegate_binds_the_left_side_first() -> None:
    assert sorted(kubegate(BOTH_SIDES_ITERATE, "t/same", ITEMS)) == [[0, 1], [1, 0]]
    assert sorted(kubegate(BOTH_SIDES_ITERATE, "t/less", ITEMS)) == [[0, 1], [0, 2], [1, 2]]
