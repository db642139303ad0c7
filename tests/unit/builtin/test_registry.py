"""Choosing which built-in models to serve (modelport.builtin.builtin_specs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelport.builtin import builtin_specs
from modelport.config import Settings
from modelport.predictor import Task
from modelport.runtime import TargetError


def test_one_group(tmp_path: Path) -> None:
    specs = builtin_specs(Settings(builtins=["chat"], cache_dir=tmp_path))
    assert [(s.name, s.task) for s in specs] == [("qwen2.5-coder-0.5b-instruct", Task.CHAT)]


def test_the_multilingual_embedding_models(tmp_path: Path) -> None:
    specs = builtin_specs(Settings(builtins=["embeddings-use", "embeddings-e5"], cache_dir=tmp_path))
    assert [(s.name, s.task) for s in specs] == [
        ("universal-sentence-encoder-multilingual-3", Task.EMBEDDINGS),
        ("multilingual-e5-small", Task.EMBEDDINGS),
    ]


def test_all_by_default(tmp_path: Path) -> None:
    tasks = {s.task for s in builtin_specs(Settings(cache_dir=tmp_path))}
    assert tasks == {Task.CHAT, Task.EMBEDDINGS, Task.SPEECH, Task.TRANSCRIPTION}


def test_an_unknown_group_is_refused() -> None:
    with pytest.raises(
        TargetError,
        match="unknown built-in video; choose from chat, embeddings, embeddings-e5, embeddings-use, images, piper",
    ):
        builtin_specs(Settings(builtins=["video"]))


def test_no_image_model_by_default(tmp_path: Path) -> None:
    assert builtin_specs(Settings(builtins=["images"], cache_dir=tmp_path)) == []


@pytest.mark.parametrize(
    ("entry", "parsed"),
    [
        ("sd-turbo=/models/sd-turbo", ("sd-turbo", Path("/models/sd-turbo"))),
        ("/models/sd-turbo", (None, Path("/models/sd-turbo"))),
        ("/models/a=b", (None, Path("/models/a=b"))),
    ],
)
def test_image_model_entries(entry: str, parsed: tuple[str | None, Path]) -> None:
    from modelport.builtin.diffusion import parse_image_model

    assert parse_image_model(entry) == parsed
