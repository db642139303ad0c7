"""Token counts for usage reports when a predictor does not report its own."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

# OpenAI's rule of thumb for English text: a token is about four characters.
CHARS_PER_TOKEN = 4


def estimate_tokens(text: str) -> int:
    """An estimate of the token count of `text` for models that have no tokenizer of their own."""
    return math.ceil(len(text) / CHARS_PER_TOKEN) if text else 0


def message_text(messages: Iterable[dict[str, Any]]) -> str:
    """All the text in a conversation, for estimating its prompt tokens."""
    parts: list[str] = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(p.get("text", "") for p in content if isinstance(p, dict))
        for call in message.get("tool_calls") or ():
            function = call.get("function", {})
            parts.append(function.get("name", "") + function.get("arguments", ""))
    return "\n".join(parts)
