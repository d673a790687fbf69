"""The GOPROXY endpoints over real HTTP: kubegate on loopback, a static upstream on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from kubegate.goproxy.audit import LicenseGate, build_engine
from kubegate.goproxy.metrics import GoproxyMetrics
from kubegate.goproxy.modzip import hash_gomod
from kubegate.goproxy.service import ModuleProxy
from kubegate.goproxy.storage import LocalStorage
from kubegate.goproxy.upstream import Upstream, UpstreamSettings
from kubegate.goproxy.vault import Vault
from tests.goproxy.gomodules import GoModule, serve_proxy, static_proxy, write_proxy_tree


@pytest.fixture
def served(tmp_path: Path, upstream_url: str) -> Iterator[tuple[str, ModuleProxy, GoproxyMetrics]]:
    metrics = GoproxyMetrics()
    proxy = ModuleProxy(
        Vault(LocalStorage(tmp_path / "vault")),
        Upstream(UpstreamSettings((upstream_url,), retries=0)),
        LicenseGate(build_engine()),
    )
    with serve_proxy(proxy, metrics) as url:
        yield url, proxy, metrics


def test_protocol_endpoints(served: tuple[str, ModuleProxy, GoproxyMetrics]) -> None:
    url, _proxy, _metrics = served
    listing = requests.get(f"{url}/example.test/mitlib/@v/list", timeout=30)
    assert listing.status_code == 200
    assert listing.text.split() == ["v1.0.0", "v1.1.0", "v1.2.0", "v1.3.0-rc.1"]
    assert listing.headers["Cache-Control"] == "no-cache"
    latest = requests.get(f"{url}/example.test/mitlib/@latest", timeout=30)
    assert latest.json()["Version"] == "v1.2.0"
    info = requests.get(f"{url}/example.test/mitlib/@v/v1.0.0.info", timeout=30)
    assert info.json()["Version"] == "v1.0.0"
    assert "immutable" in info.headers["Cache-Control"]
    mod = requests.get(f"{url}/example.test/mitlib/@v/v1.0.0.mod", timeout=30)
    assert mod.text.startswith("module example.test/mitlib")
    z = requests.get(f"{url}/example.test/mitlib/@v/v1.0.0.zip", timeout=30)
    assert z.status_code == 200 and z.headers["content-type"] == "application/zip" and z.content[:2] == b"PK"
    for response in (listing, latest, info, mod, z):
        assert len(response.headers["X-Go-Module-Trace-ID"]) >= 16
    sent = requests.get(f"{url}/example.test/mitlib/@v/list", headers={"X-Go-Module-Trace-ID": "build-77"}, timeout=30)
    assert sent.headers["X-Go-Module-Trace-ID"] == "build-77"
    text = requests.get(f"{url}/metrics", timeout=30).text
    assert 'kubegate_goproxy_requests_total{endpoint="zip",result="ok"} 1.0' in text
    assert 'kubegate_goproxy_cache_total{result="miss"}' in text
    assert "kubegate_goproxy_request_duration_seconds_bucket" in text


def test_case_encoding(served: tuple[str, ModuleProxy, GoproxyMetrics]) -> None:
    url, _, _ = served
    assert requests.get(f"{url}/example.test/!upper/@v/list", timeout=30).text.split() == ["v1.0.0"]
    assert requests.get(f"{url}/example.test/%21upper/@v/v1.0.0.info", timeout=30).json()["Version"] == "v1.0.0"
    bad = requests.get(f"{url}/example.test/Upper/@v/list", timeout=30)
    assert bad.status_code == 404 and bad.headers["X-Go-Module-Trace-ID"]


@pytest.mark.parametrize(
    "path",
    [
        "/example.test/nothing/@v/list",
        "/example.test/nothing/@latest",
        "/example.test/mitlib/@v/v9.9.9.info",
        "/example.test/mitlib/@v/master.info",
        "/example.test/mitlib/@v/v1.0.info",
        "/not-a-goproxy-path",
        "/sumdb/sum.golang.org/supported",
    ],
)
def test_not_found(served: tuple[str, ModuleProxy, GoproxyMetrics], path: str) -> None:
    url, _, _ = served
    response = requests.get(url + path, timeout=30)
    assert response.status_code == 404, response.text
    assert response.headers["content-type"].startswith("text/plain")
    assert response.headers["X-Go-Module-Trace-ID"]


def test_blocked_and_yanked(served: tuple[str, ModuleProxy, GoproxyMetrics]) -> None:
    url, proxy, _ = served
    blocked = requests.get(f"{url}/example.test/gpllib/@v/v1.0.0.zip", timeout=30)
    assert blocked.status_code == 403 and "GPL-3.0-only" in blocked.text
    review = requests.get(f"{url}/example.test/pointer/@v/v1.0.0.zip", timeout=30)
    assert review.status_code == 403 and "REVIEW_REQUIRED" in review.text and "UNKNOWN" in review.text
    proxy.vault.yank("example.test/mitlib", "v1.2.0", "bad release")
    gone = requests.get(f"{url}/example.test/mitlib/@v/v1.2.0.info", timeout=30)
    assert gone.status_code == 410 and "bad release" in gone.text
    assert requests.get(f"{url}/example.test/mitlib/@latest", timeout=30).json()["Version"] == "v1.1.0"
    audit = proxy.vault.audit("example.test/gpllib", "v1.0.0")
    assert (
        audit is not None and audit["verdict"]["verdict"] == "REJECT" and audit["licenses"][0]["spdx"] == "GPL-3.0-only"
    )


def test_served_from_the_vault_when_upstream_is_down(tmp_path: Path) -> None:
    root = tmp_path / "up"
    module = GoModule("example.test/solo", "v0.1.0")
    write_proxy_tree(root, [module])
    proxy = ModuleProxy(
        Vault(LocalStorage(tmp_path / "vault")), Upstream(UpstreamSettings(("http://127.0.0.1:1",), retries=0)), None
    )
    with static_proxy(root) as up:
        proxy.upstream = Upstream(UpstreamSettings((up,), retries=0))
        assert proxy.zip("example.test/solo", "v0.1.0").cache == "miss"
    # The upstream is gone now.
    assert proxy.zip("example.test/solo", "v0.1.0").cache == "hit"
    assert proxy.list_versions("example.test/solo") == ["v0.1.0"]
    assert json.loads(proxy.info("example.test/solo", "v0.1.0").body)["Version"] == "v0.1.0"


def test_go_sum_records_are_enforced(tmp_path: Path) -> None:
    root = tmp_path / "up"
    module = GoModule("example.test/solo", "v0.1.0")
    write_proxy_tree(root, [module])
    vault = Vault(LocalStorage(tmp_path / "vault"))
    vault.import_go_sum(f"example.test/solo v0.1.0/go.mod {hash_gomod(b'module something/else')}\n")
    with static_proxy(root) as up:
        proxy = ModuleProxy(vault, Upstream(UpstreamSettings((up,), retries=0)), None)
        with serve_proxy(proxy) as url:
            response = requests.get(f"{url}/example.test/solo/@v/v0.1.0.mod", timeout=30)
    assert response.status_code == 502 and "differs from the recorded" in response.text
    assert vault.record("example.test/solo", "v0.1.0") is None
