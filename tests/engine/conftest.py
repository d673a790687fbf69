"""Policies written for the engine tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.policy.conftest import CONSTRAINT, TEMPLATE

CONFTEST_STYLE = """package main

deny[msg] {
  input.kind == "Deployment"
  not input.spec.template.spec.securityContext.runAsNonRoot
  msg := sprintf("%v %v must run as non-root", [input.kind, input.metadata.name])
}
"""

NAMESPACE_SCOPED = """# METADATA
# custom:
#   id: prod-needs-team
#   match:
#     namespaceSelector: {matchLabels: {env: prod}}
package checks.team

violation[{"msg": "prod objects need a team label"}] {
  not input.review.object.metadata.labels.team
}
"""


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    (tmp_path / "template.yaml").write_text(yaml.safe_dump(TEMPLATE))
    (tmp_path / "constraint.yaml").write_text(yaml.safe_dump(CONSTRAINT))
    (tmp_path / "main.rego").write_text(CONFTEST_STYLE)
    (tmp_path / "team.rego").write_text(NAMESPACE_SCOPED)
    return tmp_path


def deployment(
    name: str = "web", replicas: int = 5, namespace: str = "prod", labels: dict[str, str] | None = None
) -> dict:  # type: ignore[type-arg]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
        "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}},
    }
