"""Which chat model the settings choose (modelport.builtin.llama.models)."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelport.builtin.llama import DEFAULT_NAME, models
from modelport.builtin.llama.chat import LlamaChat
from modelport.config import Settings
from modelport.predictor import Task
from modelport.runtime import TargetError


def test_the_default_is_the_packaged_small_model(tmp_path: Path) -> None:
    [spec] = models(Settings(cache_dir=tmp_path))
    assert (spec.name, spec.task) == (DEFAULT_NAME, Task.CHAT)
    assert isinstance(spec.target, LlamaChat)
    # Nothing is joined or loaded until the server loads the model.
    assert list(tmp_path.iterdir()) == []


def test_a_local_gguf_file(tmp_path: Path) -> None:
    gguf = tmp_path / "my-model.gguf"
    gguf.write_bytes(b"GGUF")
    assert [s.name for s in models(Settings(chat_model=str(gguf)))] == ["my-model"]
    assert [s.name for s in models(Settings(chat_model=str(gguf), chat_model_name="mine"))] == ["mine"]


def test_a_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"qwen2\.5-coder-1\.5b-instruct"):
        models(Settings(chat_model=str(tmp_path / "absent.gguf")))


def test_the_large_model_without_its_extra_names_the_extra() -> None:
    with pytest.raises(TargetError, match=r"pip install 'modelport\[chat-large\]'"):
        models(Settings(chat_model="qwen2.5-coder-1.5b-instruct"))
