"""OpenAI messages to a prompt through the model's own chat template (from the GGUF metadata)."""

from __future__ import annotations

import json
from typing import Any

from llama_cpp.llama_chat_format import Jinja2ChatFormatter

from modelport.errors import InvalidRequestError


def _text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts = []
    for part in content:
        if part.get("type") == "text":
            parts.append(part["text"])
        elif part.get("type") == "refusal":
            parts.append(part["refusal"])
        else:
            raise InvalidRequestError(
                f"This model reads text only; a '{part.get('type')}' content part cannot be used.",
                param="messages",
                code="unsupported_content",
            )
    return "\n".join(parts)


def _arguments(raw: str) -> Any:
    # The template writes arguments with `tojson`: a JSON string would come out quoted twice.
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def template_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages as chat templates expect them: text content, parsed tool-call arguments, and the
    developer role (newer than these templates) as system."""
    result: list[dict[str, Any]] = []
    for message in messages:
        role = "system" if message["role"] == "developer" else message["role"]
        out: dict[str, Any] = {"role": role, "content": _text(message.get("content"))}
        if message.get("tool_calls"):
            out["tool_calls"] = [
                {
                    "id": call["id"],
                    "type": "function",
                    "function": {
                        "name": call["function"]["name"],
                        "arguments": _arguments(call["function"]["arguments"]),
                    },
                }
                for call in message["tool_calls"]
            ]
        if role == "tool":
            out["tool_call_id"] = message.get("tool_call_id")
        if message.get("name"):
            out["name"] = message["name"]
        result.append(out)
    return result


class ChatTemplate:
    """Renders a conversation, with tools when given, into the prompt the model was trained on."""

    def __init__(self, template: str, bos_token: str, eos_token: str) -> None:
        self._formatter = Jinja2ChatFormatter(template=template, eos_token=eos_token, bos_token=bos_token)

    def render(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> str:
        try:
            response = self._formatter(messages=template_messages(messages), tools=tools or None)  # type: ignore[arg-type]
        except InvalidRequestError:
            raise
        except Exception as exc:
            raise InvalidRequestError(f"The conversation cannot be formatted: {exc}", param="messages") from None
        return response.prompt
