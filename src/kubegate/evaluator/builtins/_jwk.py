"""JSON Web Keys (RFC 7517) as OPA's JWT builtins read them (lestrrat-go/jwx).

:func:`parse_jwks` reads one JWK or a ``{"keys": [...]}`` set into
``cryptography`` keys (``oct`` keys as bytes); :func:`private_key_to_jwk`
writes a private key as the JWK object ``crypto.x509.parse_rsa_private_key``
returns. Key material is accepted in base64url (padded or not) and, as jwx
does, in standard base64.

References: https://github.com/lestrrat-go/jwx/tree/develop/v3/jwk,
https://github.com/open-policy-agent/opa/blob/main/v1/topdown/tokens.go.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from kubegate.evaluator.builtins._gocompat import GoError
from kubegate.evaluator.builtins._gojson import unmarshal

__all__ = ["Jwk", "b64url_int", "parse_jwks", "private_key_to_jwk"]

_CURVES: dict[str, tuple[type[ec.EllipticCurve], int]] = {
    "P-256": (ec.SECP256R1, 32),
    "P-384": (ec.SECP384R1, 48),
    "P-521": (ec.SECP521R1, 66),
}
_CURVE_NAMES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
_MAX_FIELD = 16_384  # bytes of one key field: far beyond RSA-16384, a hostile-input bound


@dataclass
class Jwk:
    """One parsed key: its type, the key (``bytes`` for ``oct``; ``None`` for numbers that
    make no valid key), ``alg`` and ``kid`` ("" when absent)."""

    kty: str
    key: Any
    alg: str = ""
    kid: str = ""
    private: bool = False


def _field_bytes(obj: dict[str, Any], name: str, required: bool = True) -> bytes | None:
    value = obj.get(name)
    if value is None:
        if required:
            raise GoError(f'required field "{name}" is missing')
        return None
    if type(value) is not str:
        raise GoError(f'field "{name}" must be a string')
    if len(value) > _MAX_FIELD * 2:
        raise GoError(f'field "{name}" is too long')
    text = value.rstrip("=")
    try:
        if "+" in text or "/" in text:
            return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise GoError(f'failed to decode field "{name}": illegal base64 data') from None


def _int(obj: dict[str, Any], name: str, required: bool = True) -> int | None:
    data = _field_bytes(obj, name, required)
    return None if data is None else int.from_bytes(data, "big")


def _rsa(obj: dict[str, Any]) -> tuple[Any, bool]:
    n = _int(obj, "n")
    e = _int(obj, "e")
    assert n is not None and e is not None
    public = rsa.RSAPublicNumbers(e, n)
    d = _int(obj, "d", required=False)
    if d is None:
        return public.public_key(), False
    p = _int(obj, "p", required=False)
    q = _int(obj, "q", required=False)
    if p is None or q is None:
        p, q = rsa.rsa_recover_prime_factors(n, e, d)
    dp = _int(obj, "dp", required=False) or rsa.rsa_crt_dmp1(d, p)
    dq = _int(obj, "dq", required=False) or rsa.rsa_crt_dmq1(d, q)
    qi = _int(obj, "qi", required=False) or rsa.rsa_crt_iqmp(p, q)
    return rsa.RSAPrivateNumbers(p, q, d, dp, dq, qi, public).private_key(), True


def _ec(obj: dict[str, Any]) -> tuple[Any, bool]:
    crv = obj.get("crv")
    if crv not in _CURVES:
        raise GoError(f"invalid curve algorithm {crv}")
    curve = _CURVES[str(crv)][0]()
    x = _int(obj, "x")
    y = _int(obj, "y")
    assert x is not None and y is not None
    public = ec.EllipticCurvePublicNumbers(x, y, curve)
    d = _int(obj, "d", required=False)
    if d is None:
        return public.public_key(), False
    return ec.EllipticCurvePrivateNumbers(d, public).private_key(), True


def _okp(obj: dict[str, Any]) -> tuple[Any, bool]:
    if obj.get("crv") != "Ed25519":
        raise GoError(f"unsupported curve {obj.get('crv')}")
    d = _field_bytes(obj, "d", required=False)
    if d is not None:
        return ed25519.Ed25519PrivateKey.from_private_bytes(d), True
    x = _field_bytes(obj, "x")
    assert x is not None
    return ed25519.Ed25519PublicKey.from_public_bytes(x), False


def _parse_key(obj: Any) -> Jwk:
    if type(obj) is not dict:
        raise GoError("failed to parse key: expected a JSON object")
    kty = obj.get("kty")
    if type(kty) is not str:
        raise GoError('failed to parse key: required field "kty" is missing')
    try:
        if kty == "RSA":
            key, private = _rsa(obj)
        elif kty == "EC":
            key, private = _ec(obj)
        elif kty == "OKP":
            key, private = _okp(obj)
        elif kty == "oct":
            key, private = _field_bytes(obj, "k"), True
        else:
            raise GoError(f"invalid key type from JSON ({kty})")
    except GoError as exc:
        raise GoError(f"failed to parse key: {exc.message}") from None
    except (ValueError, TypeError, OverflowError):
        # jwx keeps such a key (its numbers are not checked); it verifies and signs nothing
        key, private = None, "d" in obj
    alg = obj.get("alg")
    kid = obj.get("kid")
    return Jwk(kty, key, alg if type(alg) is str else "", kid if type(kid) is str else "", private)


def parse_jwks(text: str) -> list[Jwk]:
    """The keys of a JWK or JWK set text (``jwk.ParseString``).

    Raises:
        GoError: invalid JSON or key.
    """
    value = unmarshal(text)
    if type(value) is dict and "keys" in value:
        keys = value["keys"]
        if type(keys) is not list:
            raise GoError('failed to parse key set: "keys" must be an array')
        return [_parse_key(k) for k in keys]
    return [_parse_key(value)]


def b64url_int(value: int, size: int = 0) -> str:
    """The unpadded base64url of an integer's big-endian bytes (at least ``size`` bytes)."""
    length = max((value.bit_length() + 7) // 8, size, 1)
    return base64.urlsafe_b64encode(value.to_bytes(length, "big")).decode("ascii").rstrip("=")


def private_key_to_jwk(key: Any) -> dict[str, Any]:
    """A private key as a JWK object (``jwk.New`` then JSON)."""
    if isinstance(key, rsa.RSAPrivateKey):
        n = key.private_numbers()
        return {
            "kty": "RSA",
            "n": b64url_int(n.public_numbers.n),
            "e": b64url_int(n.public_numbers.e),
            "d": b64url_int(n.d),
            "p": b64url_int(n.p),
            "q": b64url_int(n.q),
            "dp": b64url_int(n.dmp1),
            "dq": b64url_int(n.dmq1),
            "qi": b64url_int(n.iqmp),
        }
    if isinstance(key, ec.EllipticCurvePrivateKey):
        en = key.private_numbers()
        crv = _CURVE_NAMES.get(key.curve.name, key.curve.name)
        size = _CURVES[crv][1] if crv in _CURVES else 0
        return {
            "kty": "EC",
            "crv": crv,
            "x": b64url_int(en.public_numbers.x, size),
            "y": b64url_int(en.public_numbers.y, size),
            "d": b64url_int(en.private_value, size),
        }
    if isinstance(key, ed25519.Ed25519PrivateKey):
        from cryptography.hazmat.primitives import serialization

        raw = key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        pub = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        encode = base64.urlsafe_b64encode
        return {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": encode(pub).decode().rstrip("="),
            "d": encode(raw).decode().rstrip("="),
        }
    raise GoError("invalid key type")
