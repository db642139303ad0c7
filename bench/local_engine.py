"""The chat engine loaded in the benchmark's own process, for benchmarks that drive llama.cpp step by step."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from modelport.builtin.llama import default_model_path
from modelport.builtin.llama.engine import LlamaEngine
from modelport.config import Settings


@contextmanager
def engine_on_this_thread() -> Iterator[LlamaEngine]:
    """The built-in chat model with the server's context (8 sequences of 4,096 tokens), loaded without its
    scheduler on the calling thread, which makes every decode (llama.cpp's threads are bound to the thread
    that loaded it); closed on exit."""
    engine = LlamaEngine(str(default_model_path(Settings().cache_dir)), n_parallel=8, n_ctx_per_sequence=4096)
    engine._thread = threading.current_thread()
    engine._load()
    try:
        yield engine
    finally:
        engine._close()
