"""Crypto builtins: digests, HMACs, X.509 certificates and requests (private keys and key
pairs in :mod:`.crypto_keys`, imported here so that importing this module registers them all).

Follows https://github.com/open-policy-agent/opa/blob/main/v1/topdown/crypto.go
with the ``cryptography`` library in place of Go's ``crypto/*``. Certificates,
requests and keys come back shaped as Go's ``encoding/json`` writes its
structs (see :mod:`._x509json` for the fields); chain verification follows
Go's rules (see :mod:`._x509verify`).

Inputs are PEM, or base64 of PEM or of DER, as OPA accepts them.
"""

from __future__ import annotations

import hashlib
import hmac
import warnings
from typing import Any

from cryptography import x509

from kubegate.evaluator.builtins._gocompat import GoError, b64_decode, pem_decode
from kubegate.evaluator.builtins._x509json import (
    cert_to_value,
    csr_to_value,
    load_certificates_der,
)
from kubegate.evaluator.builtins._x509verify import EXT_KEY_USAGE_NAMES, verify_chain
from kubegate.evaluator.builtins.crypto_keys import (
    crypto_parse_private_keys,
    parse_keypair,
    parse_rsa_private_key,
    private_keys_from_pem,
)
from kubegate.evaluator.builtins.registry import BuiltinError, arg_object, arg_string, implements
from kubegate.evaluator.values import Set, from_key

__all__ = [
    "certificates_from_string",
    "crypto_hmac_equal",
    "crypto_hmac_md5",
    "crypto_hmac_sha1",
    "crypto_hmac_sha256",
    "crypto_hmac_sha512",
    "crypto_md5",
    "crypto_parse_private_keys",
    "crypto_sha1",
    "crypto_sha256",
    "parse_and_verify_certificates",
    "parse_and_verify_certificates_with_options",
    "parse_certificate_request",
    "parse_certificates",
    "parse_keypair",
    "parse_rsa_private_key",
    "private_keys_from_pem",
]


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def _fail(exc: GoError) -> BuiltinError:
    return BuiltinError(exc.message)


# ------------------------------------------------------------------ digests


@implements("crypto.md5")
def crypto_md5(x: Any) -> str:
    """``crypto.md5(x)``: hex MD5 of the UTF-8 bytes."""
    return hashlib.md5(_utf8(arg_string(x, 1)), usedforsecurity=False).hexdigest()


@implements("crypto.sha1")
def crypto_sha1(x: Any) -> str:
    """``crypto.sha1(x)``: hex SHA-1 of the UTF-8 bytes."""
    return hashlib.sha1(_utf8(arg_string(x, 1)), usedforsecurity=False).hexdigest()


@implements("crypto.sha256")
def crypto_sha256(x: Any) -> str:
    """``crypto.sha256(x)``: hex SHA-256 of the UTF-8 bytes."""
    return hashlib.sha256(_utf8(arg_string(x, 1))).hexdigest()


def _hmac(x: Any, key: Any, digest: str) -> str:
    message = _utf8(arg_string(x, 1))
    secret = _utf8(arg_string(key, 2))
    return hmac.new(secret, message, digest).hexdigest()


@implements("crypto.hmac.md5")
def crypto_hmac_md5(x: Any, key: Any) -> str:
    """``crypto.hmac.md5(x, key)``: hex HMAC-MD5."""
    return _hmac(x, key, "md5")


@implements("crypto.hmac.sha1")
def crypto_hmac_sha1(x: Any, key: Any) -> str:
    """``crypto.hmac.sha1(x, key)``: hex HMAC-SHA1."""
    return _hmac(x, key, "sha1")


@implements("crypto.hmac.sha256")
def crypto_hmac_sha256(x: Any, key: Any) -> str:
    """``crypto.hmac.sha256(x, key)``: hex HMAC-SHA256."""
    return _hmac(x, key, "sha256")


@implements("crypto.hmac.sha512")
def crypto_hmac_sha512(x: Any, key: Any) -> str:
    """``crypto.hmac.sha512(x, key)``: hex HMAC-SHA512."""
    return _hmac(x, key, "sha512")


@implements("crypto.hmac.equal")
def crypto_hmac_equal(mac1: Any, mac2: Any) -> bool:
    """``crypto.hmac.equal(mac1, mac2)``: constant-time comparison of the two strings."""
    return hmac.compare_digest(_utf8(arg_string(mac1, 1)), _utf8(arg_string(mac2, 2)))


# ------------------------------------------------------------------ certificates


def _certs_from_pem(data: bytes) -> list[x509.Certificate]:
    der = b""
    while data:
        block, rest = pem_decode(data)
        if block is None:
            break
        if block.type != "CERTIFICATE":
            raise GoError(f"PEM block type is '{block.type}', expected CERTIFICATE")
        der += block.bytes
        data = rest
    return load_certificates_der(der)


