"""The simple-signing checks of one key attestor, on signature layers built in memory."""

from __future__ import annotations

import hashlib

from kubegate.images import KeyAttestor, load_public_key, parse_reference
from kubegate.images.cosign import SimpleSignature, check_key_attestor, signature_tag
from tests.images.signer import Signer, payload

DIGEST = "sha256:" + "c" * 64
REF = parse_reference(f"r.io/payments/api@{DIGEST}")


def _attestor(signer: Signer) -> KeyAttestor:
    return KeyAttestor("release", (load_public_key(signer.public_pem()),))


def _layer(signer: Signer, data: bytes, *, recorded: bytes | None = None) -> SimpleSignature:
    recorded_hash = hashlib.sha256(recorded).hexdigest() if recorded is not None else None
    return SimpleSignature(data, signer.sign(data), recorded_hash)


def test_signature_tag() -> None:
    assert signature_tag(DIGEST) == "sha256-" + "c" * 64 + ".sig"


def test_one_good_signature_among_bad_ones_passes() -> None:
    good, other = Signer.generate("ecdsa"), Signer.generate("ecdsa")
    data = payload("r.io/payments/api", DIGEST)
    layers = [_layer(other, data), SimpleSignature(data, None, None), _layer(good, data)]
    outcome = check_key_attestor(layers, _attestor(good), REF)
    assert (outcome.ok, outcome.reason) == (True, "verified")


def test_most_specific_failure_is_reported() -> None:
    signer, other = Signer.generate("ed25519"), Signer.generate("ed25519")
    for_other_digest = payload("r.io/payments/api", "sha256:" + "d" * 64)
    layers = [_layer(other, payload("r.io/payments/api", DIGEST)), _layer(signer, for_other_digest)]
    assert check_key_attestor(layers, _attestor(signer), REF).reason == "digest_mismatch"
    assert check_key_attestor([], _attestor(signer), REF).reason == "no_signature"


def test_malformed_payloads() -> None:
    signer = Signer.generate("ecdsa")
    attestor = _attestor(signer)
    not_json = _layer(signer, b"not json")
    wrong_type = _layer(signer, b'{"critical": {"type": "something else"}}')
    no_identity = _layer(
        signer,
        b'{"critical": {"type": "cosign container image signature", "image": '
        b'{"docker-manifest-digest": "' + DIGEST.encode() + b'"}}}',
    )
    assert check_key_attestor([not_json], attestor, REF).reason == "invalid_signature"
    assert check_key_attestor([wrong_type], attestor, REF).reason == "invalid_signature"
    assert check_key_attestor([no_identity], attestor, REF).reason == "identity_mismatch"


def test_tampered_is_told_from_wrong_key_by_the_recorded_hash() -> None:
    signer = Signer.generate("ecdsa")
    original = payload("r.io/payments/api", DIGEST)
    changed = payload("r.io/payments/api", DIGEST, {"git-sha": "evil"})
    tampered = SimpleSignature(changed, signer.sign(original), hashlib.sha256(original).hexdigest())
    unrecorded = SimpleSignature(changed, signer.sign(original), None)
    assert check_key_attestor([tampered], _attestor(signer), REF).reason == "tampered"
    assert check_key_attestor([unrecorded], _attestor(signer), REF).reason == "wrong_key"
