"""Known Kubernetes kinds and CRDs."""

from __future__ import annotations

from kubegate.policy.kinds import KindRegistry

CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {"group": "example.com", "names": {"kind": "Widget"}, "versions": [{"name": "v1"}]},
}


def test_builtin_kinds_and_versions() -> None:
    reg = KindRegistry()
    assert reg.problem("apps/v1", "Deployment") is None
    assert reg.problem("v1", "Pod") is None
    assert "did you mean Deployment" in (reg.problem("apps/v1", "Deploymnet") or "")
    assert "no API version 'v2'" in (reg.problem("apps/v2", "Deployment") or "")
    assert "not a Kubernetes API group" in (reg.problem("example.com/v1", "Widget") or "")
    assert reg.problem("constraints.gatekeeper.sh/v1beta1", "AnyConstraintKind") is None


def test_crds_register_their_kinds() -> None:
    reg = KindRegistry()
    reg.add_crds([CRD])
    assert reg.problem("example.com/v1", "Widget") is None
    assert reg.problem("example.com/v2", "Widget") is not None
