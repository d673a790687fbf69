"""Hot reload never serves a half-written file: reads that must settle, suspect changes held back.

Real files in a temporary directory, a real watchfiles watcher, real builds;
writers are threads writing the way ``cp``, ``echo >`` and editors do (open
with ``O_TRUNC``, write in pieces).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from kubegate.lifecycle.builder import FileRules, PolicySetBuilder, rules_by_file
from kubegate.lifecycle.local import DirectorySource
from kubegate.lifecycle.manager import ApplyOutcome, PolicyManager
from tests.lifecycle.conftest import constraint, review, rule, template

HOLD_S = 0.4


def rego(version: str, rules: int = 1) -> str:
    """A Rego package with ``rules`` deny rules, each denying every Pod with ``<version> rule <k>``."""
    body = "".join(
        f'deny contains "{version} rule {k}" if {{\n\tinput.review.object.kind == "Pod"\n}}\n\n'
        for k in range(1, rules + 1)
    )
    return f"package safety\n\nimport rego.v1\n\n{body}"


def denials(manager: PolicyManager) -> list[str]:
    snapshot = manager.snapshot
    assert snapshot is not None
    return sorted(v.message for v in snapshot.review(review()).result.violations)


class Recorder:
    """Collects what a manager served and the suspect changes it counted."""

    def __init__(self) -> None:
        self.served: list[list[str]] = []
        self.suspect_changes: list[int] = []

    def update(self, outcome: ApplyOutcome) -> None:
        if outcome.snapshot is not None and outcome.result in ("applied", "partial"):
            self.served.append(sorted(v.message for v in outcome.snapshot.review(review()).result.violations))

    def suspect(self, new: int) -> None:
        self.suspect_changes.append(new)


def managed(builder: PolicySetBuilder, hold_s: float = HOLD_S) -> tuple[PolicyManager, Recorder]:
    recorder = Recorder()
    manager = PolicyManager(builder, on_update=recorder.update, suspect_hold_s=hold_s, on_suspect=recorder.suspect)
    return manager, recorder


def write_in_place(path: Path, parts: list[str], pause_s: float) -> None:
    """Truncates ``path`` (``O_TRUNC``) and writes ``parts``, pausing ``pause_s`` seconds before each."""
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CREAT, 0o644)
    try:
        for part in parts:
            time.sleep(pause_s)
            os.write(fd, part.encode())
    finally:
        os.close(fd)


def rule_chunks(text: str) -> list[str]:
    """``text`` cut before each ``deny`` rule: every prefix is a valid package with fewer rules."""
    pieces = text.split("deny contains")
    return [pieces[0], *("deny contains" + p for p in pieces[1:])]


@contextmanager
def watching(source: DirectorySource) -> Iterator[None]:
    """Runs ``source.watch`` in its own event loop in a thread until the block ends."""
    ready = threading.Event()
    state: dict[str, object] = {}

    async def main() -> None:
        stop = asyncio.Event()
        state["loop"], state["stop"] = asyncio.get_running_loop(), stop
        ready.set()
        await source.watch(stop)

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    time.sleep(0.2)  # the watcher is set up
    try:
        yield
    finally:
        loop, stop = state["loop"], state["stop"]
        assert isinstance(loop, asyncio.AbstractEventLoop) and isinstance(stop, asyncio.Event)
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        assert not thread.is_alive()


def wait_for(condition: Callable[[], bool], timeout_s: float = 10.0) -> float:
    """Polls ``condition`` every 10 ms; returns the seconds it took."""
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < timeout_s, "condition never met"
        time.sleep(0.01)
    return time.monotonic() - start


# ---- read until stable


def test_a_slow_writer_is_never_applied_half_written(tmp_path: Path, builder: PolicySetBuilder) -> None:
    path = tmp_path / "safety.rego"
    path.write_text(rego("v0", 5))
    manager, recorder = managed(builder)
    source = DirectorySource(manager, [str(tmp_path)])
    assert source.load() is not None and denials(manager) == [f"v0 rule {k}" for k in range(1, 6)]
    versions = 8
    done = threading.Event()

    def writer() -> None:
        for n in range(1, versions + 1):
            write_in_place(path, rule_chunks(rego(f"v{n}", 5)), 0.015)  # each pause shorter than the settle interval
            time.sleep(0.08)
        done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    prefixes_seen = 0
    while not done.is_set():
        text = path.read_text()
        prefixes_seen += text.count("deny contains") < 5
        source.load()
    thread.join()
    assert source.load() is not None
    assert prefixes_seen > 0, "the writer left prefixes on disk while the source loaded"
    complete = [[f"v{n} rule {k}" for k in range(1, 6)] for n in range(versions + 1)]
    assert recorder.served and all(served in complete for served in recorder.served), recorder.served
    assert len({tuple(s) for s in recorder.served}) >= 2, "whole new versions were applied while the writer ran"
    assert denials(manager) == complete[versions]


def test_a_directory_that_never_settles_is_not_applied(tmp_path: Path, builder: PolicySetBuilder) -> None:
    path = tmp_path / "safety.rego"
    path.write_text(rego("v0", 2))
    manager, recorder = managed(builder)
    source = DirectorySource(manager, [str(tmp_path)], settle_ms=20, read_tries=3)
    assert source.load() is not None
    stop, started = threading.Event(), threading.Event()

    def churn() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            write_in_place(path, rule_chunks(rego(f"v{n}", 2)), 0.004)
            started.set()

    thread = threading.Thread(target=churn)
    thread.start()
    try:
        assert started.wait(10)
        outcomes = [source.load() for _ in range(5)]
    finally:
        stop.set()
        thread.join()
    assert outcomes == [None] * 5 and source.unsettled
    assert denials(manager) == ["v0 rule 1", "v0 rule 2"], "nothing applied while the file kept changing"
    assert source.load() is not None and not source.unsettled
    assert len(denials(manager)) == 2 and recorder.served[-1] == denials(manager)


# ---- suspect changes


def test_rules_by_file_counts_policies_and_rules(builder: PolicySetBuilder) -> None:
    files = {
        "a.kgr": rule("a", "v1") + rule("b", "v1"),
        "t.yaml": template("K8sT", "t"),
        "c.yaml": constraint("K8sT", "c"),
        "x.rego": rego("v1", 2),
        "lib.rego": "package lib\n\nanswer := 42\n",
    }
    counts = rules_by_file(builder.build(files).prepared)
    assert counts["a.kgr"].policies == 2 and counts["a.kgr"].rules >= 2
    assert counts["t.yaml"] == FileRules(0, 1) and counts["c.yaml"] == FileRules(1, 0)
    assert counts["x.rego"] == FileRules(1, 2) and counts["lib.rego"] == FileRules(0, 1)
    emptied = rules_by_file(builder.build({**files, "x.rego": "package safety\n", "a.kgr": ""}).prepared)
    assert "x.rego" not in emptied and "a.kgr" not in emptied


LOSSES = {
    "rego-package-line-only": ({"x.rego": rego("v1", 2)}, {"x.rego": "package safety\n\nimport rego.v1\n"}),
    "dsl-emptied": ({"a.kgr": rule("a", "v1")}, {"a.kgr": ""}),
    "constraint-file-emptied": (
        {"t.yaml": template("K8sT", "v1"), "c.yaml": constraint("K8sT", "c")},
        {"c.yaml": ""},
    ),
    "template-without-its-constraint": (
        {"both.yaml": template("K8sB", "v1") + "---\n" + constraint("K8sB", "c")},
        {"both.yaml": template("K8sB", "v1") + "---\n"},
    ),
    "library-without-rules": (
        {"x.rego": rego("v1"), "lib.rego": "package lib\n\nanswer := 42\n"},
        {"lib.rego": "package lib\n"},
    ),
}


@pytest.mark.parametrize("case", sorted(LOSSES))
def test_a_file_that_loses_every_rule_is_held_then_applied(case: str, builder: PolicySetBuilder) -> None:
    files, change = LOSSES[case]
    (name,) = change
    manager, recorder = managed(builder)
    assert manager.apply(files, "dir", hold_suspect=True).result == "applied"
    before = denials(manager)
    assert before or case == "library-without-rules"
    version = manager.status()["policySetVersion"]

    held = manager.apply({**files, **change}, "dir", hold_suspect=True)
    assert held.held == (name,) and held.result == "unchanged"
    assert denials(manager) == before and manager.status()["policySetVersion"] == version
    (suspect,) = manager.status()["suspect"]
    assert suspect["file"] == name and suspect["reason"].startswith("every ") and suspect["since"] <= time.time()
    assert suspect["checks"] == 1 and suspect["holdSeconds"] == HOLD_S
    assert recorder.suspect_changes == [1]

    again = manager.apply({**files, **change}, "dir", hold_suspect=True)  # a re-check before the hold is over
    assert again.held == (name,) and manager.status()["suspect"][0]["checks"] == 2
    assert recorder.suspect_changes == [1], "the same content is one suspect change"

    time.sleep(HOLD_S)
    applied = manager.apply({**files, **change}, "dir", hold_suspect=True)
    assert applied.result == "applied" and not applied.held
    assert manager.status()["suspect"] == [] and not manager.suspects
    if case != "library-without-rules":
        assert denials(manager) != before, "the change was applied on purpose after the hold"


def test_a_held_file_waits_for_its_content_to_stay_the_same(builder: PolicySetBuilder) -> None:
    manager, recorder = managed(builder)
    manager.apply({"x.rego": rego("v1")}, "dir", hold_suspect=True)
    manager.apply({"x.rego": "package safety\n"}, "dir", hold_suspect=True)
    time.sleep(HOLD_S)
    other = manager.apply({"x.rego": "package safety\n\nimport rego.v1\n"}, "dir", hold_suspect=True)
    assert other.held == ("x.rego",), "new content: the hold starts again"
    assert recorder.suspect_changes == [1, 1]
    assert manager.apply({"x.rego": "package safety\n\nimport rego.v1\n"}, "dir", hold_suspect=True).held
    assert denials(manager) == ["v1 rule 1"]
    # The writer finishes: the full new version is applied at once, nothing is held any more.
    done = manager.apply({"x.rego": rego("v2")}, "dir", hold_suspect=True)
    assert done.result == "applied" and not done.held and denials(manager) == ["v2 rule 1"]
    assert not manager.suspects


def test_other_changes_apply_while_a_file_is_held(builder: PolicySetBuilder) -> None:
    manager, _ = managed(builder)
    manager.apply({"x.rego": rego("v1"), "a.kgr": rule("a", "v1")}, "dir", hold_suspect=True)
    outcome = manager.apply({"x.rego": "package safety\n", "a.kgr": rule("a", "v2")}, "dir", hold_suspect=True)
    assert outcome.result == "partial" and outcome.held == ("x.rego",)
    assert denials(manager) == ["a v2", "v1 rule 1"]


def test_changes_that_keep_a_rule_deletions_and_etcd_updates_are_not_held(builder: PolicySetBuilder) -> None:
    manager, recorder = managed(builder)
    manager.apply({"x.rego": rego("v1", 2), "a.kgr": rule("a", "v1")}, "dir", hold_suspect=True)
    fewer = manager.apply({"x.rego": rego("v1", 1), "a.kgr": rule("a", "v1")}, "dir", hold_suspect=True)
    assert fewer.result == "applied" and denials(manager) == ["a v1", "v1 rule 1"]
    deleted = manager.apply({"x.rego": rego("v1", 1)}, "dir", hold_suspect=True)
    assert deleted.result == "applied" and not deleted.held and denials(manager) == ["v1 rule 1"]
    etcd = manager.apply({"x.rego": "package safety\n"}, "etcd")
    assert etcd.result == "applied" and denials(manager) == []
    assert recorder.suspect_changes == [] and manager.status()["suspect"] == []


def test_no_hold_when_the_hold_time_is_zero(builder: PolicySetBuilder) -> None:
    manager, _ = managed(builder, hold_s=0)
    manager.apply({"x.rego": rego("v1")}, "dir", hold_suspect=True)
    assert manager.apply({"x.rego": "package safety\n"}, "dir", hold_suspect=True).result == "applied"
    assert denials(manager) == []


# ---- the watcher


def test_emptying_a_file_on_purpose_is_applied_after_the_hold_without_another_event(
    tmp_path: Path, builder: PolicySetBuilder
) -> None:
    path = tmp_path / "safety.rego"
    path.write_text(rego("v1"))
    manager, recorder = managed(builder)
    source = DirectorySource(manager, [str(tmp_path)], recheck_s=0.1)
    source.load()
    with watching(source):
        written = time.monotonic()
        path.write_text("package safety\n")  # every rule removed, on purpose
        wait_for(lambda: bool(manager.suspects))
        assert denials(manager) == ["v1 rule 1"]
        assert manager.status()["suspect"][0]["file"] == str(path)
        wait_for(lambda: denials(manager) == [])
        assert time.monotonic() - written >= HOLD_S, "applied only after the hold"
        assert not manager.suspects and recorder.suspect_changes == [1]


def test_a_writer_pausing_longer_than_the_settle_interval_is_held_not_served(
    tmp_path: Path, builder: PolicySetBuilder
) -> None:
    path = tmp_path / "safety.rego"
    path.write_text(rego("v1", 2))
    manager, recorder = managed(builder, hold_s=2.0)
    source = DirectorySource(manager, [str(tmp_path)], recheck_s=0.1)
    source.load()
    with watching(source):
        parts = rule_chunks(rego("v2", 2))
        write_in_place(path, [parts[0]], 0)  # the package line alone, for 0.5 s
        wait_for(lambda: bool(manager.suspects))
        time.sleep(0.3)
        assert denials(manager) == ["v1 rule 1", "v1 rule 2"]
        with path.open("a") as f:
            f.write("".join(parts[1:]))
        wait_for(lambda: denials(manager) == ["v2 rule 1", "v2 rule 2"])
        assert not manager.suspects
    assert all(served in (["v1 rule 1", "v1 rule 2"], ["v2 rule 1", "v2 rule 2"]) for served in recorder.served)


def test_a_deleted_file_is_not_held(tmp_path: Path, builder: PolicySetBuilder) -> None:
    (tmp_path / "safety.rego").write_text(rego("v1"))
    (tmp_path / "a.kgr").write_text(rule("a", "v1"))
    manager, recorder = managed(builder, hold_s=30.0)
    source = DirectorySource(manager, [str(tmp_path)])
    source.load()
    with watching(source):
        (tmp_path / "safety.rego").unlink()
        assert wait_for(lambda: denials(manager) == ["a v1"]) < 5, "applied at once, not after the 30 s hold"
    assert recorder.suspect_changes == [] and not manager.suspects


def test_write_then_rename_is_applied_whole(tmp_path: Path, builder: PolicySetBuilder) -> None:
    path = tmp_path / "safety.rego"
    path.write_text(rego("v0", 3))
    manager, recorder = managed(builder)
    source = DirectorySource(manager, [str(tmp_path)])
    source.load()
    with watching(source):
        for n in range(1, 21):
            tmp = tmp_path / ".safety.rego.tmp"
            write_in_place(tmp, rule_chunks(rego(f"v{n}", 3)), 0.002)  # slowly, but under another name
            os.replace(tmp, path)
            time.sleep(0.03)
        wait_for(lambda: denials(manager) == [f"v20 rule {k}" for k in (1, 2, 3)])
    assert all(len(served) == 3 and len({m.split()[0] for m in served}) == 1 for served in recorder.served)
    assert not manager.suspects
