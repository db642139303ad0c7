"""`modelport models --models-file`: declared models listed, bad declarations refused with a message."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelport import cli

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_declared_models_are_listed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    models = tmp_path / "models.toml"
    models.write_text(f'[models.hasher]\nengine = "python"\nsource = "{EXAMPLES / "hashing_embedder.py"}"\n')
    assert cli.main(["models", "--models-file", str(models)]) == 0
    assert capsys.readouterr().out.startswith("hasher\tembeddings\t")


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('engine = "gpu"', "unknown engine 'gpu'"),
        ('engine = "llama"\nsource = "nowhere.gguf"', "neither a GGUF file nor a packaged model"),
        ('engine = "python"\nload = "later"', "load"),
    ],
)
def test_a_bad_declaration_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], table: str, message: str
) -> None:
    models = tmp_path / "models.toml"
    models.write_text(f"[models.x]\n{table}\n")
    assert cli.main(["models", "--models-file", str(models)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("modelport: error: ")
    assert message in err
    assert "Traceback" not in err
