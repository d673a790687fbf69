"""The command entry point: version, usage errors, no tracebacks."""

from __future__ import annotations

import pytest

from kubegate.cli import main as main_module


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main_module.main(["--version"])
    assert info.value.code == 0
    assert "kubegate" in capsys.readouterr().out


def test_usage_error_exits_two(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main_module.main(["check"])
    assert info.value.code == 2
    assert "Missing argument" in capsys.readouterr().err


def test_internal_errors_are_reported_without_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(main_module.cli, "main", explode)
    monkeypatch.delenv("KUBEGATE_DEBUG", raising=False)
    with pytest.raises(SystemExit) as info:
        main_module.main(["check", "x"])
    assert info.value.code == 3
    err = capsys.readouterr().err
    assert "internal_error: RuntimeError: boom" in err and "Traceback" not in err
