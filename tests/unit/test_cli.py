"""The `modelport` command's own decisions, in-process (modelport.cli); tests/e2e runs it for real."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelport import builtin, cli

EXAMPLES = str(Path(__file__).resolve().parents[2] / "examples")


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


def test_switches_are_derived_from_boolean_settings(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    served: list[cli.Settings] = []
    monkeypatch.setattr(cli, "serve_http", lambda registry, settings: served.append(settings) or 0)
    monkeypatch.delenv("MODELPORT_PLAYGROUND", raising=False)
    monkeypatch.setenv("MODELPORT_EMBEDDING_BATCHING", "false")
    assert cli.main(["serve", EXAMPLES, "--no-playground"]) == 0
    assert cli.main(["serve", EXAMPLES, "--playground", "--embedding-batching"]) == 0
    assert cli.main(["serve", EXAMPLES]) == 0
    # Unset, a switch leaves the environment's value in force.
    assert [(s.playground, s.embedding_batching) for s in served] == [(False, False), (True, True), (True, False)]
    with pytest.raises(SystemExit):
        cli.main(["serve", "--help"])
    assert "--no-playground" in capsys.readouterr().out
