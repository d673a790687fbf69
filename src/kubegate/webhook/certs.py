"""Development certificates for the webhook (``kubegate cert``), made with ``cryptography``.

Writes a private CA and a serving certificate whose subject alternative
names are the DNS names the API server uses to reach a webhook Service
(``<service>.<namespace>.svc``, per
https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/#contacting-the-webhook),
plus any extra DNS names or IP addresses; optionally a client certificate
signed by the same CA, for mutual TLS. Keys are ECDSA P-256, written with
mode 0600. For production, use your PKI or cert-manager.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kubegate.errors import UsageError

__all__ = ["CertificateFiles", "service_dns_names", "write_dev_certificates"]


@dataclass(frozen=True)
class CertificateFiles:
    """Paths of what :func:`write_dev_certificates` wrote (``client_*`` may be ``None``)."""

    ca_cert: Path
    ca_key: Path
    cert: Path
    key: Path
    client_cert: Path | None = None
    client_key: Path | None = None


def service_dns_names(service: str, namespace: str) -> list[str]:
    """The names a Service is reached by from inside the cluster."""
    return [
        service,
        f"{service}.{namespace}",
        f"{service}.{namespace}.svc",
        f"{service}.{namespace}.svc.cluster.local",
    ]


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "kubegate development"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _write(path: Path, data: bytes, private: bool) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _pem_cert(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _sans(names: Sequence[str]) -> x509.SubjectAlternativeName:
    entries: list[x509.GeneralName] = []
    for name in dict.fromkeys(names):
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(entries)


def _leaf(
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    common_name: str,
    usage: x509.ObjectIdentifier,
    days: int,
    names: Sequence[str] = (),
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _key()
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    if names:
        builder = builder.add_extension(_sans(names), critical=False)
    return builder.sign(ca_key, hashes.SHA256()), key


def write_dev_certificates(
    out_dir: str,
    service: str,
    namespace: str,
    extra_names: Sequence[str] = (),
    days: int = 365,
    client: str | None = None,
    force: bool = False,
) -> CertificateFiles:
    """Writes ``ca.crt``, ``ca.key``, ``tls.crt``, ``tls.key`` (and ``client.crt``,
    ``client.key`` when ``client`` names the client) into ``out_dir``.

    Args:
        out_dir: created when missing.
        service, namespace: the webhook Service; its DNS names become SANs.
        extra_names: more SANs: DNS names or IP addresses (``localhost``, ``127.0.0.1``).
        days: validity of the leaf certificates (the CA gets twice as long).
        client: common name of a client certificate to issue (e.g. ``kube-apiserver``).
        force: overwrite existing files.

    Raises:
        UsageError: files exist and ``force`` is false, or ``days`` < 1.
    """
    if days < 1:
        raise UsageError("--days must be at least 1")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = CertificateFiles(
        out / "ca.crt",
        out / "ca.key",
        out / "tls.crt",
        out / "tls.key",
        out / "client.crt" if client else None,
        out / "client.key" if client else None,
    )
    existing = [str(p) for p in vars(files).values() if p is not None and p.exists()]
    if existing and not force:
        raise UsageError(f"refusing to overwrite {', '.join(existing)} (use --force)", code="file_exists")

    ca_key = _key()
    now = dt.datetime.now(dt.UTC)
    ca_name = _name(f"kubegate development CA for {service}.{namespace}")
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2 * days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    names = [*service_dns_names(service, namespace), *extra_names]
    cert, key = _leaf(ca_cert, ca_key, f"{service}.{namespace}.svc", ExtendedKeyUsageOID.SERVER_AUTH, days, names)
    _write(files.ca_cert, _pem_cert(ca_cert), private=False)
    _write(files.ca_key, _pem_key(ca_key), private=True)
    _write(files.cert, _pem_cert(cert), private=False)
    _write(files.key, _pem_key(key), private=True)
    if client and files.client_cert and files.client_key:
        client_cert, client_key = _leaf(ca_cert, ca_key, client, ExtendedKeyUsageOID.CLIENT_AUTH, days)
        _write(files.client_cert, _pem_cert(client_cert), private=False)
        _write(files.client_key, _pem_key(client_key), private=True)
    return files
