"""Private-key builtins: ``crypto.parse_private_keys``, ``crypto.x509.parse_rsa_private_key``,
``crypto.x509.parse_keypair``.

Follows https://github.com/open-policy-agent/opa/blob/main/v1/topdown/crypto.go
(``getPrivateKeysFromPEMData``, ``jwk.New``, Go's ``tls.X509KeyPair`` and its
error texts) with the ``cryptography`` library; keys come back as Go's
``encoding/json`` writes ``*rsa.PrivateKey``, ``*ecdsa.PrivateKey`` and
``ed25519.PrivateKey`` (see :mod:`._x509names`), or as a JWK object.
"""

from __future__ import annotations

import base64
import contextlib
import warnings
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from kubegate.evaluator.builtins._gocompat import GoError, b64_decode, pem_decode, pem_encode
from kubegate.evaluator.builtins._jwk import private_key_to_jwk
from kubegate.evaluator.builtins._x509json import cert_to_value, load_certificates_der, private_key_to_value
from kubegate.evaluator.builtins.registry import BuiltinError, arg_string, implements

__all__ = ["crypto_parse_private_keys", "parse_keypair", "parse_rsa_private_key", "private_keys_from_pem"]


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def _fail(exc: GoError) -> BuiltinError:
    return BuiltinError(exc.message)


def _load_private_key(block_type: str, der: bytes) -> Any:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            key = serialization.load_der_private_key(der, password=None)
    except Exception:
        if block_type == "RSA PRIVATE KEY":
            raise GoError(
                "x509: failed to parse private key (use ParsePKCS8PrivateKey instead for this key format)"
            ) from None
        if block_type == "EC PRIVATE KEY":
            raise GoError("x509: failed to parse EC private key") from None
        raise GoError("x509: failed to parse private key") from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        raise GoError("x509: PKCS#8 wrapping contained private key with unknown algorithm")
    return key


def private_keys_from_pem(text: str) -> list[Any]:
    """OPA's ``getPrivateKeysFromPEMData``: the RSA, PKCS#8 and EC private keys of a PEM text
    (or of its base64), other blocks skipped.

    Raises:
        GoError: a key block that does not parse.
    """
    data = _utf8(text)
    with contextlib.suppress(GoError):
        data = b64_decode(data)
    keys = []
    while data:
        size = len(data)
        block, data = pem_decode(data)
        if block is None and not data:
            break
        if size == len(data):
            break
        if block is None:
            continue
        if block.type in ("RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY"):
            keys.append(_load_private_key(block.type, block.bytes))
    return keys


@implements("crypto.parse_private_keys")
def crypto_parse_private_keys(keys: Any) -> Any:
    """``crypto.parse_private_keys(keys)``: Go's private key objects (``null`` for ``""``)."""
    text = arg_string(keys, 1)
    if text == "":
        return None
    try:
        parsed = private_keys_from_pem(text)
    except GoError as exc:
        raise _fail(exc) from None
    return [private_key_to_value(k) for k in parsed]


@implements("crypto.x509.parse_rsa_private_key")
def parse_rsa_private_key(pem: Any) -> Any:
    """``crypto.x509.parse_rsa_private_key(pem)``: the first private key as a JWK object."""
    text = arg_string(pem, 1)
    if text == "":
        raise BuiltinError("input PEM data was empty")
    try:
        if not text.startswith("-----BEGIN"):
            text = b64_decode(_utf8(text)).decode("utf-8", "replace")
        parsed = private_keys_from_pem(text)
    except GoError as exc:
        raise _fail(exc) from None
    if not parsed:
        return None
    return private_key_to_jwk(parsed[0])


