"""Expansion at admission: a real `kubegate serve` over HTTPS reviews the Pods an
admitted workload generates and answers for the workload, as Gatekeeper's webhook does."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubegate.webhook.certs import CertificateFiles
from tests.webhook.conftest import POLICIES, Webhook, admission_review, start_webhook

WORKLOAD: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "shop"},
    "spec": {
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "nginx", "image": "nginx:latest"}]},
        },
    },
}


def workload(kind: str = "Deployment", image: str = "nginx:latest") -> dict[str, Any]:
    obj = copy.deepcopy(WORKLOAD)
    obj["kind"] = kind
    obj["spec"]["template"]["spec"]["containers"][0]["image"] = image
    return obj


@pytest.fixture(scope="module")
def hooks(tmp_path_factory: pytest.TempPathFactory, certs: CertificateFiles) -> Iterator[tuple[Webhook, Webhook]]:
    policies = str(POLICIES / "expansion")
    root: Path = tmp_path_factory.mktemp("expansion")
    on = start_webhook(root / "on", certs, "--no-builtin", "--policies", policies)
    off = start_webhook(root / "off", certs, "--no-builtin", "--no-expansion", "--policies", policies)
    yield on, off
    on.stop()
    off.stop()


def test_a_deployment_is_denied_for_its_pods(hooks: tuple[Webhook, Webhook]) -> None:
    on, _ = hooks
    answer = on.review(admission_review(workload()))
    assert answer["allowed"] is False
    assert answer["status"]["code"] == 403
    assert answer["status"]["message"] == (
        "[K8sTestNoLatest/pods-no-latest] [Implied by kubegate-expand-workloads] container nginx uses a latest tag"
    )
    assert on.review(admission_review(workload(image="nginx:1.27")))["allowed"] is True


def test_a_templates_enforcement_action_turns_the_denial_into_a_warning(hooks: tuple[Webhook, Webhook]) -> None:
    _, off = hooks  # only the policy set's own template, statefulsets-warn
    assert off.review(admission_review(workload()))["allowed"] is True  # no template for Deployments
    answer = off.review(admission_review(workload("StatefulSet")))
    assert answer["allowed"] is True
    assert answer["warnings"] == [
        "[K8sTestNoLatest/pods-no-latest] [Implied by statefulsets-warn] container nginx uses a latest tag"
    ]


def test_every_template_that_applies_generates_its_object(hooks: tuple[Webhook, Webhook]) -> None:
    on, _ = hooks  # the built-in template and statefulsets-warn both expand a StatefulSet
    answer = on.review(admission_review(workload("StatefulSet")))
    assert answer["allowed"] is False
    assert "[Implied by kubegate-expand-workloads] container nginx" in answer["status"]["message"]
    assert answer["warnings"] == [
        "[K8sTestNoLatest/pods-no-latest] [Implied by statefulsets-warn] container nginx uses a latest tag"
    ]


def test_a_deletion_is_not_expanded(hooks: tuple[Webhook, Webhook]) -> None:
    on, _ = hooks
    answer = on.review(admission_review(None, operation="DELETE", old=workload()))
    assert answer["allowed"] is True
