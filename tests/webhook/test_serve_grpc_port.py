"""`kubegate serve --grpc-port`: one real process answers AdmissionReviews over HTTPS and
Review calls over gRPC (mutual TLS, the same certificate files) from one decision path:
the same policy set, decision cache, decision log and metrics."""

from __future__ import annotations

from pathlib import Path

from kubegate.audit.query import LogQuery
from kubegate.grpc.client import Client
from kubegate.webhook.certs import CertificateFiles
from tests.conftest import free_port
from tests.webhook.conftest import POLICIES, admission_review, obj, start_webhook


def test_one_process_serves_https_and_grpc_from_one_decision_path(tmp_path: Path, certs: CertificateFiles) -> None:
    grpc_port = free_port()
    hook = start_webhook(
        tmp_path,
        certs,
        "--policies",
        str(POLICIES / "main"),
        "--grpc-port",
        str(grpc_port),
        "--decision-log",
        str(tmp_path / "wal"),
        "--decision-log-mode",
        "strict",
        mtls=True,
    )
    try:
        pod = obj("pod-no-owner")
        assert certs.client_cert is not None and certs.client_key is not None
        with hook.client(cert=(str(certs.client_cert), str(certs.client_key))) as https:
            assert hook.review(admission_review(pod), https)["allowed"] is False
        with Client(
            f"127.0.0.1:{grpc_port}",
            ca_file=str(certs.ca_cert),
            cert_file=str(certs.client_cert),
            key_file=str(certs.client_key),
            server_name="localhost",
        ) as client:
            assert client.health(timeout=30) == "SERVING"
            denied = client.review(pod, timeout=30)
            allowed = client.review(obj("pod-good"), timeout=30)
            again = client.review(pod, timeout=30)
        assert denied.allowed is False and denied.violations
        assert allowed.allowed is True
        assert again.allowed is False and again.cache == "memory"  # the decision cache
        with hook.client(cert=(str(certs.client_cert), str(certs.client_key))) as https:
            text = https.get("/metrics").text
        reviews = [
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("kubegate_grpc_requests_total{") and "Decisions/Review" in line and 'code="OK"' in line
        ]
        assert reviews == [3.0], text  # on the webhook's own /metrics
    finally:
        hook.stop()
    paths = [r["path"] for r in LogQuery(str(tmp_path / "wal")).records()]
    assert paths.count("kubegate/admission") == 1 and paths.count("kubegate/grpc/review") == 3
