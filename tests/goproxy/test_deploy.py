"""deploy/goproxy: the manifests parse, and the Deployment only passes options ``goproxy serve`` has."""

from __future__ import annotations

from pathlib import Path

from kubegate.cli.goproxy_cmd import serve_command
from kubegate.yamlio import read_yaml_stream

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "goproxy"


def test_manifests() -> None:
    docs = [d.value for f in sorted(DEPLOY.glob("*.yaml")) for d in read_yaml_stream(f.read_text(), str(f))]
    kinds = sorted(d["kind"] for d in docs)
    assert kinds == ["ConfigMap", "Deployment", "Namespace", "PodDisruptionBudget", "Service"]
    (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[:2] == ["goproxy", "serve"]
    known = {opt for p in serve_command.params for opt in getattr(p, "opts", [])}
    for arg in args[2:]:
        assert arg.split("=", 1)[0] in known, arg
    (config,) = [d for d in docs if d["kind"] == "ConfigMap"]
    assert "go-module-license-allowlist:" in config["data"]["parameters.yaml"]
