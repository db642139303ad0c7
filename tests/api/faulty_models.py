"""Test-only predictors: ones that break the contract on purpose, and probes the API tests observe.

The session server serves this module next to `examples/`. The probes record what happened in
thread-safe events keyed by the request's last user message, so tests that run one after another
never read each other's signals.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any, Literal

import numpy as np

from modelport import Message, Parameter, model

_lock = threading.Lock()
_closed: dict[str, threading.Event] = {}
_gates: dict[str, threading.Event] = {}


def _event(table: dict[str, threading.Event], key: str) -> threading.Event:
    with _lock:
        return table.setdefault(key, threading.Event())


def closed(key: str) -> threading.Event:
    """Set when the `slow-chat` or `slow-async-chat` generator serving the message `key` runs its `finally`."""
    return _event(_closed, key)


def gate(key: str) -> threading.Event:
    """Open it to let the `gated-chat` generator serving the message `key` go on."""
    return _event(_gates, key)


def _last_user_text(messages: list[Message]) -> str:
    for message in reversed(messages):
        if message["role"] == "user" and isinstance(message["content"], str):
            return message["content"]
    return ""


@model("crash-chat")
def crash_chat(messages: list[Message]) -> Iterator[str]:
    """Raises when called, before it returns an iterator."""
    raise RuntimeError("the weights are on fire")


@model("crash-gen-chat")
def crash_gen_chat(messages: list[Message]) -> Iterator[str]:
    """A generator that raises before its first delta."""
    if messages:
        raise RuntimeError("the weights are on fire")
    yield ""


@model("flaky-chat")
def flaky_chat(messages: list[Message]) -> Iterator[str]:
    """Yields two deltas, then raises."""
    yield "one"
    yield " two"
    raise RuntimeError("lost the thread")


@model("flaky-async-chat")
async def flaky_async_chat(messages: list[Message]) -> AsyncIterator[str]:
    """The async twin of `flaky-chat`."""
    yield "one"
    yield " two"
    raise RuntimeError("lost the thread")


@model("bad-chunk-chat")
def bad_chunk_chat(messages: list[Message]) -> Iterator[str]:
    """Yields an int where text deltas are due."""
    item: Any = 42
    yield item


@model("slow-chat")
def slow_chat(messages: list[Message]) -> Iterator[str]:
    """A delta every 50 ms for ten seconds; marks `closed(message)` when the generator is closed."""
    key = _last_user_text(messages)
    try:
        for i in range(200):
            yield "tick" if i == 0 else " tick"
            time.sleep(0.05)
    finally:
        closed(key).set()


@model("slow-async-chat")
async def slow_async_chat(messages: list[Message]) -> AsyncIterator[str]:
    """The async twin of `slow-chat`."""
    key = _last_user_text(messages)
    try:
        for i in range(200):
            yield "tick" if i == 0 else " tick"
            await asyncio.sleep(0.05)
    finally:
        closed(key).set()


@model("gated-chat")
def gated_chat(messages: list[Message]) -> Iterator[str]:
    """Yields "first", then blocks its worker thread until `gate(message)` opens, then yields " second"."""
    key = _last_user_text(messages)
    yield "first"
    gate(key).wait(timeout=10)
    yield " second"


@model("embed-float64")
def embed_float64(texts: list[str]) -> Annotated[np.ndarray, Parameter.Embedding()]:
    return np.ones((len(texts), 4), dtype=np.float64)


@model("embed-short")
def embed_short(texts: list[str]) -> Annotated[np.ndarray, Parameter.Embedding()]:
    """One vector too few."""
    return np.ones((len(texts) - 1, 4), dtype=np.float32)


@model("embed-nan")
def embed_nan(texts: list[str]) -> Annotated[np.ndarray, Parameter.Embedding()]:
    return np.full((len(texts), 4), np.nan, dtype=np.float32)


@model("embed-crash")
def embed_crash(texts: list[str]) -> Annotated[np.ndarray, Parameter.Embedding()]:
    raise ValueError("tokenizer missing")


@model("speak-int16")
def speak_int16(
    text: str, voice: Annotated[Literal["flat"], Parameter.AudioVoice()]
) -> Annotated[np.ndarray, Parameter.Audio(sample_rate=24_000)]:
    return np.zeros(2400, dtype=np.int16)


@model("transcribe-bytes")
def transcribe_bytes(audio: Annotated[np.ndarray, Parameter.Audio(sample_rate=16_000)]) -> str:
    return b"not text"  # type: ignore[return-value]


@model("transcribe-args")
def transcribe_args(
    audio: Annotated[np.ndarray, Parameter.Audio(sample_rate=16_000)],
    language: str | None = None,
    prompt: str | None = None,
) -> str:
    """Reports the language and prompt it was called with (a probe, not faulty)."""
    return f"language={language} prompt={prompt}"
