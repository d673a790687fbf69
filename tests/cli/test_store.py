"""kubegate push and rollback: --backend picks the backend that validates the set (a fake store)."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from click.testing import CliRunner

import kubegate.cli.store
from kubegate.cli.main import cli
from kubegate.cli.store import validate
from kubegate.dsl.schema import DEFAULT_KUBERNETES_VERSION
from kubegate.errors import UsageError
from kubegate.lifecycle.etcd import StoredSet, set_version
from tests.cli.conftest import BACKEND_NAMES, REQUIRE_OWNER


class FakeStore:
    """The part of :class:`~kubegate.lifecycle.etcd.EtcdStore` push and rollback use, in memory."""

    pushes: list[StoredSet] = []

    def __init__(self, url: str, prefix: str = "/kubegate/policies/") -> None:
        self.url, self.prefix = url, prefix

    def read(self) -> StoredSet | None:
        return self.pushes[-1] if self.pushes else None

    def history(self) -> list[StoredSet]:
        return list(reversed(self.pushes))

    def push(self, files: Mapping[str, str], policies: Mapping[str, Mapping[str, str]], message: str = "") -> StoredSet:
        stored = StoredSet(
            dict(files), len(self.pushes) + 1, set_version(files), time.time(), message, dict(policies), 1
        )
        self.pushes.append(stored)
        return stored


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[FakeStore]]:
    monkeypatch.setattr(FakeStore, "pushes", [])
    monkeypatch.setattr(kubegate.cli.store, "EtcdStore", FakeStore)
    yield FakeStore


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout + result.stderr


ETCD = ("--etcd", "http://127.0.0.1:1", "--no-builtin")


def policies(tmp_path: Path, message: str = "configmap has no owner") -> Path:
    directory = tmp_path / "policies"
    directory.mkdir(exist_ok=True)
    (directory / "owner.rego").write_text(REQUIRE_OWNER.replace("configmap has no owner", message))
    return directory


@pytest.mark.parametrize("backend", BACKEND_NAMES)
def test_push_validates_with_the_backend_named(
    backend: str, tmp_path: Path, store: type[FakeStore], built_backends: list[str]
) -> None:
    code, out = run("push", str(policies(tmp_path)), *ETCD, "--backend", backend)
    assert code == 0, out
    assert built_backends == [backend]
    [pushed] = store.pushes
    assert set(pushed.policies) == {"require-owner"} and pushed.policies["require-owner"]["file"] == "owner.rego"


@pytest.mark.parametrize("backend", BACKEND_NAMES)
def test_rollback_validates_with_the_backend_named(
    backend: str, tmp_path: Path, store: type[FakeStore], built_backends: list[str]
) -> None:
    assert run("push", str(policies(tmp_path)), *ETCD)[0] == 0
    assert run("push", str(policies(tmp_path, "no owner, v2")), *ETCD)[0] == 0
    built_backends.clear()
    code, out = run("rollback", "require-owner", *ETCD, "--backend", backend)
    assert code == 0, out
    assert built_backends == [backend]
    assert len(store.pushes) == 3 and store.pushes[-1].files == store.pushes[0].files


def test_unknown_backend_is_a_usage_error(tmp_path: Path, store: type[FakeStore]) -> None:
    for args in (("push", str(policies(tmp_path)), *ETCD), ("rollback", "require-owner", *ETCD)):
        code, out = run(*args, "--backend", "opa")
        assert code == 2, out
        assert "Invalid value for '--backend': 'opa' is not one of 'compiled', 'regopy'" in out
        assert "Traceback" not in out
    assert store.pushes == []
    with pytest.raises(UsageError, match="unknown backend 'opa'"):
        validate({"owner.rego": REQUIRE_OWNER}, False, {}, DEFAULT_KUBERNETES_VERSION, "opa")
