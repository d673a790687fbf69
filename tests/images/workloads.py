"""Signed and unsigned images in a real registry, PCI-scoped workloads using them, trust policies
for them: what the policy-integration tests share (test-only signer, tests/images/signer.py)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from tests.images.conftest import Registry
from tests.images.signer import Signer, payload, push_signatures, sign
from tests.images.trustfiles import key_attestor, write_policy


def repo() -> str:
    return f"payments/svc-{uuid.uuid4().hex[:10]}"


def signed_image(registry: Registry, signer: Signer, tag: str = "v1", *, pinned: bool = False) -> str:
    """A new image signed by ``signer``; its reference by tag (``pinned``: by digest)."""
    name = repo()
    digest = registry.pusher.image(name, tag)
    push_signatures(registry.pusher, name, digest, [sign(signer, payload(f"{registry.host}/{name}", digest))])
    return f"{registry.host}/{name}@{digest}" if pinned else f"{registry.host}/{name}:{tag}"


def unsigned_image(registry: Registry, tag: str = "v1", *, pinned: bool = False) -> str:
    name = repo()
    digest = registry.pusher.image(name, tag)
    return f"{registry.host}/{name}@{digest}" if pinned else f"{registry.host}/{name}:{tag}"


def trust_policy(
    directory: Path, registry_host: str, signer: Signer, *, timeout_ms: int = 5000, name: str = "payments"
) -> Path:
    """A trust policy: images of ``registry_host/payments/*`` must be signed by ``signer``."""
    return write_policy(
        directory,
        [
            {
                "name": name,
                "images": [f"{registry_host}/payments/*"],
                "attestors": [key_attestor("release", signer.public_pem())],
            }
        ],
        registries=[{"host": registry_host, "insecure": True, "timeoutMs": timeout_ms, "retries": 0}],
    )


def pci_pod(
    *images: str, init: tuple[str, ...] = (), ephemeral: tuple[str, ...] = (), name: str = "pay", scoped: bool = True
) -> dict[str, Any]:
    labels = {"kubegate.io/pci-scope": "true"} if scoped else {}
    # Compliant with the rest of the built-in library (seccomp, limits), so only signatures can deny.
    limits = {"limits": {"cpu": "100m", "memory": "64Mi"}}
    spec: dict[str, Any] = {
        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{"name": f"c{i}", "image": image, "resources": limits} for i, image in enumerate(images)],
    }
    if init:
        spec["initContainers"] = [
            {"name": f"init{i}", "image": image, "resources": limits} for i, image in enumerate(init)
        ]
    if ephemeral:
        spec["ephemeralContainers"] = [{"name": f"debug{i}", "image": image} for i, image in enumerate(ephemeral)]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "payments", "labels": labels},
        "spec": spec,
    }


def signature_violations(result: Any) -> list[str]:
    """Messages of pci-image-signature's violations in a ReviewResult."""
    return [v.message for v in result.violations if v.policy == "pci-image-signature"]
