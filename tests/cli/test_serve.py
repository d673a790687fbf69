"""`kubegate serve` refuses bad configuration before listening, with exit 2 and a located error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def serve(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kubegate", "serve", "--insecure-http", "--port", "0", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_bad_deny_list_is_located(tmp_path: Path) -> None:
    deny = tmp_path / "deny.yaml"
    deny.write_text("apiVersion: kubegate.io/v1alpha1\nkind: DenyList\nrules:\n- name: r\n  images: evil/*\n")
    proc = serve("--deny-list", str(deny))
    assert proc.returncode == 2
    assert f"error: {deny}:1:1: deny_list_invalid: .rules[0].images: 'evil/*' is not of type 'array'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_bad_numbers_and_combinations(tmp_path: Path) -> None:
    proc = serve("--workers", "0")
    assert proc.returncode == 2 and "--workers" in proc.stderr and "Traceback" not in proc.stderr
    proc = serve("--max-evaluation-time", "0")
    assert proc.returncode == 2 and "--max-evaluation-time" in proc.stderr
    proc = serve("--tls-cert", str(tmp_path / "x.crt"))
    assert proc.returncode == 2 and "--insecure-http cannot be combined" in proc.stderr
