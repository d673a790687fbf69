"""The DSL's image functions: ``image_verified(image, policy)`` and ``image_reason(image, policy)``
read ``kubegate.image.verify``'s answers (verified before evaluation), type-checked and compiled
to Rego, evaluated by kubegate's evaluator."""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType
from typing import Any

from kubegate import Engine
from kubegate.evaluator.builtins.kubegate_image import ImageResults

RULE = """RULE "signed-images"
  ON Pod
  WHEN ANY container c: image_verified(c.image, "") == false
  THEN DENY("{c.image} is not signed: {image_reason(c.image, \\"\\")}")
"""


def _answer(verified: bool, reason: str) -> dict[str, Any]:
    return {"verified": verified, "digest": "sha256:" + "ab" * 32, "reason": reason, "message": reason,
            "attestor": None, "cached": False, "required": True, "policy": None}  # fmt: skip


POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "api", "namespace": "payments"},
    "spec": {"containers": [{"name": "a", "image": "reg/ok:1"}, {"name": "b", "image": "reg/bad:1"}]},
}
RESULTS = ImageResults(
    MappingProxyType({("reg/ok:1", ""): _answer(True, "verified"), ("reg/bad:1", ""): _answer(False, "no_signature")})
)


def test_a_rule_denies_the_images_that_did_not_verify_and_says_why(tmp_path: Path) -> None:
    (tmp_path / "images.kgr").write_text(RULE)
    engine = Engine([str(tmp_path)], builtin=False)
    try:
        assert engine.errors == ()
        result = engine.review(POD, image_results=RESULTS)
        # Without verification results (no trust policy configured) every image is reported.
        unconfigured = engine.review(POD)
    finally:
        engine.close()
    assert [v.message for v in result.violations] == ["reg/bad:1 is not signed: no_signature"]
    assert sorted(v.message for v in unconfigured.violations) == [
        "reg/bad:1 is not signed: not_configured",
        "reg/ok:1 is not signed: not_configured",
    ]


def test_the_functions_are_type_checked(tmp_path: Path) -> None:
    (tmp_path / "bad.kgr").write_text(
        'RULE "bad"\n  ON Pod\n  WHEN ANY container c: image_verified(c.image) == false\n  THEN DENY("x")\n'
    )
    engine = Engine([str(tmp_path)], builtin=False)
    try:
        [error] = engine.errors
    finally:
        engine.close()
    assert error.code == "dsl_type_mismatch" and "image_verified takes two arguments" in error.message
    assert error.location is not None and error.location.line == 3
