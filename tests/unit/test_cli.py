"""The `modelport` command's own decisions, in-process (modelport.cli); tests/e2e runs it for real."""

from __future__ import annotations

import pytest

from modelport import builtin, cli


def test_nothing_to_serve_without_targets_or_built_ins(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(builtin, "BUILTIN_MODULES", {})
    assert cli.main(["serve"]) == 2
    assert "modelport: error: nothing to serve" in capsys.readouterr().err


def test_a_missing_config_file_and_an_unknown_built_in_are_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["models", "--config", "/nonexistent.toml"]) == 2
    assert "config file not found" in capsys.readouterr().err
    assert cli.main(["serve", "--builtin", "video"]) == 2
    assert "unknown built-in video" in capsys.readouterr().err
