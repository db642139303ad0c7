"""Models found by path in the model folders, and the paths that must find nothing (runtime.model_dirs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelport.predictor import ModelSpec
from modelport.runtime import LoadPolicy
from modelport.runtime.model_dirs import ModelDirs


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    served = tmp_path / "served"
    (served / "team").mkdir(parents=True)
    (served / "team" / "chat.gguf").write_bytes(b"GGUF")
    other = tmp_path / "other"
    other.mkdir()
    (other / "second.gguf").write_bytes(b"GGUF")
    private = tmp_path / "private"
    private.mkdir()
    (private / "secret.gguf").write_bytes(b"GGUF")
    (served / "link.gguf").symlink_to(private / "secret.gguf")
    (served / "inner.gguf").symlink_to(served / "team" / "chat.gguf")
    return served, other


def finder(folders: tuple[Path, Path]) -> ModelDirs:
    def never(name: str, path: Path) -> tuple[ModelSpec, LoadPolicy] | None:
        return None

    return ModelDirs(list(folders), never)


@pytest.mark.parametrize(
    ("name", "found"),
    [
        ("team/chat.gguf", "served/team/chat.gguf"),
        ("second.gguf", "other/second.gguf"),
        ("inner.gguf", "served/team/chat.gguf"),
    ],
)
def test_names_inside_a_folder_are_found(folders: tuple[Path, Path], name: str, found: str) -> None:
    path = finder(folders).find(name)
    assert path is not None
    assert path == (folders[0].parent / found).resolve()


@pytest.mark.parametrize(
    "name",
    [
        "../private/secret.gguf",
        "team/../../private/secret.gguf",
        "team/../team/chat.gguf",
        "./team/chat.gguf",
        "team//chat.gguf",
        "link.gguf",
        "missing.gguf",
        "",
        "team\\chat.gguf",
        "team/chat.gguf\x00",
    ],
)
def test_escapes_and_odd_names_find_nothing(folders: tuple[Path, Path], name: str) -> None:
    assert finder(folders).find(name) is None


def test_an_absolute_path_finds_nothing_even_inside_a_folder(folders: tuple[Path, Path]) -> None:
    assert finder(folders).find(str(folders[0] / "team" / "chat.gguf")) is None


def test_a_loader_failure_is_logged_and_finds_nothing(folders: tuple[Path, Path]) -> None:
    def broken(name: str, path: Path) -> tuple[ModelSpec, LoadPolicy] | None:
        raise ImportError("the chat extra is not installed")

    assert ModelDirs(list(folders), broken)("team/chat.gguf") is None
