"""Test models for voice chat: a chat that shows what it was given, one that hears audio itself, one that
calls a tool, and a transcriber that counts its calls."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Annotated, Any

import numpy as np
from openai.types.chat import ChatCompletionChunk
from openai.types.chat import chat_completion_chunk as chunk_types

from modelport import Message, Parameter, model

HEARS_RATE = 8_000

_calls_lock = threading.Lock()
_transcribed = 0


def transcriptions() -> int:
    """How many times `counting-transcriber` has run."""
    return _transcribed


def _text(content: Any) -> str:
    if isinstance(content, str) or content is None:
        return str(content)
    return " + ".join(part.get("text", part["type"]) for part in content)


@model("conversation")
def conversation(messages: list[Message]) -> Iterator[str]:
    """Says what it received: each message as `role: text`, a part list joined by ' + '. Two sentences."""
    yield "I was told. "
    yield " | ".join(f"{m['role']}: {_text(m.get('content'))}" for m in messages)
    yield "."


@model("hears-audio")
def hears_audio(messages: Annotated[list[Message], Parameter.Audio(sample_rate=HEARS_RATE)]) -> Iterator[str]:
    """Takes input audio itself: says how many samples each audio part had, at which rate."""
    for message in messages:
        for part in message.get("content") or ():
            if isinstance(part, dict) and part["type"] == "input_audio":
                audio: Any = part["input_audio"]
                samples = audio["samples"]
                assert isinstance(samples, np.ndarray)
                assert samples.dtype == np.float32
                yield f"{samples.shape[0]} samples at {audio['sample_rate']} Hz. "


@model("tool-caller")
def tool_caller(messages: list[Message]) -> Iterator[ChatCompletionChunk]:
    """Always calls `lookup` with the last message's text."""
    call = chunk_types.ChoiceDeltaToolCall(
        index=0,
        id="call_1",
        type="function",
        function=chunk_types.ChoiceDeltaToolCallFunction(name="lookup", arguments='{"q": "x"}'),
    )
    yield ChatCompletionChunk(
        id="",
        object="chat.completion.chunk",
        created=0,
        model="",
        choices=[chunk_types.Choice(index=0, delta=chunk_types.ChoiceDelta(tool_calls=[call]), finish_reason=None)],
    )


@model("counting-transcriber")
def counting_transcriber(audio: Annotated[np.ndarray, Parameter.Audio(sample_rate=16_000)]) -> str:
    """'heard <n> samples'; counts its calls."""
    global _transcribed
    with _calls_lock:
        _transcribed += 1
    return f"heard {audio.shape[0]} samples"
