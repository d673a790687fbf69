"""cosign key-based signatures in the ``sha256-<hex>.sig`` tag layout.

cosign (https://github.com/sigstore/cosign/blob/main/specs/SIGNATURE_SPEC.md)
stores the signatures of image ``repo@sha256:<hex>`` as an OCI manifest at
tag ``repo:sha256-<hex>.sig``. Each layer of media type
``application/vnd.dev.cosign.simplesigning.v1+json`` is a "simple signing"
payload (https://github.com/containers/image/blob/main/docs/containers-signature.5.md)::

    {"critical": {"identity": {"docker-reference": "registry/repo"},
                  "image": {"docker-manifest-digest": "sha256:..."},
                  "type": "cosign container image signature"},
     "optional": {"git-sha": "..."}}

and its annotation ``dev.cosignproject.cosign/signature`` is the base64
signature over the payload bytes. A signature counts for a key attestor
when it verifies with one of its keys, names the image's digest, the
expected repository (or one of the attestor's ``identities`` globs) and
carries the policy's annotations. Failures are classified as
:mod:`.result` describes; ``tampered`` is told from ``wrong_key`` by the
payload hash cosign records with a Rekor upload (annotation
``dev.sigstore.cosign/bundle``, a ``hashedrekord`` entry): when it is
present and differs from the payload's hash, the payload was changed. That
unverified hint only names the failure; it never makes a signature pass.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from kubegate.images.errors import ImageReferenceError, RegistryError
from kubegate.images.reference import ImageReference, parse_reference
from kubegate.images.registry import RegistryClient
from kubegate.images.result import AttestorOutcome, worst
from kubegate.images.trust_policy import KeyAttestor, glob_match

__all__ = [
    "SIGNATURE_ANNOTATION",
    "SIMPLE_SIGNING_TYPE",
    "SimpleSignature",
    "check_key_attestor",
    "fetch_signatures",
    "signature_tag",
]

SIMPLE_SIGNING_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
BUNDLE_ANNOTATION = "dev.sigstore.cosign/bundle"
_PAYLOAD_TYPE = "cosign container image signature"
_MAX_SIGNATURES = 64


@dataclass(frozen=True, slots=True)
class SimpleSignature:
    """One signature layer: ``payload`` bytes, ``signature`` bytes (``None`` if unreadable), and
    ``recorded_hash``, the payload sha256 hex of its Rekor bundle when there is one."""

    payload: bytes
    signature: bytes | None
    recorded_hash: str | None


def signature_tag(digest: str) -> str:
    """``sha256-<hex>.sig`` for ``sha256:<hex>``."""
    return digest.replace(":", "-", 1) + ".sig"


def _recorded_hash(annotations: dict[str, Any]) -> str | None:
    text = annotations.get(BUNDLE_ANNOTATION)
    if not isinstance(text, str):
        return None
    try:
        bundle = json.loads(text)
        body = json.loads(base64.b64decode(bundle["Payload"]["body"]))
        value = body["spec"]["data"]["hash"]["value"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        return None
    return value if isinstance(value, str) else None


def fetch_signatures(client: RegistryClient, repository: str, digest: str) -> list[SimpleSignature]:
    """The simple-signing layers of ``repository:sha256-<hex>.sig`` (empty when the tag is absent).

    Raises:
        RegistryError: the request codes (not ``not_found``).
    """
    try:
        manifest = client.manifest(repository, signature_tag(digest))
    except RegistryError as exc:
        if exc.code == "not_found":
            return []
        raise
    layers = manifest.value.get("layers")
    found: list[SimpleSignature] = []
    for layer in layers if isinstance(layers, list) else []:
        if not isinstance(layer, dict) or layer.get("mediaType") != SIMPLE_SIGNING_TYPE:
            continue
        raw = layer.get("annotations")
        annotations: dict[str, Any] = raw if isinstance(raw, dict) else {}
        layer_digest = layer.get("digest")
        if not isinstance(layer_digest, str):
            continue
        try:
            payload = client.blob(repository, layer_digest)
        except RegistryError as exc:
            if exc.code not in ("not_found", "digest_mismatch"):
                raise
            payload = b""
        encoded = annotations.get(SIGNATURE_ANNOTATION)
        signature: bytes | None = None
        if isinstance(encoded, str):
            try:
                signature = base64.b64decode(encoded, validate=True)
            except binascii.Error:
                signature = None
        found.append(SimpleSignature(payload, signature, _recorded_hash(annotations)))
        if len(found) >= _MAX_SIGNATURES:
            break
    return found


def _claims(payload: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("critical"), dict):
        return None
    return value


def _check_one(
    signature: SimpleSignature, attestor: KeyAttestor, ref: ImageReference, annotations: tuple[tuple[str, str], ...]
) -> tuple[str, str]:
    """(reason, message) of one signature; reason ``verified`` when it satisfies the attestor."""
    if signature.signature is None or not signature.payload:
        return "invalid_signature", "a signature layer has no readable signature or payload"
    key = next((k for k in attestor.keys if k.verify(signature.signature, signature.payload)), None)
    if key is None:
        if signature.recorded_hash and signature.recorded_hash != hashlib.sha256(signature.payload).hexdigest():
            return "tampered", "the signed payload was changed after signing"
        return "wrong_key", "no signature verifies with the attestor's keys"
    claims = _claims(signature.payload)
    critical = claims.get("critical") if claims else None
    if not isinstance(critical, dict) or critical.get("type") != _PAYLOAD_TYPE:
        return "invalid_signature", "the signed payload is not a cosign simple-signing payload"
    image = critical.get("image") if isinstance(critical.get("image"), dict) else {}
    signed_digest = image.get("docker-manifest-digest") if isinstance(image, dict) else None
    if signed_digest != ref.digest:
        return "digest_mismatch", f"the signature is for {signed_digest}, not {ref.digest}"
    identity = critical.get("identity") if isinstance(critical.get("identity"), dict) else {}
    signed_ref = identity.get("docker-reference") if isinstance(identity, dict) else None
    try:
        signed_name = parse_reference(signed_ref).name if isinstance(signed_ref, str) else None
    except ImageReferenceError:
        signed_name = None
    accepted = attestor.identities or (ref.name,)
    if signed_name is None or not any(glob_match(pattern, signed_name) for pattern in accepted):
        return "identity_mismatch", f"the signature is for repository {signed_ref}, not {ref.name}"
    raw = claims.get("optional") if claims else None
    optional: dict[str, Any] = raw if isinstance(raw, dict) else {}
    for name, value in annotations:
        if optional.get(name) != value:
            return "annotation_mismatch", f"annotation {name}={optional.get(name)!r}, expected {value!r}"
    return "verified", f"signed by key {key.fingerprint[:19]} ({key.kind})"


def check_key_attestor(
    signatures: list[SimpleSignature],
    attestor: KeyAttestor,
    ref: ImageReference,
    annotations: tuple[tuple[str, str], ...] = (),
) -> AttestorOutcome:
    """Whether one of ``signatures`` satisfies ``attestor`` for ``ref`` (pinned to its digest).

    Args:
        signatures: from :func:`fetch_signatures`.
        attestor: the key attestor.
        ref: the image, with ``digest`` set.
        annotations: ``(name, value)`` pairs the payload's ``optional`` must hold.
    """
    if not signatures:
        return AttestorOutcome(attestor.name, False, "no_signature", f"no cosign signature for {ref.digest}")
    failures: list[tuple[str, str]] = []
    for signature in signatures:
        reason, message = _check_one(signature, attestor, ref, annotations)
        if reason == "verified":
            return AttestorOutcome(attestor.name, True, reason, message)
        failures.append((reason, message))
    reason = worst([r for r, _ in failures])
    message = next(m for r, m in failures if r == reason)
    return AttestorOutcome(attestor.name, False, reason, message)
