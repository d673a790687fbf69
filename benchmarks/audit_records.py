"""Decision-record sizes, and where redaction runs (a thread or a dedicated process).

``sizes``: every corpus review (the 61 objects of ``benchmarks/corpus``, the corpus
policies: templates + constraints) is reviewed and recorded in strict and in
standard mode, once as an evaluation and once as its cache hit; the report
gives p50/p99/max of the bytes a record takes in the write-ahead log **before**
policy-set manifests (each evaluated policy with its version: the record as
``audit query`` gives it back, minus the ``bundles`` field that came with the
manifests) and **after** (as written), and the manifest records' size.

``worker``: where a strict record of a real review is redacted and serialised:
``inline`` (the thread that decided, as ``kubegate serve`` does on its event
loop), ``thread`` (one logger thread) or ``process`` (one dedicated child over a
pipe: the record pickled to it, the bytes back, appended by the parent). For
each: the CPU time a record costs the serving process (all its threads, not the
child's), nothing else running; and on this machine (2 cores) the evaluation
throughput of two evaluation threads (corpus reviews/s, as the webhook's pool
runs them) while records are submitted at ``rate``/s, as a ratio to no logging,
with the records' latency (submitted → appended) p50/p99 and the rate they were
actually logged at; and that latency with no evaluation running (``alone_*``).

A benchmark, not a test: it asserts nothing and never runs in CI.
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import json
import multiprocessing as mp
import pickle
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.webhook_load import CORPUS, corpus_reviews
from kubegate.audit.logger import DecisionLogger, LogSettings, _serialise
from kubegate.audit.manifest import is_manifest
from kubegate.audit.query import LogQuery
from kubegate.audit.record import DecisionFacts, build_record, facts_from_result
from kubegate.audit.redact import Redactor
from kubegate.audit.wal import LogReader, WriteAheadLog
from kubegate.engine.engine import Engine


def _stats(values: list[int]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50": ordered[len(ordered) // 2],
        "p99": ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))],
        "max": ordered[-1],
        "mean": round(statistics.fmean(ordered), 1),
    }


def _reviews_and_facts() -> list[tuple[dict[str, Any], DecisionFacts]]:
    engine = Engine([str(CORPUS / "templates"), str(CORPUS / "constraints")])
    try:
        out = []
        for line in corpus_reviews():
            review = json.loads(line)["request"]
            out.append((review, facts_from_result(engine.review(review))))
        return out
    finally:
        engine.close()


def sizes() -> dict[str, Any]:
    """Record bytes before and after policy-set manifests (see the module docstring)."""
    workdir = Path(tempfile.mkdtemp(prefix="kubegate-record-sizes-"))
    samples = _reviews_and_facts()
    out: dict[str, Any] = {"reviews": len(samples), "evaluated_policies_per_record": {}}
    out["evaluated_policies_per_record"] = _stats([len(f.policies) for _, f in samples])
    for mode in ("strict", "standard"):
        directory = workdir / mode
        logger = DecisionLogger(LogSettings(str(directory), mode=mode, fsync="never"))  # type: ignore[arg-type]
        for n, (review, facts) in enumerate(samples):
            key = f"key-{n}"
            logger.record(review, facts, path="kubegate/admission", reuse_key=key)
            hit = {**review, "uid": f"{review['uid']}-hit"}
            logger.record(hit, facts, path="kubegate/admission", cache_hit=True, reuse_key=key)
        logger.close()
        stored = [(json.loads(p), len(p)) for p in LogReader(directory).records()]
        manifests = [size for record, size in stored if is_manifest(record)]
        after = {r["decision_id"]: size for r, size in stored if not is_manifest(r)}
        before = {}
        for record in LogQuery(str(directory)).records():
            record.pop("bundles", None)
            before[record["decision_id"]] = len(_serialise(record))
        ids = list(after)
        out[mode] = {
            "before_bytes": _stats([before[i] for i in ids]),
            "after_bytes": _stats([after[i] for i in ids]),
            "saved_ratio_p50": round(
                1 - _stats([after[i] for i in ids])["p50"] / _stats([before[i] for i in ids])["p50"], 3
            ),
            "manifest_records": len(manifests),
            "manifest_bytes": manifests[0] if manifests else 0,
        }
    shutil.rmtree(workdir)
    return out


# ---- where redaction runs


def _child(conn: Any) -> None:
    """The dedicated logger process: pickled records in, redacted serialised records out."""
    redactor = Redactor()
    while True:
        data = conn.recv_bytes()
        if not data:
            return
        record = pickle.loads(data)
        counts = redactor.redact(record)
        record["redaction"] = {"count": sum(counts.values()), "rules": counts}
        conn.send_bytes(_serialise(record))


class _Pipeline:
    """Records in; redacted, serialised and appended to ``wal`` by one of three workers:
    ``inline`` (the submitting thread, as ``kubegate serve`` does on its event loop),
    ``thread`` (one logger thread) or ``process`` (a dedicated child over a pipe, the
    parent's reader thread appending what comes back)."""

    def __init__(self, variant: str, wal: WriteAheadLog, window: int = 64) -> None:
        self.variant = variant
        self.wal = wal
        self.redactor = Redactor()
        self.latencies: list[float] = []
        self._window = threading.Semaphore(window)
        self._size = window
        self._sent: collections.deque[float] = collections.deque()
        self._executor = cf.ThreadPoolExecutor(1) if variant == "thread" else None
        self._process: Any = None
        if variant == "process":
            self._conn, child = mp.Pipe()
            self._process = mp.get_context("spawn").Process(target=_child, args=(child,), daemon=True)
            self._process.start()
            self._reader = threading.Thread(target=self._read, daemon=True)
            self._reader.start()

    def _write(self, record: dict[str, Any], submitted: float) -> None:
        counts = self.redactor.redact(record)
        record["redaction"] = {"count": sum(counts.values()), "rules": counts}
        self.wal.append(_serialise(record))
        self.latencies.append(time.perf_counter() - submitted)
        self._window.release()

    def _read(self) -> None:
        while True:
            try:
                payload = self._conn.recv_bytes()
            except (EOFError, OSError):
                return
            self.wal.append(payload)
            self.latencies.append(time.perf_counter() - self._sent.popleft())
            self._window.release()

    def submit(self, record: dict[str, Any]) -> None:
        self._window.acquire()
        submitted = time.perf_counter()
        if self.variant == "inline":
            self._write(record, submitted)
        elif self._executor is not None:
            self._executor.submit(self._write, record, submitted)
        else:
            self._sent.append(submitted)
            self._conn.send_bytes(pickle.dumps(record, protocol=5))

    def close(self) -> None:
        for _ in range(self._size):  # everything submitted is appended
            self._window.acquire()
        if self._executor is not None:
            self._executor.shutdown()
        if self._process is not None:
            self._conn.send_bytes(b"")
            self._process.join(10)
            self._conn.close()


VARIANTS = ("inline", "thread", "process")


def _main_cpu(variant: str, workdir: Path, samples: list[tuple[dict[str, Any], DecisionFacts]], n: int = 3000) -> float:
    """CPU time of this process (all its threads; not a child's) per record, in µs, nothing
    else running: what logging takes from evaluation, which shares the GIL with it."""
    wal = WriteAheadLog(workdir / f"cpu-{variant}", fsync="interval", max_bytes=1 << 40)
    pipeline = _Pipeline(variant, wal)
    pipeline.submit(build_record(*samples[0], mode="strict", path="x", labels={}))  # warm
    started = time.process_time()
    for i in range(n):
        pipeline.submit(build_record(*samples[i % len(samples)], mode="strict", path="kubegate/admission", labels={}))
    pipeline.close()
    cpu = time.process_time() - started
    wal.close()
    return round(cpu / n * 1e6, 1)


def _evaluations(engine: Engine, reviews: list[dict[str, Any]], stop: threading.Event, count: list[int]) -> None:
    n = 0
    while not stop.is_set():
        engine.review(reviews[n % len(reviews)])
        n += 1
        count[0] += 1


def _under_load(
    variant: str,
    seconds: float,
    rate: int,
    workdir: Path,
    samples: list[tuple[dict[str, Any], DecisionFacts]],
    evaluators: int = 2,
) -> dict[str, Any]:
    """Reviews/s by ``evaluators`` evaluation threads while ``rate`` records/s are submitted
    to ``variant`` (``off``: none), and the records' latency (submitted → appended) and rate."""
    engine = Engine([str(CORPUS / "templates"), str(CORPUS / "constraints")])
    reviews = [r for r, _ in samples]
    for review in reviews:
        engine.review(review)
    wal = WriteAheadLog(workdir / variant, fsync="interval", max_bytes=1 << 40)
    pipeline = _Pipeline(variant, wal, window=1024) if variant != "off" else None
    stop = threading.Event()
    counts = [[0] for _ in range(evaluators)]
    workers = [threading.Thread(target=_evaluations, args=(engine, reviews, stop, c)) for c in counts]
    started = time.monotonic()
    for w in workers:
        w.start()
    n = 0
    while time.monotonic() - started < seconds:
        if pipeline is not None:
            review, facts = samples[n % len(samples)]
            pipeline.submit(build_record(review, facts, mode="strict", path="kubegate/admission", labels={}))
        n += 1
        time.sleep(max(0.0, started + n / rate - time.monotonic()))
    stop.set()
    for w in workers:
        w.join()
    elapsed = time.monotonic() - started
    row: dict[str, Any] = {"reviews_per_s": round(sum(c[0] for c in counts) / elapsed, 1)}
    if pipeline is not None:
        pipeline.close()
        ordered = sorted(pipeline.latencies)
        row["records_per_s"] = round(len(ordered) / elapsed, 1)
        row["record_p50_ms"] = round(ordered[len(ordered) // 2] * 1000, 3)
        row["record_p99_ms"] = round(ordered[int(0.99 * (len(ordered) - 1))] * 1000, 3)
    wal.close()
    engine.close()
    return row


def worker(seconds: float = 10.0, rate: int = 500, rounds: int = 3) -> dict[str, Any]:
    """Logger CPU per record and evaluation throughput, redaction inline, in a thread or in a
    dedicated process (see the module docstring); ``rounds`` interleaved rounds."""
    workdir = Path(tempfile.mkdtemp(prefix="kubegate-log-worker-"))
    samples = _reviews_and_facts()
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in ("off", *VARIANTS)}
    for n in range(rounds):
        for variant in runs:
            row = _under_load(variant, seconds, rate, workdir / str(n), samples)
            if variant != "off":
                row["main_cpu_us_per_record"] = _main_cpu(variant, workdir / str(n), samples)
                alone = _under_load(variant, seconds, rate, workdir / f"{n}-alone", samples, evaluators=0)
                row["alone_record_p50_ms"] = alone["record_p50_ms"]
                row["alone_record_p99_ms"] = alone["record_p99_ms"]
                row["alone_records_per_s"] = alone["records_per_s"]
            runs[variant].append(row)
    summary: dict[str, Any] = {}
    for variant, rows in runs.items():
        summary[variant] = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
    for variant in VARIANTS:
        summary[variant]["reviews_ratio_to_off"] = round(
            summary[variant]["reviews_per_s"] / summary["off"]["reviews_per_s"], 3
        )
    shutil.rmtree(workdir)
    return {"seconds": seconds, "rate": rate, "rounds": rounds, "runs": runs, "summary": summary}
