"""Long reliability runs of `kubegate serve`: the fuzz run and the soak (docs/reliability.md).

Usage (from the repository root)::

    .venv/bin/python benchmarks/reliability.py fuzz --requests 100000 [--clients 2] [--seed N]
    .venv/bin/python benchmarks/reliability.py soak --minutes 30 [--rate 100]

Both start a real `kubegate serve` on loopback (HTTPS, built-in library + the
webhook test policies, strict decision log) through the same helpers as the
test suite, and print one JSON report.

* ``fuzz`` sends seeded hostile AdmissionReviews (tests/webhook/fuzzing.py)
  with ``--failure-mode allow`` and checks every answer as the suite does:
  HTTP 200 with the uid or a 4xx JSON error, never a 500 or a dropped
  connection, and a decision record for every 200 (read from the log after
  the run; a denial because the log refused the record is the exception). It reports
  outcomes, rate and the server's RSS before and after.
* ``soak`` sends a steady paced mix (80 % well-formed requests with unique
  objects, so the decision cache fills to its bound; 20 % fuzz cases) for
  ``--minutes`` and samples the server's RSS every 10 s; growth is measured
  from the end of the warm-up (first 10 % of the run, at least 60 s) to the
  end. The decision log drops its oldest records at 128 MiB so the disk holds.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.webhook.conftest import OBJECTS, POLICIES, Webhook, admission_review, start_webhook
from tests.webhook.fuzzing import fuzz_cases

from kubegate.audit.wal import LogReader
from kubegate.webhook.certs import write_dev_certificates


def rss_mb(pid: int) -> float:
    """Resident set size of process ``pid`` in MB (from /proc/PID/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _server(workdir: Path, *args: str) -> Webhook:
    certs = write_dev_certificates(
        str(workdir / "certs"), "kubegate", "kubegate-system", extra_names=["localhost", "127.0.0.1"], days=2
    )
    return start_webhook(workdir, certs, "--policies", str(POLICIES / "main"), *args)


def fuzz(requests: int, clients: int, seed: int) -> dict[str, Any]:
    """The fuzz run; returns its report (``problems`` lists every finding)."""
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        hook = _server(
            workdir,
            "--failure-mode",
            "allow",
            "--decision-log",
            str(workdir / "wal"),
            "--decision-log-mode",
            "strict",
            "--decision-log-fsync",
            "never",
            "--decision-log-max-bytes",
            "8Gi",  # no sink: every record stays in the log, which is read after the run
        )
        try:
            rss_start = rss_mb(hook.process.pid)
            outcomes: Counter[str] = Counter()
            answered: set[str] = set()
            problems: list[str] = []
            lock = threading.Lock()
            per_client = requests // clients

            def run(index: int) -> None:
                try:
                    send(index)
                except Exception as exc:  # a client that dies is a finding, not a silent short run
                    with lock:
                        problems.append(f"client {index} stopped: {exc!r}")

            def send(index: int) -> None:
                with hook.client(timeout=60) as client:
                    for n, case in enumerate(fuzz_cases(seed + index, per_client)):
                        try:
                            reply = client.post(
                                "/validate", content=case.body, headers={"content-type": "application/json"}
                            )
                        except Exception as exc:
                            with lock:
                                problems.append(f"client {index} case {n} {case.mutations}: {exc!r}")
                            continue
                        with lock:
                            if reply.status_code == 200:
                                response = reply.json()["response"]
                                message = response.get("status", {}).get("message", "")
                                if "decision log" in message or "decision record" in message:
                                    outcomes["denied_log_refused"] += 1  # a denial without record, by design
                                else:
                                    outcomes["allowed" if response["allowed"] else "denied"] += 1
                                    answered.add(response["uid"])
                            elif reply.status_code in (400, 413):
                                outcomes[reply.json()["code"]] += 1
                            else:
                                problems.append(f"client {index} case {n} {case.mutations}: HTTP {reply.status_code}")

            start = time.perf_counter()
            threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            elapsed = time.perf_counter() - start
            rss_end = rss_mb(hook.process.pid)
            alive = hook.process.poll() is None
            hook.stop()  # SIGTERM: the log is synced and closed
            reader = LogReader(workdir / "wal")
            recorded = {json.loads(payload)["kubegate"]["uid"] for payload in reader.records()}
            missing = answered - recorded
            if missing:
                problems.append(f"{len(missing)} answers without a record, e.g. {sorted(missing)[:5]}")
            if reader.unreadable:
                problems.append(f"unreadable log parts: {reader.unreadable[:5]}")
            return {
                "requests": per_client * clients,
                "seconds": round(elapsed, 1),
                "rate": round(per_client * clients / elapsed, 1),
                "outcomes": dict(outcomes),
                "problems": problems[:50],
                "problem_count": len(problems),
                "server_alive": alive,
                "records": len(recorded),
                "rss_mb": {"start": round(rss_start, 1), "end": round(rss_end, 1)},
            }
        finally:
            hook.stop()


def soak(minutes: float, rate: float, fuzz_every: int = 5) -> dict[str, Any]:
    """The soak run (every ``fuzz_every``-th request a fuzz case; 0: none); returns its report."""
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        hook = _server(
            workdir,
            "--decision-log",
            str(workdir / "wal"),
            "--decision-log-mode",
            "strict",
            "--decision-log-max-bytes",
            "128Mi",
            "--decision-log-full-policy",
            "drop_oldest",
        )
        try:
            stop = time.monotonic() + minutes * 60
            samples: list[tuple[float, float]] = []
            outcomes: Counter[str] = Counter()
            fuzzed = fuzz_cases(7, 10**9)
            names = sorted(OBJECTS)
            start = time.monotonic()
            with hook.client(timeout=60) as client:
                n = 0
                next_sample = start
                while time.monotonic() < stop:
                    now = time.monotonic()
                    if now >= next_sample:
                        samples.append((round(now - start, 1), round(rss_mb(hook.process.pid), 1)))
                        next_sample += 10
                    n += 1
                    if fuzz_every and n % fuzz_every == 0:
                        body = next(fuzzed).body
                    else:
                        subject = copy.deepcopy(OBJECTS[names[n % len(names)]])
                        subject.setdefault("metadata", {})["name"] = f"soak-{n}"
                        body = json.dumps(admission_review(subject)).encode()
                    try:
                        reply = client.post("/validate", content=body, headers={"content-type": "application/json"})
                        outcomes[str(reply.status_code)] += 1
                    except Exception as exc:
                        outcomes[type(exc).__name__] += 1
                    delay = start + n / rate - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
            samples.append((round(time.monotonic() - start, 1), round(rss_mb(hook.process.pid), 1)))
            warm = max(60.0, minutes * 6)
            after = [rss for t, rss in samples if t >= warm]
            baseline = after[0] if after else samples[0][1]
            return {
                "minutes": minutes,
                "requests": n,
                "outcomes": dict(outcomes),
                "server_alive": hook.process.poll() is None,
                "rss_mb": {
                    "first": samples[0][1],
                    "after_warmup": baseline,
                    "max": max(r for _, r in samples),
                    "end": samples[-1][1],
                },
                "growth_after_warmup_pct": round((samples[-1][1] - baseline) / baseline * 100, 2),
                "samples": samples,
            }
        finally:
            hook.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    f = sub.add_parser("fuzz")
    f.add_argument("--requests", type=int, default=100_000)
    f.add_argument("--clients", type=int, default=2)
    f.add_argument("--seed", type=int, default=1)
    s = sub.add_parser("soak")
    s.add_argument("--minutes", type=float, default=30)
    s.add_argument("--rate", type=float, default=100)
    s.add_argument("--fuzz-every", type=int, default=5, help="every Nth request is a fuzz case (0: none)")
    args = parser.parse_args()
    if args.command == "fuzz":
        result = fuzz(args.requests, args.clients, args.seed)
    else:
        result = soak(args.minutes, args.rate, args.fuzz_every)
    print(json.dumps(result, indent=1))
    sys.exit(1 if result.get("problem_count") or not result["server_alive"] else 0)


if __name__ == "__main__":
    main()
