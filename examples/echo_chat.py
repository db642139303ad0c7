"""Chat models that echo the conversation's last user message back.

    modelport serve examples/echo_chat.py

`echo` is a plain generator that yields ChatCompletionChunk objects, so it can set its own finish reason
and usage; `shout` is an async generator that yields text deltas and lets the server build the chunks.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Annotated

from openai.types import CompletionUsage
from openai.types.chat.chat_completion_chunk import Choice, ChoiceDelta

from modelport import ChatCompletionChunk, Message, Parameter, model


def last_user_text(messages: list[Message]) -> str:
    """The text of the last user message; text parts of a multi-part message are joined by spaces."""
    for message in reversed(messages):
        if message["role"] != "user":
            continue
        content = message["content"]
        if isinstance(content, str):
            return content
        return " ".join(part["text"] for part in content if part["type"] == "text")
    return ""


def chunk(content: str | None = None, finish_reason: str | None = None) -> ChatCompletionChunk:
    # The server fills in the id, model and timestamp of every chunk.
    return ChatCompletionChunk(
        id="",
        object="chat.completion.chunk",
        created=0,
        model="",
        choices=[Choice(index=0, delta=ChoiceDelta(content=content), finish_reason=finish_reason)],
    )


@model("echo", aliases=["echo-1"])
def echo(
    messages: list[Message],
    max_tokens: Annotated[int | None, Parameter.Generic(description="stop after this many words")] = None,
    seed: int | None = None,
) -> Iterator[ChatCompletionChunk]:
    """Repeats the last user message, one word per chunk."""
    words = last_user_text(messages).split()
    limit = len(words) if max_tokens is None else min(max_tokens, len(words))
    for i, word in enumerate(words[:limit]):
        yield chunk(word if i == 0 else " " + word)
    yield chunk(finish_reason="length" if limit < len(words) else "stop")
    prompt_words = sum(len(last_user_text([m]).split()) for m in messages)
    yield ChatCompletionChunk(
        id="",
        object="chat.completion.chunk",
        created=0,
        model="",
        choices=[],
        usage=CompletionUsage(prompt_tokens=prompt_words, completion_tokens=limit, total_tokens=prompt_words + limit),
    )


@model("shout")
async def shout(messages: list[Message], delay: float = 0.0) -> AsyncIterator[str]:
    """Repeats the last user message in capitals, one word per delta, `delay` seconds apart."""
    for i, word in enumerate(last_user_text(messages).upper().split()):
        if delay:
            await asyncio.sleep(delay)
        yield word if i == 0 else " " + word
