"""``kubegate goproxy serve|yank|pin|import-sums|bundle export|bundle import`` and ``kubegate golicense check``.

See docs/goproxy.md. ``golicense check`` exits 0 when every module passes,
1 when any is REJECT or REVIEW_REQUIRED, 2 when the graph could not be
resolved or a module could not be fetched.
"""

from __future__ import annotations

import os
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

import click

from kubegate.errors import KubegateError, UsageError
from kubegate.goproxy.audit import BUILTIN_POLICY
from kubegate.goproxy.bundle import export_bundle, import_bundle
from kubegate.goproxy.check_report import render_json, render_junit, render_sarif, render_text
from kubegate.goproxy.errors import GoproxyError, ModuleBlocked
from kubegate.goproxy.gomod import parse_gomod
from kubegate.goproxy.graph import ModuleRef, go_list_graph, resolve_graph
from kubegate.goproxy.sbom import cyclonedx_json, spdx_json
from kubegate.goproxy.server import GoproxyConfig, build_proxy, open_storage
from kubegate.goproxy.service import ModuleProxy
from kubegate.goproxy.signing import load_signing_key
from kubegate.goproxy.vault import Vault
from kubegate.goproxy.workers import default_workers, serve
from kubegate.images.keys import load_public_key
from kubegate.yamlio import read_text, read_yaml

__all__ = ["golicense", "goproxy"]

_STORAGE = click.option(
    "--storage",
    default="./goproxy-vault",
    show_default=True,
    envvar="KUBEGATE_GOPROXY_STORAGE",
    help="Vault: a directory or s3://bucket/prefix.",
)
_S3 = click.option("--s3-endpoint", envvar="KUBEGATE_GOPROXY_S3_ENDPOINT", help="S3-compatible endpoint URL.")


def _vault(storage: str, s3_endpoint: str | None) -> Vault:
    return Vault(open_storage(storage, s3_endpoint))


def _parameters(path: str | None) -> dict[str, Any]:
    if not path:
        return {}
    doc = read_yaml(read_text(path), path)
    value = doc.value if doc is not None else {}
    if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
        raise UsageError(f"{path}: parameters must be a mapping of policy id to parameters", code="invalid_parameters")
    return value


