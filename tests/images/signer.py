"""A test-only image builder and cosign-style signer: ``cryptography`` for keys, oras-py for pushing.

Shares no code with ``kubegate.images``: it writes what ``cosign sign --key``
writes (https://github.com/sigstore/cosign/blob/main/specs/SIGNATURE_SPEC.md):
an OCI manifest at ``sha256-<hex>.sig`` whose layers are simple-signing
payloads with the base64 signature in ``dev.cosignproject.cosign/signature``,
and, when asked, a ``dev.sigstore.cosign/bundle`` annotation recording the
payload hash as a Rekor ``hashedrekord`` entry would (not signed by any
Rekor: the verifier only reads it to tell a changed payload from a wrong key).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass
from typing import Any

import oras.provider  # type: ignore[import-untyped]
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
EMPTY_CONFIG = b"{}"


class Pusher:
    """Pushes blobs and manifests to a registry with oras-py (``Registry.upload_blob`` / ``do_request``)."""

    def __init__(
        self, host: str, *, tls_ca: str | None = None, user: str | None = None, password: str | None = None
    ) -> None:
        self.host = host
        backend = "basic" if user else "token"
        self.registry = oras.provider.Registry(
            hostname=host, insecure=tls_ca is None, tls_verify=tls_ca or True, auth_backend=backend
        )
        if user and password:
            self.registry.auth.set_basic_auth(user, password)

    def blob(self, repository: str, data: bytes, media_type: str) -> dict[str, Any]:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        descriptor = {"mediaType": media_type, "digest": digest, "size": len(data)}
        with tempfile.NamedTemporaryFile(delete=False) as handle:
            handle.write(data)
        try:
            container = self.registry.get_container(f"{self.host}/{repository}:latest")
            response = self.registry.upload_blob(handle.name, container, descriptor)
            assert response.status_code in (200, 201, 202), response.text
        finally:
            os.unlink(handle.name)
        return descriptor

    def manifest(
        self, repository: str, reference: str, manifest: dict[str, Any], media_type: str = OCI_MANIFEST
    ) -> str:
        body = json.dumps(manifest, separators=(",", ":")).encode()
        url = f"{self.registry.prefix}://{self.host}/v2/{repository}/manifests/{reference}"
        response = self.registry.do_request(url, "PUT", data=body, headers={"Content-Type": media_type})
        assert response.status_code in (200, 201), response.text
        return "sha256:" + hashlib.sha256(body).hexdigest()

    def image(self, repository: str, tag: str, content: bytes | None = None) -> str:
        """An OCI image (empty config, one layer) at ``tag``; returns its manifest digest."""
        layer = self.blob(repository, content or os.urandom(64), "application/vnd.oci.image.layer.v1.tar")
        config = self.blob(repository, EMPTY_CONFIG, "application/vnd.oci.image.config.v1+json")
        manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": [layer]}
        return self.manifest(repository, tag, manifest)


@dataclass
class Signer:
    """A private key of one of cosign's kinds: ``ecdsa`` (P-256), ``ed25519``, ``rsa`` (PKCS#1 v1.5), ``rsa-pss``."""

    kind: str
    private: Any

    @classmethod
    def generate(cls, kind: str = "ecdsa") -> Signer:
        if kind == "ecdsa":
            return cls(kind, ec.generate_private_key(ec.SECP256R1()))
        if kind == "ed25519":
            return cls(kind, ed25519.Ed25519PrivateKey.generate())
        return cls(kind, rsa.generate_private_key(public_exponent=65537, key_size=2048))

    def public_pem(self) -> str:
        pem: bytes = self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return pem.decode()

    def sign(self, data: bytes) -> bytes:
        if self.kind == "ecdsa":
            return bytes(self.private.sign(data, ec.ECDSA(hashes.SHA256())))
        if self.kind == "ed25519":
            return bytes(self.private.sign(data))
        if self.kind == "rsa":
            return bytes(self.private.sign(data, padding.PKCS1v15(), hashes.SHA256()))
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.MAX_LENGTH)
        return bytes(self.private.sign(data, pss, hashes.SHA256()))


def payload(docker_reference: str, digest: str, annotations: dict[str, str] | None = None) -> bytes:
    """A simple-signing payload as cosign writes it."""
    body: dict[str, Any] = {
        "critical": {
            "identity": {"docker-reference": docker_reference},
            "image": {"docker-manifest-digest": digest},
            "type": "cosign container image signature",
        },
        "optional": annotations,
    }
    return json.dumps(body, separators=(",", ":")).encode()


@dataclass
class SignatureLayer:
    payload: bytes
    signature: bytes
    recorded_hash: str | None = None


def sign(signer: Signer, data: bytes, *, record: bool = True) -> SignatureLayer:
    """Signs ``data``; ``record`` adds the Rekor-style payload hash annotation."""
    return SignatureLayer(data, signer.sign(data), hashlib.sha256(data).hexdigest() if record else None)


def _bundle(layer: SignatureLayer) -> str:
    body = {
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": layer.recorded_hash}},
            "signature": {"content": base64.b64encode(layer.signature).decode()},
        },
    }
    entry = {"body": base64.b64encode(json.dumps(body).encode()).decode(), "integratedTime": int(time.time())}
    return json.dumps({"SignedEntryTimestamp": "", "Payload": {**entry, "logIndex": 1, "logID": "00"}})


def push_signatures(pusher: Pusher, repository: str, digest: str, layers: list[SignatureLayer]) -> str:
    """Writes ``repository:sha256-<hex>.sig`` with ``layers``; returns the signature manifest's digest."""
    descriptors = []
    for layer in layers:
        descriptor = pusher.blob(repository, layer.payload, SIMPLE_SIGNING)
        annotations = {"dev.cosignproject.cosign/signature": base64.b64encode(layer.signature).decode()}
        if layer.recorded_hash is not None:
            annotations["dev.sigstore.cosign/bundle"] = _bundle(layer)
        descriptors.append({**descriptor, "annotations": annotations})
    config = pusher.blob(repository, EMPTY_CONFIG, "application/vnd.oci.image.config.v1+json")
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": descriptors}
    return pusher.manifest(repository, digest.replace(":", "-") + ".sig", manifest)


BUNDLE_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
EMPTY_TYPE = "application/vnd.oci.empty.v1+json"


def push_bundle(pusher: Pusher, repository: str, subject: dict[str, Any], bundle: bytes) -> dict[str, Any]:
    """An OCI 1.1 referrer artifact (``artifactType`` bundle, ``subject`` the image) holding ``bundle``;
    returns its descriptor as a referrers index lists it."""
    layer = pusher.blob(repository, bundle, BUNDLE_TYPE)
    config = pusher.blob(repository, EMPTY_CONFIG, EMPTY_TYPE)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": BUNDLE_TYPE,
        "config": config,
        "layers": [layer],
        "subject": subject,
    }
    body = json.dumps(manifest, separators=(",", ":")).encode()
    digest = pusher.manifest(repository, "sha256:" + hashlib.sha256(body).hexdigest(), manifest)
    return {"mediaType": OCI_MANIFEST, "digest": digest, "size": len(body), "artifactType": BUNDLE_TYPE}


def push_fallback_index(pusher: Pusher, repository: str, digest: str, referrers: list[dict[str, Any]]) -> str:
    """The referrers tag schema's index at ``sha256-<hex>`` (OCI distribution spec 1.1)."""
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": referrers}
    return pusher.manifest(repository, digest.replace(":", "-"), index, OCI_INDEX)
