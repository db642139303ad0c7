"""A deterministic chat model that calls tools and writes JSON, for the API-shape tests of tool calling.

`tool-chat`:
- after tool results (the last message is a tool message): says "The tools said: <results>".
- with tools offered (and tool_choice not "none"): calls the named tool, else every tool whose name the
  last user message mentions, else the first; string arguments are the user's last word.
- with a json_schema response_format: writes an object that fits the schema.
- otherwise: echoes the last user message.

Calls and JSON stream in several deltas, as a real model's do; the last chunk reports usage.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from openai.types import CompletionUsage
from openai.types.chat import ChatCompletionChunk
from openai.types.chat import chat_completion_chunk as chunk_types

from modelport import Message, model


def _chunk(delta: chunk_types.ChoiceDelta, finish_reason: Any = None) -> ChatCompletionChunk:
    return ChatCompletionChunk(
        id="",
        object="chat.completion.chunk",
        created=0,
        model="",
        choices=[chunk_types.Choice(index=0, delta=delta, finish_reason=finish_reason)],
    )


def _user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message["role"] == "user":
            content = message["content"]
            if isinstance(content, str):
                return content
            return " ".join(part.get("text", "") for part in content)
    return ""


def _value(schema: dict[str, Any], word: str) -> Any:
    kind = schema.get("type")
    if "enum" in schema:
        return schema["enum"][0]
    if kind == "integer":
        return 1
    if kind == "number":
        return 1.5
    if kind == "boolean":
        return True
    if kind == "array":
        return [_value(schema.get("items") or {"type": "string"}, word)]
    if kind == "object":
        return {name: _value(sub, word) for name, sub in (schema.get("properties") or {}).items()}
    return word


def _halves(text: str) -> list[str]:
    middle = len(text) // 2
    return [part for part in (text[:middle], text[middle:]) if part]


def _chosen(tools: list[dict[str, Any]], tool_choice: Any, text: str) -> list[dict[str, Any]]:
    functions = [tool["function"] for tool in tools]
    if isinstance(tool_choice, dict):
        name = tool_choice["function"]["name"]
        return [f for f in functions if f["name"] == name]
    mentioned = [f for f in functions if f["name"] in text]
    return mentioned or functions[:1]


@model("tool-chat")
def tool_chat(
    messages: list[Message],
    tools: list[dict[str, Any]] | None = None,
    tool_choice: str | dict[str, Any] | None = None,
    response_format: dict[str, Any] | None = None,
) -> Iterator[ChatCompletionChunk]:
    """Calls tools, writes JSON or echoes, deterministically (see the module's docstring)."""
    plain = [dict(m) for m in messages]
    text = _user_text(plain)
    word = (text.split() or [""])[-1].strip(".,?!")
    deltas = 0
    if plain and plain[-1]["role"] == "tool":
        results = [str(m["content"]) for m in plain[len(plain) - _trailing_tools(plain) :]]
        yield _chunk(chunk_types.ChoiceDelta(role="assistant", content="The tools said: " + "; ".join(results)))
        finish = "stop"
        deltas = 1
    elif tools and tool_choice != "none":
        for index, function in enumerate(_chosen(tools, tool_choice, text)):
            arguments = json.dumps(_value(function.get("parameters") or {"type": "object"}, word))
            call = chunk_types.ChoiceDeltaToolCall(
                index=index,
                id=f"call_{index}_{function['name']}",
                type="function",
                function=chunk_types.ChoiceDeltaToolCallFunction(name=function["name"], arguments=""),
            )
            yield _chunk(chunk_types.ChoiceDelta(tool_calls=[call]))
            for part in _halves(arguments):
                function_delta = chunk_types.ChoiceDeltaToolCallFunction(arguments=part)
                yield _chunk(
                    chunk_types.ChoiceDelta(
                        tool_calls=[chunk_types.ChoiceDeltaToolCall(index=index, function=function_delta)]
                    )
                )
                deltas += 1
        finish = "tool_calls"
    elif response_format and response_format.get("type") == "json_schema":
        document = json.dumps(_value(response_format["json_schema"]["schema"], word))
        for part in _halves(document):
            yield _chunk(chunk_types.ChoiceDelta(content=part))
            deltas += 1
        finish = "stop"
    else:
        for i, piece in enumerate(text.split()):
            yield _chunk(chunk_types.ChoiceDelta(content=piece if i == 0 else " " + piece))
            deltas += 1
        finish = "stop"
    yield _chunk(chunk_types.ChoiceDelta(), finish_reason=finish)
    prompt = sum(len(str(m.get("content") or "").split()) for m in plain)
    usage = CompletionUsage(prompt_tokens=prompt, completion_tokens=deltas, total_tokens=prompt + deltas)
    yield ChatCompletionChunk(id="", object="chat.completion.chunk", created=0, model="", choices=[], usage=usage)


def _trailing_tools(messages: list[dict[str, Any]]) -> int:
    count = 0
    for message in reversed(messages):
        if message["role"] != "tool":
            break
        count += 1
    return count
