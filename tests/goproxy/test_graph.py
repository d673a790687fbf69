"""Minimal version selection with graph pruning, checked against the real go command's
``go list -m all`` on generated modules served by a static GOPROXY on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from kubegate.goproxy.escape import escape
from kubegate.goproxy.gomod import parse_gomod
from kubegate.goproxy.graph import go_list_graph, prunes, resolve_graph
from tests.goproxy.gomodules import GO, GoModule, go_env, run_go, static_proxy, write_app, write_proxy_tree

# a -> b -> c -> g (all go 1.19): below a go 1.17+ main module b's go.mod is not read, so
# c and g are pruned out; h -> b v1.1.0 raises b's version without reading it either;
# d (go 1.16, unpruned) -> e -> f: everything below d is read. A go 1.16 main module reads it all.
GRAPH = [
    GoModule("example.test/pr/a", "v1.0.0", requires={"example.test/pr/b": "v1.0.0"}),
    GoModule("example.test/pr/b", "v1.0.0", requires={"example.test/pr/c": "v1.0.0"}),
    GoModule("example.test/pr/b", "v1.1.0", requires={"example.test/pr/c": "v1.1.0"}),
    GoModule("example.test/pr/c", "v1.0.0", requires={"example.test/pr/g": "v1.0.0"}),
    GoModule("example.test/pr/c", "v1.1.0", requires={"example.test/pr/g": "v1.0.0"}),
    GoModule("example.test/pr/g", "v1.0.0"),
    GoModule("example.test/pr/d", "v1.0.0", go="1.16", requires={"example.test/pr/e": "v1.0.0"}),
    GoModule("example.test/pr/e", "v1.0.0", requires={"example.test/pr/f": "v1.0.0"}),
    GoModule("example.test/pr/f", "v1.0.0"),
    GoModule("example.test/pr/h", "v1.0.0", requires={"example.test/pr/b": "v1.1.0"}),
]


def test_prunes_by_go_directive() -> None:
    def gomod(go: str) -> str:
        return f"module m\n\n{'go ' + go if go else ''}\n"

    assert [prunes(parse_gomod(gomod(v))) for v in ("1.17", "1.21.3", "1.16", "1.9", "")] == [
        True,
        True,
        False,
        False,
        False,
    ]


def _fetcher(url: str) -> Callable[[str, str], bytes]:
    def fetch(path: str, version: str) -> bytes:
        reply = requests.get(f"{url}/{escape(path)}/@v/{escape(version)}.mod", timeout=30)
        reply.raise_for_status()
        return reply.content

    return fetch


@pytest.fixture(scope="module")
def graph_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("graph-upstream")
    write_proxy_tree(root, GRAPH)
    with static_proxy(root) as url:
        yield url


@pytest.mark.skipif(GO is None, reason="no go command")
@pytest.mark.parametrize("main_go", ["1.19", "1.16"])
def test_build_list_is_what_go_list_shows(tmp_path: Path, graph_proxy: str, main_go: str) -> None:
    app = write_app(
        tmp_path / "app",
        {"example.test/pr/a": "v1.0.0", "example.test/pr/d": "v1.0.0", "example.test/pr/h": "v1.0.0"},
        ["example.test/pr/a", "example.test/pr/d", "example.test/pr/h"],
    )
    gomod_file = app / "go.mod"
    gomod_file.write_text(gomod_file.read_text().replace("go 1.19", f"go {main_go}"))
    env = go_env(tmp_path, f"{graph_proxy},off")
    listed = run_go(["list", "-m", "-json", "all"], app, env)
    assert listed.returncode == 0, listed.stderr
    expected = {(m.path, m.version) for m in go_list_graph(str(app), env)}
    main = parse_gomod(gomod_file.read_text())  # as the go command left it
    ours = {(m.path, m.version) for m in resolve_graph(main, _fetcher(graph_proxy))}
    assert ours == expected
    assert ("example.test/pr/b", "v1.1.0") in ours and ("example.test/pr/f", "v1.0.0") in ours
    pruned_out = {("example.test/pr/c", "v1.1.0"), ("example.test/pr/g", "v1.0.0")}
    if main_go == "1.19":
        assert not ours & pruned_out  # b's go.mod is not read
    else:
        assert pruned_out <= ours
