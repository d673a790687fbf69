"""OCI registry access through oras-py: manifests, blobs, referrers, within a deadline.

:class:`RegistryClient` is an ``oras.provider.Registry`` (its URL layout,
token authentication and session) with the request loop replaced, because
oras-py's ``do_request`` retries every failure five times with sleeps of
3 to 83 seconds and sets no socket timeout, which an admission deadline
cannot afford. Here:

* every request has a time limit: the registry's ``timeoutMs`` or what is
  left of the verification's deadline, whichever is shorter (the deadline is
  per thread, set with :meth:`RegistryClient.deadline`);
* a request that cannot connect or gets a 5xx is tried again ``retries``
  times while the deadline allows, without sleeping;
* a 401 is answered once: ``Basic`` challenges (distribution's htpasswd
  auth) with the Docker config's credentials for the host, ``Bearer``
  challenges through oras's token flow (distribution's token auth spec,
  https://distribution.github.io/distribution/spec/auth/token/);
* content is checked against its digest (manifests and blobs are content
  addressed; OCI distribution spec, "Pulling manifests" and "Pulling blobs")
  and bounded in size.

Failures raise :class:`~kubegate.images.errors.RegistryError` whose code is
the verification reason: ``registry_unreachable``, ``unauthorized``,
``timeout``, ``not_found``, ``registry_error``, ``digest_mismatch``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import oras.provider  # type: ignore[import-untyped]
import requests
from requests.adapters import HTTPAdapter

from kubegate.images.errors import RegistryError
from kubegate.images.trust_policy import RegistryConfig

__all__ = ["MANIFEST_TYPES", "Manifest", "RegistryClient"]

MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
MAX_MANIFEST_BYTES = 4 << 20
MAX_BLOB_BYTES = 4 << 20


@dataclass(frozen=True, slots=True)
class Manifest:
    """A fetched manifest: ``digest`` (sha256 of ``body``), ``media_type``, ``body`` bytes, ``value`` (JSON)."""

    digest: str
    media_type: str
    body: bytes
    value: dict[str, Any]


class _TimeoutAdapter(HTTPAdapter):
    """Gives every request of the session (oras's token requests too) the client's current time limit."""

    def __init__(self, client: RegistryClient) -> None:
        super().__init__(max_retries=0)
        self._client = client

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._client.request_timeout()
        return super().send(request, **kwargs)


class RegistryClient(oras.provider.Registry):  # type: ignore[misc]
    """One registry host's client (thread-safe for concurrent verifications).

    Args:
        config: the host's settings (``insecure`` for plain HTTP, ``ca_file``,
            ``auths`` from a Docker config, ``timeout_ms``, ``retries``).
        host: the registry host (``host[:port]``) when ``config`` is the default entry.
    """

    def __init__(self, config: RegistryConfig, host: str | None = None) -> None:
        verify: bool | str = config.ca_file if config.ca_file else True
        super().__init__(hostname=host or config.host, insecure=config.insecure, tls_verify=verify)
        self.config = config
        self._local = threading.local()
        adapter = _TimeoutAdapter(self)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self._basic = self._credentials(host or config.host)
        if self._basic is not None:
            self.auth._basic_auth = self._basic  # oras's token flow sends it to the token endpoint
        self._auth_lock = threading.Lock()

    def _credentials(self, host: str) -> str | None:
        for name in (host, f"https://{host}", f"http://{host}"):
            entry = self.config.auths.get(name)
            if entry is not None and entry.get("auth"):
                return str(entry["auth"])
        return None

    # ------------------------------------------------------------------ deadline

    @contextlib.contextmanager
    def deadline(self, deadline: float | None) -> Iterator[None]:
        """Requests of this thread inside the block end by ``deadline`` (``time.monotonic()`` seconds)."""
        previous = getattr(self._local, "deadline", None)
        self._local.deadline = deadline
        try:
            yield
        finally:
            self._local.deadline = previous

    def request_timeout(self) -> float:
        """The time limit of the next request, in seconds (raises ``timeout`` when none is left)."""
        limit = self.config.timeout_ms / 1000.0
        deadline: float | None = getattr(self._local, "deadline", None)
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RegistryError(f"{self.hostname}: the verification's time limit passed", code="timeout")
            limit = min(limit, left)
        return limit

    # ------------------------------------------------------------------ requests

    def do_request(
        self,
        url: str,
        method: str = "GET",
        data: dict[str, Any] | bytes | None = None,
        headers: dict[str, str] | None = None,
        json: dict[str, Any] | None = None,
        stream: bool = False,
    ) -> requests.Response:
        """One request with time limit, retries and authentication (module docstring).

        Raises:
            RegistryError: ``timeout``, ``registry_unreachable``.
        """
        headers = dict(headers or {})
        auth = getattr(self._local, "authorization", None)
        if auth:
            headers["Authorization"] = auth
        response = self._send(method, url, data, headers, json, stream)
        if response.status_code == 401:
            challenge = response.headers.get("WWW-Authenticate", "")
            if challenge.lower().startswith("basic") and self._basic is not None:
                headers["Authorization"] = f"Basic {self._basic}"
            elif challenge.lower().startswith("bearer"):
                with self._auth_lock:
                    headers, changed = self.auth.authenticate_request(response, headers, refresh=True)
                if not changed:
                    return response
            else:
                return response
            self._local.authorization = headers.get("Authorization")
            response = self._send(method, url, data, headers, json, stream)
        return response

    def _send(
        self,
        method: str,
        url: str,
        data: dict[str, Any] | bytes | None,
        headers: dict[str, str],
        body: dict[str, Any] | None,
        stream: bool,
    ) -> requests.Response:
        attempts = self.config.retries + 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                response: requests.Response = self.session.request(
                    method,
                    url,
                    data=data,
                    json=body,
                    headers=headers,
                    stream=stream,
                    verify=self._tls_verify,
                    timeout=self.request_timeout(),
                )
            except requests.exceptions.SSLError as exc:
                raise RegistryError(
                    f"{self.hostname}: TLS failed: {_reason(exc)}", code="registry_unreachable"
                ) from None
            except requests.exceptions.Timeout:
                if last:
                    raise RegistryError(f"{self.hostname}: no answer in time", code="timeout") from None
                continue
            except requests.exceptions.RequestException as exc:
                if last:
                    raise RegistryError(
                        f"{self.hostname}: cannot connect: {_reason(exc)}", code="registry_unreachable"
                    ) from None
                continue
            if response.status_code < 500 or last:
                return response
            response.close()
        raise RegistryError(f"{self.hostname}: no attempt left", code="registry_unreachable")  # pragma: no cover

    def _get(self, url: str, accept: str, what: str, limit: int) -> tuple[requests.Response, bytes]:
        response = self.do_request(f"{self.prefix}://{url}", "GET", headers={"Accept": accept}, stream=True)
        with response:
            status = response.status_code
            if status in (401, 403):
                raise RegistryError(f"{self.hostname}: not authorized to read {what}", code="unauthorized")
            if status == 404:
                raise RegistryError(f"{self.hostname}: {what} not found", code="not_found")
            if status >= 500:
                raise RegistryError(f"{self.hostname}: {what}: HTTP {status}", code="registry_unreachable")
            if status != 200:
                raise RegistryError(f"{self.hostname}: {what}: HTTP {status}", code="registry_error")
            try:
                body = response.raw.read(limit + 1, decode_content=True)
            except (requests.exceptions.RequestException, OSError) as exc:
                raise RegistryError(f"{self.hostname}: {what}: {_reason(exc)}", code="registry_unreachable") from None
            if len(body) > limit:
                raise RegistryError(f"{self.hostname}: {what} is larger than {limit} bytes", code="registry_error")
            return response, body

    def manifest(self, repository: str, reference: str) -> Manifest:
        """The manifest of ``repository`` at a tag or ``sha256:`` digest.

        Raises:
            RegistryError: ``not_found``, ``digest_mismatch`` (the body's
                sha256 is not the digest asked for), ``registry_error``
                (not a JSON object), and the request codes.
        """
        container = self.get_container(f"{self.hostname}/{repository}:latest")
        url = container.manifest_url(reference)
        response, body = self._get(
            url, ", ".join(MANIFEST_TYPES), f"manifest {repository}:{reference}", MAX_MANIFEST_BYTES
        )
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        if reference.startswith("sha256:") and digest != reference:
            raise RegistryError(
                f"{self.hostname}: manifest {reference} has content of {digest}", code="digest_mismatch"
            )
        value = _json_object(body, f"manifest {repository}:{reference}", self.hostname)
        media_type = str(value.get("mediaType") or response.headers.get("Content-Type", "")).split(";")[0]
        return Manifest(digest, media_type, body, value)

    def blob(self, repository: str, digest: str, limit: int = MAX_BLOB_BYTES) -> bytes:
        """The blob ``digest`` of ``repository``, checked against its digest.

        Raises:
            RegistryError: ``not_found``, ``digest_mismatch``, and the request codes.
        """
        container = self.get_container(f"{self.hostname}/{repository}:latest")
        _, body = self._get(container.get_blob_url(digest), "*/*", f"blob {digest}", limit)
        if "sha256:" + hashlib.sha256(body).hexdigest() != digest:
            raise RegistryError(f"{self.hostname}: blob {digest} does not match its digest", code="digest_mismatch")
        return body

    def referrers(self, repository: str, digest: str, artifact_type: str) -> list[dict[str, Any]] | None:
        """The referrers of ``digest`` with ``artifact_type`` (OCI distribution spec 1.1, "Listing Referrers").

        Returns:
            The index's descriptors (filtered by artifact type here too, the
            filter being optional for registries), or ``None`` when the
            registry has no referrers API (404): the caller then reads the
            ``sha256-<hex>`` fallback tag.
        """
        url = f"{self.hostname}/v2/{repository}/referrers/{digest}?artifactType={artifact_type}"
        try:
            _, body = self._get(
                url, "application/vnd.oci.image.index.v1+json", f"referrers of {digest}", MAX_MANIFEST_BYTES
            )
        except RegistryError as exc:
            if exc.code == "not_found":
                return None
            raise
        index = _json_object(body, f"referrers of {digest}", self.hostname)
        found = index.get("manifests")
        if not isinstance(found, list):
            return []
        return [d for d in found if isinstance(d, dict) and d.get("artifactType") == artifact_type]


def _json_object(body: bytes, what: str, host: str | None) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except ValueError:
        raise RegistryError(f"{host}: {what} is not JSON", code="registry_error") from None
    if not isinstance(value, dict):
        raise RegistryError(f"{host}: {what} is not a JSON object", code="registry_error")
    return value


def _reason(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) < 200 else text[:200] + "..."