def certificates_from_string(text: str) -> list[x509.Certificate]:
    """OPA's ``getX509CertsFromString``: PEM, or base64 of PEM or DER.

    Raises:
        GoError: bad base64, a non-certificate PEM block, malformed DER.
    """
    data = _utf8(text)
    if data.startswith(b"-----BEGIN"):
        return _certs_from_pem(data)
    decoded = b64_decode(data)
    if decoded.startswith(b"-----BEGIN"):
        return _certs_from_pem(decoded)
    return load_certificates_der(decoded)


def _guard(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except GoError as exc:
        raise _fail(exc) from None
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise BuiltinError(f"x509: {exc}") from None


@implements("crypto.x509.parse_certificates")
def parse_certificates(certs: Any) -> list[Any]:
    """``crypto.x509.parse_certificates(certs)``: Go's certificate objects (with ``URIStrings``)."""
    text = arg_string(certs, 1)
    parsed = _guard(certificates_from_string, text)
    return [_guard(cert_to_value, c, True) for c in parsed]


def _unverified() -> tuple[bool, tuple[()]]:
    return (False, ())


@implements("crypto.x509.parse_and_verify_certificates")
def parse_and_verify_certificates(certs: Any) -> Any:
    """``crypto.x509.parse_and_verify_certificates(certs)``: ``[true, chain]`` (leaf first) or ``[false, []]``;
    the first certificate is the root, the last the leaf."""
    text = arg_string(certs, 1)
    try:
        parsed = certificates_from_string(text)
        chain = verify_chain(parsed)
    except (GoError, ValueError, TypeError):
        return _unverified()
    return (True, [_guard(cert_to_value, c, True) for c in chain])


def _verify_options(options: dict[Any, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in sorted(k for k in options if type(from_key(k)) is str):
        name = from_key(key)
        value = options[key]
        if name == "DNSName":
            if type(value) is not str:
                raise BuiltinError("'DNSName' should be a string")
            out["dns_name"] = value.strip('"')
        elif name == "CurrentTime":
            if type(value) not in (int, float):
                raise BuiltinError("'CurrentTime' should be a number")
            if (type(value) is float and not value.is_integer()) or not -(1 << 63) <= value < (1 << 63):
                raise BuiltinError("'CurrentTime' should be a valid int64 number")
            out["current_time_ns"] = int(value)
        elif name == "MaxConstraintComparisons":
            if type(value) not in (int, float):
                raise BuiltinError("'MaxConstraintComparisons' should be a number")
            if (type(value) is float and not value.is_integer()) or not -(1 << 63) <= value < (1 << 63):
                raise BuiltinError("'MaxConstraintComparisons' should be a valid number")
        elif name == "KeyUsages":
            if type(value) is Set:
                items: Any = value.values()
            elif type(value) in (list, tuple):
                items = value
            else:
                raise BuiltinError("'KeyUsages' should be an Array or Set")
            usages, invalid = [], []
            for item in items:
                if type(item) is not str:
                    continue
                usage = item.strip('"')
                if usage in EXT_KEY_USAGE_NAMES:
                    usages.append(EXT_KEY_USAGE_NAMES[usage])
                else:
                    invalid.append(usage)
            if invalid:
                raise BuiltinError(f"invalid entries for 'KeyUsages' found: [{' '.join(invalid)}]")
            out["key_usages"] = usages
        else:
            raise BuiltinError("invalid key option")
    return out


@implements("crypto.x509.parse_and_verify_certificates_with_options")
def parse_and_verify_certificates_with_options(certs: Any, options: Any) -> Any:
    """``crypto.x509.parse_and_verify_certificates_with_options(certs, options)``: as
    ``parse_and_verify_certificates`` with ``DNSName``, ``CurrentTime`` (ns), ``KeyUsages`` and
    ``MaxConstraintComparisons`` (accepted, not used: name constraints are not checked)."""
    text = arg_string(certs, 1)
    opts = arg_object(options, 2)
    try:
        parsed = certificates_from_string(text)
    except (GoError, ValueError, TypeError):
        return _unverified()
    kwargs = _verify_options(opts)
    try:
        chain = verify_chain(parsed, **kwargs)
    except (GoError, ValueError, TypeError):
        return _unverified()
    return (True, [_guard(cert_to_value, c, False) for c in chain])


@implements("crypto.x509.parse_certificate_request")
def parse_certificate_request(csr: Any) -> Any:
    """``crypto.x509.parse_certificate_request(csr)``: Go's ``x509.CertificateRequest`` object."""
    text = arg_string(csr, 1)
    data = _utf8(text)
    try:
        if not text.startswith("-----BEGIN CERTIFICATE REQUEST-----"):
            data = b64_decode(data)
        block, _ = pem_decode(data)
        if block is not None and block.type != "CERTIFICATE REQUEST":
            raise GoError("invalid PEM-encoded certificate signing request")
        if block is not None:
            data = block.bytes
    except GoError as exc:
        raise _fail(exc) from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            request = x509.load_der_x509_csr(data)
            value = csr_to_value(request)
    except GoError as exc:
        raise _fail(exc) from None
    except Exception:
        raise BuiltinError("asn1: structure error: tags don't match") from None
    return value
