"""`modelport deploy` on the command line: its help, and configs refused before Ray starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelport.cli import main

from .conftest import EXAMPLES


def test_help_documents_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["deploy", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for option in ("--config", "--ray-address", "--host", "--port", "--deploy-timeout", "status", "shutdown"):
        assert option in text


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[models.nope]\nnum_replicas = 2\n", "configures models that are not deployed: nope"),
        ("[defaults]\nreplicas = 2\n", "replicas"),
        ("[models.echo]\nnum_replicas = 2\n[models.echo.autoscaling]\nmax_replicas = 3\n", "not both"),
    ],
)
def test_bad_config_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str], toml: str, message: str) -> None:
    config = tmp_path / "deploy.toml"
    config.write_text(toml)
    assert main(["deploy", str(EXAMPLES), "--config", str(config)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("modelport: error:")
    assert message in error
