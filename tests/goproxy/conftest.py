"""Shared fixtures: the generated modules, a static upstream GOPROXY serving them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.goproxy.gomodules import GoModule, static_proxy, write_proxy_tree

MODULES = [
    GoModule("example.test/mitlib", "v1.0.0"),
    GoModule("example.test/mitlib", "v1.1.0"),
    GoModule("example.test/mitlib", "v1.2.0"),
    GoModule("example.test/mitlib", "v1.3.0-rc.1"),
    GoModule("example.test/apachelib", "v0.3.0", license="Apache-2.0", requires={"example.test/mitlib": "v1.1.0"}),
    GoModule("example.test/Upper", "v1.0.0", license="BSD"),
    GoModule("example.test/gpllib", "v1.0.0", license="GPL-3"),
    GoModule("example.test/pointer", "v1.0.0", license=None, extra_files={"LICENSE": "See the file COPYING.\n"}),
    GoModule("example.test/retracting", "v1.0.0"),
    GoModule("example.test/retracting", "v1.1.0", extra_gomod="// broken release\nretract v1.1.0\n"),
]


@pytest.fixture(scope="session")
def upstream_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("upstream")
    write_proxy_tree(root, MODULES)
    return root


@pytest.fixture(scope="session")
def upstream_url(upstream_root: Path) -> Iterator[str]:
    with static_proxy(upstream_root) as url:
        yield url
