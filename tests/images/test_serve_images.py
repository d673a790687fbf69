"""`kubegate serve --image-policy` as a real process over HTTPS, against a real registry
(docker-registry) and a hung one: signed images admitted, unsigned and wrongly signed ones
denied by pci-image-signature, a registry that does not answer decided by the failure mode
within the time limit, verifications counted and recorded (cached ones marked)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubegate.webhook.certs import CertificateFiles, write_dev_certificates
from tests.images.conftest import Registry
from tests.images.signer import Signer
from tests.images.workloads import pci_pod, signed_image, trust_policy, unsigned_image
from tests.webhook.conftest import Webhook, admission_review, metric_value, read_jsonl, start_webhook


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> CertificateFiles:
    directory = str(tmp_path_factory.mktemp("serve-images-certs"))
    return write_dev_certificates(directory, "kubegate", "kubegate-system", extra_names=["127.0.0.1"], days=2)


def _serve(workdir: Path, tls: CertificateFiles, policy: Path, host: str, *args: str) -> Webhook:
    parameters = workdir / "parameters.yaml"
    parameters.write_text(yaml.safe_dump({"pci-image-provenance": {"registries": [f"{host}/"]}}))
    return start_webhook(
        workdir,
        tls,
        "--image-policy",
        str(policy),
        "--parameters",
        str(parameters),
        "--decision-log",
        str(workdir / "wal"),
        "--decision-log-sink",
        f"file:{workdir / 'sink' / 'decisions.jsonl'}",
        *args,
    )


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, tls: CertificateFiles, registry: Registry, release_key: Signer
) -> Iterator[tuple[Webhook, Path]]:
    workdir = tmp_path_factory.mktemp("serve-images")
    hook = _serve(workdir, tls, trust_policy(workdir, registry.host, release_key), registry.host)
    yield hook, workdir / "sink" / "decisions.jsonl"
    hook.stop()


def _records(sink: Path, uid: str) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = [r for r in read_jsonl(sink) if r["kubegate"]["uid"] == uid] if sink.exists() else []
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"no decision record for {uid}")


def test_signed_admitted_unsigned_and_wrong_key_denied(
    server: tuple[Webhook, Path], registry: Registry, release_key: Signer, other_key: Signer
) -> None:
    hook, sink = server
    signed = signed_image(registry, release_key, pinned=True)
    answer = hook.review(admission_review(pci_pod(signed, name="signed")))
    assert answer["allowed"], answer
    unsigned = unsigned_image(registry, pinned=True)
    answer = hook.review(admission_review(pci_pod(unsigned, name="unsigned")))
    assert not answer["allowed"] and answer["status"]["code"] == 403
    assert "[pci-image-signature]" in answer["status"]["message"] and unsigned in answer["status"]["message"]
    assert "no signature" in answer["status"]["message"]
    forged = signed_image(registry, other_key, pinned=True)
    review = admission_review(pci_pod(signed, init=(forged,), name="forged"))
    answer = hook.review(review)
    assert (
        not answer["allowed"] and "wrong key" in answer["status"]["message"] and forged in answer["status"]["message"]
    )
    (record,) = _records(sink, review["request"]["uid"])
    images = {i["image"]: i for i in record["kubegate"]["images"]}
    assert (images[forged]["verified"], images[forged]["reason"]) == (False, "wrong_key")
    assert images[signed]["verified"] and images[signed]["digest"] == signed.rpartition("@")[2]
    text = hook.metrics()
    assert metric_value(text, "kubegate_image_verifications_total", 'result="verified"') >= 2
    assert metric_value(text, "kubegate_image_verifications_total", 'result="no_signature"') >= 1
    assert metric_value(text, "kubegate_image_verifications_total", 'result="wrong_key"') >= 1


def test_second_request_is_answered_from_the_verification_cache(
    server: tuple[Webhook, Path], registry: Registry, release_key: Signer
) -> None:
    hook, sink = server
    signed = signed_image(registry, release_key, pinned=True)
    first = admission_review(pci_pod(signed, name="first"))
    second = admission_review(pci_pod(signed, name="second"))  # another object: a decision-cache miss
    assert hook.review(first)["allowed"] and hook.review(second)["allowed"]
    (one,) = _records(sink, first["request"]["uid"])
    (two,) = _records(sink, second["request"]["uid"])
    assert [i["cached"] for i in one["kubegate"]["images"]] == [False]
    assert [i["cached"] for i in two["kubegate"]["images"]] == [True]
    assert two["kubegate"]["images"][0]["reason"] == "verified" and not two["kubegate"]["cacheHit"]


@pytest.mark.parametrize("mode", ["deny", "allow"])
def test_registry_down_gets_the_failure_mode_within_the_time_limit(
    tmp_path: Path, tls: CertificateFiles, silent_port: int, release_key: Signer, mode: str
) -> None:
    host = f"127.0.0.1:{silent_port}"  # accepts connections, never answers
    policy = trust_policy(tmp_path, host, release_key, timeout_ms=30_000)
    hook = _serve(
        tmp_path, tls, policy, host, "--failure-mode", mode, "--image-verification-timeout", "500", "--cache-ttl", "0"
    )
    try:
        image = f"{host}/payments/api@sha256:{'1' * 64}"
        start = time.monotonic()
        answer = hook.review(admission_review(pci_pod(image, name="down")))
        elapsed = time.monotonic() - start
        assert elapsed < 10.0  # the 500 ms limit, not the registry's 30 s (generous: a loaded 2-core machine)
        if mode == "deny":
            assert not answer["allowed"] and "verification timed out" in answer["status"]["message"]
        else:
            assert answer["allowed"]
            assert any("[image-verification]" in w and "timeout" in w for w in answer.get("warnings", []))
        assert metric_value(hook.metrics(), "kubegate_image_verifications_total", 'result="timeout"') == 1
    finally:
        hook.stop()
