"""Serving certificate rotation without restart.

uvicorn builds one ``ssl.SSLContext`` from the certificate and key files
(and, for mutual TLS, the client CA bundle with ``CERT_REQUIRED``) and
listens with it. :class:`CertificateReloader` watches those files
(watchfiles; inotify, so a Kubernetes Secret volume's atomic ``..data``
symlink swap is seen), builds a new context from a changed set and hands it
to new handshakes from the listening context's SNI callback: new
handshakes use the new certificate (and the new CA bundle), open connections
keep theirs. A pair that does not load (a half-written file, a key that does
not match) is logged and the previous certificate stays in use until a good
pair appears.

:func:`apply_tls_policy` sets what the context offers: TLS 1.2 or later and,
in TLS 1.2, only the AEAD suites of Mozilla's "intermediate" configuration
(https://wiki.mozilla.org/Security/Server_Side_TLS#Intermediate_compatibility_.28recommended.29).
uvicorn only calls ``set_ciphers`` with ``ssl_ciphers`` and has no minimum
version setting; Python's default server list also offers CBC suites
(``ECDHE-ECDSA-AES256-SHA384``...). TLS 1.3 suites are all AEAD and are not
configurable from Python. A connection negotiates with the listening
context's settings, so certificate reloads keep them; the contexts
:class:`CertificateReloader` builds get the same policy.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from cryptography import x509
from watchfiles import awatch

__all__ = [
    "INTERMEDIATE_TLS12_CIPHERS",
    "CertificateReloader",
    "TlsPolicy",
    "apply_tls_policy",
    "certificate_not_after",
]

_log = logging.getLogger("kubegate.webhook.tls")


INTERMEDIATE_TLS12_CIPHERS = ":".join(
    [
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
        "DHE-RSA-AES128-GCM-SHA256",
        "DHE-RSA-AES256-GCM-SHA384",
        "DHE-RSA-CHACHA20-POLY1305",
    ]
)
"""The TLS 1.2 suites of Mozilla's "intermediate" configuration: AEAD only, forward secret."""

TlsVersion = Literal["1.2", "1.3"]
_VERSIONS: dict[str, ssl.TLSVersion] = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


@dataclass(frozen=True)
class TlsPolicy:
    """What the serving context offers.

    Attributes:
        ciphers: OpenSSL cipher string for TLS 1.2 (TLS 1.3 suites are OpenSSL's defaults, all AEAD).
        min_version: ``1.2`` or ``1.3``.
    """

    ciphers: str = INTERMEDIATE_TLS12_CIPHERS
    min_version: TlsVersion = "1.2"

    def check(self) -> None:
        """Raises :class:`ValueError` for an unknown version or a cipher string OpenSSL selects nothing from."""
        if self.min_version not in _VERSIONS:
            raise ValueError(f"TLS minimum version must be one of {', '.join(_VERSIONS)}, not {self.min_version!r}")
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).set_ciphers(self.ciphers)
        except ssl.SSLError:
            raise ValueError(f"no TLS 1.2 cipher suite matches {self.ciphers!r}") from None


def apply_tls_policy(context: ssl.SSLContext, policy: TlsPolicy) -> ssl.SSLContext:
    """Restricts ``context`` to ``policy`` and refuses client-initiated renegotiation; returns it.

    Renegotiation is refused (``OP_NO_RENEGOTIATION``, TLS 1.2) because a client
    can make the server repeat the costly half of a handshake on an open
    connection at will; Mozilla's configurations do not need it.

    Raises:
        ssl.SSLError: a cipher string OpenSSL selects nothing from.
    """
    context.minimum_version = _VERSIONS[policy.min_version]
    context.set_ciphers(policy.ciphers)
    context.options |= ssl.OP_NO_RENEGOTIATION
    return context


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
    """Keeps new handshakes on ``context`` serving the certificate currently in ``cert_file``/``key_file``.

    Each reload builds a fresh context from the files (certificate, key,
    client CA bundle, ``context``'s verify mode, ``policy``);
    ``context.sni_callback`` moves every new handshake to the newest one
    (``SSLObject.context``; OpenSSL calls the servername callback for every
    ClientHello, with or without SNI). Loading the new pair into ``context``
    itself would not do: a context keeps one certificate per key type, so a
    rotation from ECDSA to RSA would keep serving the old ECDSA certificate
    to every client that accepts both.

    The cipher suites and protocol versions a connection may negotiate are
    fixed by ``context`` when the connection starts, before the switch:
    ``policy`` is applied to the fresh contexts as well, so both agree.

    Args:
        context: the server's listening SSL context.
        cert_file, key_file: PEM files (chain first in ``cert_file``).
        client_ca_file: for mutual TLS, the CA bundle, read again in full on change.
        on_reload: called with the new certificate's expiry after each good reload.
        debounce_ms: how long file events are gathered before reloading.
        policy: the TLS policy of the fresh contexts (default: :class:`TlsPolicy`'s defaults).
    """

    def __init__(
        self,
        context: ssl.SSLContext,
        cert_file: str,
        key_file: str,
        client_ca_file: str | None = None,
        on_reload: Callable[[datetime], None] | None = None,
        debounce_ms: int = 50,
        policy: TlsPolicy | None = None,
    ) -> None:
        self.context = context
        self.current = context  # the context new handshakes get
        self.policy = policy or TlsPolicy()
        self.cert_file = cert_file
        self.key_file = key_file
        self.client_ca_file = client_ca_file
        self._on_reload = on_reload
        self._debounce_ms = debounce_ms
        self._files = tuple(p for p in (cert_file, key_file, client_ca_file) if p)
        self._seen = _fingerprint(self._files)
        self.reloads = 0
        self.failures = 0
        context.sni_callback = self._select

    def _select(
        self, connection: ssl.SSLObject | ssl.SSLSocket, _server_name: str | None, initial: ssl.SSLContext
    ) -> None:
        current = self.current
        if current is not initial:
            connection.context = current

    def _build(self) -> ssl.SSLContext:
        fresh = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        fresh.load_cert_chain(self.cert_file, self.key_file)
        fresh.verify_mode = self.context.verify_mode
        if self.client_ca_file:
            fresh.load_verify_locations(cafile=self.client_ca_file)
        return apply_tls_policy(fresh, self.policy)

    def reload_if_changed(self) -> bool:
        """Loads the files if they changed since the last load; returns whether it did."""
        now = _fingerprint(self._files)
        if now == self._seen:
            return False
        try:
            fresh = self._build()  # a half-written file or a key that does not match fails here
            expiry = certificate_not_after(self.cert_file)
        except (OSError, ssl.SSLError, ValueError) as exc:
            self.failures += 1
            _log.error("serving certificate not reloaded, keeping the previous one: %s", exc)
            return False
        self.current = fresh
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