def _address(addr: str) -> tuple[str, int]:
    host, _, port = addr.rpartition(":")
    if not host or not port.isdigit():
        raise UsageError(f"address {addr!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


@click.group("goproxy")
def goproxy() -> None:
    """The private Go module proxy with a license gate (docs/goproxy.md)."""


@goproxy.command("serve")
@_STORAGE
@_S3
@click.option("--addr", default="127.0.0.1:8081", show_default=True, help="Listen address HOST:PORT.")
@click.option("--upstream", multiple=True, help="Upstream GOPROXY URL, tried in order (repeatable; none: vault only).")
@click.option("--upstream-timeout", default=60.0, show_default=True, help="Read time-out per upstream request (s).")
@click.option(
    "--upstream-retries", default=2, show_default=True, help="Retries per upstream for errors other than 404/410."
)
@click.option(
    "--policy", "-p", "policies", multiple=True, type=click.Path(exists=True), help="Rego/DSL policy file or dir."
)
@click.option(
    "--license-policy",
    "license_policies",
    multiple=True,
    help=f"Policy id deciding licenses (default {BUILTIN_POLICY}).",
)
@click.option("--parameters", type=click.Path(exists=True), help="YAML: {policy id: parameters}.")
@click.option("--no-license-check", is_flag=True, help="Serve without the license gate.")
@click.option("--decision-log", type=click.Path(), help="Decision log directory (a record per verdict).")
@click.option("--decision-log-mode", type=click.Choice(["strict", "standard"]), default="strict", show_default=True)
@click.option("--tls-cert", type=click.Path(exists=True), help="Serving certificate (PEM); enables HTTPS.")
@click.option("--tls-key", type=click.Path(exists=True), help="Serving key (PEM).")
@click.option("--client-ca", type=click.Path(exists=True), help="CA bundle for client certificates (mutual TLS).")
@click.option("--sumdb", help="Proxy a checksum database: NAME=URL (e.g. sum.golang.org=https://sum.golang.org).")
@click.option("--exception-contact", default="", help="How to request a license exception (shown in 403 answers).")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="Serving processes sharing the socket and the vault (default: the CPU count).",
)
@click.option(
    "--trace-exporter",
    type=click.Choice(["none", "console", "otlp"]),
    default="none",
    show_default=True,
    help="OpenTelemetry spans per request, upstream fetch and license policy evaluation.",
)
@click.option("--trace-endpoint", help="OTLP/HTTP traces URL (default http://localhost:4318/v1/traces).")
def serve_command(
    storage: str,
    s3_endpoint: str | None,
    addr: str,
    upstream: tuple[str, ...],
    upstream_timeout: float,
    upstream_retries: int,
    policies: tuple[str, ...],
    license_policies: tuple[str, ...],
    parameters: str | None,
    no_license_check: bool,
    decision_log: str | None,
    decision_log_mode: str,
    tls_cert: str | None,
    tls_key: str | None,
    client_ca: str | None,
    sumdb: str | None,
    exception_contact: str,
    workers: int | None,
    trace_exporter: str,
    trace_endpoint: str | None,
) -> None:
    """Serve the GOPROXY protocol (GOPROXY=http(s)://HOST:PORT)."""
    host, port = _address(addr)
    if bool(tls_cert) != bool(tls_key):
        raise UsageError("--tls-cert and --tls-key go together")
    name, _, url = (sumdb or "").partition("=")
    config = GoproxyConfig(
        storage=storage,
        upstreams=upstream,
        host=host,
        port=port,
        policies=policies,
        license_policies=license_policies or (BUILTIN_POLICY,),
        parameters=_parameters(parameters),
        license_check=not no_license_check,
        decision_log=decision_log,
        decision_log_mode=decision_log_mode,
        cert_file=tls_cert,
        key_file=tls_key,
        client_ca_file=client_ca,
        sumdb_name=name,
        sumdb_url=url,
        s3_endpoint=s3_endpoint,
        exception_contact=exception_contact,
        upstream_timeout_s=upstream_timeout,
        upstream_retries=upstream_retries,
        trace_exporter="console" if trace_exporter == "console" else "otlp" if trace_exporter == "otlp" else "none",
        trace_endpoint=trace_endpoint,
    )
    serve(config, workers or default_workers())


@goproxy.command("yank")
@click.argument("module")
@click.argument("version")
@click.option("--reason", default="", help="Shown to clients in the 410 answer.")
@click.option("--undo", is_flag=True, help="Make the version available again.")
@_STORAGE
@_S3
def yank_command(module: str, version: str, reason: str, undo: bool, storage: str, s3_endpoint: str | None) -> None:
    """Withdraw MODULE@VERSION for every replica on the storage (list/@latest skip it, downloads get 410)."""
    vault = _vault(storage, s3_endpoint)
    if undo:
        vault.unyank(module, version)
        click.echo(f"{module}@{version} is available again")
        return
    if not reason:
        raise UsageError("--reason is required (clients see it)")
    vault.yank(module, version, reason)
    click.echo(f"yanked {module}@{version}: {reason}")


@goproxy.command("pin")
@click.argument("module")
@click.argument("version", required=False)
@click.option("--reason", default="")
@click.option("--clear", is_flag=True, help="Remove the pin.")
@_STORAGE
@_S3
def pin_command(
    module: str, version: str | None, reason: str, clear: bool, storage: str, s3_endpoint: str | None
) -> None:
    """Make MODULE@latest resolve to VERSION (versions above it are hidden from the list)."""
    vault = _vault(storage, s3_endpoint)
    if clear:
        vault.unpin(module)
        click.echo(f"{module}: pin removed")
        return
    if not version:
        raise UsageError("VERSION is required unless --clear")
    vault.pin(module, version, reason)
    click.echo(f"{module}@latest -> {version}")


