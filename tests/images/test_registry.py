"""Registry access against real registries: credentials (htpasswd), custom CA (TLS), a registry
that is down (nothing listening) or hung (accepts, never answers), within time limits."""

from __future__ import annotations

import base64
import hashlib
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from kubegate.images import RegistryConfig, RegistryError, Verifier, load_trust_policy
from kubegate.images.registry import RegistryClient
from tests.conftest import free_port
from tests.images.conftest import Registry
from tests.images.signer import Signer, payload, push_signatures, sign
from tests.images.trustfiles import docker_config, key_attestor, load, write_policy


def _signed(registry: Registry, signer: Signer) -> tuple[str, str]:
    repo = f"payments/app-{uuid.uuid4().hex[:10]}"
    digest = registry.pusher.image(repo, "v1")
    push_signatures(registry.pusher, repo, digest, [sign(signer, payload(f"{registry.host}/{repo}", digest))])
    return f"{registry.host}/{repo}:v1", digest


def _policies(host: str, signer: Signer) -> list[dict[str, Any]]:
    return [{"name": "payments", "images": [f"{host}/**"], "attestors": [key_attestor("release", signer.public_pem())]}]


def test_credentials_required(tmp_path: Path, auth_registry: Registry, release_key: Signer) -> None:
    image, digest = _signed(auth_registry, release_key)
    host = auth_registry.host
    anonymous = load(tmp_path, _policies(host, release_key), registries=[{"host": host, "insecure": True}])
    result = Verifier(anonymous).verify(image)
    assert (result.verified, result.reason) == (False, "unauthorized")
    config = docker_config(tmp_path, host, "ci", str(auth_registry.password))
    (tmp_path / "wrong").mkdir()
    wrong = docker_config(tmp_path / "wrong", host, "ci", "not-the-password")
    with_creds = load(
        tmp_path,
        _policies(host, release_key),
        registries=[{"host": host, "insecure": True, "dockerConfig": str(config)}],
    )
    result = Verifier(with_creds).verify(image)
    assert (result.verified, result.digest) == (True, digest)
    bad_creds = load(
        tmp_path,
        _policies(host, release_key),
        registries=[{"host": host, "insecure": True, "dockerConfig": str(wrong)}],
    )
    assert Verifier(bad_creds).verify(image).reason == "unauthorized"


def test_pull_secret_from_inventory(tmp_path: Path, auth_registry: Registry, release_key: Signer) -> None:
    image, _ = _signed(auth_registry, release_key)
    host = auth_registry.host
    dockerconfig = docker_config(tmp_path, host, "ci", str(auth_registry.password)).read_text()
    secret = {"data": {".dockerconfigjson": base64.b64encode(dockerconfig.encode()).decode()}}
    inventory = {"namespace": {"payments": {"v1": {"Secret": {"regcred": secret}}}}}
    registries = [{"host": host, "insecure": True, "pullSecret": {"namespace": "payments", "name": "regcred"}}]
    path = write_policy(tmp_path, _policies(host, release_key), registries=registries)
    assert Verifier(load_trust_policy(str(path), inventory)).verify(image).verified


def test_custom_ca(tmp_path: Path, tls_registry: Registry, release_key: Signer) -> None:
    image, _ = _signed(tls_registry, release_key)
    host = tls_registry.host
    trusted = load(tmp_path, _policies(host, release_key), registries=[{"host": host, "caFile": tls_registry.ca_file}])
    assert Verifier(trusted).verify(image).verified
    untrusted = load(tmp_path, _policies(host, release_key), registries=[{"host": host}])
    result = Verifier(untrusted).verify(image)
    assert (result.reason, "TLS" in result.message) == ("registry_unreachable", True)


def test_registry_down_is_unreachable(tmp_path: Path, release_key: Signer) -> None:
    host = f"127.0.0.1:{free_port()}"  # nothing listens there
    policy = load(tmp_path, _policies(host, release_key), registries=[{"host": host, "insecure": True, "retries": 2}])
    result = Verifier(policy).verify(f"{host}/payments/api:1")
    assert (result.verified, result.reason, result.digest) == (False, "registry_unreachable", None)
    assert result.transient


