"""Serving certificate rotation without restart.

uvicorn builds one ``ssl.SSLContext`` from the certificate and key files
(and, for mutual TLS, the client CA bundle with ``CERT_REQUIRED``).
:class:`CertificateReloader` watches those files (watchfiles; inotify, so a
Kubernetes Secret volume's atomic ``..data`` symlink swap is seen) and loads
a changed pair into that same context: new handshakes use the new
certificate, open connections keep theirs. A pair that does not load (a
half-written file, a key that does not match) is logged and the previous
certificate stays in use until a good pair appears.

Client CA bundles are only ever added to (OpenSSL cannot drop trusted CAs
from a live context): removing a CA needs a restart.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from cryptography import x509
from watchfiles import awatch

__all__ = ["CertificateReloader", "certificate_not_after"]

_log = logging.getLogger("kubegate.webhook.tls")


def certificate_not_after(path: str) -> datetime:
    """Expiry of the first certificate in a PEM file (UTC).

    Raises:
        OSError, ValueError: unreadable file or no PEM certificate in it.
    """
    return x509.load_pem_x509_certificate(Path(path).read_bytes()).not_valid_after_utc


def _fingerprint(paths: tuple[str, ...]) -> tuple[tuple[int, int, int], ...]:
    out = []
    for path in paths:
        try:
            st = os.stat(path)  # follows symlinks: a swapped ..data link changes the inode
            out.append((st.st_ino, st.st_size, st.st_mtime_ns))
        except OSError:
            out.append((0, 0, 0))
    return tuple(out)


class CertificateReloader:
    """Keeps ``context`` serving the certificate currently in ``cert_file``/``key_file``.

    Args:
        context: the server's live SSL context.
        cert_file, key_file: PEM files (chain first in ``cert_file``).
        client_ca_file: for mutual TLS, the CA bundle; new CAs are added on change.
        on_reload: called with the new certificate's expiry after each good reload.
        debounce_ms: how long file events are gathered before reloading.
    """

    def __init__(
        self,
        context: ssl.SSLContext,
        cert_file: str,
        key_file: str,
        client_ca_file: str | None = None,
        on_reload: Callable[[datetime], None] | None = None,
        debounce_ms: int = 50,
    ) -> None:
        self.context = context
        self.cert_file = cert_file
        self.key_file = key_file
        self.client_ca_file = client_ca_file
        self._on_reload = on_reload
        self._debounce_ms = debounce_ms
        self._files = tuple(p for p in (cert_file, key_file, client_ca_file) if p)
        self._seen = _fingerprint(self._files)
        self.reloads = 0
        self.failures = 0

    def reload_if_changed(self) -> bool:
        """Loads the files if they changed since the last load; returns whether it did."""
        now = _fingerprint(self._files)
        if now == self._seen:
            return False
        try:
            probe = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            probe.load_cert_chain(self.cert_file, self.key_file)  # validate before touching the live context
            self.context.load_cert_chain(self.cert_file, self.key_file)
            if self.client_ca_file:
                self.context.load_verify_locations(cafile=self.client_ca_file)
            expiry = certificate_not_after(self.cert_file)
        except (OSError, ssl.SSLError, ValueError) as exc:
            self.failures += 1
            _log.error("serving certificate not reloaded, keeping the previous one: %s", exc)
            return False
        self._seen = now
        self.reloads += 1
        _log.info("serving certificate reloaded from %s (valid until %s)", self.cert_file, expiry.isoformat())
        if self._on_reload is not None:
            self._on_reload(expiry)
        return True

    async def watch(self, stop: asyncio.Event) -> None:
        """Reloads on every change of the files' directories until ``stop`` is set."""
        # The files' own directories, not where their symlinks point: a Secret
        # volume swaps its ``..data`` link inside the mount directory.
        directories = sorted({str(Path(p).absolute().parent) for p in self._files})
        async for _ in awatch(*directories, stop_event=stop, debounce=self._debounce_ms, recursive=False):
            self.reload_if_changed()
