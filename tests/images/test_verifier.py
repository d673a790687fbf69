"""The verifier against a real registry (docker-registry, distribution 2.8) with images and
signatures pushed by the test-only signer."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from kubegate.images import Verifier
from kubegate.images.registry import RegistryClient
from tests.images.conftest import Registry
from tests.images.signer import Signer, payload, push_signatures, sign
from tests.images.trustfiles import key_attestor, load


def _repo() -> str:
    return f"payments/app-{uuid.uuid4().hex[:10]}"


def _policy(registry: Registry, *attestors: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"name": "payments", "images": [f"{registry.host}/payments/*"], "attestors": list(attestors), **extra}


def _plain(registry: Registry) -> list[dict[str, Any]]:
    return [{"host": registry.host, "insecure": True, "timeoutMs": 5000}]


def _signed_image(registry: Registry, signer: Signer, **annotations: str) -> tuple[str, str]:
    repo = _repo()
    digest = registry.pusher.image(repo, "v1")
    data = payload(f"{registry.host}/{repo}", digest, annotations or None)
    push_signatures(registry.pusher, repo, digest, [sign(signer, data)])
    return repo, digest


@pytest.mark.parametrize("kind", ["ecdsa", "ed25519", "rsa", "rsa-pss"])
def test_valid_signature_by_tag_names_the_digest(tmp_path: Path, registry: Registry, kind: str) -> None:
    signer = Signer.generate(kind)
    repo, digest = _signed_image(registry, signer)
    policy = load(
        tmp_path, [_policy(registry, key_attestor("release", signer.public_pem()))], registries=_plain(registry)
    )
    result = Verifier(policy).verify(f"{registry.host}/{repo}:v1", "payments")
    assert (result.verified, result.reason, result.digest, result.attestor) == (True, "verified", digest, "release")
    assert not result.cached and result.duration_ms > 0
    assert digest in result.message


def test_verify_by_digest_and_digest_lookup(tmp_path: Path, registry: Registry, release_key: Signer) -> None:
    repo, digest = _signed_image(registry, release_key)
    policy = load(
        tmp_path, [_policy(registry, key_attestor("release", release_key.public_pem()))], registries=_plain(registry)
    )
    verifier = Verifier(policy)
    assert verifier.digest(f"{registry.host}/{repo}:v1") == digest
    assert verifier.verify(f"{registry.host}/{repo}@{digest}").verified  # policy chosen by its image globs


def test_wrong_key(tmp_path: Path, registry: Registry, release_key: Signer, other_key: Signer) -> None:
    repo, _ = _signed_image(registry, other_key)
    policy = load(
        tmp_path, [_policy(registry, key_attestor("release", release_key.public_pem()))], registries=_plain(registry)
    )
    result = Verifier(policy).verify(f"{registry.host}/{repo}:v1", "payments")
    assert (result.verified, result.reason) == (False, "wrong_key")
    assert repo in result.message


def test_tampered_payload(tmp_path: Path, registry: Registry, release_key: Signer) -> None:
    repo = _repo()
    digest = registry.pusher.image(repo, "v1")
    layer = sign(release_key, payload(f"{registry.host}/{repo}", digest))
    layer.payload = payload(f"{registry.host}/{repo}", digest, {"git-sha": "evil"})  # changed after signing
    push_signatures(registry.pusher, repo, digest, [layer])
    policy = load(
        tmp_path, [_policy(registry, key_attestor("release", release_key.public_pem()))], registries=_plain(registry)
    )
    assert Verifier(policy).verify(f"{registry.host}/{repo}:v1", "payments").reason == "tampered"


def test_digest_mismatch_signature_copied_from_another_image(
    tmp_path: Path, registry: Registry, release_key: Signer
) -> None:
    repo = _repo()
    signed = registry.pusher.image(repo, "v1")
    other = registry.pusher.image(repo, "v2")
    # a valid signature of v1 placed at v2's signature tag
    push_signatures(registry.pusher, repo, other, [sign(release_key, payload(f"{registry.host}/{repo}", signed))])
    policy = load(
        tmp_path, [_policy(registry, key_attestor("release", release_key.public_pem()))], registries=_plain(registry)
    )
    result = Verifier(policy).verify(f"{registry.host}/{repo}:v2", "payments")
    assert (result.reason, result.digest) == ("digest_mismatch", other)


def test_unsigned(tmp_path: Path, registry: Registry, release_key: Signer) -> None:
    repo = _repo()
    registry.pusher.image(repo, "v1")
    policy = load(
        tmp_path, [_policy(registry, key_attestor("release", release_key.public_pem()))], registries=_plain(registry)
    )
    result = Verifier(policy).verify(f"{registry.host}/{repo}:v1", "payments")
    assert (result.verified, result.reason) == (False, "no_signature")


def test_identity_mismatch_and_accepted_identities(tmp_path: Path, registry: Registry, release_key: Signer) -> None:
    repo = _repo()
    digest = registry.pusher.image(repo, "v1")
    push_signatures(registry.pusher, repo, digest, [sign(release_key, payload(f"{registry.host}/other/repo", digest))])
    image = f"{registry.host}/{repo}:v1"
    strict = load(
        tmp_path, [_policy(registry, key_attestor("release", release_key.public_pem()))], registries=_plain(registry)
    )
    assert Verifier(strict).verify(image, "payments").reason == "identity_mismatch"
    mirrored = key_attestor("release", release_key.public_pem(), identities=[f"{registry.host}/other/*"])
    assert Verifier(load(tmp_path, [_policy(registry, mirrored)], registries=_plain(registry))).verify(image).verified


def test_annotations(tmp_path: Path, registry: Registry, release_key: Signer) -> None:
    repo, _ = _signed_image(registry, release_key, **{"git-sha": "4f1c2d"})
    image = f"{registry.host}/{repo}:v1"
    attestor = key_attestor("release", release_key.public_pem())
    good = load(tmp_path, [_policy(registry, attestor, annotations={"git-sha": "4f1c2d"})], registries=_plain(registry))
    bad = load(tmp_path, [_policy(registry, attestor, annotations={"git-sha": "000000"})], registries=_plain(registry))
    assert Verifier(good).verify(image).verified
    assert Verifier(bad).verify(image).reason == "annotation_mismatch"


def test_any_of_all_of_and_count(tmp_path: Path, registry: Registry, release_key: Signer, other_key: Signer) -> None:
    third = Signer.generate("ed25519")
    repo = _repo()
    digest = registry.pusher.image(repo, "v1")
    data = payload(f"{registry.host}/{repo}", digest)
    push_signatures(registry.pusher, repo, digest, [sign(release_key, data), sign(other_key, data)])
    image = f"{registry.host}/{repo}:v1"
    attestors = [
        key_attestor("release", release_key.public_pem()),
        key_attestor("security", other_key.public_pem()),
        key_attestor("absent", third.public_pem()),
    ]

    def run(**mode: Any) -> Any:
        return Verifier(load(tmp_path, [_policy(registry, *attestors, **mode)], registries=_plain(registry))).verify(
            image
        )

    any_of = run(mode="any-of")
    assert (any_of.verified, any_of.attestor) == (True, "release")
    all_of = run(mode="all-of")
    assert (all_of.verified, all_of.reason) == (False, "wrong_key")
    assert [(a.attestor, a.ok) for a in all_of.attestors] == [("release", True), ("security", True), ("absent", False)]
    assert run(mode="count", count=2).verified
    assert not run(mode="count", count=3).verified


def test_required_false_records_only(tmp_path: Path, registry: Registry, release_key: Signer) -> None:
    repo = _repo()
    registry.pusher.image(repo, "v1")
    policy = load(
        tmp_path,
        [_policy(registry, key_attestor("r", release_key.public_pem()), required=False)],
        registries=_plain(registry),
    )
    result = Verifier(policy).verify(f"{registry.host}/{repo}:v1", "payments")
    assert (result.verified, result.required, result.reason) == (False, False, "no_signature")


def test_references_policies_and_missing_images(tmp_path: Path, registry: Registry, release_key: Signer) -> None:
    policy = load(
        tmp_path, [_policy(registry, key_attestor("r", release_key.public_pem()))], registries=_plain(registry)
    )
    verifier = Verifier(policy)
    assert verifier.verify("Not A Reference!").reason == "invalid_reference"
    assert verifier.verify(None).reason == "invalid_reference"  # type: ignore[arg-type]
    assert verifier.verify_many(["", "x" * 300], "payments")[1].reason == "invalid_reference"
    assert verifier.verify("docker.io/library/nginx:1").reason == "no_policy"
    assert verifier.verify(f"{registry.host}/payments/x:1", "nope").reason == "unknown_policy"
    assert verifier.verify("docker.io/library/nginx:1", "payments").reason == "no_policy"  # outside its globs
    assert verifier.verify(f"{registry.host}/payments/absent:1", "payments").reason == "image_not_found"


def test_cache_hit_is_marked_and_failures_are_cached(tmp_path: Path, registry: Registry, release_key: Signer) -> None:
    repo, digest = _signed_image(registry, release_key)
    unsigned = _repo()
    registry.pusher.image(unsigned, "v1")
    policy = load(
        tmp_path, [_policy(registry, key_attestor("release", release_key.public_pem()))], registries=_plain(registry)
    )
    verifier = Verifier(policy)
    first = verifier.verify(f"{registry.host}/{repo}@{digest}")
    second = verifier.verify(f"{registry.host}/{repo}@{digest}")
    assert (first.cached, second.cached, second.verified, second.digest) == (False, True, True, digest)
    assert verifier.verify(f"{registry.host}/{unsigned}:v1").reason == "no_signature"
    again = verifier.verify(f"{registry.host}/{unsigned}:v1")
    assert (again.cached, again.reason) == (True, "no_signature")
    assert verifier.cache.hits["memory"] == 2


def test_concurrent_verifications_of_one_digest_are_coalesced(
    tmp_path: Path, registry: Registry, release_key: Signer
) -> None:
    repo, digest = _signed_image(registry, release_key)
    policy = load(
        tmp_path, [_policy(registry, key_attestor("release", release_key.public_pem()))], registries=_plain(registry)
    )
    verifier = Verifier(policy, workers=8)
    client = verifier.client(registry.host)
    fetched: list[str] = []
    real = RegistryClient.manifest

    def counting(self: RegistryClient, repository: str, reference: str) -> Any:
        fetched.append(reference)
        time.sleep(0.2)  # keep the first fetch in flight while the others arrive
        return real(self, repository, reference)

    client.manifest = counting.__get__(client)  # type: ignore[method-assign]
    barrier = threading.Barrier(6)
    results: list[Any] = []

    def run() -> None:
        barrier.wait()
        results.append(verifier.verify(f"{registry.host}/{repo}@{digest}"))

    threads = [threading.Thread(target=run) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == 6 and all(r.verified for r in results)
    assert fetched.count(digest.replace(":", "-") + ".sig") == 1


def test_verify_many_keeps_order_and_dedupes(tmp_path: Path, registry: Registry, release_key: Signer) -> None:
    signed, _ = _signed_image(registry, release_key)
    unsigned = _repo()
    registry.pusher.image(unsigned, "v1")
    policy = load(
        tmp_path, [_policy(registry, key_attestor("release", release_key.public_pem()))], registries=_plain(registry)
    )
    images = [f"{registry.host}/{signed}:v1", f"{registry.host}/{unsigned}:v1", f"{registry.host}/{signed}:v1"]
    results = Verifier(policy).verify_many(images, "payments", deadline=time.monotonic() + 30)
    assert [r.reason for r in results] == ["verified", "no_signature", "verified"]
    assert [r.image for r in results] == images


def test_one_digest_in_two_repositories_is_verified_per_repository(
    tmp_path: Path, registry: Registry, release_key: Signer
) -> None:
    content = b"same image content in two repositories"
    signed, unsigned = _repo(), _repo()
    digest = registry.pusher.image(signed, "v1", content)
    assert registry.pusher.image(unsigned, "v1", content) == digest
    push_signatures(registry.pusher, signed, digest, [sign(release_key, payload(f"{registry.host}/{signed}", digest))])
    policy = load(
        tmp_path, [_policy(registry, key_attestor("release", release_key.public_pem()))], registries=_plain(registry)
    )
    verifier = Verifier(policy)
    assert verifier.verify(f"{registry.host}/{signed}@{digest}").verified
    other = verifier.verify(f"{registry.host}/{unsigned}@{digest}")
    assert (other.verified, other.cached, other.reason) == (False, False, "no_signature")
