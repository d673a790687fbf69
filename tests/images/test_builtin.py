"""``kubegate.image.verify`` / ``kubegate.image.digest`` in Rego: answers read from prefetched
results (no I/O in evaluation), through kubegate's evaluator."""

from __future__ import annotations

import threading
from types import MappingProxyType
from typing import Any

import pytest

from kubegate.errors import KubegateError
from kubegate.evaluator.builtins.kubegate_image import ImageResults, current_image_results, use_image_results
from kubegate.evaluator.query import prepare_query

DIGEST = "sha256:" + "ab" * 32
MODULE = """package t
import rego.v1
v := kubegate.image.verify(input.image, input.policy)
d := kubegate.image.digest(input.image)
"""


def run(query: str, image: str, policy: str = "") -> Any:
    found = prepare_query(query, modules={"t.rego": MODULE}).eval(input={"image": image, "policy": policy})
    return found[0].expressions[0] if found else None


def answer(reason: str, verified: bool = False, policy: str | None = "payments", **extra: Any) -> dict[str, Any]:
    base = {"verified": verified, "digest": DIGEST, "reason": reason, "message": f"m {reason}", "attestor": None}
    return {**base, "cached": False, "required": True, "policy": policy, **extra}


RESULTS = ImageResults(
    MappingProxyType(
        {
            ("reg/payments/api:1", ""): answer("verified", True, attestor="release"),
            ("reg/payments/old:1", "legacy"): answer("no_signature", policy="legacy"),
        }
    )
)


def test_not_configured_without_results() -> None:
    got = run("data.t.v", "reg/payments/api:1")
    assert (got["verified"], got["reason"], got["required"]) == (False, "not_configured", True)
    assert "reg/payments/api:1" in got["message"]


def test_answers_from_prefetched_results() -> None:
    with use_image_results(RESULTS):
        got = run("data.t.v", "reg/payments/api:1")
        assert (got["verified"], got["reason"], got["attestor"], got["digest"]) == (True, "verified", "release", DIGEST)
        # the policy the globs chose, asked for by name
        assert run("data.t.v", "reg/payments/api:1", "payments")["verified"] is True
        assert run("data.t.v", "reg/payments/api:1", "other")["reason"] == "not_verified"
        assert run("data.t.v", "reg/payments/old:1", "legacy")["reason"] == "no_signature"
        assert run("data.t.v", "reg/payments/new:1")["reason"] == "not_verified"
        assert run("data.t.d", "reg/payments/api:1") == DIGEST
        assert run("data.t.d", "reg/payments/new:1") is None  # undefined
    assert current_image_results() is None


def test_offline() -> None:
    with use_image_results(ImageResults(offline=True)):
        got = run("data.t.v", "reg/payments/api:1")
    assert (got["verified"], got["reason"]) == (False, "offline")


def test_digest_of_a_pinned_reference_needs_no_prefetch() -> None:
    assert run("data.t.d", f"reg/payments/api@{DIGEST}") == DIGEST
    assert run("data.t.d", "reg/payments/api:1") is None


def test_results_are_per_thread() -> None:
    seen: list[Any] = []
    with use_image_results(RESULTS):
        thread = threading.Thread(target=lambda: seen.append(run("data.t.v", "reg/payments/api:1")["reason"]))
        thread.start()
        thread.join()
        assert run("data.t.v", "reg/payments/api:1")["reason"] == "verified"
    assert seen == ["not_configured"]


def test_operand_types_and_arity() -> None:
    module = 'package t\nv := kubegate.image.verify(1, "")\n'
    assert prepare_query("data.t.v", modules={"t.rego": module}).eval() == []  # undefined, as OPA's type errors
    with pytest.raises(KubegateError) as info:
        prepare_query("data.t.v", modules={"t.rego": 'package t\nv := kubegate.image.verify("x")\n'})
    assert info.value.code == "rego_type_error"
