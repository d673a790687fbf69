"""uvicorn or granian? The same Starlette app, the same AdmissionReview, side by side.

Serves a minimal ASGI app (parse the AdmissionReview JSON, answer an allowed
AdmissionReview) with each server, one worker, over plain HTTP and over TLS,
and drives it with wrk (closed loop, 1 thread, 8 connections) for a fixed
time: throughput and latency percentiles of the HTTP layer alone, which is
what the choice is about (policy evaluation is the same under either).
Needs wrk (Debian) and granian (``pip install -e '.[bench]'``). Asserts nothing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.webhook_load import ECHO_APP, corpus_reviews, free_port
from kubegate.webhook.certs import write_dev_certificates

_POST = """
local f = io.open("{body}")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = f:read("*a")
f:close()
"""


def _wrk(url: str, script: Path, seconds: int) -> dict[str, Any]:
    out = subprocess.run(
        ["wrk", "-t1", "-c8", f"-d{seconds}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result: dict[str, Any] = {}
    for line in out.splitlines():
        parts = line.split()
        if line.startswith("Requests/sec:"):
            result["rps"] = round(float(parts[1]))
        elif line.strip().startswith(("50%", "99%")):
            value, unit = float(parts[1][:-2]), parts[1][-2:]
            result[f"p{parts[0].rstrip('%')}_ms"] = value / 1000 if unit == "us" else value
    return result


def run(seconds: int = 8) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian package wrk)")
    work = Path(tempfile.mkdtemp(prefix="kubegate-servers-"))
    (work / "echo_app.py").write_text(ECHO_APP)
    body = work / "body.json"
    body.write_text(next(r for r in corpus_reviews() if '"name": "bench-pod"' in r))
    script = work / "post.lua"
    script.write_text(_POST.format(body=body))
    certs = write_dev_certificates(str(work / "certs"), "x", "y", extra_names=["127.0.0.1"])
    bin_dir = Path(sys.executable).parent
    results: dict[str, Any] = {}
    for name in ("uvicorn", "granian"):
        for tls in (False, True):
            port = free_port()
            if name == "uvicorn":
                cmd = [
                    str(bin_dir / "uvicorn"),
                    "echo_app:app",
                    "--port",
                    str(port),
                    "--log-level",
                    "warning",
                    "--no-access-log",
                ]
                if tls:
                    cmd += ["--ssl-keyfile", str(certs.key), "--ssl-certfile", str(certs.cert)]
            else:
                cmd = [str(bin_dir / "granian"), "--interface", "asgi", "--port", str(port), "--workers", "1"]
                cmd += ["--log-level", "warning", "echo_app:app"]
                if tls:
                    cmd[1:1] = ["--ssl-keyfile", str(certs.key), "--ssl-certificate", str(certs.cert)]
            proc = subprocess.Popen(cmd, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                time.sleep(2)
                scheme = "https" if tls else "http"
                results[f"{name}_{scheme}"] = _wrk(f"{scheme}://127.0.0.1:{port}/validate", script, seconds)
            finally:
                proc.terminate()
                proc.wait(10)
    return results


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
