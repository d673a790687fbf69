"""The JWT builtins (kubegate.evaluator.builtins.tokens), driven by cases/tokens.yaml with keys
and tokens generated at test time (see _pki.py), plus sign/verify round trips and hostile operands."""

from __future__ import annotations

import base64
import contextlib
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

import kubegate.evaluator.builtins.tokens  # noqa: F401  (registers the implementations)
from kubegate.evaluator.builtins.registry import IMPLEMENTATIONS, BuiltinError

from ._codec_cases import call, load, run
from ._pki import material

NAMES = [
    "io.jwt.decode", "io.jwt.decode_verify", "io.jwt.encode_sign", "io.jwt.encode_sign_raw",
    "io.jwt.verify_rs256", "io.jwt.verify_rs384", "io.jwt.verify_rs512", "io.jwt.verify_ps256",
    "io.jwt.verify_ps384", "io.jwt.verify_ps512", "io.jwt.verify_es256", "io.jwt.verify_es384",
    "io.jwt.verify_es512", "io.jwt.verify_eddsa", "io.jwt.verify_hs256", "io.jwt.verify_hs384",
    "io.jwt.verify_hs512",
]  # fmt: skip


@pytest.mark.parametrize("case", load("tokens"))
def test_case(case: dict[str, Any]) -> None:
    run(case)


def test_every_builtin_is_registered() -> None:
    assert all(name in IMPLEMENTATIONS for name in NAMES)
    assert IMPLEMENTATIONS["io.jwt.decode_verify"].context


CLAIMS = {"iss": "kubegate", "n": 1}


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@pytest.mark.parametrize(
    ("alg", "key", "public", "verifier"),
    [
        ("RS256", "RSA_PRIVATE_JWK", "RSA_PUB_PEM", "io.jwt.verify_rs256"),
        ("RS512", "RSA_PRIVATE_JWK_MIN", "RSA_PUB_PEM", "io.jwt.verify_rs512"),
        ("PS256", "RSA_PRIVATE_JWK", "RSA_PUB_PEM", "io.jwt.verify_ps256"),
        ("PS384", "RSA_PRIVATE_JWK", "LEAF_PEM", "io.jwt.verify_ps384"),
        ("ES256", "EC_PRIVATE_JWK", "EC_PUB_PEM", "io.jwt.verify_es256"),
        ("ES384", "EC384_PRIVATE_JWK", "EC384_PUB_PEM", "io.jwt.verify_es384"),
        ("EdDSA", "ED_JWK_PRIVATE", "ED_PUB_PEM", "io.jwt.verify_eddsa"),
    ],
)
def test_encode_sign_then_verify(alg: str, key: str, public: str, verifier: str) -> None:
    jwk = json.loads(material()[key])
    token = call("io.jwt.encode_sign", {"alg": alg, "typ": "JWT"}, CLAIMS, jwk)
    head, body, _ = token.split(".")
    assert json.loads(_b64url_decode(head)) == {"alg": alg, "typ": "JWT"}
    assert _b64url_decode(body) == b'{"iss":"kubegate","n":1}'
    assert call(verifier, token, material()[public]) is True
    ok, header, claims = call("io.jwt.decode_verify", token, {"cert": material()[public]})
    assert (ok, header, claims) == (True, {"alg": alg, "typ": "JWT"}, CLAIMS)
    assert call("io.jwt.encode_sign_raw", json.dumps({"alg": alg}), "{}", material()[key]).count(".") == 2


def test_es256_signature_is_raw_r_s_verifiable_by_cryptography() -> None:
    token = call("io.jwt.encode_sign", {"alg": "ES256"}, {}, json.loads(material()["EC_PRIVATE_JWK"]))
    head, body, sig = token.split(".")
    raw = _b64url_decode(sig)
    assert len(raw) == 64
    key = serialization.load_pem_public_key(material()["EC_PUB_PEM"].encode())
    assert isinstance(key, ec.EllipticCurvePublicKey)
    der = utils.encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    key.verify(der, f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA256()))


