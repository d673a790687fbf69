"""What the ``--backend`` tests share: which backends the commands built, and tiny policies."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import kubegate.cli.store
import kubegate.cli.verify
import kubegate.engine.engine
import kubegate.webhook.server
from kubegate.engine.backend import Backend
from kubegate.engine.backends import make_backend

# Basic Rego only (no builtins), so that it means the same on every backend.
REQUIRE_OWNER = """# METADATA
# custom:
#   id: require-owner
package tiny.owner

import rego.v1

deny contains msg if {
	input.review.object.kind == "ConfigMap"
	not input.review.object.metadata.labels.owner
	msg := "configmap has no owner"
}
"""


BACKEND_NAMES = ("regopy", "compiled")


def configmap(name: str, labels: dict[str, str] | None = None) -> dict[str, object]:
    metadata: dict[str, object] = {"name": name, "namespace": "shop"}
    if labels:
        metadata["labels"] = labels
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata}


@pytest.fixture
def built_backends(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The names of the backends the commands build (``make_backend`` wherever they call it)."""
    names: list[str] = []

    def spy(backend: str | Backend | None = None) -> Backend:
        made = make_backend(backend)
        names.append(made.name)
        return made

    for module in (kubegate.engine.engine, kubegate.cli.verify, kubegate.cli.store, kubegate.webhook.server):
        monkeypatch.setattr(module, "make_backend", spy)
    yield names
