"""``kubegate image verify`` against a real registry (the command through click's runner)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from click.testing import CliRunner

from kubegate.cli.image_cmd import image
from tests.images.conftest import Registry
from tests.images.signer import Signer, payload, push_signatures, sign
from tests.images.trustfiles import key_attestor, write_policy


def _setup(tmp_path: Path, registry: Registry, signer: Signer) -> tuple[Path, str, str, str]:
    repo = f"payments/cli-{uuid.uuid4().hex[:8]}"
    digest = registry.pusher.image(repo, "v1")
    registry.pusher.image(repo, "unsigned")
    push_signatures(registry.pusher, repo, digest, [sign(signer, payload(f"{registry.host}/{repo}", digest))])
    policies = [
        {
            "name": "payments",
            "images": [f"{registry.host}/payments/*"],
            "attestors": [key_attestor("release", signer.public_pem())],
        }
    ]
    path = write_policy(tmp_path, policies, registries=[{"host": registry.host, "insecure": True}])
    return path, f"{registry.host}/{repo}:v1", f"{registry.host}/{repo}:unsigned", digest


def test_verified_text_and_json(tmp_path: Path, registry: Registry, release_key: Signer) -> None:
    policy, signed, _, digest = _setup(tmp_path, registry, release_key)
    result = CliRunner().invoke(image, ["verify", signed, "--policy", str(policy)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"verified  {signed}@{digest}  by release")
    result = CliRunner().invoke(image, ["verify", signed, "--policy", str(policy), "-o", "json"])
    document = json.loads(result.output)
    assert result.exit_code == 0
    assert document["results"][0]["digest"] == digest and document["results"][0]["reason"] == "verified"
    assert document["trustPolicyVersion"].startswith("sha256:")


def test_not_verified_exits_1(tmp_path: Path, registry: Registry, release_key: Signer) -> None:
    policy, signed, unsigned, _ = _setup(tmp_path, registry, release_key)
    result = CliRunner().invoke(image, ["verify", signed, unsigned, "--policy", str(policy), "--name", "payments"])
    assert result.exit_code == 1
    assert "FAILED" in result.output and "no_signature" in result.output


def test_configuration_errors_exit_2(tmp_path: Path, registry: Registry, release_key: Signer) -> None:
    policy, signed, _, _ = _setup(tmp_path, registry, release_key)
    broken = tmp_path / "broken.yaml"
    broken.write_text("apiVersion: kubegate.io/v1alpha1\nkind: ImageTrustPolicy\npolicies:\n  - nmae: x\n")
    result = CliRunner().invoke(image, ["verify", signed, "--policy", str(broken)])
    assert result.exit_code == 2
    assert "broken.yaml:4:5: trust_policy_unknown_field" in result.output
    assert CliRunner().invoke(image, ["verify", signed, "--policy", str(tmp_path / "absent.yaml")]).exit_code == 2
    assert CliRunner().invoke(image, ["verify", "Bad Ref", "--policy", str(policy)]).exit_code == 2
    assert CliRunner().invoke(image, ["verify", signed, "--policy", str(policy), "--name", "nope"]).exit_code == 2
    assert CliRunner().invoke(image, ["verify", signed]).exit_code == 2  # click: --policy is required
