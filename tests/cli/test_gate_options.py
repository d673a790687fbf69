"""The options both gates share are declared once (kubegate.cli.gate_options) and mean
the same in `kubegate serve` and `kubegate grpc`."""

from __future__ import annotations

import dataclasses

import click
import pytest
from click.testing import CliRunner

from kubegate.cli.gate_options import GATE_OPTION_NAMES, gate_config, gate_options
from kubegate.cli.grpc_cmd import grpc_command
from kubegate.cli.serve import serve
from kubegate.webhook.server import ServeConfig


def _names(command: click.Command) -> set[str]:
    return {p.name for p in command.params if p.name is not None}


def test_the_declared_names_are_the_options_added() -> None:
    @click.command()
    @gate_options
    def probe(**gate: object) -> None:
        return None

    assert _names(probe) == GATE_OPTION_NAMES


@pytest.mark.parametrize("command", [serve, grpc_command], ids=["serve", "grpc"])
def test_both_gates_have_every_shared_option(command: click.Command) -> None:
    assert _names(command) >= GATE_OPTION_NAMES
    shared = {p.name: p for p in command.params if p.name in GATE_OPTION_NAMES}
    reference = {p.name: p for p in serve.params if p.name in GATE_OPTION_NAMES}
    assert {n: (p.opts, p.default) for n, p in shared.items()} == {n: (p.opts, p.default) for n, p in reference.items()}


def test_gate_config_gives_serve_config_fields_from_the_defaults() -> None:
    @click.command()
    @gate_options
    def probe(**gate: object) -> None:
        fields = gate_config(gate, record_path="kubegate/test")
        assert set(fields) <= {f.name for f in dataclasses.fields(ServeConfig)}
        config = ServeConfig(**fields)
        assert config.builtin and config.expansion and config.watch
        assert config.policies == ("p1", "p2") and config.etcd_prefix == "/kubegate/policies/"
        assert config.decision_log is not None and config.decision_log.path == "kubegate/test"
        assert config.decision_sinks == ("file:/dev/null",)
        print("checked")

    result = CliRunner().invoke(
        probe,
        ["-p", "p1", "-p", "p2", "--decision-log", "/tmp/kubegate-gate-log", "--decision-log-sink", "file:/dev/null"],
    )
    assert result.exit_code == 0, result.output
    assert result.output == "checked\n"


def test_decision_log_mode_off_drops_the_sinks() -> None:
    @click.command()
    @gate_options
    def probe(**gate: object) -> None:
        fields = gate_config(gate, record_path="kubegate/test")
        print(fields["decision_log"], fields["decision_sinks"])

    result = CliRunner().invoke(
        probe, ["--decision-log", "/tmp/x", "--decision-log-mode", "off", "--decision-log-sink", "file:/dev/null"]
    )
    assert result.exit_code == 0, result.output
    assert result.output == "None ()\n"


@pytest.mark.parametrize("command", [serve, grpc_command], ids=["serve", "grpc"])
def test_help_lists_the_shared_options(command: click.Command) -> None:
    result = CliRunner().invoke(command, ["--help"])
    assert result.exit_code == 0
    for option in ("--policies", "--etcd", "--decision-log-mode", "--backend", "--kubernetes-version"):
        assert option in result.output