def test_ps256_salt_is_hash_length() -> None:
    token = call("io.jwt.encode_sign", {"alg": "PS256"}, {}, json.loads(material()["RSA_PRIVATE_JWK"]))
    head, body, sig = token.split(".")
    key = serialization.load_pem_public_key(material()["RSA_PUB_PEM"].encode())
    assert isinstance(key, rsa.RSAPublicKey)
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    key.verify(_b64url_decode(sig), f"{head}.{body}".encode(), pss, hashes.SHA256())


def test_rs256_is_deterministic() -> None:
    jwk = json.loads(material()["RSA_PRIVATE_JWK"])
    assert call("io.jwt.encode_sign", {"alg": "RS256"}, CLAIMS, jwk) == call(
        "io.jwt.encode_sign", {"alg": "RS256"}, CLAIMS, jwk
    )


def test_tampered_payload_fails() -> None:
    head, _, sig = material()["TOKEN_RS256"].split(".")
    forged = head + "." + base64.urlsafe_b64encode(b'{"iss":"evil"}').decode().rstrip("=") + "." + sig
    assert call("io.jwt.verify_rs256", forged, material()["RSA_PUB_PEM"]) is False
    assert call("io.jwt.decode_verify", forged, {"cert": material()["RSA_PUB_PEM"]}) == (False, {}, {})


def test_operands_are_not_mutated() -> None:
    headers, payload = {"alg": "HS256", "typ": "JWT"}, {"a": [1, 2]}
    jwk = {"kty": "oct", "k": "AyM1"}
    call("io.jwt.encode_sign", headers, payload, jwk)
    constraints = {"secret": "s3cret", "aud": "svc"}
    call("io.jwt.decode_verify", material()["TOKEN_HS256"], constraints)
    assert (headers, payload, jwk, constraints) == (
        {"alg": "HS256", "typ": "JWT"},
        {"a": [1, 2]},
        {"kty": "oct", "k": "AyM1"},
        {"secret": "s3cret", "aud": "svc"},
    )


@pytest.mark.parametrize(
    "key",
    [
        '{"kty": "RSA", "n": "AQAB"}',
        '{"kty": "RSA", "n": "AQAB", "e": "AQAB", "d": "AQAB"}',
        '{"kty": "EC", "crv": "P-256", "x": "AQAB", "y": "AQAB"}',
        '{"kty": "EC", "crv": "P-999", "x": "AQAB", "y": "AQAB"}',
        '{"kty": "OKP", "crv": "Ed25519", "x": "AQAB"}',
        '{"kty": "oct", "k": 1}',
        '{"kty": "oct", "k": "' + "A" * 100_000 + '"}',
        '{"keys": {}}',
        '{"keys": [1]}',
        "[" * 10_000 + "]" * 10_000,
    ],
)
def test_hostile_keys_give_builtin_errors_or_no_verification(key: str) -> None:
    with contextlib.suppress(BuiltinError):
        assert call("io.jwt.verify_rs256", material()["TOKEN_RS256"], key) is False
    with contextlib.suppress(BuiltinError):
        assert call("io.jwt.decode_verify", material()["TOKEN_RS256"], {"cert": key}) == (False, {}, {})
    with pytest.raises(BuiltinError):
        call("io.jwt.encode_sign_raw", '{"alg":"RS256"}', "{}", key)


@pytest.mark.parametrize(
    "token",
    ["..", "a.b.c", "e30.W10.", "eyJhbGciOiJIUzI1NiJ9." + "W" * 10_001 + ".AA", "\ud800.e30.AA", "é.é.é"],
)
def test_hostile_tokens_give_builtin_errors(token: str) -> None:
    with pytest.raises(BuiltinError):
        call("io.jwt.decode", token)


def test_deeply_nested_tokens_are_bounded() -> None:
    import hashlib
    import hmac

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    token = material()["TOKEN_HS256"]
    for _ in range(33):
        message = b64(b'{"alg":"HS256","cty":"JWT"}') + "." + b64(token.encode())
        token = message + "." + b64(hmac.new(b"s3cret", message.encode(), hashlib.sha256).digest())
    with pytest.raises(BuiltinError, match="nesting"):
        call("io.jwt.decode", token)
    with pytest.raises(BuiltinError, match="nesting"):
        call("io.jwt.decode_verify", token, {"secret": "s3cret"})