@goproxy.command("import-sums")
@click.argument("go_sum", type=click.Path(exists=True, dir_okay=False))
@_STORAGE
@_S3
def import_sums_command(go_sum: str, storage: str, s3_endpoint: str | None) -> None:
    """Record the hashes of a go.sum file in the vault (later downloads must match them)."""
    count = _vault(storage, s3_endpoint).import_go_sum(Path(go_sum).read_text())
    click.echo(f"recorded {count} hashes")


@goproxy.group("bundle")
def bundle() -> None:
    """Offline bundles (tar.gz with SHA256SUMS and a manifest)."""


@bundle.command("export")
@click.option("--since", help="Only versions stored on or after this RFC 3339 date/time.")
@click.option("--modules", "modules_file", type=click.Path(exists=True), help="File of 'path version' lines.")
@click.option("--previous", type=click.Path(exists=True), help="Earlier bundle: leave out what it holds.")
@click.option("-o", "--output", required=True, type=click.Path(), help="Bundle to write (.tar.gz).")
@click.option(
    "--sign-key",
    type=click.Path(exists=True, dir_okay=False),
    help="PEM private key (ECDSA P-256 or Ed25519): adds SHA256SUMS.sig.",
)
@_STORAGE
@_S3
def bundle_export(
    since: str | None,
    modules_file: str | None,
    previous: str | None,
    output: str,
    sign_key: str | None,
    storage: str,
    s3_endpoint: str | None,
) -> None:
    """Write a bundle of the vault's module versions.

    An encrypted --sign-key takes its password from KUBEGATE_BUNDLE_KEY_PASSWORD.
    """
    key = None
    if sign_key:
        password = os.environ.get("KUBEGATE_BUNDLE_KEY_PASSWORD")
        key = load_signing_key(Path(sign_key).read_bytes(), sign_key, password.encode() if password else None)
    modules = None
    if modules_file:
        modules = [tuple(line.split()[:2]) for line in Path(modules_file).read_text().splitlines() if line.split()]
        if any(len(m) != 2 for m in modules):
            raise UsageError(f"{modules_file}: each line must be 'path version'")
    manifest = export_bundle(
        _vault(storage, s3_endpoint),
        output,
        since=since,
        modules=[(m[0], m[1]) for m in modules] if modules is not None else None,
        previous=previous,
        sign_key=key,
    )
    signed = f", signed ({key.kind} {key.public_key().fingerprint})" if key is not None else ""
    click.echo(f"wrote {output}: {len(manifest['modules'])} module versions{signed}")


@bundle.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--verify-key",
    type=click.Path(exists=True, dir_okay=False),
    help="PEM public key: refuse a bundle it has not signed (or an unsigned one).",
)
@_STORAGE
@_S3
def bundle_import(file: str, verify_key: str | None, storage: str, s3_endpoint: str | None) -> None:
    """Verify a bundle whole (signature, SHA256SUMS, h1 hashes) and load it; nothing is loaded on any mismatch."""
    key = load_public_key(Path(verify_key).read_bytes(), verify_key) if verify_key else None
    result = import_bundle(_vault(storage, s3_endpoint), file, verify_key=key)
    click.echo(f"imported {result.modules} module versions ({result.skipped} already present)")


@click.group("golicense")
def golicense() -> None:
    """License checks of a Go module graph."""


def _tool_version() -> str:
    try:
        return metadata.version("kubegate")
    except metadata.PackageNotFoundError:  # pragma: no cover - source tree
        return "0+unknown"


