"""The chat engine on the real model, without the server: where llama.cpp computes."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import llama_cpp
import pytest

from modelport.builtin.llama import default_model_path
from modelport.builtin.llama.chat import LlamaChat
from modelport.builtin.llama.engine import LlamaEngine
from modelport.builtin.llama.sampling import SamplingParams


@pytest.mark.anyio
async def test_every_decode_runs_on_the_scheduler_thread(cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # llama.cpp's OpenMP team belongs to the thread that computes; a second thread's team decodes about a
    # third slower beside the first one's spinning workers, so load, warm-up and decode share one thread.
    threads: set[str] = set()
    decode = llama_cpp.llama_decode

    def recording_decode(*args: Any) -> int:
        threads.add(threading.current_thread().name)
        return int(decode(*args))

    monkeypatch.setattr(llama_cpp, "llama_decode", recording_decode)
    engine = LlamaEngine(str(default_model_path(cache_dir)), n_parallel=2, n_ctx_per_sequence=256)
    engine.start()
    try:
        prompt = engine.tokenize("<|im_start|>user\nSay hello.<|im_end|>\n<|im_start|>assistant\n")
        events = [event async for event in engine.submit(prompt, SamplingParams(max_tokens=4)).events()]
    finally:
        engine.stop()
    assert events[-1].finish_reason in ("stop", "length")
    assert threads == {"llama-scheduler"}


@pytest.mark.anyio
async def test_a_dead_scheduler_fails_its_requests_refuses_new_ones_and_says_why(
    cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = default_model_path(cache_dir)
    engine = LlamaEngine(str(path), n_parallel=1, n_ctx_per_sequence=256)
    engine.start()
    chat = LlamaChat(lambda: path)
    chat.engine = engine
    try:
        prompt = engine.tokenize("<|im_start|>user\nSay hello.<|im_end|>\n<|im_start|>assistant\n")
        assert chat.health() is None

        def broken_take() -> Any:
            raise SystemError("a bug in the scheduler")

        # Outside a step, where nothing catches it: the thread itself ends.
        monkeypatch.setattr(engine, "_take", broken_take)
        generation = engine.submit(prompt, SamplingParams(max_tokens=4))
        with pytest.raises(RuntimeError, match="a bug in the scheduler"):
            await asyncio.wait_for(anext(generation.events()), timeout=30)
        assert "a bug in the scheduler" in (chat.health() or "")
        # Refused before anything reaches the model, which stays allocated until stop().
        with pytest.raises(RuntimeError, match="scheduler stopped"):
            engine.tokenize("Hello")
        with pytest.raises(RuntimeError, match="scheduler stopped"):
            engine.submit(prompt, SamplingParams(max_tokens=4))
    finally:
        engine.stop()
