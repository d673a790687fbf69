"""Sigstore bundles (keyless): found through OCI referrers or the fallback tag, verified with ``sigstore``.

Finding (OCI distribution spec 1.1, "Listing Referrers" and "Referrers Tag
Schema"): the registry's referrers API is asked for artifacts of type
``application/vnd.dev.sigstore.bundle.v0.3+json`` that refer to the image's
digest; a registry without the API (404, as distribution 2.8) is read
through the fallback tag ``sha256-<hex>``, an OCI index listing the
referrers. Each referrer is a manifest whose layer of the bundle media type
is the bundle JSON.

Verifying (sigstore-python ``sigstore.verify.Verifier`` with a
``TrustedRoot`` read from the attestor's ``trustedRoot`` file, no TUF at run
time): the Fulcio certificate chain at signing time, its SCT from a trusted
CT log, the Rekor inclusion proof or promise (and timestamps), then the
identity: the certificate's OIDC issuer and SAN equal to ``subject`` or
matching ``subjectRegExp``. The signed content must be the image:

* a message-signature bundle signs the image manifest; its digest is the
  image digest (``verify_artifact`` with the pre-hashed digest);
* a DSSE bundle holds an in-toto statement whose ``subject`` has the image
  digest (``verify_dsse``); its ``predicate.annotations`` (if any) are what
  the policy's ``annotations`` are checked against, and an attestor with a
  ``predicateType`` (an in-toto attestation such as SLSA provenance,
  ``https://slsa.dev/provenance/v1``) only accepts statements of that type.

Failure reasons: ``identity_mismatch`` (another identity or issuer),
``certificate_expired`` (signed when the certificate was not valid),
``digest_mismatch`` (a bundle for another digest), ``predicate_mismatch``
(not an attestation of the attestor's ``predicateType``), ``invalid_signature``
(anything else the verification refuses), ``no_signature`` (no bundle).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass
from typing import Any

from cryptography.x509 import Certificate, OtherName, RFC822Name, SubjectAlternativeName, UniformResourceIdentifier
from sigstore.errors import Error as SigstoreError
from sigstore.errors import VerificationError
from sigstore.hashes import Hashed
from sigstore.models import Bundle, TrustedRoot
from sigstore.verify import Verifier
from sigstore.verify.policy import OIDCIssuer
from sigstore_models.common.v1 import HashAlgorithm
from sigstore_models.trustroot import v1 as trustroot_v1

from kubegate.images.errors import RegistryError
from kubegate.images.reference import ImageReference
from kubegate.images.registry import RegistryClient
from kubegate.images.result import AttestorOutcome, worst
from kubegate.images.trust_policy import KeylessAttestor

__all__ = ["BUNDLE_ARTIFACT_TYPE", "check_keyless_attestor", "fallback_tag", "fetch_bundles", "load_trusted_root"]

BUNDLE_ARTIFACT_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
_BUNDLE_MEDIA_TYPES = (BUNDLE_ARTIFACT_TYPE, "application/vnd.dev.sigstore.bundle+json;version=0.3")
_IN_TOTO = "application/vnd.in-toto+json"
_OTHERNAME_OID = "1.3.6.1.4.1.57264.1.7"
_MAX_BUNDLES = 32
_MAX_ROOT_BYTES = 4 << 20

_roots: dict[str, Verifier] = {}
_roots_lock = threading.Lock()


def fallback_tag(digest: str) -> str:
    """``sha256-<hex>`` for ``sha256:<hex>`` (the referrers tag schema)."""
    return digest.replace(":", "-", 1)


def fetch_bundles(client: RegistryClient, repository: str, digest: str) -> list[bytes]:
    """The bundle JSON texts referring to ``digest`` (referrers API, else the fallback tag).

    Raises:
        RegistryError: the request codes (a missing fallback tag is no bundle, not an error).
    """
    descriptors = client.referrers(repository, digest, BUNDLE_ARTIFACT_TYPE)
    if descriptors is None:
        try:
            index = client.manifest(repository, fallback_tag(digest))
        except RegistryError as exc:
            if exc.code == "not_found":
                return []
            raise
        listed = index.value.get("manifests")
        descriptors = [
            d
            for d in (listed if isinstance(listed, list) else [])
            if isinstance(d, dict) and d.get("artifactType") == BUNDLE_ARTIFACT_TYPE
        ]
    found: list[bytes] = []
    for descriptor in descriptors[:_MAX_BUNDLES]:
        ref = descriptor.get("digest")
        if not isinstance(ref, str):
            continue
        manifest = client.manifest(repository, ref)
        layers = manifest.value.get("layers")
        for layer in layers if isinstance(layers, list) else []:
            if (
                isinstance(layer, dict)
                and layer.get("mediaType") in _BUNDLE_MEDIA_TYPES
                and isinstance(layer.get("digest"), str)
            ):
                found.append(client.blob(repository, str(layer["digest"])))
    return found


def load_trusted_root(path: str) -> Verifier:
    """A sigstore ``Verifier`` for the ``trusted_root.json`` at ``path``.

    Parsed once per content (a replaced file is read again: the trust
    policy's version changes with it too).

    Raises:
        ValueError: the file cannot be read or is not a trusted root (sigstore's message).
    """
    try:
        with open(path, "rb") as handle:
            data = handle.read(_MAX_ROOT_BYTES)
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None
    key = hashlib.sha256(data).hexdigest()
    with _roots_lock:
        found = _roots.get(key)
        if found is None:
            try:
                found = Verifier(trusted_root=TrustedRoot(trustroot_v1.TrustedRoot.from_json(data)))
            except Exception as exc:  # sigstore's models raise pydantic and protobuf errors alike
                raise ValueError(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None
            _roots[key] = found
        return found


@dataclass
class _IdentityPolicy:
    """A sigstore ``VerificationPolicy``: issuer exact, SAN exact or by regular expression; remembers a refusal."""

    attestor: KeylessAttestor
    refused: str | None = None

    def verify(self, cert: Certificate) -> None:
        try:
            OIDCIssuer(self.attestor.issuer).verify(cert)
        except SigstoreError as exc:
            self.refused = f"certificate issuer is not {self.attestor.issuer}: {exc}"
            raise
        san = cert.extensions.get_extension_for_class(SubjectAlternativeName).value
        names = set(san.get_values_for_type(RFC822Name)) | set(san.get_values_for_type(UniformResourceIdentifier))
        names |= {
            o.value.decode() for o in san.get_values_for_type(OtherName) if o.type_id.dotted_string == _OTHERNAME_OID
        }
        if self.attestor.subject is not None:
            ok = self.attestor.subject in names
        else:
            pattern = re.compile(str(self.attestor.subject_regexp))
            ok = any(pattern.fullmatch(n) for n in names)
        if not ok:
            expected = self.attestor.subject or f"/{self.attestor.subject_regexp}/"
            self.refused = f"certificate identity {sorted(names)} is not {expected}"
            raise VerificationError(self.refused)


def _expired(bundle: Bundle) -> bool:
    cert = bundle.signing_certificate
    try:
        signed = bundle.log_entry._inner.integrated_time
    except (AttributeError, ValueError):
        return False
    if not signed:
        return False
    return not cert.not_valid_before_utc.timestamp() <= int(signed) <= cert.not_valid_after_utc.timestamp()


def _statement_matches(payload_type: str, payload: bytes, digest: str) -> tuple[bool, dict[str, Any], str | None]:
    """Whether an in-toto statement names ``digest``; its predicate's annotations; its predicateType."""
    if payload_type != _IN_TOTO:
        return False, {}, None
    try:
        statement = json.loads(payload)
    except ValueError:
        return False, {}, None
    hex_digest = digest.split(":", 1)[1]
    subjects = statement.get("subject") if isinstance(statement, dict) else None
    ok = any(
        isinstance(s, dict) and isinstance(s.get("digest"), dict) and s["digest"].get("sha256") == hex_digest
        for s in (subjects if isinstance(subjects, list) else [])
    )
    predicate = statement.get("predicate") if isinstance(statement, dict) else None
    annotations = predicate.get("annotations") if isinstance(predicate, dict) else None
    predicate_type = statement.get("predicateType") if isinstance(statement, dict) else None
    return (
        ok,
        annotations if isinstance(annotations, dict) else {},
        predicate_type if isinstance(predicate_type, str) else None,
    )


def _check_one(
    text: bytes, attestor: KeylessAttestor, ref: ImageReference, annotations: tuple[tuple[str, str], ...]
) -> tuple[str, str]:
    try:
        bundle = Bundle.from_json(text)
    except Exception as exc:
        return "invalid_signature", f"unreadable Sigstore bundle: {exc}"
    verifier = load_trusted_root(attestor.trusted_root)
    policy = _IdentityPolicy(attestor)
    digest = str(ref.digest)
    signed: dict[str, Any] = {}
    predicate_type: str | None = None
    try:
        if bundle._dsse_envelope is not None:
            payload_type, payload = verifier.verify_dsse(bundle, policy)
            ok, signed, predicate_type = _statement_matches(payload_type, payload, digest)
            if not ok:
                return "digest_mismatch", f"the bundle's statement is not about {digest}"
        else:
            signature = bundle._inner.message_signature
            if (
                signature is not None
                and signature.message_digest is not None
                and signature.message_digest.digest != bytes.fromhex(digest.split(":", 1)[1])
            ):
                return "digest_mismatch", f"the bundle signs another digest than {digest}"
            hashed = Hashed(algorithm=HashAlgorithm.SHA2_256, digest=bytes.fromhex(digest.split(":", 1)[1]))
            verifier.verify_artifact(hashed, bundle, policy)
    except Exception as exc:
        if policy.refused is not None:
            return "identity_mismatch", policy.refused
        if _expired(bundle):
            return "certificate_expired", "the certificate was not valid when the bundle was logged"
        return "invalid_signature", f"bundle refused: {exc}"
    if attestor.predicate_type is not None and predicate_type != attestor.predicate_type:
        found = f"predicateType {predicate_type}" if predicate_type else "a plain signature"
        return "predicate_mismatch", f"the bundle holds {found}, not an attestation of {attestor.predicate_type}"
    for name, value in annotations:
        if signed.get(name) != value:
            return "annotation_mismatch", f"annotation {name}={signed.get(name)!r}, expected {value!r}"
    return "verified", f"keyless signature by {attestor.subject or attestor.subject_regexp} ({attestor.issuer})"


def check_keyless_attestor(
    bundles: list[bytes], attestor: KeylessAttestor, ref: ImageReference, annotations: tuple[tuple[str, str], ...] = ()
) -> AttestorOutcome:
    """Whether one of ``bundles`` satisfies ``attestor`` for ``ref`` (pinned to its digest)."""
    if not bundles:
        return AttestorOutcome(attestor.name, False, "no_signature", f"no Sigstore bundle refers to {ref.digest}")
    failures: list[tuple[str, str]] = []
    for text in bundles:
        reason, message = _check_one(text, attestor, ref, annotations)
        if reason == "verified":
            return AttestorOutcome(attestor.name, True, reason, message)
        failures.append((reason, message))
    reason = worst([r for r, _ in failures])
    return AttestorOutcome(attestor.name, False, reason, next(m for r, m in failures if r == reason))