def _check_one(proxy: ModuleProxy, ref: ModuleRef) -> dict[str, Any]:
    row: dict[str, Any] = {"path": ref.path, "version": ref.version, "replacedBy": ref.replaced_by}
    if ref.replaced_by.startswith("local "):
        return {**row, "verdict": "SKIPPED", "reasons": ["replaced by a local directory"], "expression": ""}
    try:
        served = proxy.zip(ref.path, ref.version)
        verdict = served.verdict
        if verdict is None:
            return {**row, "verdict": "PASS", "reasons": [], "expression": ""}
        data = verdict.to_dict()
    except ModuleBlocked as exc:
        data = exc.details or {"verdict": "REJECT", "reasons": [exc.message.strip()], "expression": ""}
    except GoproxyError as exc:
        return {**row, "verdict": "ERROR", "reasons": [exc.message], "expression": ""}
    return {
        **row,
        "verdict": data.get("verdict", "REJECT"),
        "reasons": data.get("reasons", []),
        "expression": data.get("expression", ""),
        "licenses": data.get("licenses", []),
        "policies": [{"id": p.get("id", ""), "version": p.get("version", "")} for p in data.get("policies", [])],
    }


@golicense.command("check")
@click.argument("target", default=".", type=click.Path(exists=True))
@click.option("--proxy", "proxies", multiple=True, help="GOPROXY URL to fetch modules from (repeatable).")
@click.option("--go", "use_go", is_flag=True, help="Resolve the graph with `go list -m -json all` (needs Go).")
@click.option("--vault", "vault_dir", type=click.Path(), help="Cache directory (default: a temporary one).")
@click.option("--policy", "-p", "policies", multiple=True, type=click.Path(exists=True), help="Rego/DSL policy.")
@click.option("--license-policy", "license_policies", multiple=True, help=f"Policy id (default {BUILTIN_POLICY}).")
@click.option("--parameters", type=click.Path(exists=True), help="YAML: {policy id: parameters}.")
@click.option(
    "-o", "--output", type=click.Choice(["text", "json", "junit", "sarif"]), default="text", show_default=True
)
@click.option("--sbom", type=click.Choice(["cyclonedx", "spdx"]), help="Also write an SBOM of the graph.")
@click.option("--sbom-file", type=click.Path(), help="SBOM file (default sbom.cdx.json or sbom.spdx.json).")
@click.pass_context
def check_command(
    ctx: click.Context,
    target: str,
    proxies: tuple[str, ...],
    use_go: bool,
    vault_dir: str | None,
    policies: tuple[str, ...],
    license_policies: tuple[str, ...],
    parameters: str | None,
    output: str,
    sbom: str | None,
    sbom_file: str | None,
) -> None:
    """Evaluate the license policy for every module of TARGET's graph (a go.mod or its directory)."""
    gomod_path = Path(target) / "go.mod" if Path(target).is_dir() else Path(target)
    main = parse_gomod(read_text(str(gomod_path)), str(gomod_path))
    with tempfile.TemporaryDirectory(prefix="kubegate-golicense-") as tmp:
        config = GoproxyConfig(
            storage=vault_dir or tmp,
            upstreams=proxies,
            policies=policies,
            license_policies=license_policies or (BUILTIN_POLICY,),
            parameters=_parameters(parameters),
        )
        proxy = build_proxy(config)
        try:
            if use_go:
                refs = go_list_graph(str(gomod_path.parent))
            else:
                refs = resolve_graph(main, lambda p, v: proxy.mod(p, v).body)
        except KubegateError as exc:
            click.echo(f"error: cannot resolve the module graph: {exc}", err=True)
            ctx.exit(2)
        rows = [_check_one(proxy, ref) for ref in refs]
    if output == "json":
        click.echo(render_json(main.module, rows), nl=False)
    elif output == "junit":
        click.echo(render_junit(main.module, rows), nl=False)
    elif output == "sarif":
        click.echo(render_sarif(rows, gomod_path.as_posix(), read_text(str(gomod_path)), _tool_version()), nl=False)
    else:
        click.echo(render_text(rows), nl=False)
    if sbom == "cyclonedx":
        Path(sbom_file or "sbom.cdx.json").write_text(cyclonedx_json(main.module, rows))
    elif sbom == "spdx":
        Path(sbom_file or "sbom.spdx.json").write_text(spdx_json(main.module, rows))
    verdicts = {row["verdict"] for row in rows}
    ctx.exit(2 if "ERROR" in verdicts else 1 if verdicts & {"REJECT", "REVIEW_REQUIRED"} else 0)
