"""The cached mix with and without refresh-ahead, side by side in one run.

The same ``kubegate serve`` set-up as ``benchmarks/webhook_load.py`` (HTTPS on
loopback, the corpus policies, wrk paced at a fixed rate), the ``cached``
scenario (the corpus mix of 61 objects, the default 10 s TTL, so entries come
to the end of their life during a run): ``refresh`` is the default
(refresh-ahead in the last 20 % of the TTL, TTLs jittered ±10 %), ``expire``
turns both off (``--cache-refresh-window 0 --cache-ttl-jitter 0``: entries
expire together and are evaluated again on the request path). Rounds are
interleaved so the machine's drift hits both alike.

A benchmark, not a test. Usage: ``python -m benchmarks.cache_refresh [RATE] [SECONDS] [ROUNDS]``.
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.review_latency import CORPUS
from benchmarks.webhook_load import _LUA, Server, corpus_reviews, scenario

VARIANTS = {
    "refresh": ["--log-level", "info"],
    "expire": ["--log-level", "info", "--cache-refresh-window", "0", "--cache-ttl-jitter", "0"],
}


def run(rate: int = 500, seconds: int = 25, rounds: int = 3) -> dict[str, Any]:
    """p50/p99 of each variant per round, and the medians."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian package wrk)")
    workdir = Path(tempfile.mkdtemp(prefix="kubegate-refresh-"))
    script = workdir / "paced.lua"
    script.write_text(_LUA)
    mix = workdir / "mix.jsonl"
    mix.write_text("\n".join(corpus_reviews()) + "\n")
    policies = [str(CORPUS / "templates"), str(CORPUS / "constraints")]
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in VARIANTS}
    for _ in range(rounds):
        for name, extra in VARIANTS.items():
            server = Server(workdir, policies, extra)
            try:
                scenario(server, mix, script, [50], 3)  # fill the cache once
                [row] = scenario(server, mix, script, [rate], seconds)
                rows[name].append(row)
            finally:
                server.stop()
    summary = {
        name: {
            "p50_ms": statistics.median(r["p50_ms"] for r in runs),
            "p99_ms": statistics.median(r["p99_ms"] for r in runs),
            "max_ms": max(r["max_ms"] for r in runs),
            "hits": sum(r.get("hits", 0) for r in runs),
            "requests": sum(r["requests"] for r in runs),
        }
        for name, runs in rows.items()
    }
    return {"rate": rate, "seconds": seconds, "rounds": rounds, "runs": rows, "summary": summary}


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    print(json.dumps(run(*args), indent=1))
