"""`kubegate serve` refuses bad configuration before listening, with exit 2 and a located error."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import kubegate.webhook.server
from kubegate.cli.main import cli
from kubegate.errors import UsageError
from kubegate.lifecycle.builder import PolicySetBuilder
from kubegate.webhook.server import ServeConfig, parse_address
from kubegate.webhook.transport import TransportLimits
from tests.cli.conftest import BACKEND_NAMES, REQUIRE_OWNER


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


def test_bad_transport_and_tls_options_are_refused_before_listening() -> None:
    cases = [
        (("--header-timeout", "0"), "--header-timeout"),
        (("--max-connections", "0"), "--max-connections"),
        (("--tls-min-version", "1.1"), "--tls-min-version"),
        (("--tls-ciphers", "NO-SUCH-SUITE"), "no TLS 1.2 cipher suite matches 'NO-SUCH-SUITE'"),
        (("--port", "8443", "--health-addr", ":8443"), "--health-addr :8443 is the admission port"),
    ]
    for args, message in cases:
        proc = serve(*args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert message in proc.stderr, (args, proc.stderr)
        assert "Traceback" not in proc.stderr


def test_serve_config_checks_limits_and_addresses() -> None:
    bad = [
        (ServeConfig(insecure_http=True, limits=TransportLimits(idle_timeout_s=0)), "--idle-timeout"),
        (ServeConfig(insecure_http=True, limits=TransportLimits(max_header_bytes=100)), "--max-header-bytes"),
        (ServeConfig(insecure_http=True, health_addr="9090"), "--health-addr '9090': expected HOST:PORT or :PORT"),
        (ServeConfig(insecure_http=True, health_addr="127.0.0.1:70000"), "expected HOST:PORT or :PORT"),
        (ServeConfig(insecure_http=True, host="127.0.0.1", health_addr="0.0.0.0:8443"), "is the admission port"),
    ]
    for config, message in bad:
        with pytest.raises(UsageError, match=re.escape(message)):
            config.check()
    ServeConfig(insecure_http=True, host="127.0.0.1", health_addr="127.0.0.2:8443").check()
    assert parse_address(":9090") == ("0.0.0.0", 9090)
    assert parse_address("127.0.0.1:9090") == ("127.0.0.1", 9090)
    assert parse_address("[::1]:9090") == ("::1", 9090)


class _BuilderMade(Exception):
    """Stops build_server once the policy set builder is made (nothing listens)."""


@pytest.mark.parametrize("backend", BACKEND_NAMES)
def test_backend_option_reaches_the_policy_set_builder(
    backend: str, monkeypatch: pytest.MonkeyPatch, built_backends: list[str]
) -> None:
    built: list[str] = []

    def builder(*args: Any, **kwargs: Any) -> PolicySetBuilder:
        made = PolicySetBuilder(*args, **kwargs)
        result = made.build({"owner.rego": REQUIRE_OWNER})
        assert not result.errors, result.errors
        built.append(result.prepared.backend.name)
        raise _BuilderMade

    monkeypatch.setattr(kubegate.webhook.server, "PolicySetBuilder", builder)
    monkeypatch.setattr(kubegate.webhook.server, "configure_logging", lambda level: None)
    args = ["serve", "--insecure-http", "--port", "0", "--no-builtin", "--backend", backend]
    result = CliRunner().invoke(cli, args)
    assert isinstance(result.exception, _BuilderMade), result.output
    assert built_backends == [backend] and built == [backend]


def test_unknown_backend_is_a_usage_error() -> None:
    proc = serve("--backend", "opa")
    assert proc.returncode == 2
    assert "Invalid value for '--backend': 'opa' is not one of 'compiled', 'regopy'" in proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    with pytest.raises(UsageError, match=r"--backend 'opa': choose from compiled, regopy") as info:
        ServeConfig(insecure_http=True, backend="opa").check()
    assert info.value.code == "unknown_backend"
    for name in BACKEND_NAMES:
        ServeConfig(insecure_http=True, backend=name).check()
