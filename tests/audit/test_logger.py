"""The decision logger end to end: build, redact, append to a real log, ship to real sinks."""

from __future__ import annotations

import gzip
import http.server
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kubegate.audit.logger import DecisionLogger, LogSettings
from kubegate.audit.manifest import is_manifest
from kubegate.audit.record import DecisionFacts, LogMode
from kubegate.audit.sinks import FileSink, HttpSink, SinkError
from kubegate.audit.wal import LogFull, LogReader
from kubegate.engine.decision import Decision, ReviewResult, Violation
from kubegate.errors import KubegateError, UsageError

SECRETS = ("hunter2", "alice@example.com", "bob@example.com")


def review() -> dict[str, Any]:
    return {
        "uid": "uid-1",
        "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "operation": "CREATE",
        "namespace": "team-a",
        "name": "web",
        "userInfo": {"username": "alice@example.com", "groups": ["dev"]},
        "object": {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "web", "namespace": "team-a"},
            "spec": {
                "containers": [
                    {"name": "app", "image": "nginx:latest", "env": [{"name": "DB_PASSWORD", "value": "hunter2"}]}
                ]
            },
        },
    }


FACTS = DecisionFacts(
    allowed=False,
    violations=({"policy": "no-latest", "enforcement": "deny", "message": "ask bob@example.com"},),
    policy_set_version="v7",
    duration_ns=1_500_000,
)


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def wal_records(directory: Path) -> list[dict[str, Any]]:
    """The decision records of the log (its policy-set manifests left out)."""
    return [r for r in (json.loads(p) for p in LogReader(directory).records()) if not is_manifest(r)]


def wal_manifests(directory: Path) -> list[dict[str, Any]]:
    return [r for r in (json.loads(p) for p in LogReader(directory).records()) if is_manifest(r)]


