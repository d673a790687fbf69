"""Public keys of key-based attestors and signature checks with them (``cryptography``).

The key types and hashes cosign signs with (``sigstore/sigstore``
``pkg/signature``: ``LoadVerifier`` picks the hash by key):

* ECDSA: P-256 with SHA-256, P-384 with SHA-384, P-521 with SHA-512; the
  signature is ASN.1 DER (``ecdsa-with-SHA256``);
* Ed25519: the message itself (PureEdDSA, RFC 8032 section 5.1);
* RSA (2048 bits and more): PKCS#1 v1.5 with SHA-256, or PSS with SHA-256
  and any salt length (RFC 8017 sections 8.1 and 8.2).

Keys are PEM ``PUBLIC KEY`` (SubjectPublicKeyInfo) blocks, as ``cosign
generate-key-pair`` writes ``cosign.pub``; ``RSA PUBLIC KEY`` (PKCS#1) is
read too.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from kubegate.images.errors import PublicKeyError

__all__ = ["PublicKey", "load_public_key"]

_EC_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "secp256r1": hashes.SHA256,
    "secp384r1": hashes.SHA384,
    "secp521r1": hashes.SHA512,
}
_RSA_MIN_BITS = 2048

_Key = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey


@dataclass(frozen=True, slots=True)
class PublicKey:
    """A verified-usable public key.

    Attributes:
        key: the ``cryptography`` key object.
        kind: ``ecdsa-p256``, ``ecdsa-p384``, ``ecdsa-p521``, ``ed25519`` or ``rsa-<bits>``.
        fingerprint: ``sha256:<hex>`` of the DER SubjectPublicKeyInfo (stable across PEM spellings).
        pem: the key as normalised PEM text (part of the trust policy's version).
    """

    key: _Key
    kind: str
    fingerprint: str
    pem: str

    def verify(self, signature: bytes, message: bytes) -> bool:
        """Whether ``signature`` is this key's signature of ``message`` (never raises for bad input)."""
        try:
            if isinstance(self.key, ec.EllipticCurvePublicKey):
                algorithm = _EC_HASHES[self.key.curve.name]()
                self.key.verify(signature, message, ec.ECDSA(algorithm))
                return True
            if isinstance(self.key, ed25519.Ed25519PublicKey):
                self.key.verify(signature, message)
                return True
            return self._verify_rsa(signature, message)
        except (InvalidSignature, ValueError, TypeError):
            return False

    def _verify_rsa(self, signature: bytes, message: bytes) -> bool:
        if not isinstance(self.key, rsa.RSAPublicKey):
            return False
        try:
            self.key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
            return True
        except InvalidSignature:
            pass
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO)
        self.key.verify(signature, message, pss, hashes.SHA256())
        return True


def load_public_key(pem: str | bytes, source: str = "<key>") -> PublicKey:
    """Reads a PEM public key of a supported type.

    Args:
        pem: the PEM text (one ``PUBLIC KEY`` or ``RSA PUBLIC KEY`` block).
        source: where it came from, for messages (a path, ``secret ns/name``).

    Raises:
        PublicKeyError: ``key_invalid`` (not a PEM public key) or
            ``key_unsupported`` (another curve or key type, RSA under 2048 bits).
    """
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise PublicKeyError(f"{source}: not a PEM public key ({exc})", details={"source": source}) from None
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in _EC_HASHES:
            raise PublicKeyError(
                f"{source}: ECDSA curve {key.curve.name} is not supported (P-256, P-384, P-521)",
                code="key_unsupported",
            )
        kind = {"secp256r1": "ecdsa-p256", "secp384r1": "ecdsa-p384", "secp521r1": "ecdsa-p521"}[key.curve.name]
    elif isinstance(key, ed25519.Ed25519PublicKey):
        kind = "ed25519"
    elif isinstance(key, rsa.RSAPublicKey):
        if key.key_size < _RSA_MIN_BITS:
            raise PublicKeyError(f"{source}: RSA keys under {_RSA_MIN_BITS} bits are refused", code="key_unsupported")
        kind = f"rsa-{key.key_size}"
    else:
        raise PublicKeyError(
            f"{source}: {type(key).__name__} keys are not supported (ECDSA, Ed25519, RSA)", code="key_unsupported"
        )
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    normal = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return PublicKey(key, kind, "sha256:" + hashlib.sha256(der).hexdigest(), normal)
