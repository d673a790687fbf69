"""Rebasing modules and redirecting data references (Gatekeeper template isolation)."""

from __future__ import annotations

from kubegate.rego.parser import parse_module
from kubegate.rego.printer import print_module
from kubegate.rego.rewrite import rebase_module, rewrite_data_prefixes

TEMPLATE = """package k8sfoo
import data.lib.helpers.is_ok
import data.lib.util
violation[{"msg": m}] { not is_ok(input.x); util.check(1); data.lib.util.other; data.k8sfoo.y; m := "x" }
y = 1 { true }
"""


def test_rebase_moves_package_and_rewrites_lib_refs_imports_and_calls() -> None:
    module = parse_module(TEMPLATE, "t.rego")
    base = ("kubegate", "templates", "K8sFoo")
    out = print_module(rebase_module(module, base, {("lib",): (*base, "lib")})).text
    assert out.startswith("package kubegate.templates.K8sFoo\n")
    assert "import data.kubegate.templates.K8sFoo.lib.helpers.is_ok" in out
    assert "import data.kubegate.templates.K8sFoo.lib.util\n" in out
    assert "data.kubegate.templates.K8sFoo.lib.util.other" in out
    assert "data.kubegate.templates.K8sFoo.y" in out
    assert "data.lib" not in out


def test_longest_prefix_wins_and_other_data_untouched() -> None:
    module = parse_module("package p\nx = data.a.b.c { data.inventory.cluster }\n", "t.rego")
    out = print_module(rewrite_data_prefixes(module, {("a",): ("z",), ("a", "b"): ("y",)})).text
    assert "data.y.c" in out and "data.inventory.cluster" in out
