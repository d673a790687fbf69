"""The real go command (Debian's golang-go) building through ``kubegate goproxy`` on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kubegate.audit.logger import DecisionLogger, LogSettings
from kubegate.audit.query import LogQuery
from kubegate.goproxy.audit import LicenseGate, build_engine
from kubegate.goproxy.service import ModuleProxy
from kubegate.goproxy.storage import LocalStorage
from kubegate.goproxy.upstream import Upstream, UpstreamSettings
from kubegate.goproxy.vault import Vault
from tests.goproxy.gomodules import GO, go_env, run_go, serve_proxy, write_app

pytestmark = pytest.mark.skipif(GO is None, reason="the go command (Debian golang-go) is not installed")


@pytest.fixture
def kubegate(tmp_path: Path, upstream_url: str) -> Iterator[tuple[str, ModuleProxy, DecisionLogger]]:
    logger = DecisionLogger(LogSettings(str(tmp_path / "decisions"), mode="strict", fsync="never"))
    gate = LicenseGate(build_engine(), decision_log=logger)
    proxy = ModuleProxy(Vault(LocalStorage(tmp_path / "vault")), Upstream(UpstreamSettings((upstream_url,))), gate)
    with serve_proxy(proxy) as url:
        yield url, proxy, logger
    logger.close()


def test_build_with_allowed_modules(tmp_path: Path, kubegate: tuple[str, ModuleProxy, DecisionLogger]) -> None:
    url, proxy, logger = kubegate
    app = write_app(
        tmp_path / "app",
        {"example.test/mitlib": "v1.2.0", "example.test/apachelib": "v0.3.0", "example.test/Upper": "v1.0.0"},
        ["example.test/mitlib", "example.test/apachelib", "example.test/Upper"],
    )
    env = go_env(tmp_path, f"{url},off")
    download = run_go(["mod", "download", "-x"], app, env)
    assert download.returncode == 0, download.stderr
    built = run_go(["build", "-o", str(tmp_path / "app.bin"), "."], app, env)
    assert built.returncode == 0, built.stderr
    out = run_go(["run", "."], app, env)
    assert out.stdout.split() == [
        "example.test/mitlib@v1.2.0",
        "example.test/apachelib@v0.3.0",
        "example.test/Upper@v1.0.0",
    ]
    # Case-encoded path stored under its escaped key; MVS chose mitlib v1.2.0 over apachelib's v1.1.0.
    assert proxy.vault.record("example.test/Upper", "v1.0.0") is not None
    gosum = (app / "go.sum").read_text()
    record = proxy.vault.record("example.test/mitlib", "v1.2.0")
    assert record is not None and f"example.test/mitlib v1.2.0 {record.h1_zip}" in gosum
    assert f"example.test/mitlib v1.2.0/go.mod {record.h1_mod}" in gosum
    records = [r for r in LogQuery(logger.settings.directory).records() if r["path"] == "kubegate/goproxy/license"]
    verdicts = {r["kubegate"]["name"]: r["result"]["auditAnnotations"]["goproxy/verdict"] for r in records}
    assert verdicts["example.test/apachelib@v0.3.0"] == "PASS"
    assert records[0]["result"]["auditAnnotations"]["goproxy/licenses"]


def test_gpl_dependency_fails_the_build_with_our_403(
    tmp_path: Path, kubegate: tuple[str, ModuleProxy, DecisionLogger]
) -> None:
    url, _proxy, logger = kubegate
    app = write_app(tmp_path / "app", {"example.test/gpllib": "v1.0.0"}, ["example.test/gpllib"])
    built = run_go(["build", "."], app, go_env(tmp_path, f"{url},off"))
    assert built.returncode != 0
    assert "403 Forbidden" in built.stderr
    assert "server response:" in built.stderr
    assert "GPL-3.0-only" in built.stderr
    assert "go-module-license-allowlist" in built.stderr
    assert "to request an exception" in built.stderr
    records = [
        r
        for r in LogQuery(logger.settings.directory).records()
        if r["kubegate"]["name"] == "example.test/gpllib@v1.0.0"
    ]
    assert records and records[-1]["result"]["allowed"] is False
    assert records[-1]["result"]["auditAnnotations"]["goproxy/verdict"] == "REJECT"
    assert records[-1]["input"]["review"]["object"]["module"]["licenses"][0]["spdx"] == "GPL-3.0-only"


def test_yank_hides_a_version_from_go_list(tmp_path: Path, kubegate: tuple[str, ModuleProxy, DecisionLogger]) -> None:
    url, proxy, _ = kubegate
    app = write_app(tmp_path / "app", {}, [])
    env = go_env(tmp_path, f"{url},off")
    before = run_go(["list", "-m", "-versions", "example.test/mitlib"], app, env)
    assert before.stdout.split() == ["example.test/mitlib", "v1.0.0", "v1.1.0", "v1.2.0", "v1.3.0-rc.1"], before.stderr
    proxy.vault.yank("example.test/mitlib", "v1.1.0", "CVE-2026-0001: remote crash")
    after = run_go(["list", "-m", "-versions", "example.test/mitlib"], app, env)
    assert after.stdout.split() == ["example.test/mitlib", "v1.0.0", "v1.2.0", "v1.3.0-rc.1"]
    # A 410 moves on to the next GOPROXY entry (",off" then says lookup disabled);
    # with kubegate alone the go command prints our reason.
    fallback = run_go(["mod", "download", "example.test/mitlib@v1.1.0"], app, env)
    assert fallback.returncode != 0 and "GOPROXY=off" in fallback.stderr
    direct = run_go(["mod", "download", "example.test/mitlib@v1.1.0"], app, go_env(tmp_path, url))
    assert direct.returncode != 0
    assert "410 Gone" in direct.stderr and "CVE-2026-0001" in direct.stderr


def test_pinned_latest_is_what_go_get_picks(tmp_path: Path, kubegate: tuple[str, ModuleProxy, DecisionLogger]) -> None:
    url, proxy, _ = kubegate
    env = go_env(tmp_path, f"{url},off")
    app = write_app(tmp_path / "app", {}, [])
    proxy.vault.pin("example.test/mitlib", "v1.1.0", "v1.2.0 breaks payments")
    got = run_go(["get", "example.test/mitlib@latest"], app, env)
    assert got.returncode == 0, got.stderr
    assert "example.test/mitlib v1.1.0" in (app / "go.mod").read_text()
    proxy.vault.unpin("example.test/mitlib")
    got = run_go(["get", "example.test/mitlib@latest"], app, env)
    assert got.returncode == 0, got.stderr
    assert "example.test/mitlib v1.2.0" in (app / "go.mod").read_text()


def test_retracted_latest_is_skipped(tmp_path: Path, kubegate: tuple[str, ModuleProxy, DecisionLogger]) -> None:
    url, proxy, _ = kubegate
    assert proxy.latest_version("example.test/retracting") == "v1.0.0"
    app = write_app(tmp_path / "app", {}, [])
    got = run_go(["get", "example.test/retracting@latest"], app, go_env(tmp_path, f"{url},off"))
    assert got.returncode == 0, got.stderr
    assert "example.test/retracting v1.0.0" in (app / "go.mod").read_text()
