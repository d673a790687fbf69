"""Decision-log costs: the webhook's latency with strict logging on vs off, and the
write-ahead log's throughput for each fsync policy.

``webhook``: the same ``kubegate serve`` set-up as ``benchmarks/webhook_load.py``
(HTTPS on loopback, the corpus policies, the decision cache on, paced by wrk
at a fixed rate), in two scenarios — ``mix`` (the corpus mix of 61 objects,
default cache TTL, so entries expire and are evaluated again during the run)
and ``hit`` (one object, every request a cache hit: the logging cost alone) —
and three variants, run in interleaved rounds so that the machine's drift
hits them alike:

* ``off``: no decision log;
* ``strict``: ``--decision-log-mode strict`` (the redacted input in every
  record, cache hits included), fsync every 100 ms, shipped to a file sink;
* ``strict_always``: the same with ``--decision-log-fsync always`` (each record
  is on disk before its answer).

The report gives each variant's p50/p99 per round, the median over rounds, and
the ratio to ``off``.

``wal``: records/s appended by one thread and by four threads for each fsync
policy (``always`` groups concurrent records into one fsync), with the strict
record of a real review (about 3 KB), on this machine's disk; and the whole
logger path (build, redact, serialise, append) for strict and standard.

A benchmark, not a test: it asserts nothing and never runs in CI.
"""

from __future__ import annotations

import json
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.webhook_load import _LUA, CORPUS, Server, corpus_reviews, scenario
from kubegate.audit.logger import DecisionLogger, LogSettings
from kubegate.audit.record import facts_from_result
from kubegate.audit.wal import WriteAheadLog
from kubegate.engine.engine import Engine

VARIANTS: dict[str, list[str]] = {
    "off": [],
    "strict": ["--decision-log-mode", "strict", "--decision-log-fsync", "interval"],
    "strict_always": ["--decision-log-mode", "strict", "--decision-log-fsync", "always"],
}


def webhook(rate: int = 500, seconds: int = 15, rounds: int = 3) -> dict[str, Any]:
    """p50/p99 at ``rate`` requests/s for each variant and scenario, ``rounds`` interleaved rounds.

    Scenarios: ``mix`` (the corpus mix, default cache TTL: entries expire during the run
    and are evaluated again) and ``hit`` (one object, a TTL longer than the run: the
    cache-hit path alone, where the record is the only extra work).
    """
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian package wrk)")
    workdir = Path(tempfile.mkdtemp(prefix="kubegate-audit-bench-"))
    script = workdir / "paced.lua"
    script.write_text(_LUA)
    reviews = corpus_reviews()
    bodies = {"mix": workdir / "mix.jsonl", "hit": workdir / "single.jsonl"}
    bodies["mix"].write_text("\n".join(reviews) + "\n")
    bodies["hit"].write_text(next(r for r in reviews if '"name": "bench-pod"' in r) + "\n")
    policies = [str(CORPUS / "templates"), str(CORPUS / "constraints")]
    rows: dict[str, dict[str, list[dict[str, Any]]]] = {sc: {name: [] for name in VARIANTS} for sc in bodies}
    for n in range(rounds):
        for sc, body in bodies.items():
            for name, extra in VARIANTS.items():
                args = ["--log-level", "warning", *extra, *(["--cache-ttl", "3600"] if sc == "hit" else [])]
                if extra:
                    log = workdir / f"{sc}-{name}-{n}"
                    args += ["--decision-log", str(log / "wal"), "--decision-log-sink", f"file:{log / 'sink.jsonl'}"]
                server = Server(workdir, policies, args)
                try:
                    scenario(server, body, script, [50], 3)  # fill the decision cache
                    [row] = scenario(server, body, script, [rate], seconds)
                    if extra:
                        row["records"] = _records(server)
                finally:
                    server.stop()
                rows[sc][name].append(row)
    summary: dict[str, Any] = {}
    for sc, variants in rows.items():
        summary[sc] = {}
        for name, runs in variants.items():
            summary[sc][name] = {
                "p50_ms": statistics.median(r["p50_ms"] for r in runs),
                "p99_ms": statistics.median(r["p99_ms"] for r in runs),
            }
        off = summary[sc]["off"]
        for name in VARIANTS:
            if name != "off":
                row = summary[sc][name]
                row["p99_ratio_to_off"] = round(row["p99_ms"] / off["p99_ms"], 3)
                row["p50_ratio_to_off"] = round(row["p50_ms"] / off["p50_ms"], 3)
    return {"rate": rate, "seconds": seconds, "rounds": rounds, "runs": rows, "summary": summary}


def _records(server: Server) -> int:
    return int(
        sum(
            float(line.rsplit(" ", 1)[1])
            for line in server.get("/metrics").splitlines()
            if line.startswith("kubegate_decision_log_records_total{")
        )
    )


def _sample_record(workdir: Path) -> tuple[dict[str, Any], Any]:
    """A strict record's inputs: a corpus review and its real result."""
    review = json.loads(next(r for r in corpus_reviews() if '"name": "bench-pod"' in r))["request"]
    engine = Engine([str(CORPUS / "templates"), str(CORPUS / "constraints")])
    try:
        result = engine.review(review)
    finally:
        engine.close()
    return review, facts_from_result(result)


def _throughput(directory: Path, fsync: str, payload: bytes, threads: int, seconds: float) -> float:
    wal = WriteAheadLog(directory, fsync=fsync, max_bytes=1 << 40)  # type: ignore[arg-type]
    count = [0] * threads
    stop = time.monotonic() + seconds

    def writer(i: int) -> None:
        while time.monotonic() < stop:
            wal.append(payload)
            count[i] += 1

    started = time.monotonic()
    workers = [threading.Thread(target=writer, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.monotonic() - started
    wal.close()
    shutil.rmtree(directory)
    return round(sum(count) / elapsed, 1)


def wal(seconds: float = 5.0, policies: Sequence[str] = ("always", "interval", "never")) -> dict[str, Any]:
    """Records/s appended for each fsync policy, and through the whole logger."""
    workdir = Path(tempfile.mkdtemp(prefix="kubegate-wal-bench-"))
    review, facts = _sample_record(workdir)
    sizes: dict[str, int] = {}
    out: dict[str, Any] = {"seconds": seconds, "append": {}, "logger": {}}
    probe = DecisionLogger(LogSettings(str(workdir / "probe"), mode="strict"))
    decision_id = probe.record(review, facts, path="kubegate/admission")
    probe.close()
    [payload] = [json.dumps(r, separators=(",", ":")).encode() for r in _read(workdir / "probe", decision_id)]
    sizes["strict_record_bytes"] = len(payload)
    for fsync in policies:
        out["append"][fsync] = {
            f"{threads}_threads": _throughput(workdir / f"{fsync}-{threads}", fsync, payload, threads, seconds)
            for threads in (1, 4)
        }
    for mode in ("strict", "standard"):
        logger = DecisionLogger(LogSettings(str(workdir / f"logger-{mode}"), mode=mode))
        n = 0
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            logger.record(review, facts, path="kubegate/admission")
            n += 1
        elapsed = time.monotonic() - started
        logger.close()
        out["logger"][mode] = {"records_per_s": round(n / elapsed, 1), "us_per_record": round(elapsed / n * 1e6, 1)}
    out.update(sizes)
    shutil.rmtree(workdir)
    return out


def _read(directory: Path, decision_id: str | None) -> list[dict[str, Any]]:
    from kubegate.audit.query import LogQuery

    return [r for r in LogQuery(str(directory)).records() if r["decision_id"] == decision_id]
