"""The crypto builtins (kubegate.evaluator.builtins.crypto), driven by cases/crypto.yaml
with keys and certificates generated at test time (see _pki.py), plus hostile operands."""

from __future__ import annotations

import base64
from typing import Any

import pytest

import kubegate.evaluator.builtins.crypto  # noqa: F401  (registers the implementations)
from kubegate.evaluator.builtins.registry import IMPLEMENTATIONS, BuiltinError

from ._codec_cases import call, load, run
from ._pki import material

NAMES = [
    "crypto.md5", "crypto.sha1", "crypto.sha256", "crypto.hmac.md5", "crypto.hmac.sha1", "crypto.hmac.sha256",
    "crypto.hmac.sha512", "crypto.hmac.equal", "crypto.x509.parse_certificates",
    "crypto.x509.parse_and_verify_certificates", "crypto.x509.parse_and_verify_certificates_with_options",
    "crypto.x509.parse_certificate_request", "crypto.x509.parse_keypair", "crypto.x509.parse_rsa_private_key",
    "crypto.parse_private_keys",
]  # fmt: skip


@pytest.mark.parametrize("case", load("crypto"))
def test_case(case: dict[str, Any]) -> None:
    run(case)


def test_every_builtin_is_registered() -> None:
    assert all(name in IMPLEMENTATIONS for name in NAMES)


def test_certificate_raw_fields_are_der() -> None:
    [root, _, leaf] = call("crypto.x509.parse_certificates", material()["CHAIN_PEM"])
    assert leaf["Raw"] == material()["LEAF_DER_B64"]
    raw = base64.b64decode(leaf["Raw"])
    tbs = base64.b64decode(leaf["RawTBSCertificate"])
    assert tbs in raw
    for field in ("RawSubject", "RawIssuer", "RawSubjectPublicKeyInfo"):
        assert base64.b64decode(leaf[field]) in tbs
    assert leaf["RawIssuer"] == root["RawSubject"] or leaf["RawIssuer"] != leaf["RawSubject"]


def test_chain_is_leaf_first_and_der_equal() -> None:
    ok, chain = call("crypto.x509.parse_and_verify_certificates", material()["CHAIN_PEM"])
    assert ok is True
    parsed = call("crypto.x509.parse_certificates", material()["CHAIN_PEM"])
    assert [c["Raw"] for c in chain] == [c["Raw"] for c in reversed(parsed)]


def test_keypair_certificate_is_der() -> None:
    pair = call("crypto.x509.parse_keypair", material()["SELF_PEM"], material()["SELF_KEY_PKCS8"])
    assert pair["Certificate"] == [pair["Leaf"]["Raw"]]
    # base64 of the PEM inputs works as well
    b64 = [base64.b64encode(material()[k].encode()).decode() for k in ("SELF_PEM", "SELF_KEY_PKCS8")]
    assert call("crypto.x509.parse_keypair", *b64)["Certificate"] == pair["Certificate"]


@pytest.mark.parametrize(
    "text",
    [
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        "-----BEGIN CERTIFICATE-----\n" + "MIIB" * 500 + "\n-----END CERTIFICATE-----\n",
        base64.b64encode(b"\x30\x84\xff\xff\xff\xff").decode(),
        base64.b64encode(b"\x30\x03\x02\x01\x01").decode(),
        base64.b64encode(b"\x30" + b"\x80" * 10).decode(),
        "\ud800",
    ],
)
def test_hostile_certificates_give_builtin_errors(text: str) -> None:
    with pytest.raises(BuiltinError):
        call("crypto.x509.parse_certificates", text)
    assert call("crypto.x509.parse_and_verify_certificates", text) == (False, ())


@pytest.mark.parametrize(
    "text",
    [
        "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n",
        "-----BEGIN EC PRIVATE KEY-----\nMAA=\n-----END EC PRIVATE KEY-----\n",
        "-----BEGIN PRIVATE KEY-----\n" + "A" * 4000 + "\n-----END PRIVATE KEY-----\n",
    ],
)
def test_hostile_private_keys_give_builtin_errors(text: str) -> None:
    with pytest.raises(BuiltinError):
        call("crypto.parse_private_keys", text)
    with pytest.raises(BuiltinError):
        call("crypto.x509.parse_rsa_private_key", text)
    with pytest.raises(BuiltinError):
        call("crypto.x509.parse_keypair", material()["SELF_PEM"], text)


def test_hostile_csr_gives_builtin_errors() -> None:
    for text in ("-----BEGIN CERTIFICATE REQUEST-----\nMAA=\n-----END CERTIFICATE REQUEST-----\n", "MAA="):
        with pytest.raises(BuiltinError):
            call("crypto.x509.parse_certificate_request", text)


def test_operands_are_not_mutated() -> None:
    options = {"KeyUsages": ["KeyUsageAny"], "DNSName": "leaf.example.com"}
    call("crypto.x509.parse_and_verify_certificates_with_options", material()["CHAIN_PEM"], options)
    assert options == {"KeyUsages": ["KeyUsageAny"], "DNSName": "leaf.example.com"}
