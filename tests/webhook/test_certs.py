"""Development certificates: names, usages, permissions, no silent overwrite."""

from __future__ import annotations

import ipaddress
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from kubegate.cli.main import cli
from kubegate.errors import UsageError
from kubegate.webhook.certs import write_dev_certificates


def test_serving_certificate_names_and_chain(tmp_path: Path) -> None:
    files = write_dev_certificates(
        str(tmp_path), "kubegate", "gatekeeping", extra_names=["localhost", "127.0.0.1"], days=30
    )
    ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
    cert.verify_directly_issued_by(ca)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == [
        "kubegate",
        "kubegate.gatekeeping",
        "kubegate.gatekeeping.svc",
        "kubegate.gatekeeping.svc.cluster.local",
        "localhost",
    ]
    assert sans.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usages) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert stat.S_IMODE(files.key.stat().st_mode) == 0o600 and stat.S_IMODE(files.ca_key.stat().st_mode) == 0o600
    assert files.client_cert is None


def test_client_certificate_and_overwrite_protection(tmp_path: Path) -> None:
    files = write_dev_certificates(str(tmp_path), "s", "n", client="kube-apiserver")
    assert files.client_cert is not None
    client = x509.load_pem_x509_certificate(files.client_cert.read_bytes())
    assert list(client.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH
    ]
    with pytest.raises(UsageError, match="refusing to overwrite"):
        write_dev_certificates(str(tmp_path), "s", "n")
    write_dev_certificates(str(tmp_path), "s", "n", force=True)


def test_cert_command(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["cert", "--service", "kubegate", "-o", str(tmp_path), "--san", "localhost"])
    assert result.exit_code == 0, result.output
    assert f"wrote {tmp_path / 'tls.crt'}" in result.output
    again = runner.invoke(cli, ["cert", "--service", "kubegate", "-o", str(tmp_path)])
    assert again.exit_code == 2 and "file_exists" in again.output
