"""Keyless verification of Sigstore bundles found in a real registry.

The bundles and ``trusted_root.json`` in ``fixtures/sigstore`` were made once by
``fixtures/sigstore/make_bundles.sh`` (npm's ``@sigstore/sign`` against
``@sigstore/mock``'s Fulcio, CT log and Rekor) for the fixed image manifest
``fixtures/sigstore/manifest.json``; the tests push that image and the bundles as
OCI 1.1 referrer artifacts. distribution 2.8 has no referrers API, so the fallback
tag (``sha256-<hex>``) is read from the real registry; the referrers API path is
exercised against a small loopback responder that answers only
``/v2/<name>/referrers/<digest>`` and passes every other request to the real registry.
"""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from kubegate.images import Verifier
from tests.images.conftest import Registry
from tests.images.signer import OCI_INDEX, OCI_MANIFEST, push_bundle, push_fallback_index
from tests.images.trustfiles import load

FIXTURES = Path(__file__).parent / "fixtures" / "sigstore"
ISSUER = "https://token.actions.githubusercontent.com"
IDENTITY = "https://github.com/bank/payments/.github/workflows/release.yml@refs/heads/main"
MANIFEST = (FIXTURES / "manifest.json").read_bytes()
DIGEST = "sha256:" + hashlib.sha256(MANIFEST).hexdigest()
SUBJECT = {"mediaType": OCI_MANIFEST, "digest": DIGEST, "size": len(MANIFEST)}
LAYER_TEXT = b"kubegate sigstore fixture layer\n"


def _push_image(registry: Registry) -> str:
    repo = f"payments/keyless-{uuid.uuid4().hex[:8]}"
    manifest = json.loads(MANIFEST)
    registry.pusher.blob(repo, b"{}", manifest["config"]["mediaType"])
    layer = registry.pusher.blob(repo, LAYER_TEXT, manifest["layers"][0]["mediaType"])
    assert layer["digest"] == manifest["layers"][0]["digest"]
    pushed = registry.pusher.manifest(repo, "v1", json.loads(MANIFEST))
    assert pushed == DIGEST  # the fixture's bytes, pushed as they are
    return repo


def _keyless(**identity: str) -> dict[str, Any]:
    keyless = {"issuer": ISSUER, "trustedRoot": str(FIXTURES / "trusted_root.json"), **identity}
    return {"name": "release-workflow", "keyless": keyless}


def _verifier(tmp_path: Path, host: str, attestor: dict[str, Any], **extra: Any) -> Verifier:
    policies = [{"name": "payments", "images": [f"{host}/payments/*"], "attestors": [attestor], **extra}]
    return Verifier(load(tmp_path, policies, registries=[{"host": host, "insecure": True}]))


def _with_bundles(registry: Registry, *names: str) -> tuple[str, list[dict[str, Any]]]:
    repo = _push_image(registry)
    referrers = [push_bundle(registry.pusher, repo, SUBJECT, (FIXTURES / name).read_bytes()) for name in names]
    return repo, referrers


@pytest.mark.parametrize("bundle", ["valid.json", "dsse.json"])
def test_fallback_tag_valid_bundle(tmp_path: Path, registry: Registry, bundle: str) -> None:
    repo, referrers = _with_bundles(registry, bundle)
    push_fallback_index(registry.pusher, repo, DIGEST, referrers)
    result = _verifier(tmp_path, registry.host, _keyless(subject=IDENTITY)).verify(f"{registry.host}/{repo}:v1")
    assert (result.verified, result.digest, result.attestor) == (True, DIGEST, "release-workflow")


def test_subject_regexp_and_annotations(tmp_path: Path, registry: Registry) -> None:
    repo, referrers = _with_bundles(registry, "dsse.json")
    push_fallback_index(registry.pusher, repo, DIGEST, referrers)
    image = f"{registry.host}/{repo}:v1"
    pattern = _keyless(subjectRegExp=r"https://github\.com/bank/payments/\.github/workflows/.*")
    assert _verifier(tmp_path, registry.host, pattern, annotations={"git-sha": "4f1c2d"}).verify(image).verified
    wrong = _verifier(tmp_path, registry.host, pattern, annotations={"git-sha": "0000"}).verify(image)
    assert wrong.reason == "annotation_mismatch"


