"""TLS: mutual TLS accepted and refused, certificate rotation without restart, plain HTTP only on request."""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from kubegate.webhook.certs import CertificateFiles, write_dev_certificates
from tests.webhook.conftest import admission_review, metric_value, obj, start_webhook


def served_certificate(url: str) -> x509.Certificate:
    """The certificate the server presents in a fresh handshake."""
    host, port = url.removeprefix("https://").split(":")
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection((host, int(port)), timeout=5) as raw, context.wrap_socket(raw) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def test_mutual_tls_accepts_the_client_certificate_and_refuses_others(tmp_path: Path, certs: CertificateFiles) -> None:
    hook = start_webhook(tmp_path, certs, "--no-builtin", mtls=True)
    try:
        assert certs.client_cert is not None and certs.client_key is not None
        with hook.client(cert=(str(certs.client_cert), str(certs.client_key))) as c:
            reply = c.post("/validate", json=admission_review(obj("pod-good")))
            assert reply.status_code == 200 and reply.json()["response"]["allowed"] is True
        # No client certificate: the handshake fails, nothing reaches the application.
        with hook.client() as c, pytest.raises(httpx.HTTPError):
            c.get("/healthz")
        # A client certificate from another CA is refused too.
        other = write_dev_certificates(str(tmp_path / "other"), "x", "y", client="intruder")
        assert other.client_cert is not None and other.client_key is not None
        with hook.client(cert=(str(other.client_cert), str(other.client_key))) as c, pytest.raises(httpx.HTTPError):
            c.get("/healthz")
    finally:
        hook.stop()


def test_certificate_rotation_without_restart(tmp_path: Path, certs: CertificateFiles) -> None:
    live = tmp_path / "live"
    live.mkdir()
    for name in ("tls.crt", "tls.key", "ca.crt"):
        shutil.copy(Path(certs.cert).parent / name, live / name)
    rotated = CertificateFiles(live / "ca.crt", certs.ca_key, live / "tls.crt", live / "tls.key")
    hook = start_webhook(tmp_path, rotated, "--no-builtin")
    try:
        first = served_certificate(hook.url)
        pid = hook.process.pid
        # A new pair from a new CA, written the way a Secret volume update lands:
        # new files beside the old ones, then renamed over them.
        fresh = write_dev_certificates(
            str(tmp_path / "fresh"), "kubegate", "kubegate-system", extra_names=["127.0.0.1"], days=3
        )
        for src, dst in ((fresh.key, live / "tls.key.new"), (fresh.cert, live / "tls.crt.new")):
            shutil.copy(src, dst)
        os.replace(live / "tls.key.new", live / "tls.key")
        os.replace(live / "tls.crt.new", live / "tls.crt")
        deadline = time.monotonic() + 10
        while served_certificate(hook.url).serial_number == first.serial_number:
            assert time.monotonic() < deadline, "the new certificate was not picked up"
            time.sleep(0.05)
        assert (
            served_certificate(hook.url).serial_number
            == x509.load_pem_x509_certificate(fresh.cert.read_bytes()).serial_number
        )
        assert hook.process.pid == pid and hook.process.poll() is None
        # Clients trusting the new CA get through.
        verify = ssl.create_default_context(cafile=str(fresh.ca_cert))
        with httpx.Client(base_url=hook.url, verify=verify, timeout=5) as c:
            assert c.get("/healthz").status_code == 200
            text = c.get("/metrics").text
        assert metric_value(text, "kubegate_serving_certificate_reloads_total") >= 1

        # A broken write (key that does not match) keeps the last good certificate.
        serial = served_certificate(hook.url).serial_number
        (live / "tls.key").write_text("-----BEGIN PRIVATE KEY-----\nbroken\n-----END PRIVATE KEY-----\n")
        time.sleep(0.5)
        assert served_certificate(hook.url).serial_number == serial
        assert "serving certificate not reloaded" in hook.log.read_text()
    finally:
        hook.stop()


def test_serve_requires_tls_unless_plain_http_is_asked_for(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "kubegate", "serve", "--no-builtin"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    assert "error: usage_error: serving needs --tls-cert and --tls-key" in proc.stderr
    assert "Traceback" not in proc.stderr
    missing = subprocess.run(
        [
            sys.executable,
            "-m",
            "kubegate",
            "serve",
            "--tls-cert",
            str(tmp_path / "no.crt"),
            "--tls-key",
            str(tmp_path / "no.key"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 2 and "tls_files_invalid" in missing.stderr and "Traceback" not in missing.stderr


def test_plain_http_when_asked(tmp_path: Path) -> None:
    hook = start_webhook(tmp_path, None, "--no-builtin")
    try:
        assert hook.url.startswith("http://")
        assert hook.review(admission_review(obj("pod-good")))["allowed"] is True
    finally:
        hook.stop()
