"""How a naive harness on the bare regopy backend does on Gatekeeper test suites.

For comparison with ``kubegate verify``: each test's template Rego and libs are
given to regopy as written, the case object is reviewed with
``input = {"review": ..., "parameters": ...}`` and ``data.<package>.violation``
is counted, with the same assertion rules as ``gator verify``. Each test runs
in a child process because some templates crash the backend.

Usage::

    .venv/bin/python benchmarks/gatekeeper_bare.py PATH-TO/gatekeeper-library/library
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CHILD = r"""
import json, re, sys
import regopy
from regopy import Input, Interpreter, LogLevel
from kubegate.cli.suites import check_assertion
from kubegate.engine.engine import build_review
from kubegate.policy.documents import load_file
from kubegate.policy.loader import load_policy_paths
from kubegate.policy.review import review_from_object

spec = json.loads(sys.stdin.read())
src = load_policy_paths([spec["template"], spec["constraint"]])
template, constraint = src.templates[0], src.constraints[0]
interp = Interpreter(); interp.log_level = LogLevel.NONE
interp.add_module("template.rego", template.rego.text)
for i, lib in enumerate(template.libs):
    interp.add_module(f"lib{i}.rego", lib.text)
package = re.search(r"^package\s+([\w.]+)", template.rego.text, re.M).group(1)
results = []
for case in spec["cases"]:
    try:
        obj = load_file(case["object"])[0].obj
        if obj.get("kind") == "AdmissionReview":
            review = build_review(obj)
        else:
            review = review_from_object(obj, operation="")
        inventory = [d.obj for f in case.get("inventory", []) for d in load_file(f)]
        run = Interpreter(); run.log_level = LogLevel.NONE
        run.add_module("template.rego", template.rego.text)
        for i, lib in enumerate(template.libs):
            run.add_module(f"lib{i}.rego", lib.text)
        if inventory:
            from kubegate.policy.inventory import Inventory
            run.add_data({"inventory": dict(Inventory.from_objects(inventory).data)})
        run.set_input(Input({"review": review, "parameters": dict(constraint.parameters)}))
        out = run.query(f"data.{package}.violation")
        value = out.results[0].expressions[0] if out.ok() and out.results and out.results[0].expressions else []
        items = value if isinstance(value, list) else list(value.keys()) if isinstance(value, dict) else []
        messages = [i.get("msg", "") if isinstance(i, dict) else str(i) for i in items]
        failure = None
        for assertion in case["assertions"]:
            failure = failure or check_assertion(assertion, messages)
        results.append({"case": case["name"], "passed": failure is None, "error": None})
    except Exception as exc:
        results.append({"case": case["name"], "passed": False, "error": f"{type(exc).__name__}: {exc}"[:200]})
print(json.dumps(results))
"""


def main(root: Path) -> None:
    from kubegate.cli.suites import find_suites

    passed = failed = crashed = 0
    for suite in find_suites([str(root)]):
        base = Path(suite.path).parent
        for test in suite.tests:
            cases = [
                {
                    "name": c["name"],
                    "object": str(base / c["object"]),
                    "inventory": [str(base / i) for i in c.get("inventory") or []],
                    "assertions": c.get("assertions") or [],
                }
                for c in test.get("cases") or []
            ]
            if test.get("invalid") or not cases:
                continue
            spec = {
                "template": str(base / test["template"]),
                "constraint": str(base / test["constraint"]),
                "cases": cases,
            }
            proc = subprocess.run(
                [sys.executable, "-c", CHILD], input=json.dumps(spec), capture_output=True, text=True, timeout=300
            )
            if proc.returncode != 0:
                crashed += 1
                failed += len(cases)
                continue
            for result in json.loads(proc.stdout):
                passed += result["passed"]
                failed += not result["passed"]
    total = passed + failed
    print(
        f"bare regopy: {passed}/{total} cases passed ({100 * passed / total:.1f}%), {crashed} tests crashed the backend"
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
