"""Server certificates rotated under a running ``kubegate grpc``: new handshakes get the new
certificate, a bad pair is refused and the previous one stays."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import grpc
import pytest

from kubegate.grpc.client import Client
from kubegate.webhook.certs import CertificateFiles, write_dev_certificates
from tests.grpc.conftest import Gate, pod


def _served_by(gate: Gate, ca: Path, client: CertificateFiles) -> bool:
    """Whether a client trusting only ``ca`` completes a call (a fresh channel: a fresh handshake)."""
    assert client.client_cert is not None and client.client_key is not None
    with Client(
        gate.target,
        ca_file=str(ca),
        cert_file=str(client.client_cert),
        key_file=str(client.client_key),
        server_name="localhost",
    ) as c:
        try:
            c.review(pod(), timeout=5)
        except grpc.RpcError as exc:
            assert exc.code() == grpc.StatusCode.UNAVAILABLE
            return False
        return True


def test_rotated_certificate_is_served_to_new_connections(tmp_path: Path, certs: CertificateFiles) -> None:
    served = tmp_path / "served"
    served.mkdir()
    shutil.copy(certs.cert, served / "tls.crt")
    shutil.copy(certs.key, served / "tls.key")
    rotated = write_dev_certificates(str(tmp_path / "rotated"), "kubegate", "kubegate", ["localhost", "127.0.0.1"])
    live = CertificateFiles(
        certs.ca_cert, certs.ca_key, served / "tls.crt", served / "tls.key", certs.client_cert, certs.client_key
    )
    gate = Gate(
        tmp_path, live, ("--no-builtin", "--policies", str(Path(__file__).parents[2] / "examples" / "policies"))
    )
    try:
        gate.start()
        assert _served_by(gate, certs.ca_cert, certs)
        assert not _served_by(gate, rotated.ca_cert, certs)
        # A key that does not match the certificate: refused, the old pair stays.
        shutil.copy(rotated.key, served / "tls.key")
        assert _served_by(gate, certs.ca_cert, certs)
        shutil.copy(rotated.cert, served / "tls.crt")
        deadline = time.monotonic() + 10
        while not _served_by(gate, rotated.ca_cert, certs):
            if time.monotonic() > deadline:
                pytest.fail(f"the rotated certificate was never served:\n{gate.log()}")
            time.sleep(0.1)
        assert not _served_by(gate, certs.ca_cert, certs)
    finally:
        gate.stop()
