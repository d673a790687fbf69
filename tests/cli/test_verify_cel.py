"""`kubegate verify --engine cel`: templates' K8sNativeValidation CEL in gator suites
(fixtures/cel, our own templates with both engines, CEL only, and a broken one)."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml
from click.testing import CliRunner

from kubegate.cli.main import cli

FIXTURES = Path(__file__).parent / "fixtures" / "cel"


def verify(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["verify", "-v", *args])
    return result.exit_code, result.stdout


def test_both_engines_pass_the_same_suite() -> None:
    for engine in ("rego", "cel"):
        code, out = verify(str(FIXTURES / "suite.yaml"), "--engine", engine)
        assert code == 0, out
        assert "4 passed, 0 failed" in out


def test_the_engine_decides_which_code_runs(tmp_path: Path) -> None:
    target = tmp_path / "cel"
    shutil.copytree(FIXTURES, target)
    suite = yaml.safe_load((target / "suite.yaml").read_text())
    suite["tests"][0]["cases"][0]["assertions"] = [{"violations": 1, "message": "^cel: "}]
    (target / "suite.yaml").write_text(yaml.safe_dump(suite))
    assert verify(str(target / "suite.yaml"), "--engine", "cel")[0] == 0
    code, out = verify(str(target / "suite.yaml"))  # Rego by default: its message starts "rego: "
    assert code == 1 and "replicas/too-many" in out


def test_a_cel_expression_that_does_not_compile_is_located(tmp_path: Path) -> None:
    suite = tmp_path / "suite.yaml"
    shutil.copy(FIXTURES / "template-broken.yaml", tmp_path)
    shutil.copy(FIXTURES / "constraint-broken.yaml", tmp_path)
    shutil.copy(FIXTURES / "deploy-2.yaml", tmp_path)
    suite.write_text(
        yaml.safe_dump(
            {
                "kind": "Suite",
                "apiVersion": "test.gatekeeper.sh/v1alpha1",
                "tests": [
                    {
                        "name": "broken",
                        "template": "template-broken.yaml",
                        "constraint": "constraint-broken.yaml",
                        "cases": [{"name": "c", "object": "deploy-2.yaml", "assertions": [{"violations": "no"}]}],
                    }
                ],
            }
        )
    )
    code, out = verify(str(suite))
    assert code == 1
    # the block starts at line 16, so line 18 is the expression's second line; it fails at its '+'
    assert f"{tmp_path / 'template-broken.yaml'}:18:29: cel_type_error:" in out


def test_the_engine_annotation_overrides_the_flag_per_template(tmp_path: Path) -> None:
    target = tmp_path / "cel"
    shutil.copytree(FIXTURES, target)
    template = yaml.safe_load((target / "template-both.yaml").read_text())
    template["metadata"]["annotations"] = {"kubegate.io/engine": "cel"}
    (target / "template-both.yaml").write_text(yaml.safe_dump(template))
    suite = yaml.safe_load((target / "suite.yaml").read_text())
    suite["tests"][0]["cases"][0]["assertions"] = [{"violations": 1, "message": "^cel: "}]
    (target / "suite.yaml").write_text(yaml.safe_dump(suite))
    assert verify(str(target / "suite.yaml"))[0] == 0  # CEL although --engine defaults to rego
    template["metadata"]["annotations"] = {"kubegate.io/engine": "rego"}
    (target / "template-both.yaml").write_text(yaml.safe_dump(template))
    code, out = verify(str(target / "suite.yaml"), "--engine", "cel")
    assert code == 1 and "replicas/too-many" in out  # Rego although --engine cel
    template["metadata"]["annotations"] = {"kubegate.io/engine": "wasm"}
    (target / "template-both.yaml").write_text(yaml.safe_dump(template))
    code, out = verify(str(target / "suite.yaml"))
    assert code == 1 and "kubegate.io/engine is 'wasm'" in out
