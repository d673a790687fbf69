"""The compatibility module the normaliser targets (``compat.rego``, package ``kubegate.compat``).

It is added to every compiled policy set. It is printed without normalisation,
so the builtins it calls are the backend's own.
"""

from __future__ import annotations

import functools
from importlib import resources

from kubegate.rego import ast
from kubegate.rego.parser import parse_module
from kubegate.rego.printer import PrintedModule, print_module

__all__ = ["COMPAT_MODULE_NAME", "compat_module", "compat_printed"]

COMPAT_MODULE_NAME = "kubegate/compat.rego"


@functools.cache
def compat_module() -> ast.Module:
    text = resources.files("kubegate.rego").joinpath("compat.rego").read_text("utf-8")
    return parse_module(text, COMPAT_MODULE_NAME, "v1")


@functools.cache
def compat_printed() -> PrintedModule:
    return print_module(compat_module())
