"""WriterTracker against real files and the kernel's inotify events, and the directory
source's use of it: a change whose writers are done is applied without the settle read;
a file still open for writing is never applied, however long its writer pauses."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from kubegate.lifecycle.builder import PolicySetBuilder
from kubegate.lifecycle.local import DirectorySource
from kubegate.lifecycle.writers import WriterTracker
from tests.lifecycle.test_reload_safety import denials, managed, rego, rule_chunks, wait_for, watching


def tracker(paths: list[str]) -> WriterTracker:
    started = WriterTracker.start(paths)
    assert started is not None, "inotify is available on the Linux machines the tests run on"
    return started


# ---- the tracker


def test_a_file_written_and_closed_is_finished(tmp_path: Path) -> None:
    path = tmp_path / "a.rego"
    path.write_text("package a\n")
    writers = tracker([str(tmp_path)])
    try:
        assert writers.state([str(path)], 2.0) == "unknown"  # no event yet
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
        os.write(fd, b"package a\n# more\n")
        assert writers.state([str(path)], 2.0) == "writing"
        os.close(fd)
        assert writers.state([str(path)], 2.0) == "finished"
    finally:
        writers.close()


def test_a_file_renamed_into_place_is_finished_and_its_temporary_is_not_asked(tmp_path: Path) -> None:
    writers = tracker([str(tmp_path)])
    try:
        tmp = tmp_path / ".a.rego.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT, 0o644)
        os.write(fd, b"package a\n")
        os.replace(tmp, tmp_path / "a.rego")  # still open: the name now holds the whole text
        assert writers.state([str(tmp_path / "a.rego")], 2.0) == "finished"
        os.close(fd)
    finally:
        writers.close()


def test_one_file_being_written_makes_the_set_writing_and_a_silent_writer_unknown(tmp_path: Path) -> None:
    done, busy = tmp_path / "done.rego", tmp_path / "busy.rego"
    writers = tracker([str(tmp_path)])
    fd = os.open(busy, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        done.write_text("package done\n")
        os.write(fd, b"package busy\n")
        files = [str(done), str(busy)]
        assert writers.state(files, 2.0) == "writing"
        time.sleep(0.05)
        assert writers.state(files, 0.01) == "unknown"  # silent for longer than writing_for_s
        assert writers.state([str(done)], 2.0) == "finished"
    finally:
        os.close(fd)
        writers.close()


def test_relative_paths_and_a_watched_file_are_matched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "single.rego"
    path.write_text("package s\n")
    monkeypatch.chdir(tmp_path)
    writers = tracker(["single.rego"])  # a file path: its directory is watched
    try:
        Path("single.rego").write_text("package s\n# v2\n")
        assert writers.state(["single.rego"], 2.0) == "finished"
        assert writers.state([str(path)], 2.0) == "finished"
    finally:
        writers.close()


def test_a_deleted_file_or_one_in_a_subdirectory_is_not_known(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    writers = tracker([str(tmp_path)])
    try:
        (tmp_path / "gone.rego").write_text("package g\n")
        (tmp_path / "gone.rego").unlink()
        (tmp_path / "sub" / "deep.rego").write_text("package d\n")  # only the top level is watched
        assert writers.state([str(tmp_path / "gone.rego")], 2.0) == "unknown"
        assert writers.state([str(tmp_path / "sub" / "deep.rego")], 2.0) == "unknown"
    finally:
        writers.close()


def test_a_removed_directory_forgets_its_files(tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    writers = tracker([str(policies)])
    try:
        (policies / "a.rego").write_text("package a\n")
        assert writers.state([str(policies / "a.rego")], 2.0) == "finished"
        (policies / "a.rego").unlink()
        policies.rmdir()
        policies.mkdir()  # a new directory: the old watch is gone with the old one
        (policies / "a.rego").write_text("package a\n")
        assert writers.state([str(policies / "a.rego")], 2.0) == "unknown"
    finally:
        writers.close()


def test_no_tracker_for_paths_that_do_not_exist_is_no_error(tmp_path: Path) -> None:
    writers = tracker([str(tmp_path / "missing")])
    try:
        assert writers.state([str(tmp_path / "missing" / "a.rego")], 2.0) == "unknown"
    finally:
        writers.close()


# ---- the directory source with it


def test_a_closed_write_is_applied_without_the_settle_read(tmp_path: Path, builder: PolicySetBuilder) -> None:
    path = tmp_path / "safety.rego"
    path.write_text(rego("v0", 2))
    manager, recorder = managed(builder)
    source = DirectorySource(manager, [str(tmp_path)])
    source.load()
    settled = source.settled_reads
    with watching(source):
        for n in range(1, 6):
            path.write_text(rego(f"v{n}", 2))  # open with O_TRUNC, write, close: as `echo >` does
            wait_for(lambda n=n: denials(manager) == [f"v{n} rule 1", f"v{n} rule 2"])  # type: ignore[misc]
        os.replace(_written(tmp_path / ".tmp", rego("v6", 2)), path)
        wait_for(lambda: denials(manager) == ["v6 rule 1", "v6 rule 2"])
    assert source.finished_reads >= 6
    assert source.settled_reads == settled  # none while watching
    assert all(len(served) == 2 and len({m.split()[0] for m in served}) == 1 for served in recorder.served)


def test_a_file_left_open_mid_write_is_never_applied(tmp_path: Path, builder: PolicySetBuilder) -> None:
    """Paused 0.3 s, six times the settle interval, with a prefix on disk that is a valid
    package with fewer rules: the settle read alone would apply it; the tracker knows the
    writer has not closed the file."""
    path = tmp_path / "safety.rego"
    path.write_text(rego("v1", 3))
    manager, recorder = managed(builder, hold_s=0.0)  # no suspect hold: only the writer check protects
    source = DirectorySource(manager, [str(tmp_path)], recheck_s=0.1)
    source.load()
    with watching(source):
        parts = rule_chunks(rego("v2", 3))
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
        try:
            for part in parts[:-1]:
                os.write(fd, part.encode())
                time.sleep(0.3)
            assert denials(manager) == ["v1 rule 1", "v1 rule 2", "v1 rule 3"]
            assert source.writing > 0
            os.write(fd, parts[-1].encode())
        finally:
            os.close(fd)
        wait_for(lambda: denials(manager) == ["v2 rule 1", "v2 rule 2", "v2 rule 3"])
    assert all(len(served) == 3 for served in recorder.served), recorder.served


def test_a_writer_silent_past_writing_for_s_falls_back_to_the_settle_read(
    tmp_path: Path, builder: PolicySetBuilder
) -> None:
    path = tmp_path / "safety.rego"
    path.write_text(rego("v1", 1))
    manager, _ = managed(builder, hold_s=0.0)
    source = DirectorySource(manager, [str(tmp_path)], recheck_s=0.1, writing_for_s=0.3)
    source.load()
    with watching(source):
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
        try:
            os.write(fd, rego("v2", 1).encode())  # whole, but the file is kept open
            settled = source.settled_reads
            wait_for(lambda: denials(manager) == ["v2 rule 1"])
            assert source.writing > 0 and source.settled_reads > settled
        finally:
            os.close(fd)


def test_without_writer_tracking_every_change_takes_the_settle_read(tmp_path: Path, builder: PolicySetBuilder) -> None:
    path = tmp_path / "safety.rego"
    path.write_text(rego("v0"))
    manager, _ = managed(builder)
    source = DirectorySource(manager, [str(tmp_path)], track_writers=False)
    source.load()
    with watching(source):
        path.write_text(rego("v1"))
        wait_for(lambda: denials(manager) == ["v1 rule 1"])
    assert source.finished_reads == 0 and source.settled_reads >= 2


def _written(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
