"""``kubegate cert``: write a development CA and webhook serving certificate."""

from __future__ import annotations

import click

from kubegate.webhook.certs import write_dev_certificates

__all__ = ["cert"]


@click.command("cert")
@click.option("--service", required=True, help="Name of the webhook's Service.")
@click.option("--namespace", "-n", default="kubegate-system", show_default=True, help="Namespace of the Service.")
@click.option(
    "--out", "-o", "out_dir", default="certs", show_default=True, type=click.Path(), help="Directory to write into."
)
@click.option("--san", multiple=True, help="Extra DNS name or IP address (repeatable), e.g. localhost, 127.0.0.1.")
@click.option("--days", default=365, show_default=True, type=int, help="Validity of the certificates.")
@click.option("--client", "client_name", help="Also issue a client certificate with this common name (mutual TLS).")
@click.option("--force", is_flag=True, help="Overwrite existing files.")
def cert(
    service: str, namespace: str, out_dir: str, san: tuple[str, ...], days: int, client_name: str | None, force: bool
) -> None:
    """Write a development CA (ca.crt, ca.key) and serving certificate (tls.crt, tls.key).

    The serving certificate is valid for <service>.<namespace>.svc and the
    other names the API server may use; put ca.crt in the
    ValidatingWebhookConfiguration's caBundle (base64).
    """
    files = write_dev_certificates(out_dir, service, namespace, san, days, client_name, force)
    for path in (files.ca_cert, files.ca_key, files.cert, files.key, files.client_cert, files.client_key):
        if path is not None:
            click.echo(f"wrote {path}")