def _keypair(cert_pem: bytes, key_pem: bytes) -> dict[str, Any]:
    """``tls.X509KeyPair`` as JSON (``Certificate``, ``PrivateKey``, ``Leaf`` ...)."""
    ders: list[bytes] = []
    skipped: list[str] = []
    data = cert_pem
    while True:
        block, data = pem_decode(data)
        if block is None:
            break
        if block.type == "CERTIFICATE":
            ders.append(block.bytes)
        else:
            skipped.append(block.type)
    if not ders:
        if not skipped:
            raise GoError("tls: failed to find any PEM data in certificate input")
        if len(skipped) == 1 and skipped[0].endswith("PRIVATE KEY"):
            raise GoError(
                "tls: failed to find certificate PEM data in certificate input, but did find a private key; "
                "PEM inputs may have been switched"
            )
        raise GoError(
            'tls: failed to find "CERTIFICATE" PEM block in certificate input after skipping PEM blocks '
            f"of the following types: [{' '.join(skipped)}]"
        )
    skipped = []
    data = key_pem
    while True:
        block, data = pem_decode(data)
        if block is None:
            if not skipped:
                raise GoError("tls: failed to find any PEM data in key input")
            if skipped == ["CERTIFICATE"]:
                raise GoError("tls: found a certificate rather than a key in the PEM for the private key")
            raise GoError(
                'tls: failed to find PEM block with type ending in "PRIVATE KEY" in key input after skipping '
                f"PEM blocks of the following types: [{' '.join(skipped)}]"
            )
        if block.type == "PRIVATE KEY" or block.type.endswith(" PRIVATE KEY"):
            break
        skipped.append(block.type)
    leaf = load_certificates_der(ders[0])
    if len(leaf) != 1:
        raise GoError("x509: trailing data")
    try:
        key = _load_private_key("PRIVATE KEY", block.bytes)
    except GoError:
        raise GoError("tls: failed to parse private key") from None
    public = leaf[0].public_key()
    if isinstance(public, rsa.RSAPublicKey):
        if not isinstance(key, rsa.RSAPrivateKey):
            raise GoError("tls: private key type does not match public key type")
        if key.public_key().public_numbers().n != public.public_numbers().n:
            raise GoError("tls: private key does not match public key")
    elif isinstance(public, ec.EllipticCurvePublicKey):
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise GoError("tls: private key type does not match public key type")
        if key.public_key().public_numbers() != public.public_numbers():
            raise GoError("tls: private key does not match public key")
    elif isinstance(public, ed25519.Ed25519PublicKey):
        if not isinstance(key, ed25519.Ed25519PrivateKey):
            raise GoError("tls: private key type does not match public key type")
        if key.public_key() != public:
            raise GoError("tls: private key does not match public key")
    else:
        raise GoError("tls: unknown public key algorithm")
    return {
        "Certificate": [base64.b64encode(d).decode("ascii") for d in ders],
        "PrivateKey": private_key_to_value(key),
        "SupportedSignatureAlgorithms": None,
        "OCSPStaple": None,
        "SignedCertificateTimestamps": None,
        "Leaf": cert_to_value(leaf[0]),
    }


@implements("crypto.x509.parse_keypair")
def parse_keypair(cert: Any, pem: Any) -> Any:
    """``crypto.x509.parse_keypair(cert, pem)``: Go's ``tls.Certificate`` of a certificate and its key
    (PEM, or base64 of PEM or DER)."""
    cert_data = _utf8(arg_string(cert, 1))
    key_data = _utf8(arg_string(pem, 1))
    try:
        if not cert_data.startswith(b"-----BEGIN "):
            cert_data = b64_decode(cert_data)
        if not key_data.startswith(b"-----BEGIN "):
            key_data = b64_decode(key_data)
        if not cert_data.startswith(b"-----BEGIN "):
            cert_data = pem_encode("CERTIFICATE", cert_data)
        if not key_data.startswith(b"-----BEGIN"):
            key_data = pem_encode("PRIVATE KEY", key_data)
        return _keypair(cert_data, key_data)
    except GoError as exc:
        raise _fail(exc) from None
    except (ValueError, TypeError) as exc:
        raise BuiltinError(f"tls: {exc}") from None
