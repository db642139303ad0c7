"""Test models that report what reached them, to prove the client sends what it is configured to send."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

import numpy as np

from modelport import Message, Parameter, model


@model("inspect")
async def inspect(
    messages: list[Message],
    temperature: float | None = None,
    max_tokens: int | None = None,
    response_format: dict[str, Any] | None = None,
    tools: list[dict[str, Any]] | None = None,
    tool_choice: str | dict[str, Any] | None = None,
    delay: float = 0.0,
) -> AsyncIterator[str]:
    """One chunk: the request's parameters as JSON, after `delay` seconds."""
    if delay:
        await asyncio.sleep(delay)
    yield json.dumps(
        {
            "messages": len(messages),
            "temperature": temperature,
            "max_tokens": max_tokens,
            "response_format": response_format,
            "tools": tools,
            "tool_choice": tool_choice,
        }
    )


@model("batch-size")
def batch_size(texts: list[str]) -> Annotated[np.ndarray, Parameter.Embedding()]:
    """Vectors [size of the request's batch, position in the batch]: they show how the client split its input."""
    return np.array([[len(texts), i] for i in range(len(texts))], dtype=np.float32)
