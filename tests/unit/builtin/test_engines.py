"""The engine table: models-file entries to specs, and local paths recognised from their files
(modelport.builtin.engines), and the registry the settings describe (modelport.catalog)."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelport.builtin.engines import ENGINES, build_model, engine_for_path
from modelport.catalog import build_registry
from modelport.config import ModelEntry, Settings, load_settings
from modelport.predictor import Task
from modelport.runtime import State, TargetError

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def test_the_engines() -> None:
    assert {
        "llama",
        "onnx-embeddings",
        "use-embeddings",
        "e5-embeddings",
        "whisper",
        "hibari",
        "piper",
        "python",
        "upstream",
    } <= set(ENGINES)


def test_an_unknown_engine_names_the_known_ones() -> None:
    with pytest.raises(TargetError, match=r"model 'x': unknown engine 'gpu'; the engines are .*llama"):
        build_model("x", ModelEntry(engine="gpu"), Settings())


def test_engine_settings_are_checked() -> None:
    with pytest.raises(TargetError, match=r"has no setting colour \(its settings: .*context"):
        build_model("x", ModelEntry.model_validate({"engine": "llama", "colour": "blue"}), Settings())
    with pytest.raises(TargetError, match="parallel must be a int"):
        build_model("x", ModelEntry.model_validate({"engine": "llama", "parallel": "4"}), Settings())


def test_llama_speculation_comes_from_the_entry_else_the_settings(tmp_path: Path) -> None:
    gguf = tmp_path / "coder.gguf"
    gguf.write_bytes(b"GGUF")

    def speculation(options: dict[str, object], settings: Settings) -> object:
        entry = ModelEntry.model_validate({"engine": "llama", "source": str(gguf), **options})
        model = build_model("x", entry, settings)
        return model.spec.target._options["speculation"]

    assert speculation({}, Settings()) is True
    assert speculation({}, Settings(chat_speculation=False)) is False
    assert speculation({"speculation": False}, Settings()) is False
    with pytest.raises(TargetError, match="speculation must be a bool"):
        speculation({"speculation": 1}, Settings())


def test_a_python_model_is_renamed_and_keeps_its_task() -> None:
    entry = ModelEntry(engine="python", source=f"{EXAMPLES / 'echo_chat.py'}", aliases=["parrot"])
    with pytest.raises(TargetError, match="holds 2 models"):
        build_model("mine", entry, Settings())
    entry = ModelEntry(engine="python", source=f"{EXAMPLES / 'hashing_embedder.py'}", aliases=["parrot"])
    model = build_model("mine", entry, Settings())
    assert model.spec.name == "mine"
    assert model.spec.aliases == ("parrot",)
    assert model.spec.task is Task.EMBEDDINGS


def test_an_upstream_entry_is_another_servers_model() -> None:
    options = {"engine": "upstream", "source": "http://127.0.0.1:9/v1/", "aliases": ["f"], "timeout": 5}
    model = build_model("far", ModelEntry.model_validate({**options, "model": "m", "task": "embeddings"}), Settings())
    assert model.remote
    assert model.spec.forwards
    assert model.spec.task is Task.EMBEDDINGS
    assert model.spec.names == ("far", "f")
    assert (model.spec.target.upstream_id, model.spec.target.client.config.timeout) == ("m", 5)
    assert model.spec.target.client.config.base_url == "http://127.0.0.1:9/v1"
    chat = build_model("far", ModelEntry.model_validate(options), Settings())
    assert (chat.spec.task, chat.spec.target.upstream_id) == (Task.CHAT, "far")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "needs a source, its API root URL"),
        ({"source": "gpu-box:8000/v1"}, "base_url must start with http"),
        ({"source": "http://h/v1", "colour": "blue"}, r"has no setting colour \(its settings: api_key_env, .*task"),
        ({"source": "http://h/v1", "task": "painting"}, "task must be one of chat, embeddings"),
        ({"source": "http://h/v1", "timeout": -1}, "timeout: Input should be greater than 0"),
        ({"source": "http://h/v1", "model": ""}, "model must be the upstream's model id"),
        ({"source": "http://h/v1", "api_key_env": "MODELPORT_TEST_UNSET_VARIABLE"}, "is not set"),
    ],
)
def test_an_upstream_entry_is_checked(options: dict[str, object], message: str) -> None:
    with pytest.raises(TargetError, match=rf"model 'far': .*{message}"):
        build_model("far", ModelEntry.model_validate({"engine": "upstream", **options}), Settings())


def test_local_paths_are_recognised_from_their_files(tmp_path: Path) -> None:
    (tmp_path / "a.gguf").write_bytes(b"GGUF")
    (tmp_path / "a.bin").write_bytes(b"")
    whisper = tmp_path / "whisper"
    whisper.mkdir()
    for name in ("model.bin", "config.json", "vocabulary.txt"):
        (whisper / name).write_bytes(b"")
    onnx = tmp_path / "st"
    (onnx / "onnx").mkdir(parents=True)
    for name in ("modules.json", "tokenizer.json", "onnx/model.onnx"):
        (onnx / name).write_bytes(b"")
    (tmp_path / "empty").mkdir()
    assert engine_for_path(tmp_path / "a.gguf") == "llama"
    assert engine_for_path(tmp_path / "a.bin") is None
    assert engine_for_path(whisper) == "whisper"
    assert engine_for_path(onnx) == "onnx-embeddings"
    assert engine_for_path(tmp_path / "empty") is None


def test_a_models_file_declares_models_with_their_lifecycle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    models = tmp_path / "models.toml"
    models.write_text(
        f"""
[models.hasher]
engine = "python"
source = "{EXAMPLES / "hashing_embedder.py"}"
aliases = ["text-embedding-3-small"]
load = "start"
pinned = true

[models.tones2]
engine = "python"
source = "{EXAMPLES / "tone_speech.py"}"
idle_timeout = 30
"""
    )
    settings = load_settings(models_file=str(models), idle_timeout=5.0)
    assert set(settings.models) == {"hasher", "tones2"}
    registry = build_registry(settings)
    # Declared models only: no built-in joins them unless asked for.
    assert registry.names() == ["hasher", "text-embedding-3-small", "tones2"]
    hasher, tones = registry.model("hasher"), registry.model("tones2")
    assert hasher.policy.at_start
    assert hasher.policy.pinned
    assert not tones.policy.at_start
    assert tones.policy.idle_timeout == 30
    assert hasher.policy.idle_timeout == 5.0
    assert hasher.state is State.LOADED


def test_a_models_file_with_other_tables_is_refused(tmp_path: Path) -> None:
    models = tmp_path / "models.toml"
    models.write_text("port = 1\n")
    with pytest.raises(ValueError, match=r"only \[models.NAME\] tables"):
        load_settings(models_file=str(models))


def test_models_in_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "modelport.toml"
    config.write_text(
        f'max_memory = "2GiB"\n[models.h]\nengine = "python"\nsource = "{EXAMPLES / "hashing_embedder.py"}"\n'
    )
    settings = load_settings(config)
    assert settings.max_memory_bytes == 2 * 1024**3
    assert settings.models["h"].engine == "python"
    assert build_registry(settings).max_memory == 2 * 1024**3


def test_a_bad_memory_budget_is_refused() -> None:
    with pytest.raises(ValueError, match="not a size"):
        Settings(max_memory="lots")
