"""Signed bundles: export --sign-key, import --verify-key; an unsigned bundle, a tampered
SHA256SUMS, a wrong key and a bad signature are refused with nothing loaded. The
ECDSA signature is also checked by openssl, an independent verifier."""

from __future__ import annotations

import base64
import hashlib
import io
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from kubegate.cli.goproxy_cmd import goproxy
from kubegate.errors import UsageError
from kubegate.goproxy.bundle import export_bundle, import_bundle
from kubegate.goproxy.errors import BundleError, IntegrityError
from kubegate.goproxy.signing import SIGNATURE_NAME, load_signing_key
from kubegate.goproxy.storage import LocalStorage
from kubegate.goproxy.vault import Vault
from kubegate.images.keys import load_public_key
from tests.goproxy.gomodules import GoModule

MODULES = [GoModule("example.test/a", "v1.0.0"), GoModule("example.test/B", "v0.1.0", license="Apache-2.0")]
PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey


def _private_pem(key: PrivateKey, password: bytes | None = None) -> bytes:
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def _public_pem(key: PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _source(root: Path) -> Vault:
    vault = Vault(LocalStorage(root))
    for m in MODULES:
        vault.store(m.path, m.version, m.info(), m.gomod().encode(), m.zip(), "http://upstream")
    return vault


def _members(bundle: Path) -> dict[str, bytes]:
    with tarfile.open(bundle, "r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar}  # type: ignore[union-attr]


def _write(bundle: Path, members: dict[str, bytes]) -> None:
    with tarfile.open(bundle, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def _refused(tmp_path: Path, bundle: Path, pub: bytes, error: type[Exception], code: str) -> None:
    target = Vault(LocalStorage(tmp_path / "target"))
    with pytest.raises(error) as err:
        import_bundle(target, bundle, verify_key=load_public_key(pub))
    assert err.value.code == code  # type: ignore[attr-defined]
    assert target.storage.list("") == []


@pytest.mark.parametrize("kind", ["ecdsa-p256", "ed25519"])
def test_signed_bundle_round_trip(tmp_path: Path, kind: str) -> None:
    key: PrivateKey = (
        ec.generate_private_key(ec.SECP256R1()) if kind == "ecdsa-p256" else ed25519.Ed25519PrivateKey.generate()
    )
    signing = load_signing_key(_private_pem(key, b"s3cret"), "key.pem", b"s3cret")
    assert signing.kind == kind
    bundle = tmp_path / "b.tar.gz"
    export_bundle(_source(tmp_path / "src"), bundle, sign_key=signing)
    members = _members(bundle)
    assert SIGNATURE_NAME in members and SIGNATURE_NAME.encode() not in members["SHA256SUMS"]
    target = Vault(LocalStorage(tmp_path / "airgap"))
    assert import_bundle(target, bundle, verify_key=load_public_key(_public_pem(key))).modules == 2
    assert len(target.modules()) == 2
    openssl = shutil.which("openssl")
    if kind == "ecdsa-p256" and openssl is not None:  # the signature is plain ECDSA-SHA256, DER, base64
        (tmp_path / "pub.pem").write_bytes(_public_pem(key))
        (tmp_path / "SHA256SUMS").write_bytes(members["SHA256SUMS"])
        (tmp_path / "sig.der").write_bytes(base64.b64decode(members[SIGNATURE_NAME]))
        checked = subprocess.run(
            [openssl, "dgst", "-sha256", "-verify", str(tmp_path / "pub.pem"), "-signature",
             str(tmp_path / "sig.der"), str(tmp_path / "SHA256SUMS")],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert checked.returncode == 0 and "Verified OK" in checked.stdout


def test_unsigned_tampered_wrong_key_and_garbage(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pub = _public_pem(key)
    source = _source(tmp_path / "src")
    unsigned = tmp_path / "unsigned.tar.gz"
    export_bundle(source, unsigned)
    _refused(tmp_path, unsigned, pub, BundleError, "bundle_unsigned")
    signed = tmp_path / "signed.tar.gz"
    export_bundle(source, signed, sign_key=load_signing_key(_private_pem(key)))
    other = ed25519.Ed25519PrivateKey.generate()
    _refused(tmp_path, signed, _public_pem(other), IntegrityError, "bundle_signature_invalid")
    # a consistent bundle (files and SUMS changed together) with the old signature
    members = _members(signed)
    name = "modules/example.test/a/@v/v1.0.0.zip"
    evil = GoModule("example.test/a", "v1.0.0", license="GPL-3").zip()
    members[name] = evil
    members["SHA256SUMS"] = b"".join(
        (f"{hashlib.sha256(evil).hexdigest()}  {name}".encode() if line.endswith(name.encode()) else line) + b"\n"
        for line in members["SHA256SUMS"].splitlines()
    )
    tampered = tmp_path / "tampered.tar.gz"
    _write(tampered, members)
    _refused(tmp_path, tampered, pub, IntegrityError, "bundle_signature_invalid")
    members = _members(signed)
    members[SIGNATURE_NAME] = b"not base64 at all!\n"
    garbage = tmp_path / "garbage.tar.gz"
    _write(garbage, members)
    _refused(tmp_path, garbage, pub, IntegrityError, "bundle_signature_invalid")
    # without --verify-key a signed bundle imports as before
    assert import_bundle(Vault(LocalStorage(tmp_path / "plain")), signed).modules == 2


def test_unsupported_and_unreadable_keys() -> None:
    with pytest.raises(UsageError) as err:
        load_signing_key(_private_pem(rsa.generate_private_key(65537, 2048)))
    assert err.value.code == "signing_key_unsupported"
    with pytest.raises(UsageError) as err:
        load_signing_key(_private_pem(ec.generate_private_key(ec.SECP384R1())))
    assert err.value.code == "signing_key_unsupported"
    with pytest.raises(UsageError) as err:
        load_signing_key(b"-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")
    assert err.value.code == "signing_key_invalid"
    with pytest.raises(UsageError) as err:
        load_signing_key(_private_pem(ed25519.Ed25519PrivateKey.generate(), b"pw"), password=b"wrong")
    assert err.value.code == "signing_key_invalid"


def test_cli_sign_and_verify(tmp_path: Path) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    (tmp_path / "key.pem").write_bytes(_private_pem(key))
    (tmp_path / "pub.pem").write_bytes(_public_pem(key))
    (tmp_path / "other.pem").write_bytes(_public_pem(ed25519.Ed25519PrivateKey.generate()))
    _source(tmp_path / "src")
    runner = CliRunner()
    out = str(tmp_path / "b.tar.gz")
    exported = runner.invoke(
        goproxy,
        ["bundle", "export", "-o", out, "--sign-key", str(tmp_path / "key.pem"), "--storage", str(tmp_path / "src")],
    )
    assert exported.exit_code == 0, exported.output
    assert "signed (ed25519 sha256:" in exported.output
    refused = runner.invoke(
        goproxy,
        ["bundle", "import", out, "--verify-key", str(tmp_path / "other.pem"), "--storage", str(tmp_path / "t")],
    )
    assert refused.exit_code != 0 and isinstance(refused.exception, IntegrityError)
    assert not (tmp_path / "t").exists() or Vault(LocalStorage(tmp_path / "t")).modules() == []
    imported = runner.invoke(
        goproxy, ["bundle", "import", out, "--verify-key", str(tmp_path / "pub.pem"), "--storage", str(tmp_path / "t")]
    )
    assert imported.exit_code == 0 and "imported 2" in imported.output