@pytest.mark.parametrize(
    ("bundle", "identity", "reason"),
    [
        ("other_identity.json", {"subject": IDENTITY}, "identity_mismatch"),  # another issuer and subject
        (
            "valid.json",
            {"subject": "https://github.com/bank/other/.github/workflows/x.yml@refs/heads/main"},
            "identity_mismatch",
        ),
        ("valid.json", {"subjectRegExp": "https://gitlab\\.com/.*"}, "identity_mismatch"),
        ("expired.json", {"subject": IDENTITY}, "certificate_expired"),
    ],
)
def test_refused_bundles(
    tmp_path: Path, registry: Registry, bundle: str, identity: dict[str, str], reason: str
) -> None:
    repo, referrers = _with_bundles(registry, bundle)
    push_fallback_index(registry.pusher, repo, DIGEST, referrers)
    result = _verifier(tmp_path, registry.host, _keyless(**identity)).verify(f"{registry.host}/{repo}:v1")
    assert (result.verified, result.reason) == (False, reason)


def test_no_bundle_and_garbage_bundle(tmp_path: Path, registry: Registry) -> None:
    repo = _push_image(registry)
    verifier = _verifier(tmp_path, registry.host, _keyless(subject=IDENTITY))
    assert verifier.verify(f"{registry.host}/{repo}:v1").reason == "no_signature"
    other = f"payments/keyless-{uuid.uuid4().hex[:8]}"
    registry.pusher.blob(other, b"{}", "application/vnd.oci.image.config.v1+json")
    registry.pusher.blob(other, LAYER_TEXT, "application/vnd.oci.image.layer.v1.tar")
    registry.pusher.manifest(other, "v1", json.loads(MANIFEST))
    garbage = push_bundle(registry.pusher, other, SUBJECT, b'{"mediaType": "nonsense"}')
    push_fallback_index(registry.pusher, other, DIGEST, [garbage])
    assert verifier.verify(f"{registry.host}/{other}:v1").reason == "invalid_signature"


class _Referrers(BaseHTTPRequestHandler):
    """Answers the referrers API from ``index``; passes everything else to the real registry."""

    upstream = ""
    index: dict[str, list[dict[str, Any]]] = {}
    asked: list[str] = []

    def do_GET(self) -> None:
        if "/referrers/" in self.path:
            path, _, query = self.path.partition("?")
            self.asked.append(query)
            body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": self.index.get(path, [])})
            self._send(200, OCI_INDEX, body.encode())
            return
        answer = requests.get(
            f"http://{self.upstream}{self.path}", headers={"Accept": self.headers.get("Accept", "*/*")}, timeout=10
        )
        self._send(answer.status_code, answer.headers.get("Content-Type", "application/json"), answer.content)

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - BaseHTTPRequestHandler's signature
        return


@pytest.fixture
def referrers_responder(registry: Registry) -> Iterator[tuple[str, type[_Referrers]]]:
    handler = type("Handler", (_Referrers,), {"upstream": registry.host, "index": {}, "asked": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()
    thread.join(10)


def test_referrers_api_on_loopback_responder(
    tmp_path: Path, registry: Registry, referrers_responder: tuple[str, type[_Referrers]]
) -> None:
    repo, referrers = _with_bundles(registry, "other_identity.json", "valid.json")
    host, handler = referrers_responder
    handler.index[f"/v2/{repo}/referrers/{DIGEST}"] = referrers
    result = _verifier(tmp_path, host, _keyless(subject=IDENTITY)).verify(f"{host}/{repo}:v1")
    assert (result.verified, result.digest) == (True, DIGEST)  # no fallback tag exists: the API answered
    assert handler.asked == ["artifactType=application/vnd.dev.sigstore.bundle.v0.3+json"]


def test_attestations_by_predicate_type(tmp_path: Path, registry: Registry) -> None:
    attestation, referrers = _with_bundles(registry, "dsse.json")
    push_fallback_index(registry.pusher, attestation, DIGEST, referrers)
    signature, referrers = _with_bundles(registry, "valid.json")
    push_fallback_index(registry.pusher, signature, DIGEST, referrers)
    cosign_sign = _keyless(subject=IDENTITY, predicateType="https://sigstore.dev/cosign/sign/v1")
    slsa = _keyless(subject=IDENTITY, predicateType="https://slsa.dev/provenance/v1")
    assert _verifier(tmp_path, registry.host, cosign_sign).verify(f"{registry.host}/{attestation}:v1").verified
    refused = _verifier(tmp_path, registry.host, slsa).verify(f"{registry.host}/{attestation}:v1")
    assert (refused.reason, "sign/v1" in refused.message) == ("predicate_mismatch", True)
    plain = _verifier(tmp_path, registry.host, cosign_sign).verify(f"{registry.host}/{signature}:v1")
    assert (plain.reason, "plain signature" in plain.message) == ("predicate_mismatch", True)
