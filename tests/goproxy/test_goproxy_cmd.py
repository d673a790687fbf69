"""The goproxy and golicense commands: click's runner, and ``serve`` as a real process over HTTPS/mTLS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from kubegate.cli.goproxy_cmd import golicense, goproxy
from kubegate.goproxy.storage import LocalStorage
from kubegate.goproxy.vault import Vault
from kubegate.webhook.certs import write_dev_certificates
from tests.conftest import free_port
from tests.goproxy.gomodules import GO, GoModule, go_env, run_go, write_app


def test_yank_pin_and_bundles(tmp_path: Path) -> None:
    store = str(tmp_path / "vault")
    vault = Vault(LocalStorage(store), state_ttl_s=0)
    m = GoModule("example.test/m", "v1.0.0")
    vault.store(m.path, m.version, m.info(), m.gomod().encode(), m.zip(), "test")
    runner = CliRunner()
    done = runner.invoke(goproxy, ["yank", m.path, m.version, "--reason", "leaked key", "--storage", store])
    assert done.exit_code == 0, done.output
    assert vault.yanked(m.path, m.version) is not None
    assert runner.invoke(goproxy, ["yank", m.path, m.version, "--undo", "--storage", store]).exit_code == 0
    assert vault.yanked(m.path, m.version) is None
    assert runner.invoke(goproxy, ["pin", m.path, "v0.9.0", "--storage", store]).exit_code == 0
    assert vault.pinned(m.path) == {**vault.pinned(m.path), "version": "v0.9.0"}  # type: ignore[dict-item]
    assert runner.invoke(goproxy, ["pin", m.path, "--clear", "--storage", store]).exit_code == 0
    assert vault.pinned(m.path) is None
    out = tmp_path / "b.tar.gz"
    exported = runner.invoke(goproxy, ["bundle", "export", "-o", str(out), "--storage", store])
    assert exported.exit_code == 0 and "1 module versions" in exported.output
    other = str(tmp_path / "airgap")
    imported = runner.invoke(goproxy, ["bundle", "import", str(out), "--storage", other])
    assert imported.exit_code == 0 and "imported 1" in imported.output
    assert Vault(LocalStorage(other)).record(m.path, m.version) is not None


def test_golicense_check(tmp_path: Path, upstream_url: str) -> None:
    app = write_app(tmp_path / "app", {"example.test/apachelib": "v0.3.0", "example.test/Upper": "v1.0.0"}, [])
    runner = CliRunner()
    ok = runner.invoke(
        golicense,
        [
            "check",
            str(app),
            "--proxy",
            upstream_url,
            "-o",
            "json",
            "--sbom",
            "cyclonedx",
            "--sbom-file",
            str(tmp_path / "sbom.json"),
        ],
    )
    assert ok.exit_code == 0, ok.output
    report = json.loads(ok.output)
    assert {(r["path"], r["version"], r["verdict"]) for r in report["modules"]} == {
        ("example.test/apachelib", "v0.3.0", "PASS"),
        ("example.test/mitlib", "v1.1.0", "PASS"),
        ("example.test/Upper", "v1.0.0", "PASS"),
    }
    sbom = json.loads((tmp_path / "sbom.json").read_text())
    purls = {c["purl"] for c in sbom["components"]}
    assert "pkg:golang/example.test/apachelib@v0.3.0" in purls
    licenses = {c["name"]: c.get("licenses") for c in sbom["components"]}
    assert licenses["example.test/apachelib"] == [{"expression": "Apache-2.0"}]
    bad = write_app(tmp_path / "bad", {"example.test/gpllib": "v1.0.0", "example.test/mitlib": "v1.2.0"}, [])
    rejected = runner.invoke(golicense, ["check", str(bad / "go.mod"), "--proxy", upstream_url])
    assert rejected.exit_code == 1
    assert "REJECT" in rejected.output and "GPL-3.0-only" in rejected.output
    junit = runner.invoke(golicense, ["check", str(bad), "--proxy", upstream_url, "-o", "junit"])
    assert 'failures="1"' in junit.output
    spdx_file = tmp_path / "bad.spdx.json"
    sarif = runner.invoke(
        golicense,
        ["check", str(bad), "--proxy", upstream_url, "-o", "sarif", "--sbom", "spdx", "--sbom-file", str(spdx_file)],
    )
    assert sarif.exit_code == 1
    [result] = json.loads(sarif.output)["runs"][0]["results"]
    assert result["ruleId"] == "go-module-license-allowlist" and result["level"] == "error"
    assert result["locations"][0]["logicalLocations"][0]["name"] == "example.test/gpllib@v1.0.0"
    packages = {p["name"]: p for p in json.loads(spdx_file.read_text())["packages"]}
    assert packages["example.test/gpllib"]["licenseConcluded"] == "GPL-3.0-only"
    missing = write_app(tmp_path / "missing", {"example.test/nothing": "v1.0.0"}, [])
    assert runner.invoke(golicense, ["check", str(missing), "--proxy", upstream_url]).exit_code == 2


@pytest.mark.skipif(GO is None, reason="no go command")
def test_golicense_with_go_list(tmp_path: Path, upstream_url: str) -> None:
    app = write_app(tmp_path / "app", {"example.test/apachelib": "v0.3.0"}, ["example.test/apachelib"])
    env = go_env(tmp_path, f"{upstream_url},off")
    assert run_go(["mod", "download"], app, env).returncode == 0
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        result = CliRunner().invoke(golicense, ["check", str(app), "--go", "--proxy", upstream_url, "-o", "json"])
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert result.exit_code == 0, result.output
    assert {r["path"] for r in json.loads(result.output)["modules"]} == {
        "example.test/apachelib",
        "example.test/mitlib",
    }


@pytest.fixture
def https_server(tmp_path: Path, upstream_url: str) -> Iterator[tuple[str, Path]]:
    certs = tmp_path / "certs"
    write_dev_certificates(str(certs), "goproxy", "kubegate-system", ["127.0.0.1", "localhost"], client="ci-builder")
    port = free_port()
    code = "import sys; from kubegate.cli.goproxy_cmd import goproxy; sys.exit(goproxy(sys.argv[1:]))"
    args = [
        sys.executable, "-c", code, "serve", "--addr", f"127.0.0.1:{port}", "--storage", str(tmp_path / "vault"),
        "--upstream", upstream_url, "--tls-cert", str(certs / "tls.crt"), "--tls-key", str(certs / "tls.key"),
        "--client-ca", str(certs / "ca.crt"), "--decision-log", str(tmp_path / "log"), "--workers", "1",
    ]  # fmt: skip
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    url = f"https://127.0.0.1:{port}"
    cert = (str(certs / "client.crt"), str(certs / "client.key"))
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(f"{url}/healthz", verify=str(certs / "ca.crt"), cert=cert, timeout=2)
                break
            except requests.RequestException:
                assert process.poll() is None, (tmp_path / "serve.log").read_text()
                assert time.monotonic() < deadline
                time.sleep(0.2)
        yield url, certs
    finally:
        process.terminate()
        process.wait(30)
        log.close()


def test_serve_over_mutual_tls(https_server: tuple[str, Path]) -> None:
    url, certs = https_server
    ca = str(certs / "ca.crt")
    cert = (str(certs / "client.crt"), str(certs / "client.key"))
    listing = requests.get(f"{url}/example.test/mitlib/@v/list", verify=ca, cert=cert, timeout=30)
    assert listing.status_code == 200 and "v1.2.0" in listing.text
    assert listing.headers["X-Go-Module-Trace-ID"]
    blocked = requests.get(f"{url}/example.test/gpllib/@v/v1.0.0.zip", verify=ca, cert=cert, timeout=30)
    assert blocked.status_code == 403
    with pytest.raises(requests.exceptions.ConnectionError):  # TLS 1.3: refused after the handshake
        requests.get(f"{url}/example.test/mitlib/@v/list", verify=ca, timeout=30)
    metrics = requests.get(f"{url}/metrics", verify=ca, cert=cert, timeout=30).text
    assert "kubegate_goproxy_blocked_total 1.0" in metrics
