"""deploy/kustomize renders with the real kubectl, and kubegate accepts its own deployment."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubegate import Engine

BASE = Path(__file__).resolve().parents[2] / "deploy" / "kustomize"


@pytest.fixture(scope="module")
def rendered() -> dict[str, dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.fail("kubectl is not installed; `make test` installs it (Debian package kubernetes-client)")
    out = subprocess.run([kubectl, "kustomize", str(BASE)], capture_output=True, text=True, timeout=120, check=True)
    docs = [d for d in yaml.safe_load_all(out.stdout) if d]
    return {d["kind"]: d for d in docs}


def test_renders_every_part(rendered: dict[str, dict[str, Any]]) -> None:
    assert set(rendered) == {
        "Namespace",
        "ServiceAccount",
        "ConfigMap",
        "Deployment",
        "PodDisruptionBudget",
        "Service",
        "ValidatingWebhookConfiguration",
    }
    for kind, doc in rendered.items():
        if kind not in ("Namespace", "ValidatingWebhookConfiguration"):
            assert doc["metadata"]["namespace"] == "kubegate-system", kind


def test_deployment_is_highly_available_and_locked_down(rendered: dict[str, dict[str, Any]]) -> None:
    deployment = rendered["Deployment"]
    assert deployment["spec"]["replicas"] >= 2
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    # Probes and metrics on the plain health port (the admission port may require client certificates).
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert f"--port={ports['https']}" in container["args"]
    assert f"--health-addr=:{ports['health']}" in container["args"]
    for probe in (container["readinessProbe"], container["livenessProbe"]):
        assert probe["httpGet"]["port"] == "health" and probe["httpGet"]["scheme"] == "HTTP"
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(ports["health"])
    assert annotations["prometheus.io/path"] == "/metrics"
    # The Service exposes only the admission port.
    assert [p["targetPort"] for p in rendered["Service"]["spec"]["ports"]] == ["https"]
    sc = container["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True
    assert sc["capabilities"]["drop"] == ["ALL"] and sc["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert {"cpu", "memory"} <= set(container["resources"]["requests"]) and {"cpu", "memory"} <= set(
        container["resources"]["limits"]
    )
    # The generated ConfigMap name (with its content hash) is what the pod mounts.
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["policies"]["configMap"]["name"] == rendered["ConfigMap"]["metadata"]["name"]
    assert rendered["ConfigMap"]["metadata"]["name"].startswith("kubegate-policies-")
    assert volumes["tls"]["secret"]["secretName"] == "kubegate-tls"
    pdb = rendered["PodDisruptionBudget"]
    assert pdb["spec"]["minAvailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]


def test_webhook_configuration(rendered: dict[str, dict[str, Any]]) -> None:
    (hook,) = rendered["ValidatingWebhookConfiguration"]["webhooks"]
    assert hook["failurePolicy"] == "Fail" and hook["sideEffects"] == "None"
    assert hook["admissionReviewVersions"] == ["v1"]
    assert 1 <= hook["timeoutSeconds"] <= 10
    (expr,) = hook["namespaceSelector"]["matchExpressions"]
    assert expr["operator"] == "NotIn" and {"kube-system", "kubegate-system"} <= set(expr["values"])
    service = hook["clientConfig"]["service"]
    assert (service["name"], service["namespace"], service["path"]) == ("kubegate", "kubegate-system", "/validate")
    assert rendered["Service"]["metadata"]["name"] == "kubegate"


def test_kubegate_accepts_its_own_deployment(rendered: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    for name, text in rendered["ConfigMap"]["data"].items():
        (tmp_path / name).write_text(text)
    engine = Engine([str(tmp_path)], inventory=[rendered["Namespace"]])
    assert not engine.errors
    for kind, doc in rendered.items():
        result = engine.review(doc)
        assert result.allowed, (kind, [v.to_dict() for v in result.violations])
        assert not result.violations, (kind, [v.to_dict() for v in result.violations])
    assert any(d.policy == "pod-must-have-resource-limits" for d in engine.review(rendered["Deployment"]).decisions)
    # The same policies do catch a Deployment stripped of its limits.
    stripped = yaml.safe_load(yaml.safe_dump(rendered["Deployment"]))
    del stripped["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert not engine.review(stripped).allowed
