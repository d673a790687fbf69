"""RE2, rego-cpp and cel-cpp in one process, whatever the import order: the
allocator juggling of kubegate.evaluator.builtins._re2_loader (a wrong order
used to abort the process with ``free(): invalid pointer``)."""

from __future__ import annotations

import subprocess
import sys

import pytest

SCRIPT = """
{first}
import kubegate
from kubegate import Engine
import re2, regopy
from cel_expr_python import cel
assert re2.search('a+', 'baa').group(0) == 'aa'
assert 'true' in str(regopy.Interpreter().query('x := 1'))
assert cel.NewEnv(variables={{}}).compile('1 + 1').eval(data={{}}).plain_value() == 2
engine = Engine(objects=[], builtin=True)
assert engine.review({{'apiVersion': 'v1', 'kind': 'Pod', 'metadata': {{'name': 'p'}}, 'spec': {{}}}}) is not None
print('ok')
"""


@pytest.mark.parametrize(
    "first",
    [
        "",
        "from cel_expr_python import cel",
        "import google.protobuf.descriptor_pool\nfrom cel_expr_python import cel",
        "import regopy",
        "import re2",
    ],
    ids=["kubegate-first", "cel-first", "protobuf-and-cel-first", "regopy-first", "re2-first"],
)
def test_any_import_order_runs(first: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(first=first)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"
