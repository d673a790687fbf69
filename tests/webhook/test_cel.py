"""CEL templates at admission: a real `kubegate serve` over HTTPS enforces a
K8sNativeValidation-only ConstraintTemplate, and `--engine cel` switches templates
with both engines to their CEL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from kubegate.webhook.certs import CertificateFiles
from tests.webhook.conftest import Webhook, admission_review, start_webhook

FIXTURES = Path(__file__).parents[1] / "cli" / "fixtures" / "cel"
POLICIES = ["template-both.yaml", "constraint-replicas.yaml", "template-cel-only.yaml", "constraint-nolatest.yaml"]


def obj(name: str) -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((FIXTURES / name).read_text())  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def hook(tmp_path_factory: pytest.TempPathFactory, certs: CertificateFiles) -> Iterator[Webhook]:
    args = ["--no-builtin", "--engine", "cel", *[a for p in POLICIES for a in ("--policies", str(FIXTURES / p))]]
    server = start_webhook(tmp_path_factory.mktemp("cel"), certs, *args)
    yield server
    server.stop()


def test_a_cel_only_template_denies(hook: Webhook) -> None:
    answer = hook.review(admission_review(obj("pod-latest.yaml")))
    assert answer["allowed"] is False
    assert answer["status"]["message"] == "[K8sTestNoLatestCel/no-latest] no latest tags"


def test_engine_cel_runs_the_cel_of_templates_with_both(hook: Webhook) -> None:
    answer = hook.review(admission_review(obj("deploy-3.yaml")))
    assert answer["allowed"] is False
    assert answer["status"]["message"] == "[K8sTestReplicaLimit/at-most-two] cel: 3 replicas, at most 2"
    assert hook.review(admission_review(obj("deploy-2.yaml")))["allowed"] is True
