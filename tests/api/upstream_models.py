"""Test models an upstream modelport serves next to `examples/`: they show what the upstream received."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any

import numpy as np
from openai.types import Completion, CompletionChoice, CompletionUsage

from modelport import Message, Parameter, model


@model("fields-chat")
def fields_chat(messages: list[Message], flavor: str = "plain", temperature: float | None = None) -> Iterator[str]:
    """Says the values of its parameters: `flavor` is a field OpenAI's API does not know."""
    yield f"flavor={flavor}"
    yield f" temperature={temperature}"


@model("reverse")
class Reverse:
    """Chat and the legacy completions: the last user message, or the prompt, reversed."""

    def __call__(self, messages: list[Message]) -> Iterator[str]:
        content = messages[-1].get("content")
        yield str(content)[::-1]

    async def complete(self, prompt: str | list[int], **sampling: Any) -> AsyncIterator[Completion]:
        text = str(prompt)[::-1]
        for piece in (text[: len(text) // 2], text[len(text) // 2 :]):
            choice = CompletionChoice.model_construct(index=0, text=piece, finish_reason=None, logprobs=None)
            yield Completion(id="", object="text_completion", created=0, model="", choices=[choice])
        last = CompletionChoice(index=0, text="", finish_reason="stop", logprobs=None)
        yield Completion(id="", object="text_completion", created=0, model="", choices=[last])
        usage = CompletionUsage(prompt_tokens=1, completion_tokens=2, total_tokens=3)
        yield Completion(id="", object="text_completion", created=0, model="", choices=[], usage=usage)


@model("fields-transcriber")
def fields_transcriber(audio: Annotated[np.ndarray, Parameter.Audio(sample_rate=16_000)], accent: str = "none") -> str:
    """Says the value of `accent`, a field OpenAI's API does not know."""
    return f"accent={accent}"