def eventually(condition: Callable[[], bool], what: str, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


def background_threads() -> set[str]:
    return {t.name for t in threading.enumerate() if t.name.startswith(("kubegate-ship-", "kubegate-wal-fsync"))}


@pytest.fixture
def make_logger(tmp_path: Path) -> Iterator[Callable[..., DecisionLogger]]:
    """Loggers on ``tmp_path/wal`` (fsync ``never`` unless told), closed at the end if the test did not."""
    loggers: list[DecisionLogger] = []

    def make(sinks: tuple[Any, ...] = (), **settings: Any) -> DecisionLogger:
        settings.setdefault("fsync", "never")
        logger = DecisionLogger(LogSettings(str(tmp_path / "wal"), **settings), sinks=sinks)
        loggers.append(logger)
        return logger

    yield make
    for logger in loggers:
        logger.close()


@pytest.mark.parametrize("mode", ["strict", "standard"])
def test_sinks_get_the_redacted_record(tmp_path: Path, mode: LogMode) -> None:
    out = tmp_path / "out.jsonl"
    counts: list[dict[str, int]] = []
    logger = DecisionLogger(
        LogSettings(str(tmp_path / "wal"), mode=mode, fsync="always", labels={"cluster": "prod"}),
        sinks=[FileSink(str(out))],
        on_record=counts.append,
    )
    try:
        assert logger.enabled
        decision_id = logger.record(review(), FACTS, path="kubegate/admission", cache_hit=True, total_ns=2_000_000)
    finally:
        logger.close()

    [stored] = wal_records(tmp_path / "wal")
    [shipped] = jsonl(out)
    assert shipped == stored
    assert shipped["decision_id"] == decision_id
    text = out.read_text() + "".join(p.read_text(errors="replace") for p in (tmp_path / "wal").glob("seg-*"))
    assert not any(secret in text for secret in SECRETS)

    assert shipped["path"] == "kubegate/admission"
    assert shipped["labels"]["cluster"] == "prod"
    assert {"id", "version"} <= set(shipped["labels"])
    assert shipped["result"] == {
        "allowed": False,
        "violations": [{"policy": "no-latest", "enforcement": "deny", "message": "ask <redacted:email>"}],
    }
    # A cache hit evaluated nothing: the facts' evaluation time is not its own.
    assert shipped["metrics"] == {"timer_server_handler_ns": 2_000_000}
    kubegate = shipped["kubegate"]
    assert kubegate["durationMs"] == 0
    assert kubegate["mode"] == mode
    assert (kubegate["kind"], kubegate["namespace"], kubegate["name"], kubegate["uid"]) == (
        "Pod",
        "team-a",
        "web",
        "uid-1",
    )
    assert kubegate["cacheHit"] is True
    assert kubegate["userInfo"]["username"] == "<redacted:email>"
    [rules] = counts
    assert shipped["redaction"] == {"count": sum(rules.values()), "rules": rules}
    if mode == "strict":
        container = shipped["input"]["review"]["object"]["spec"]["containers"][0]
        assert container["env"] == [{"name": "DB_PASSWORD", "value": "<redacted:sensitive_env>"}]
        assert shipped["input"]["review"]["userInfo"]["username"] == "<redacted:email>"
        assert rules == {"email": 3, "sensitive_env": 1}
    else:
        assert "input" not in shipped
        assert kubegate["userInfo"] == {"username": "<redacted:email>"}
        assert rules == {"email": 2}


def test_mode_off_writes_nothing(tmp_path: Path, make_logger: Callable[..., DecisionLogger]) -> None:
    out = tmp_path / "out.jsonl"
    logger = make_logger(sinks=(FileSink(str(out)),), mode="off")
    assert not logger.enabled
    assert logger.record(review(), FACTS, path="kubegate/admission") is None
    logger.close()
    assert wal_records(tmp_path / "wal") == []
    assert jsonl(out) == []


def test_review_decided_records_an_sdk_review(tmp_path: Path, make_logger: Callable[..., DecisionLogger]) -> None:
    result = ReviewResult(
        allowed=False,
        decisions=(
            Decision(
                policy="no-latest",
                version="sha-1",
                allowed=False,
                violations=(Violation("no-latest", "image nginx:latest uses latest", {}, "deny"),),
                duration_ms=1.25,
                policy_set_version="v7",
            ),
        ),
        skipped=(),
        duration_ms=2.0,
        policy_set_version="v7",
    )
    logger = make_logger(mode="standard")
    logger.review_decided(review(), result)
    [stored] = wal_records(tmp_path / "wal")
    assert stored["path"] == "kubegate/review"
    assert stored["result"]["allowed"] is False
    assert stored["result"]["violations"] == [
        {"policy": "no-latest", "enforcement": "deny", "message": "image nginx:latest uses latest"}
    ]
    assert stored["kubegate"]["policySetVersion"] == "v7"
    # The policy's version is in the set's manifest record, written before it.
    assert stored["kubegate"]["policies"] == [{"id": "no-latest", "allowed": False, "durationMs": 1.25}]
    [manifest] = wal_manifests(tmp_path / "wal")
    assert manifest["kubegate"] == {"policySetVersion": "v7", "policyVersions": {"no-latest": "sha-1"}}
    assert stored["bundles"] == {"kubegate": {"revision": "v7"}}


def test_close_drains_every_record_and_stops_the_threads(
    tmp_path: Path, make_logger: Callable[..., DecisionLogger]
) -> None:
    before = background_threads()
    out = tmp_path / "out.jsonl"
    logger = make_logger(sinks=(FileSink(str(out)),), fsync="interval", fsync_interval_ms=5)
    assert len(background_threads() - before) == 2  # a shipper and the fsync thread
    ids = [logger.record(review(), FACTS, path="kubegate/admission") for _ in range(30)]
    logger.close()
    assert background_threads() == before
    assert [r["decision_id"] for r in jsonl(out)] == ids
    assert logger.wal.pending_bytes(logger.shippers[0].sink.name) == 0


def test_shipping_callbacks_get_the_sink_name(tmp_path: Path) -> None:
    failures_left = [2]
    received: list[Any] = []
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with lock:
                status = 200
                if failures_left[0] > 0:
                    failures_left[0] -= 1
                    status = 500
                else:
                    received.extend(json.loads(gzip.decompress(body)))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    shipped: list[tuple[str, int]] = []
    failed: list[tuple[str, SinkError]] = []
    sink = HttpSink(f"http://127.0.0.1:{server.server_address[1]}/logs", timeout_s=5)
    try:
        logger = DecisionLogger(
            LogSettings(str(tmp_path / "wal"), fsync="never"),
            sinks=[sink],
            on_shipped=lambda name, n: shipped.append((name, n)),
            on_sink_error=lambda name, error: failed.append((name, error)),
        )
        try:
            ids = [logger.record(review(), FACTS, path="kubegate/admission") for _ in range(5)]

            def all_received() -> bool:
                with lock:
                    return {r["decision_id"] for r in received} >= set(ids)

            eventually(all_received, "every record at the service")
        finally:
            logger.close()
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert [name for name, _ in failed] == [sink.name, sink.name]
    assert all(error.code == "decision_sink_failed" for _, error in failed)
    assert {name for name, _ in shipped} == {sink.name}
    assert sum(n for _, n in shipped) == 5


def test_fail_closed_log_full_reaches_the_caller(make_logger: Callable[..., DecisionLogger]) -> None:
    # No sink has read anything (there is none), so nothing may be deleted.
    logger = make_logger(segment_bytes=2048, max_bytes=4096, full_policy="fail_closed")
    written = 0
    with pytest.raises(LogFull) as info:
        for _ in range(100):
            logger.record(review(), FACTS, path="kubegate/admission")
            written += 1
    assert info.value.code == "decision_log_full"
    assert 0 < written < 100
    assert logger.wal.appended == written
    assert logger.wal.size_bytes() <= 4096


def test_decision_log_unavailable_when_the_directory_cannot_be_created(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    directory = str(blocker / "wal")
    with pytest.raises(KubegateError) as info:
        DecisionLogger(LogSettings(directory))
    assert info.value.code == "decision_log_unavailable"
    assert info.value.location is not None and info.value.location.file == directory
    assert info.value.message == "cannot open the decision log: Not a directory"
    assert blocker.read_text() == "not a directory"


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        ({"mode": "verbose"}, "decision log mode 'verbose'"),
        ({"fsync": "sometimes"}, "fsync policy 'sometimes'"),
        ({"full_policy": "panic"}, "full policy 'panic'"),
        ({"segment_bytes": 2048, "max_bytes": 1024}, "at least one segment"),
    ],
)
def test_bad_settings_are_usage_errors(tmp_path: Path, bad: dict[str, Any], words: str) -> None:
    with pytest.raises(UsageError) as info:
        DecisionLogger(LogSettings(str(tmp_path / "wal"), **bad))
    assert info.value.code == "usage_error"
    assert words in info.value.message
    assert not (tmp_path / "wal").exists()
