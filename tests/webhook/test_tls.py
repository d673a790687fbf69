"""TLS: mutual TLS accepted and refused, certificate rotation without restart, plain HTTP only on request,
AEAD-only TLS 1.2+ (also after a rotation), the TLS options, the plain probe port beside mutual TLS."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
import warnings
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from kubegate.webhook.certs import CertificateFiles, write_dev_certificates
from tests.webhook.conftest import admission_review, free_port, metric_value, obj, start_webhook

# TLS 1.2 suites without an AEAD cipher (CBC with HMAC), with ECDSA and RSA authentication and
# RSA key exchange: what Python's default server context used to offer, and more.
CBC_SUITES = (
    "ECDHE-ECDSA-AES256-SHA384",
    "ECDHE-ECDSA-AES128-SHA256",
    "ECDHE-ECDSA-AES128-SHA",
    "ECDHE-RSA-AES256-SHA384",
    "ECDHE-RSA-AES128-SHA256",
    "ECDHE-RSA-AES128-SHA",
    "DHE-RSA-AES128-SHA256",
    "AES128-SHA256",
    "AES256-SHA256",
    "AES128-SHA",
)
AEAD_SUITES = {
    "ecdsa": ("ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305"),
    "rsa": ("ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-CHACHA20-POLY1305"),
}


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


def handshake(
    url: str,
    ciphers: str | None = None,
    version: ssl.TLSVersion | None = None,
) -> tuple[str, str]:
    """A real TLS handshake with the server; returns (version, cipher). Raises ssl.SSLError/OSError when refused.

    Args:
        ciphers: offer only these TLS 1.2 suites (and at most TLS 1.2).
        version: offer only this protocol version.
    """
    host, port = url.removeprefix("https://").split(":")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLSVersion.TLSv1_1 is deprecated: that is the point
        if ciphers is not None:
            context.set_ciphers(ciphers + ":@SECLEVEL=0")  # offer them even where the client would not
            context.maximum_version = ssl.TLSVersion.TLSv1_2
        if version is not None:
            if version < ssl.TLSVersion.TLSv1_2:
                context.set_ciphers("DEFAULT:@SECLEVEL=0")
            context.minimum_version = context.maximum_version = version
    with socket.create_connection((host, int(port)), timeout=5) as raw, context.wrap_socket(raw) as tls:
        cipher = tls.cipher()
        assert cipher is not None
        return str(tls.version()), cipher[0]


def refused(url: str, ciphers: str | None = None, version: ssl.TLSVersion | None = None) -> bool:
    try:
        handshake(url, ciphers, version)
    except (ssl.SSLError, OSError):
        return True
    return False


def rsa_certificate(out: Path, certs: CertificateFiles) -> CertificateFiles:
    """An RSA-2048 serving certificate for 127.0.0.1 signed by the test CA (`kubegate cert` makes ECDSA only)."""
    out.mkdir(parents=True, exist_ok=True)
    ca_key = serialization.load_pem_private_key(certs.ca_key.read_bytes(), password=None)
    ca_cert = x509.load_pem_x509_certificate(certs.ca_cert.read_bytes())
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubegate-rsa")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    (out / "tls.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (out / "tls.key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return CertificateFiles(certs.ca_cert, certs.ca_key, out / "tls.crt", out / "tls.key")


def openssl_s_client(url: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    host_port = url.removeprefix("https://")
    return subprocess.run(
        ["openssl", "s_client", "-connect", host_port, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=20,
    )


def test_tls12_offers_only_aead_suites_with_ecdsa_and_rsa_certificates(tmp_path: Path, certs: CertificateFiles) -> None:
    servers = {
        "ecdsa": start_webhook(tmp_path / "ecdsa", certs, "--no-builtin"),
        "rsa": start_webhook(tmp_path / "rsa", rsa_certificate(tmp_path / "rsa-cert", certs), "--no-builtin"),
    }
    try:
        for key_type, hook in servers.items():
            for suite in CBC_SUITES:
                assert refused(hook.url, ciphers=suite), (key_type, suite)
            for suite in AEAD_SUITES[key_type]:
                assert handshake(hook.url, ciphers=suite) == ("TLSv1.2", suite)
            assert handshake(hook.url, version=ssl.TLSVersion.TLSv1_3)[0] == "TLSv1.3"
            assert refused(hook.url, version=ssl.TLSVersion.TLSv1_1), key_type
            assert refused(hook.url, version=ssl.TLSVersion.TLSv1), key_type
        if shutil.which("openssl"):  # the same from OpenSSL's own client, and no client-initiated renegotiation
            url = servers["ecdsa"].url
            cbc = openssl_s_client(url, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-SHA384")
            assert cbc.returncode != 0 and "Cipher is (NONE)" in cbc.stdout
            aead = openssl_s_client(url, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256")
            assert aead.returncode == 0 and "Cipher is ECDHE-ECDSA-AES128-GCM-SHA256" in aead.stdout
            renegotiate = openssl_s_client(url, "-tls1_2", stdin="R\n")
            assert "RENEGOTIATING" in renegotiate.stderr and "no renegotiation" in renegotiate.stderr
    finally:
        for hook in servers.values():
            hook.stop()


def test_tls_options_override_the_policy_and_it_survives_rotation_to_rsa(
    tmp_path: Path, certs: CertificateFiles
) -> None:
    live = tmp_path / "live"
    live.mkdir()
    for name in ("tls.crt", "tls.key"):
        shutil.copy(Path(certs.cert).parent / name, live / name)
    files = CertificateFiles(certs.ca_cert, certs.ca_key, live / "tls.crt", live / "tls.key")
    only_aes256 = "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384"
    hook = start_webhook(tmp_path, files, "--no-builtin", "--tls-ciphers", only_aes256)
    tls13 = start_webhook(tmp_path / "13", certs, "--no-builtin", "--tls-min-version", "1.3")
    try:
        assert handshake(hook.url, ciphers="ECDHE-ECDSA-AES256-GCM-SHA384")[1] == "ECDHE-ECDSA-AES256-GCM-SHA384"
        assert refused(hook.url, ciphers="ECDHE-ECDSA-AES128-GCM-SHA256")
        assert handshake(tls13.url, version=ssl.TLSVersion.TLSv1_3)[0] == "TLSv1.3"
        assert refused(tls13.url, version=ssl.TLSVersion.TLSv1_2)
        assert refused(tls13.url, ciphers="ECDHE-ECDSA-AES128-GCM-SHA256")

        # Rotate to an RSA certificate, the way a Secret volume update lands.
        first = served_certificate(hook.url).serial_number
        fresh = rsa_certificate(tmp_path / "fresh", certs)
        for src, dst in ((fresh.key, live / "tls.key.new"), (fresh.cert, live / "tls.crt.new")):
            shutil.copy(src, dst)
        os.replace(live / "tls.key.new", live / "tls.key")
        os.replace(live / "tls.crt.new", live / "tls.crt")
        deadline = time.monotonic() + 10
        while served_certificate(hook.url).serial_number == first:
            assert time.monotonic() < deadline, "the new certificate was not picked up"
            time.sleep(0.05)
        assert handshake(hook.url, ciphers="ECDHE-RSA-AES256-GCM-SHA384")[1] == "ECDHE-RSA-AES256-GCM-SHA384"
        assert refused(hook.url, ciphers="ECDHE-RSA-AES128-GCM-SHA256")
        for suite in CBC_SUITES:
            assert refused(hook.url, ciphers=suite), suite
        assert refused(hook.url, version=ssl.TLSVersion.TLSv1_1)
        assert handshake(hook.url, version=ssl.TLSVersion.TLSv1_3)[0] == "TLSv1.3"
    finally:
        hook.stop()
        tls13.stop()


def test_probe_port_serves_probes_and_metrics_in_plain_http_beside_mutual_tls(
    tmp_path: Path, certs: CertificateFiles
) -> None:
    probe_port = free_port()
    hook = start_webhook(tmp_path, certs, "--no-builtin", "--health-addr", f"127.0.0.1:{probe_port}", mtls=True)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{probe_port}", timeout=5) as plain:
            assert plain.get("/healthz").json()["status"] == "ok"
            assert plain.get("/readyz").json()["ready"] is True
            metrics = plain.get("/metrics")
            assert metrics.status_code == 200 and "kubegate_admission_requests_total" in metrics.text
            # Nothing else: no admission decisions, no policy listing over plain HTTP.
            assert plain.post("/validate", json=admission_review(obj("pod-good"))).status_code == 404
            assert plain.get("/policies").status_code == 404
        # The admission port still requires the client certificate, and keeps its probes.
        with hook.client() as c, pytest.raises(httpx.HTTPError):
            c.get("/healthz")
        assert certs.client_cert is not None and certs.client_key is not None
        with hook.client(cert=(str(certs.client_cert), str(certs.client_key))) as c:
            assert c.get("/healthz").status_code == 200
            assert c.get("/policies").status_code == 200
            assert c.post("/validate", json=admission_review(obj("pod-good"))).json()["response"]["allowed"] is True
    finally:
        hook.stop()


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
        # The TLS policy holds for the new certificate too.
        assert refused(hook.url, ciphers="ECDHE-ECDSA-AES256-SHA384")
        assert handshake(hook.url, ciphers="ECDHE-ECDSA-AES128-GCM-SHA256")[0] == "TLSv1.2"
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


def test_client_ca_bundle_rotation_trusts_exactly_the_new_bundle(tmp_path: Path, certs: CertificateFiles) -> None:
    live = tmp_path / "live"
    live.mkdir()
    for name in ("tls.crt", "tls.key", "ca.crt"):
        shutil.copy(Path(certs.cert).parent / name, live / name)
    files = CertificateFiles(
        live / "ca.crt", certs.ca_key, live / "tls.crt", live / "tls.key", certs.client_cert, certs.client_key
    )
    other = write_dev_certificates(str(tmp_path / "other"), "x", "y", client="kube-apiserver")
    assert certs.client_cert and certs.client_key and other.client_cert and other.client_key
    hook = start_webhook(tmp_path, files, "--no-builtin", mtls=True)

    def answers(client_cert: Path, client_key: Path) -> bool:
        verify = ssl.create_default_context(cafile=str(certs.ca_cert))  # the serving certificate's CA
        verify.load_cert_chain(str(client_cert), str(client_key))
        try:
            with httpx.Client(base_url=hook.url, verify=verify, timeout=5) as c:
                return c.get("/healthz").status_code == 200
        except httpx.HTTPError:
            return False

    try:
        assert answers(certs.client_cert, certs.client_key) and not answers(other.client_cert, other.client_key)
        # The bundle now holds only the other CA: its clients get in, the old CA's no longer do.
        shutil.copy(other.ca_cert, live / "ca.crt.new")
        os.replace(live / "ca.crt.new", live / "ca.crt")
        deadline = time.monotonic() + 10
        while not answers(other.client_cert, other.client_key):
            assert time.monotonic() < deadline, "the new client CA was not picked up"
            time.sleep(0.05)
        assert not answers(certs.client_cert, certs.client_key)
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