def test_hung_registry_is_cut_at_the_deadline(tmp_path: Path, silent_port: int, release_key: Signer) -> None:
    host = f"127.0.0.1:{silent_port}"
    registries = [{"host": host, "insecure": True, "timeoutMs": 60_000, "retries": 0}]
    verifier = Verifier(load(tmp_path, _policies(host, release_key), registries=registries))
    start = time.monotonic()
    results = verifier.verify_many([f"{host}/payments/a:1", f"{host}/payments/b:1"], deadline=start + 1.0)
    elapsed = time.monotonic() - start
    assert [r.reason for r in results] == ["timeout", "timeout"]
    assert elapsed < 15  # the deadline, not the 60 s request limit
    assert verifier.cache.get("anything") is None
    verifier.close()


def test_request_time_limit_without_deadline(tmp_path: Path, silent_port: int, release_key: Signer) -> None:
    host = f"127.0.0.1:{silent_port}"
    registries = [{"host": host, "insecure": True, "timeoutMs": 300, "retries": 1}]
    start = time.monotonic()
    result = Verifier(load(tmp_path, _policies(host, release_key), registries=registries)).verify(
        f"{host}/payments/a:1"
    )
    assert result.reason == "timeout"
    assert time.monotonic() - start < 15


def test_client_errors_and_digest_checks(registry: Registry) -> None:
    repo = f"payments/app-{uuid.uuid4().hex[:10]}"
    digest = registry.pusher.image(repo, "v1")
    client = RegistryClient(RegistryConfig(registry.host, insecure=True))
    manifest = client.manifest(repo, "v1")
    assert (manifest.digest, manifest.media_type) == (digest, "application/vnd.oci.image.manifest.v1+json")
    assert client.manifest(repo, digest).body == manifest.body
    with pytest.raises(RegistryError) as missing:
        client.manifest(repo, "absent")
    assert missing.value.code == "not_found"
    layer = manifest.value["layers"][0]["digest"]
    assert len(client.blob(repo, layer)) == 64
    assert client.referrers(repo, digest, "application/vnd.dev.sigstore.bundle.v0.3+json") is None  # distribution 2.8
    with client.deadline(time.monotonic() - 1), pytest.raises(RegistryError) as late:
        client.manifest(repo, "v1")
    assert late.value.code == "timeout"


class _Hostile(BaseHTTPRequestHandler):
    """A loopback server answering every request with what ``answers`` holds for its path."""

    answers: dict[str, tuple[int, bytes]] = {}
    hits: list[str] = []

    def do_GET(self) -> None:
        self.hits.append(self.path)
        status, body = self.answers.get(self.path, (404, b'{"errors": []}'))
        self.send_response(status)
        self.send_header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - BaseHTTPRequestHandler's signature
        return


@pytest.fixture
def hostile() -> Iterator[tuple[str, type[_Hostile]]]:
    handler = type("Handler", (_Hostile,), {"answers": {}, "hits": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()
    thread.join(10)


def test_hostile_answers(hostile: tuple[str, type[_Hostile]]) -> None:
    host, handler = hostile
    client = RegistryClient(RegistryConfig(host, insecure=True, retries=2))
    digest = "sha256:" + hashlib.sha256(b"{}").hexdigest()
    handler.answers = {
        "/v2/a/manifests/down": (503, b"busy"),
        "/v2/a/manifests/big": (200, b" " * (5 << 20)),
        "/v2/a/manifests/text": (200, b"not json"),
        "/v2/a/manifests/list": (200, b"[1, 2]"),
        f"/v2/a/manifests/{digest}": (200, b'{"other": "content"}'),
        "/v2/a/manifests/teapot": (418, b"{}"),
    }
    codes = {}
    for reference in ("down", "big", "text", "list", digest, "teapot"):
        with pytest.raises(RegistryError) as error:
            client.manifest("a", reference)
        codes[reference] = error.value.code
    assert codes == {
        "down": "registry_unreachable",
        "big": "registry_error",
        "text": "registry_error",
        "list": "registry_error",
        digest: "digest_mismatch",
        "teapot": "registry_error",
    }
    assert handler.hits.count("/v2/a/manifests/down") == 3  # retries=2: three attempts, no sleeping
