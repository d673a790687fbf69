"""Public keys: the types cosign signs with, verification, refusals."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa

from kubegate.images import PublicKeyError, load_public_key
from tests.images.signer import Signer


@pytest.mark.parametrize(
    ("kind", "loaded"), [("ecdsa", "ecdsa-p256"), ("ed25519", "ed25519"), ("rsa", "rsa-2048"), ("rsa-pss", "rsa-2048")]
)
def test_sign_and_verify(kind: str, loaded: str) -> None:
    signer = Signer.generate(kind)
    key = load_public_key(signer.public_pem(), "k.pub")
    signature = signer.sign(b"payload")
    assert key.kind == loaded
    assert key.verify(signature, b"payload")
    assert not key.verify(signature, b"payload!")
    assert not key.verify(b"garbage", b"payload")
    assert not key.verify(Signer.generate(kind).sign(b"payload"), b"payload")


def test_fingerprint_is_stable_across_spellings() -> None:
    signer = Signer.generate("ecdsa")
    pem = signer.public_pem()
    assert load_public_key(pem).fingerprint == load_public_key("\n\n" + pem.encode().decode() + "\n").fingerprint
    assert load_public_key(pem).fingerprint != load_public_key(Signer.generate("ecdsa").public_pem()).fingerprint


def _pem(key: Any) -> str:
    pem: bytes = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem.decode()


def test_refusals() -> None:
    with pytest.raises(PublicKeyError) as error:
        load_public_key("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    assert error.value.code == "key_invalid"
    with pytest.raises(PublicKeyError) as error:
        load_public_key(_pem(ec.generate_private_key(ec.SECP256K1()).public_key()))
    assert error.value.code == "key_unsupported"
    with pytest.raises(PublicKeyError) as error:
        load_public_key(_pem(rsa.generate_private_key(65537, 1024).public_key()))
    assert error.value.code == "key_unsupported"
    with pytest.raises(PublicKeyError) as error:
        load_public_key(_pem(dsa.generate_private_key(2048).public_key()))
    assert error.value.code == "key_unsupported"
    p384 = ec.generate_private_key(ec.SECP384R1())
    assert load_public_key(_pem(p384.public_key())).kind == "ecdsa-p384"
