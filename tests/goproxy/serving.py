"""``kubegate goproxy serve`` as a real process on loopback, for the tests that need one
(several workers, exported spans)."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.conftest import free_port

_CODE = "import sys; from kubegate.cli.goproxy_cmd import goproxy; sys.exit(goproxy(sys.argv[1:]))"


@dataclass
class Served:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def children(self) -> list[int]:
        """Pids of the serving processes' children (workers and multiprocessing's resource tracker)."""
        text = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text()
        return [int(pid) for pid in text.split()]

    def workers(self) -> list[int]:
        return [pid for pid in self.children() if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]


@contextlib.contextmanager
def serve(tmp: Path, *args: str, timeout_s: float = 60) -> Iterator[Served]:
    """Runs ``kubegate goproxy serve --addr 127.0.0.1:<free> ARGS`` until ``/healthz`` answers;
    stops it with SIGTERM on leaving (which flushes spans and decision logs)."""
    port = free_port()
    log_path = tmp / f"serve-{port}.log"
    command = [sys.executable, "-c", _CODE, "serve", "--addr", f"127.0.0.1:{port}", *args]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        with requests.Session() as session:
            while True:
                try:
                    session.get(f"{url}/healthz", timeout=2)
                    break
                except requests.RequestException:
                    assert process.poll() is None, log_path.read_text()
                    assert time.monotonic() < deadline, log_path.read_text()
                    time.sleep(0.1)
        yield Served(url, process, log_path)
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
