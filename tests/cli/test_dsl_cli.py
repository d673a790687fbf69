"""`kubegate compile` and `kubegate lint` with the real binary's exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

GOOD = 'RULE no_latest ON Pod WHEN ANY container c: c.image ENDS WITH ":latest" THEN DENY("{c.name} uses :latest")\n'
BAD = 'RULE bad ON Pod WHEN ANY container c: c.imag ENDS WITH ":latest" THEN DENY("x")\n'


def kubegate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kubegate", *args], capture_output=True, text=True, timeout=120)


def test_lint_exit_codes(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.kgr", tmp_path / "bad.kgr"
    good.write_text(GOOD)
    bad.write_text(BAD)
    ok = kubegate("lint", str(good))
    assert ok.returncode == 0 and "1 rule(s) OK" in ok.stdout
    found = kubegate("lint", str(bad), str(good))
    assert found.returncode == 1
    assert f"{bad}:1:41: dsl_unknown_field: Container has no field 'imag'; did you mean 'image'?" in found.stderr
    assert "Traceback" not in found.stderr
    as_json = kubegate("lint", "-o", "json", str(bad))
    doc = json.loads(as_json.stdout)
    assert as_json.returncode == 1 and doc["diagnostics"][0]["code"] == "dsl_unknown_field"
    assert doc["diagnostics"][0]["location"] == {"file": str(bad), "line": 1, "column": 41}
    usage = kubegate("lint", str(tmp_path / "missing.kgr"))
    assert usage.returncode == 2 and "file_not_found" in usage.stderr
    version = kubegate("lint", "--kubernetes-version", "0.1", str(good))
    assert version.returncode == 2 and "unknown_kubernetes_version" in version.stderr


def test_compile_to_a_directory_and_to_stdout(tmp_path: Path) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "good.kgr").write_text(GOOD)
    out = tmp_path / "out"
    written = kubegate("compile", str(tmp_path / "rules"), "-o", str(out))
    assert written.returncode == 0, written.stderr
    rego = (out / "no_latest.rego").read_text()
    assert rego.startswith("# METADATA") and "package kubegate_dsl.no_latest" in rego and "import rego.v1" in rego
    printed = kubegate("compile", str(tmp_path / "rules" / "good.kgr"))
    assert printed.returncode == 0 and printed.stdout == rego
    # The compiled Rego is checked like any policy.
    check = kubegate("check", "--no-builtin", "-p", str(out), "-o", "json", "-")
    assert check.returncode == 2  # no input on stdin: usage


def test_crd_option(tmp_path: Path) -> None:
    crd = tmp_path / "crd.yaml"
    crd.write_text(
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.example.com}\n"
        "spec:\n  group: example.com\n  names: {kind: Widget, plural: widgets}\n  scope: Namespaced\n  versions:\n"
        "  - name: v1\n    served: true\n    storage: true\n    schema:\n      openAPIV3Schema:\n        type: object\n"
        "        properties:\n          spec: {type: object, properties: {size: {type: integer}}}\n"
    )
    rule = tmp_path / "w.kgr"
    rule.write_text('RULE big ON Widget WHEN spec.size > 3 THEN DENY("big")\n')
    assert kubegate("lint", str(rule)).returncode == 1
    assert kubegate("lint", "--crd", str(crd), str(rule)).returncode == 0
