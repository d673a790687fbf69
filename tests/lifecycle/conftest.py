"""Policy files for the lifecycle tests (written for kubegate)."""

from __future__ import annotations

import pytest

from kubegate.engine.regopy_backend import RegopyBackend
from kubegate.lifecycle.builder import PolicySetBuilder
from kubegate.lifecycle.manager import PolicyManager


def rule(name: str, marker: str, rollout: str = "") -> str:
    """A DSL rule denying every Pod with a message carrying ``marker`` (the version a test expects)."""
    clause = f" ROLLOUT {rollout}" if rollout else ""
    return f'RULE {name} ON Pod{clause} WHEN kind == "Pod" THEN DENY("{name} {marker}")\n'


def template(kind: str, message: str) -> str:
    return (
        "apiVersion: templates.gatekeeper.sh/v1\nkind: ConstraintTemplate\n"
        f"metadata: {{name: {kind.lower()}}}\n"
        f"spec:\n  crd: {{spec: {{names: {{kind: {kind}}}}}}}\n  targets:\n  - target: admission.k8s.gatekeeper.sh\n"
        "    rego: |\n"
        f"      package {kind.lower()}\n"
        f'      violation[{{"msg": "{message}"}}] {{ input.review.object.kind == "Pod" }}\n'
    )


def constraint(kind: str, name: str, annotations: str = "") -> str:
    meta = f"{{name: {name}, annotations: {{{annotations}}}}}" if annotations else f"{{name: {name}}}"
    return f"apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: {kind}\nmetadata: {meta}\nspec: {{}}\n"


POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "shop"}, "spec": {"containers": []}}


def review(uid: str = "u-1", namespace: str = "shop") -> dict:  # type: ignore[type-arg]
    from kubegate.engine.inputs import build_review

    r = build_review({**POD, "metadata": {"name": "p", "namespace": namespace}})
    r["uid"] = uid
    return r


@pytest.fixture
def builder() -> PolicySetBuilder:
    return PolicySetBuilder(RegopyBackend(), builtin=False)


@pytest.fixture
def manager(builder: PolicySetBuilder) -> PolicyManager:
    return PolicyManager(builder)
