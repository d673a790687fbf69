"""pci-image-signature through the SDK: ``Engine(image_verifier=...)`` verifies the images of
each reviewed object before evaluation, against a real registry (docker-registry)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kubegate import Engine
from kubegate.evaluator.builtins.kubegate_image import ImageResults
from kubegate.images import Verifier, load_trust_policy
from tests.images.conftest import Registry
from tests.images.signer import Signer
from tests.images.workloads import pci_pod, signature_violations, signed_image, trust_policy, unsigned_image


@pytest.fixture
def verifier(tmp_path: Path, registry: Registry, release_key: Signer) -> Iterator[Verifier]:
    v = Verifier(load_trust_policy(str(trust_policy(tmp_path, registry.host, release_key))))
    yield v
    v.close()


def test_signed_admitted_unsigned_and_wrong_key_denied(
    verifier: Verifier, registry: Registry, release_key: Signer, other_key: Signer
) -> None:
    engine = Engine(image_verifier=verifier, image_verification_timeout_ms=10_000)
    good = signed_image(registry, release_key)
    assert signature_violations(engine.review(pci_pod(good))) == []
    bare = unsigned_image(registry)
    forged = signed_image(registry, other_key)
    messages = signature_violations(engine.review(pci_pod(good, forged, init=(bare,))))
    assert len(messages) == 2
    (wrong,) = [m for m in messages if forged in m]
    (missing,) = [m for m in messages if bare in m]
    assert "wrong key" in wrong and "(digest sha256:" in wrong
    assert "no signature" in missing and missing.startswith('initContainer "init0"')


def test_ephemeral_containers_and_pod_templates(verifier: Verifier, registry: Registry, release_key: Signer) -> None:
    engine = Engine(image_verifier=verifier, image_verification_timeout_ms=10_000)
    good, bare = signed_image(registry, release_key), unsigned_image(registry)
    (message,) = signature_violations(engine.review(pci_pod(good, ephemeral=(bare,))))
    assert message.startswith('ephemeralContainer "debug0"') and bare in message
    pod = pci_pod(bare)
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "api", "namespace": "payments"},
        "spec": {"template": {"metadata": pod["metadata"], "spec": pod["spec"]}},
    }
    assert len(signature_violations(engine.review(deployment))) == 1
    assert signature_violations(engine.review(pci_pod(bare, scoped=False))) == []


def test_images_outside_the_trust_policy_and_named_policies(
    tmp_path: Path, registry: Registry, release_key: Signer
) -> None:
    policy = load_trust_policy(str(trust_policy(tmp_path, registry.host, release_key, name="cde")))
    verifier = Verifier(policy)
    try:
        engine = Engine(
            image_verifier=verifier,
            image_verification_timeout_ms=10_000,
            parameters={"pci-image-signature": {"policy": "cde"}},
        )
        assert signature_violations(engine.review(pci_pod(signed_image(registry, release_key)))) == []
        (message,) = signature_violations(engine.review(pci_pod("docker.io/library/nginx:1.27")))
        assert "no trust policy entry applies" in message
    finally:
        verifier.close()


def test_parallel_review_sees_the_results(verifier: Verifier, registry: Registry, release_key: Signer) -> None:
    engine = Engine(image_verifier=verifier, image_verification_timeout_ms=10_000, parallelism=2)
    try:
        good, bare = signed_image(registry, release_key), unsigned_image(registry)
        for _ in range(3):
            assert len(signature_violations(engine.review(pci_pod(good, bare)))) == 1
    finally:
        engine.close()


def test_prefetch_once_and_review_offline(verifier: Verifier, registry: Registry, release_key: Signer) -> None:
    engine = Engine(image_verifier=verifier, image_verification_timeout_ms=10_000)
    bare = unsigned_image(registry)
    found = engine.prefetch_images(pci_pod(bare))
    assert [v.reason for v in found.verifications] == ["no_signature"]
    assert len(signature_violations(engine.review(pci_pod(bare), image_results=found.results))) == 1
    assert signature_violations(engine.review(pci_pod(bare), image_results=ImageResults(offline=True))) == []
    assert Engine().prefetch_images(pci_pod(bare)).verifications == ()


def test_regopy_leaves_the_policy_out_with_a_warning() -> None:
    engine = Engine(backend="regopy", strict=True)  # no load error: the rest of the library runs
    assert "pci-image-signature" not in {p.id for p in engine.policies}
    assert "pci-image-provenance" in {p.id for p in engine.policies}
    (warning,) = [w for w in engine.warnings if w.code == "builtin_needs_compiled_backend"]
    assert "kubegate.image.verify" in warning.message
