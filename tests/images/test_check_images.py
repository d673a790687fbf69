"""`kubegate check --image-policy` / `--offline` on manifests whose images are in a real
registry (docker-registry): pci-image-signature reports unsigned images, --offline says it
did not verify, a broken trust policy is a located error (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from click.testing import CliRunner

from kubegate.cli.main import cli
from tests.images.conftest import Registry
from tests.images.signer import Signer
from tests.images.workloads import pci_pod, signed_image, trust_policy, unsigned_image


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def _manifests(directory: Path, registry: Registry, release_key: Signer) -> tuple[Path, str, str]:
    signed = signed_image(registry, release_key, pinned=True)
    unsigned = unsigned_image(registry, pinned=True)
    path = directory / "pods.yaml"
    path.write_text(yaml.safe_dump_all([pci_pod(signed, name="good"), pci_pod(unsigned, name="bad")]))
    (directory / "params.yaml").write_text(
        yaml.safe_dump({"pci-image-provenance": {"registries": [f"{registry.host}/"]}})
    )
    return path, signed, unsigned


def _signature_results(stdout: str) -> dict[str, list[str]]:
    report = json.loads(stdout)
    return {
        r["name"]: [v["message"] for v in r["violations"] if v["policy"] == "pci-image-signature"]
        for r in report["results"]
    }


def test_check_verifies_images(tmp_path: Path, registry: Registry, release_key: Signer) -> None:
    pods, _, unsigned = _manifests(tmp_path, registry, release_key)
    policy = trust_policy(tmp_path, registry.host, release_key)
    params = str(tmp_path / "params.yaml")
    code, out, err = run("check", str(pods), "--parameters", params, "--image-policy", str(policy), "-o", "json")
    assert code == 1, err
    found = _signature_results(out)
    assert found["good"] == []
    (message,) = found["bad"]
    assert unsigned in message and "no signature" in message


def test_offline_skips_with_a_note(tmp_path: Path, registry: Registry, release_key: Signer) -> None:
    pods, _, _ = _manifests(tmp_path, registry, release_key)
    policy = trust_policy(tmp_path, registry.host, release_key)
    params = str(tmp_path / "params.yaml")
    code, out, err = run("check", str(pods), "--parameters", params, "--image-policy", str(policy), "--offline")
    assert code == 0, out + err
    assert "note: images_offline: --offline: image signatures were not verified" in err
    code, out, _ = run("check", str(pods), "--parameters", params, "--offline", "-o", "json")
    assert code == 0 and [n["code"] for n in json.loads(out)["notes"]] == ["images_offline"]


def test_without_a_trust_policy_nothing_is_verified_or_noted(
    tmp_path: Path, registry: Registry, release_key: Signer
) -> None:
    pods, _, _ = _manifests(tmp_path, registry, release_key)
    code, out, _ = run("check", str(pods), "--parameters", str(tmp_path / "params.yaml"), "-o", "json")
    report = json.loads(out)
    assert code == 0 and report["notes"] == [] and all(v == [] for v in _signature_results(out).values())


def test_broken_trust_policy_is_a_located_error(tmp_path: Path, registry: Registry, release_key: Signer) -> None:
    pods, _, _ = _manifests(tmp_path, registry, release_key)
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        "apiVersion: kubegate.io/v1alpha1\nkind: ImageTrustPolicy\npolicies:\n  - name: x\n    colour: red\n"
    )
    code, out, _ = run("check", str(pods), "--image-policy", str(broken), "-o", "json")
    assert code == 2
    (error,) = [e for e in json.loads(out)["errors"] if e["code"].startswith("trust_policy")]
    assert error["location"]["file"] == str(broken) and error["location"]["line"] >= 4
