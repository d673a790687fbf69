"""JWS signatures as OPA's JWT builtins make and check them (lestrrat-go/jwx's ``jwsbb``).

Keys come from a PEM certificate, a PEM public key or JWK(s) (OPA's
``getKeysFromCertOrJWK``, https://github.com/open-policy-agent/opa/blob/main/v1/topdown/tokens.go);
signatures are checked and made with the ``cryptography`` library: RS*/PS*
(PKCS #1 v1.5 and PSS; RSA keys under 1024 bits refused, as Go 1.24 does),
ES* (``r || s`` of the curve's size), EdDSA (Ed25519) and HS* (HMAC).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils

from kubegate.evaluator.builtins._gocompat import GoError, pem_decode
from kubegate.evaluator.builtins._jwk import Jwk, parse_jwks
from kubegate.evaluator.builtins.registry import BuiltinError

__all__ = ["ALGORITHMS", "keys_from_cert_or_jwk", "sign", "verify_signature"]

ALGORITHMS = frozenset(
    [
        "RS256",
        "RS384",
        "RS512",
        "PS256",
        "PS384",
        "PS512",
        "ES256",
        "ES384",
        "ES512",
        "HS256",
        "HS384",
        "HS512",
        "EdDSA",
    ]
)
"""OPA's known JWS algorithms."""

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
_DIGESTS = {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}


def keys_from_cert_or_jwk(text: str) -> list[Jwk]:
    """OPA's ``getKeysFromCertOrJWK``: a PEM certificate or public key, or JWK(s).

    Raises:
        BuiltinError: with OPA's message.
    """
    data = text.encode("utf-8", "surrogatepass")
    block, rest = pem_decode(data)
    if block is not None:
        if rest:
            raise BuiltinError("extra data after a PEM certificate block")
        key: Any
        if block.type == "CERTIFICATE":
            try:
                key = x509.load_der_x509_certificate(block.bytes).public_key()
            except Exception:
                raise BuiltinError("failed to parse a PEM certificate: x509: malformed certificate") from None
            return [Jwk("", key)]
        if block.type == "PUBLIC KEY":
            try:
                key = serialization.load_der_public_key(block.bytes)
            except Exception:
                raise BuiltinError("failed to parse a PEM public key: x509: malformed public key") from None
            return [Jwk("", key)]
        raise BuiltinError("failed to extract a Key from the PEM certificate")
    try:
        keys = parse_jwks(text)
    except GoError as exc:
        raise BuiltinError(f"failed to parse a JWK key (set): {exc.message}") from None
    return [k for k in keys if not k.alg or k.alg in ALGORITHMS]


def _public(key: Any) -> Any:
    if isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        return key.public_key()
    return key


def _verify_rsa(key: Any, alg: str, message: bytes, signature: bytes) -> bool:
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size < 1024:
        return False
    algorithm = _HASHES[alg[2:]]()
    pad: padding.AsymmetricPadding
    if alg.startswith("PS"):
        pad = padding.PSS(mgf=padding.MGF1(algorithm), salt_length=padding.PSS.AUTO)
    else:
        pad = padding.PKCS1v15()
    try:
        key.verify(signature, message, pad, algorithm)
    except (InvalidSignature, ValueError):
        return False
    return True


def _verify_ec(key: Any, alg: str, message: bytes, signature: bytes, strict_size: bool) -> bool:
    if not isinstance(key, ec.EllipticCurvePublicKey):
        return False
    size = (key.curve.key_size + 7) // 8
    if strict_size and len(signature) != 2 * size:
        return False
    half = len(signature) // 2
    r = int.from_bytes(signature[:half], "big")
    s = int.from_bytes(signature[half:], "big")
    try:
        key.verify(utils.encode_dss_signature(r, s), message, ec.ECDSA(_HASHES[alg[2:]]()))
    except (InvalidSignature, ValueError):
        return False
    return True


def _verify_eddsa(key: Any, message: bytes, signature: bytes) -> bool:
    if not isinstance(key, ed25519.Ed25519PublicKey):
        return False
    try:
        key.verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def verify_signature(key: Any, alg: str, message: bytes, signature: bytes, *, jws: bool = True) -> bool:
    """Whether ``signature`` signs ``message`` with ``key`` under ``alg`` (``jwsbb.Verify`` when
    ``jws``: private keys stand for their public halves, ES signatures must be ``r || s`` of
    the curve's size; otherwise the ``verify_*`` builtins' stricter key typing)."""
    if jws:
        key = _public(key)
    if alg.startswith("HS") and alg[2:] in _HASHES:
        if not isinstance(key, bytes):
            return False
        mac = hmac.new(key, message, _DIGESTS[alg[2:]])
        return hmac.compare_digest(mac.digest(), signature)
    if alg[:2] in ("RS", "PS") and alg[2:] in _HASHES:
        return _verify_rsa(key, alg, message, signature)
    if alg[:2] == "ES" and alg[2:] in _HASHES:
        return _verify_ec(key, alg, message, signature, jws)
    if alg == "EdDSA":
        return _verify_eddsa(key, message, signature)
    return False


def sign(key: Jwk, alg: str, message: bytes) -> bytes:
    """``jwsbb.Sign``: the JWS signature of ``message``.

    Raises:
        BuiltinError: the key cannot sign with ``alg``.
    """
    bits = alg[2:]
    material = key.key
    if alg.startswith("HS"):
        if not isinstance(material, bytes):
            raise BuiltinError(f"failed to sign payload: invalid key type {key.kty} for algorithm {alg}")
        digest = _DIGESTS[bits]
        return hmac.new(material, message, digest).digest()
    if alg[:2] in ("RS", "PS"):
        if not isinstance(material, rsa.RSAPrivateKey):
            raise BuiltinError(f"failed to sign payload: invalid key type {key.kty} for algorithm {alg}")
        algorithm = _HASHES[bits]()
        pad: padding.AsymmetricPadding = (
            padding.PSS(mgf=padding.MGF1(algorithm), salt_length=padding.PSS.DIGEST_LENGTH)
            if alg.startswith("PS")
            else padding.PKCS1v15()
        )
        return material.sign(message, pad, algorithm)
    if alg.startswith("ES"):
        if not isinstance(material, ec.EllipticCurvePrivateKey):
            raise BuiltinError(f"failed to sign payload: invalid key type {key.kty} for algorithm {alg}")
        der = material.sign(message, ec.ECDSA(_HASHES[bits]()))
        r, s = utils.decode_dss_signature(der)
        size = (material.curve.key_size + 7) // 8
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    if not isinstance(material, ed25519.Ed25519PrivateKey):
        raise BuiltinError(f"failed to sign payload: invalid key type {key.kty} for algorithm {alg}")
    return material.sign(message)
