"""Signatures of offline bundles: a detached signature of ``SHA256SUMS``, cosign-style.

``bundle export --sign-key KEY.pem`` signs the exact bytes of the bundle's
``SHA256SUMS`` and stores the signature, base64 as ``cosign sign-blob``
prints it, as the member ``SHA256SUMS.sig`` (the one member SUMS does not
list); since SUMS lists every other file with its sha256, the signature
covers the whole bundle. The algorithms are the ones cosign uses for a key
pair (``sigstore/sigstore`` ``pkg/signature``), verified by
:mod:`kubegate.images.keys`:

* ECDSA P-256 with SHA-256 (cosign's default key type), ASN.1 DER signature;
* Ed25519 over the message itself (PureEdDSA, RFC 8032 section 5.1).

So ``cosign verify-blob --key PUB.pem --signature SHA256SUMS.sig SHA256SUMS``
accepts a signature made here. The private key is a PEM PKCS#8 (``openssl
genpkey -algorithm ed25519``, ``openssl ecparam -name prime256v1 -genkey |
openssl pkcs8 -topk8 -nocrypt``) or SEC1 ``EC PRIVATE KEY`` block, encrypted
when a password is given; cosign's own ``ENCRYPTED SIGSTORE PRIVATE KEY``
format is not read (generate the pair with openssl; cosign takes the PEM
public key as it is).

``bundle import --verify-key PUB.pem`` refuses a bundle without
``SHA256SUMS.sig`` (``bundle_unsigned``) or whose signature the key does not
verify (``bundle_signature_invalid``) before any file is checked or stored.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from kubegate.errors import UsageError
from kubegate.goproxy.errors import BundleError, IntegrityError
from kubegate.images.keys import PublicKey, load_public_key

__all__ = ["SIGNATURE_NAME", "SigningKey", "load_signing_key", "verify_sums"]

SIGNATURE_NAME = "SHA256SUMS.sig"
_MAX_SIGNATURE = 4096


@dataclass(frozen=True)
class SigningKey:
    """A private key bundles are signed with (``kind``: ``ecdsa-p256`` or ``ed25519``)."""

    key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
    kind: str

    def sign(self, message: bytes) -> bytes:
        """The signature of ``message``, base64 (cosign ``sign-blob`` output)."""
        if isinstance(self.key, ed25519.Ed25519PrivateKey):
            raw = self.key.sign(message)
        else:
            raw = self.key.sign(message, ec.ECDSA(hashes.SHA256()))
        return base64.b64encode(raw) + b"\n"

    def public_key(self) -> PublicKey:
        """The matching public key (as :func:`kubegate.images.keys.load_public_key` reads it)."""
        pem = self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return load_public_key(pem, "signing key")


def load_signing_key(pem: bytes, source: str = "<key>", password: bytes | None = None) -> SigningKey:
    """Reads a PEM private key (see the module docstring).

    Args:
        pem: the PEM text.
        source: where it came from (a path), for messages.
        password: for an encrypted PKCS#8 key.

    Raises:
        UsageError: ``signing_key_invalid`` (not a readable PEM private key, wrong password)
            or ``signing_key_unsupported`` (RSA, another curve).
    """
    try:
        key = serialization.load_pem_private_key(pem, password=password)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise UsageError(f"{source}: not a usable PEM private key ({exc})", code="signing_key_invalid") from None
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return SigningKey(key, "ed25519")
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1":
        return SigningKey(key, "ecdsa-p256")
    raise UsageError(
        f"{source}: bundles are signed with ECDSA P-256 or Ed25519 keys, not {type(key).__name__}",
        code="signing_key_unsupported",
    )


def verify_sums(sums: bytes, signature: bytes | None, key: PublicKey) -> None:
    """Checks ``signature`` (base64, as in ``SHA256SUMS.sig``) of the ``SHA256SUMS`` bytes.

    Raises:
        BundleError: ``bundle_unsigned`` (no signature).
        IntegrityError: ``bundle_signature_invalid`` (not base64, or not the key's signature).
    """
    if signature is None:
        raise BundleError(f"bundle is not signed (no {SIGNATURE_NAME})", code="bundle_unsigned")
    try:
        raw = base64.b64decode(signature.strip(), validate=True) if len(signature) <= _MAX_SIGNATURE else b""
    except (binascii.Error, ValueError):
        raw = b""
    if not raw or not key.verify(raw, sums):
        raise IntegrityError(
            f"{SIGNATURE_NAME} is not a signature of SHA256SUMS by the key {key.fingerprint}",
            code="bundle_signature_invalid",
        )
