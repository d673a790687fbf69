"""Server credentials from the webhook's certificate files, reloaded when they change.

gRPC's C core does its own TLS, so the webhook's ``ssl.SSLContext`` cannot be
handed to it. :func:`server_credentials` builds
``grpc.dynamic_ssl_server_credentials``
(https://grpc.github.io/grpc/python/grpc.html#grpc.dynamic_ssl_server_credentials):
the core asks a fetcher for the certificate configuration before each new
handshake. The fetcher asks the webhook's
:class:`~kubegate.webhook.tls.CertificateReloader` whether the files
changed; the reloader loads and checks a changed pair (a half-written file
or a key that does not match is logged and the previous certificate stays),
and only a pair it accepted is handed to gRPC. With a client CA bundle,
clients must present a certificate it signed (mutual TLS). Open connections
keep their certificate.

The TLS version and cipher suites are gRPC core's: TLS 1.2 and 1.3 only,
ECDHE with AES-GCM (and ChaCha20-Poly1305 in 1.3): AEAD suites, as the
webhook's :class:`~kubegate.webhook.tls.TlsPolicy` requires; gRPC Python has
no setting to narrow them further.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import grpc

from kubegate.errors import UsageError
from kubegate.webhook.tls import CertificateReloader, TlsPolicy

__all__ = ["ReloadingCredentials"]


def _configuration(cert_file: str, key_file: str, client_ca_file: str | None) -> Any:
    ca = Path(client_ca_file).read_bytes() if client_ca_file else None
    pair = (Path(key_file).read_bytes(), Path(cert_file).read_bytes())
    return grpc.ssl_server_certificate_configuration([pair], root_certificates=ca)


class ReloadingCredentials:
    """The credentials of a gRPC server port (see the module docstring).

    Args:
        cert_file, key_file: the serving certificate chain and key (PEM).
        client_ca_file: CA bundle for mutual TLS, or ``None``.
        on_reload: called with the new certificate's expiry after each reload (metrics).
        policy: the webhook's TLS policy (used to check reloaded pairs).

    Raises:
        UsageError: ``tls_files_invalid`` when the files do not load.
    """

    def __init__(
        self,
        cert_file: str,
        key_file: str,
        client_ca_file: str | None = None,
        on_reload: Callable[[datetime], None] | None = None,
        policy: TlsPolicy | None = None,
    ) -> None:
        self.cert_file, self.key_file, self.client_ca_file = cert_file, key_file, client_ca_file
        try:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert_file, key_file)
            if client_ca_file:
                context.load_verify_locations(cafile=client_ca_file)
            self._initial = _configuration(cert_file, key_file, client_ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise UsageError(f"cannot load the TLS files: {exc}", code="tls_files_invalid") from None
        self.reloader = CertificateReloader(context, cert_file, key_file, client_ca_file, on_reload, policy=policy)

    def fetch(self) -> Any:
        """The new configuration when the files changed and load, else ``None`` (gRPC's fetcher)."""
        try:
            if not self.reloader.reload_if_changed():
                return None
            return _configuration(self.cert_file, self.key_file, self.client_ca_file)
        except Exception:  # never into the C core: keep the current certificate
            return None

    def credentials(self) -> Any:
        """``grpc.ServerCredentials`` for ``add_secure_port``."""
        return grpc.dynamic_ssl_server_credentials(
            self._initial, self.fetch, require_client_authentication=self.client_ca_file is not None
        )

    @property
    def reloads(self) -> int:
        return self.reloader.reloads
