"""Fetching from upstream GOPROXY servers: chained, with retries and time-outs.

Upstreams are tried in order, as the go command walks ``GOPROXY``
(https://go.dev/ref/mod#goproxy-protocol): a 404 or 410 moves on to the next
one; a connection error, a time-out or a 5xx is retried (``retries`` times,
exponential back-off from ``backoff_s``) and then moves on too. When every
upstream answered 404/410 the result is :class:`NotFound`; when any failed
otherwise it is :class:`UpstreamError` (the proxy then answers 502, so a
``GOPROXY=kubegate|direct`` client falls back and a ``kubegate,off`` one stops).
A 403 (an upstream kubegate's license gate) is :class:`ModuleBlocked` with
the upstream's text, and is not retried elsewhere.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import requests

from kubegate.goproxy.errors import ModuleBlocked, NotFound, UpstreamError
from kubegate.goproxy.escape import escape
from kubegate.goproxy.modzip import MAX_ZIP

__all__ = ["Upstream", "UpstreamSettings"]


@dataclass(frozen=True)
class UpstreamSettings:
    """Attributes:
    urls: GOPROXY base URLs, tried in order.
    connect_timeout_s / read_timeout_s: per request, seconds.
    retries: extra attempts per upstream for errors other than 404/410.
    backoff_s: first back-off; doubled per attempt.
    """

    urls: tuple[str, ...] = ()
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 60.0
    retries: int = 2
    backoff_s: float = 0.2


class Upstream:
    """A client of the upstream chain (thread-safe; one ``requests`` session per instance)."""

    def __init__(self, settings: UpstreamSettings, session: requests.Session | None = None) -> None:
        self.settings = settings
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = "kubegate-goproxy"

    @property
    def enabled(self) -> bool:
        return bool(self.settings.urls)

    def get(self, path: str, suffix: str, limit: int = MAX_ZIP) -> tuple[bytes, str]:
        """GETs ``<url>/<escaped path>/<suffix>`` from the first upstream that has it.

        Args:
            path: module path (escaped here).
            suffix: ``@v/list``, ``@latest``, ``@v/<escaped version>.info`` ...
            limit: the largest body accepted (bytes).

        Returns:
            ``(body, upstream url)``.

        Raises:
            NotFound: every upstream answered 404/410 (or there is none).
            UpstreamError: an upstream kept failing.
        """
        failures: list[str] = []
        tail = f"{escape(path)}/{suffix}"
        for base in self.settings.urls:
            url = f"{base.rstrip('/')}/{tail}"
            for attempt in range(self.settings.retries + 1):
                if attempt:
                    time.sleep(self.settings.backoff_s * (2 ** (attempt - 1)))
                try:
                    with self.session.get(
                        url,
                        timeout=(self.settings.connect_timeout_s, self.settings.read_timeout_s),
                        stream=True,
                    ) as response:
                        if response.status_code in (404, 410):
                            break
                        if response.status_code == 403:
                            text = response.raw.read(64 << 10, decode_content=True).decode("utf-8", "replace")
                            raise ModuleBlocked(text or f"{url}: 403 Forbidden")
                        if response.status_code != 200:
                            failures.append(f"{url}: HTTP {response.status_code}")
                            if response.status_code < 500:
                                break
                            continue
                        body = bytearray()
                        for chunk in response.iter_content(1 << 16):
                            body += chunk
                            if len(body) > limit:
                                raise UpstreamError(f"{url} is larger than {limit} bytes", code="upstream_too_large")
                        return bytes(body), base
                except requests.RequestException as exc:
                    failures.append(f"{url}: {type(exc).__name__}")
        if failures:
            raise UpstreamError(f"upstream failed: {'; '.join(failures[-3:])}")
        raise NotFound(f"{path}: {suffix} not found upstream")
