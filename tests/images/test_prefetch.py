"""Prefetching verifications before evaluation: which images, which policy names, and the
results against a real registry (docker-registry) and a hung one (a port that never answers)."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from kubegate.images import Verifier, load_trust_policy
from kubegate.images.prefetch import ImagePrefetcher, object_images, policy_names
from kubegate.rego.parser import parse_module
from tests.images.conftest import Registry
from tests.images.signer import Signer
from tests.images.workloads import pci_pod, signed_image, trust_policy, unsigned_image

TEMPLATE = {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "a", "image": "a:1"}]}}


def test_images_of_pods_and_templates() -> None:
    pod = pci_pod("app:1", "side:2", init=("init:1",), ephemeral=("debug:1", "app:1"))
    assert object_images(pod) == ("init:1", "app:1", "side:2", "debug:1")
    for kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job"):
        assert object_images({"kind": kind, "spec": {"template": TEMPLATE}}) == ("a:1",), kind
    cron = {"kind": "CronJob", "spec": {"jobTemplate": {"spec": {"template": TEMPLATE}}}}
    assert object_images(cron) == ("a:1",)


def test_objects_without_images() -> None:
    assert object_images({"kind": "ConfigMap", "data": {"image": "x"}}) == ()
    assert object_images({"kind": "Pod", "spec": {"containers": [{"name": "a"}, "junk", {"image": 3}]}}) == ()
    assert object_images({"kind": "Deployment", "spec": {"template": "junk"}}) == ()
    assert object_images(None) == ()
    assert object_images({"kind": "Pod", "spec": []}) == ()


def test_policy_names_are_read_from_the_calls() -> None:
    module = parse_module(
        'package p\nimport rego.v1\nx := kubegate.image.verify(input.i, "payments")\n'
        "y := kubegate.image.verify(input.i, input.parameters.name)\n"
        "z := [d | some i in input.is; d := kubegate.image.digest(i)]\n",
        "p.rego",
        "v1",
    )
    assert policy_names([module]) == ("", "payments")
    other = parse_module("package q\nx := upper(input.i)\n", "q.rego", "v1")
    assert policy_names([other]) == ()


def test_prefetch_against_a_real_registry(
    tmp_path: Path, registry: Registry, release_key: Signer, other_key: Signer
) -> None:
    good = signed_image(registry, release_key)
    forged = signed_image(registry, other_key)
    bare = unsigned_image(registry)
    verifier = Verifier(load_trust_policy(str(trust_policy(tmp_path, registry.host, release_key))))
    prefetcher = ImagePrefetcher(verifier, timeout_ms=10_000)
    found = prefetcher.prefetch(pci_pod(good, forged, init=(bare,)), ["", "payments"])
    assert len(found.verifications) == 6 and not found.transient
    reasons = {(v.image, v.policy): v.reason for v in found.verifications}
    assert reasons[(good, "payments")] == "verified"
    assert reasons[(forged, "payments")] == "wrong_key"
    assert reasons[(bare, "payments")] == "no_signature"
    answer = found.results.lookup(good, "")
    assert answer["verified"] and answer["digest"].startswith("sha256:") and answer["attestor"] == "release"
    assert found.results.lookup(bare, "payments")["reason"] == "no_signature"
    record = found.to_record()
    assert {r["image"] for r in record} == {good, forged, bare}
    again = prefetcher.prefetch(pci_pod(good), [""])
    assert [v.cached for v in again.verifications] == [True]
    assert again.to_record()[0]["cached"] is True
    verifier.close()


def test_hung_registry_times_out_within_the_limit(tmp_path: Path, silent_port: int, release_key: Signer) -> None:
    host = f"127.0.0.1:{silent_port}"
    verifier = Verifier(load_trust_policy(str(trust_policy(tmp_path, host, release_key, timeout_ms=20_000))))
    image = f"{host}/payments/api:1"
    for mode, required in (("deny", True), ("allow", False)):
        prefetcher = ImagePrefetcher(verifier, timeout_ms=400, transient_mode=mode)  # type: ignore[arg-type]
        start = time.monotonic()
        found = prefetcher.prefetch(pci_pod(image), [""])
        assert time.monotonic() - start < 5.0  # bounded by the 400 ms limit, not the registry's 20 s
        assert [v.reason for v in found.transient] == ["timeout"]
        answer = found.results.lookup(image, "")
        assert (answer["verified"], answer["reason"], answer["required"]) == (False, "timeout", required)
    verifier.close()


def test_nothing_to_prefetch(tmp_path: Path, registry: Registry, release_key: Signer) -> None:
    verifier = Verifier(load_trust_policy(str(trust_policy(tmp_path, registry.host, release_key))))
    prefetcher = ImagePrefetcher(verifier)
    assert prefetcher.prefetch({"kind": "ConfigMap"}, [""]).verifications == ()
    assert prefetcher.prefetch(pci_pod("nginx"), []).verifications == ()
    verifier.close()


def test_async_prefetch_on_an_event_loop(
    tmp_path: Path, registry: Registry, release_key: Signer, silent_port: int
) -> None:
    good, bare = signed_image(registry, release_key), unsigned_image(registry)
    verifier = Verifier(load_trust_policy(str(trust_policy(tmp_path, registry.host, release_key))))
    pool = ThreadPoolExecutor(2)
    try:
        prefetcher = ImagePrefetcher(verifier, timeout_ms=10_000)
        found = asyncio.run(prefetcher.prefetch_async(pci_pod(good, bare), [""], pool))
        assert [v.reason for v in found.verifications] == ["verified", "no_signature"]
        busy = asyncio.run(prefetcher.prefetch_async(pci_pod(good), [""], pool, max_pending=0))
        assert [v.reason for v in busy.verifications] == ["busy"] and busy.transient
    finally:
        verifier.close()
    hung = f"127.0.0.1:{silent_port}"
    slow = Verifier(load_trust_policy(str(trust_policy(tmp_path, hung, release_key, timeout_ms=20_000))))
    try:
        prefetcher = ImagePrefetcher(slow, timeout_ms=300)
        start = time.monotonic()
        found = asyncio.run(prefetcher.prefetch_async(pci_pod(f"{hung}/payments/api:1"), [""], pool))
        assert time.monotonic() - start < 5.0 and [v.reason for v in found.verifications] == ["timeout"]
    finally:
        slow.close()
        pool.shutdown(wait=False, cancel_futures=True)
