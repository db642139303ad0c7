"""The Anthropic Messages API over the one chat path: a request becomes a chat request, the chat chunks
become Anthropic's stream events, and a non-streaming message is what the same events built."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, cast

from openai.types.chat import ChatCompletionChunk
from pydantic import BaseModel

from modelport.errors import InvalidRequestError
from modelport.protocol.anthropic import (
    ContentBlockDelta,
    ContentBlockStart,
    ContentBlockStop,
    CountTokensRequest,
    ImageBlock,
    InputMessage,
    Message,
    MessageDelta,
    MessageDeltaBody,
    MessagesRequest,
    MessageStart,
    MessageStop,
    Ping,
    StopReason,
    TextBlock,
    ToolChoice,
    ToolResultBlock,
    ToolUseBlock,
    Usage,
)
from modelport.protocol.chat import ChatCompletionRequest
from modelport.runtime import Predictor
from modelport.serving.chat import chat_chunks, first_choice_events
from modelport.serving.chat_request import build_chat_request
from modelport.serving.usage import estimate_tokens, message_text

# A chat model's hook that counts a conversation's prompt tokens exactly:
# `count_prompt_tokens(messages, tools, tool_choice) -> int`. Without it, tokens are estimated.
COUNT_HOOK = "count_prompt_tokens"


def _image_part(block: ImageBlock) -> dict[str, Any]:
    source = block.source
    if source.type == "url" and source.url:
        url = source.url
    elif source.type == "base64" and source.data:
        url = f"data:{source.media_type or 'image/png'};base64,{source.data}"
    else:
        raise InvalidRequestError("An image block needs a base64 source with data, or a url source.")
    return {"type": "image_url", "image_url": {"url": url}}


def _tool_result_text(block: ToolResultBlock) -> str:
    if block.content is None:
        return ""
    if isinstance(block.content, str):
        return block.content
    return "".join(part.text for part in block.content if isinstance(part, TextBlock))


def _messages(message: InputMessage) -> list[dict[str, Any]]:
    if isinstance(message.content, str):
        return [{"role": message.role, "content": message.content}]
    if message.role == "assistant":
        text = "".join(block.text for block in message.content if isinstance(block, TextBlock))
        calls = [
            {"id": b.id, "type": "function", "function": {"name": b.name, "arguments": json.dumps(b.input)}}
            for b in message.content
            if isinstance(b, ToolUseBlock)
        ]
        assistant: dict[str, Any] = {"role": "assistant", "content": text or (None if calls else "")}
        if calls:
            assistant["tool_calls"] = calls
        return [assistant]
    # Tool results answer the previous turn's calls, so they come before what the user adds.
    results = [
        {"role": "tool", "tool_call_id": b.tool_use_id, "content": _tool_result_text(b)}
        for b in message.content
        if isinstance(b, ToolResultBlock)
    ]
    parts = [
        {"type": "text", "text": b.text} if isinstance(b, TextBlock) else _image_part(b)
        for b in message.content
        if isinstance(b, TextBlock | ImageBlock)
    ]
    return results + ([{"role": "user", "content": parts}] if parts else [])


def _tools(request: CountTokensRequest) -> list[dict[str, Any]]:
    tools = []
    for i, tool in enumerate(request.tools or ()):
        if tool.type not in (None, "custom"):
            raise InvalidRequestError(
                f"tools.{i}: the server tool {tool.type!r} is not supported; this server runs client tools "
                "(name, description, input_schema) only."
            )
        function: dict[str, Any] = {"name": tool.name, "parameters": tool.input_schema or {"type": "object"}}
        if tool.description:
            function["description"] = tool.description
        tools.append({"type": "function", "function": function})
    return tools


def _tool_choice(choice: ToolChoice | None, values: dict[str, Any]) -> None:
    if choice is None:
        return
    if choice.type == "tool":
        if not choice.name:
            raise InvalidRequestError("tool_choice: a choice of type 'tool' needs the tool's name.")
        values["tool_choice"] = {"type": "function", "function": {"name": choice.name}}
    else:
        values["tool_choice"] = {"auto": "auto", "any": "required", "none": "none"}[choice.type]
    if choice.disable_parallel_tool_use:
        values["parallel_tool_calls"] = False


def chat_request_for(request: CountTokensRequest) -> ChatCompletionRequest:
    """The chat request that asks the chat path what `request` asks."""
    messages: list[dict[str, Any]] = []
    if request.system:
        system = request.system if isinstance(request.system, str) else "\n".join(b.text for b in request.system)
        messages.append({"role": "system", "content": system})
    for message in request.messages:
        messages.extend(_messages(message))
    values: dict[str, Any] = {"model": request.model, "messages": messages}
    tools = _tools(request)
    if tools:
        values["tools"] = tools
    _tool_choice(request.tool_choice, values)
    if isinstance(request, MessagesRequest):
        values["max_tokens"] = request.max_tokens
        for key in ("temperature", "top_p", "top_k"):
            if getattr(request, key) is not None:
                values[key] = getattr(request, key)
        if request.stop_sequences:
            values["stop"] = request.stop_sequences
        if request.metadata and isinstance(request.metadata.get("user_id"), str):
            values["user"] = request.metadata["user_id"]
    return build_chat_request(values)


async def count_tokens(predictor: Predictor, chat: ChatCompletionRequest) -> int:
    """The prompt tokens of `chat`: the model's own count when it has the hook, else an estimate."""
    if callable(predictor.attribute(COUNT_HOOK)):
        count = await predictor.call_method(COUNT_HOOK, chat.message_params(), chat.tools, chat.tool_choice)
        return int(count)
    return estimate_tokens(message_text(chat.message_params()))


def _stop_reason(finish_reason: str | None, matched: Any, stops: list[str]) -> tuple[StopReason, str | None]:
    if finish_reason == "length":
        return "max_tokens", None
    if finish_reason == "tool_calls":
        return "tool_use", None
    # A chat model that says which stop string ended the text (`stop_reason`, as vLLM's chunks do).
    if isinstance(matched, str) and matched in stops:
        return "stop_sequence", matched
    return "end_turn", None


class _Translation:
    """Chat chunks in, Anthropic events out; the content blocks are kept for the whole message."""

    def __init__(self, request: MessagesRequest, input_tokens: int) -> None:
        self.request = request
        self.id = f"msg_{uuid.uuid4().hex}"
        self.blocks: list[dict[str, Any]] = []
        self.arguments: dict[int, list[str]] = {}
        self.calls: dict[int, int] = {}
        self.open: int | None = None
        self.finish_reason: str | None = None
        self.matched: Any = None
        self.usage = Usage(input_tokens=input_tokens, output_tokens=0)

    def start(self) -> list[BaseModel]:
        message = Message(
            id=self.id,
            type="message",
            role="assistant",
            model=self.request.model,
            content=[],
            stop_reason=None,
            stop_sequence=None,
            usage=Usage(input_tokens=self.usage.input_tokens, output_tokens=0),
        )
        return [MessageStart(type="message_start", message=message), Ping(type="ping")]

    def _close(self) -> list[BaseModel]:
        index, self.open = self.open, None
        return [] if index is None else [ContentBlockStop(type="content_block_stop", index=index)]

    def _begin(self, block: dict[str, Any]) -> list[BaseModel]:
        events = self._close()
        self.blocks.append(block)
        self.open = len(self.blocks) - 1
        events.append(ContentBlockStart(type="content_block_start", index=self.open, content_block=dict(block)))
        return events

    def _text(self, text: str) -> list[BaseModel]:
        events: list[BaseModel] = []
        if self.open is None or self.blocks[self.open]["type"] != "text":
            events += self._begin({"type": "text", "text": ""})
        assert self.open is not None
        self.blocks[self.open]["text"] += text
        delta = {"type": "text_delta", "text": text}
        return [*events, ContentBlockDelta(type="content_block_delta", index=self.open, delta=delta)]

    def _call(self, index: int, call_id: str | None, name: str | None, arguments: str | None) -> list[BaseModel]:
        events: list[BaseModel] = []
        if index not in self.calls:
            block_id = call_id or f"toolu_{uuid.uuid4().hex[:24]}"
            events += self._begin({"type": "tool_use", "id": block_id, "name": name or "", "input": {}})
            assert self.open is not None
            self.calls[index] = self.open
            self.arguments[self.open] = []
        if arguments:
            block = self.calls[index]
            self.arguments[block].append(arguments)
            delta = {"type": "input_json_delta", "partial_json": arguments}
            events.append(ContentBlockDelta(type="content_block_delta", index=block, delta=delta))
        return events

    def chunk(self, chunk: ChatCompletionChunk) -> list[BaseModel]:
        if chunk.usage is not None:
            self.usage = Usage(input_tokens=chunk.usage.prompt_tokens, output_tokens=chunk.usage.completion_tokens)
        events, finished = first_choice_events(chunk, self._text, self._call)
        if finished is not None:
            self.finish_reason = finished.finish_reason
            self.matched = (finished.model_extra or {}).get("stop_reason")
        return events

    def stop(self) -> tuple[StopReason, str | None]:
        return _stop_reason(self.finish_reason, self.matched, self.request.stop_sequences or [])

    def finish(self) -> list[BaseModel]:
        reason, sequence = self.stop()
        delta = MessageDelta(
            type="message_delta", delta=MessageDeltaBody(stop_reason=reason, stop_sequence=sequence), usage=self.usage
        )
        return [*self._close(), delta, MessageStop(type="message_stop")]

    def message(self) -> Message:
        content = []
        for index, block in enumerate(self.blocks):
            if block["type"] == "tool_use":
                block = {**block, "input": _arguments("".join(self.arguments[index]))}
            content.append(block)
        reason, sequence = self.stop()
        return Message(
            id=self.id,
            type="message",
            role="assistant",
            model=self.request.model,
            content=content,
            stop_reason=reason,
            stop_sequence=sequence,
            usage=self.usage,
        )


def _arguments(text: str) -> dict[str, Any]:
    """A call's arguments as the object Anthropic's `input` is; text that is not a JSON object is kept."""
    try:
        value = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError:
        return {"arguments": text}
    return value if isinstance(value, dict) else {"value": value}


async def _translated(
    predictor: Predictor, request: MessagesRequest, chat: ChatCompletionRequest, translation: _Translation | None
) -> AsyncIterator[BaseModel]:
    chunks = cast(AsyncGenerator[ChatCompletionChunk, None], chat_chunks(predictor, chat, with_usage=True))
    try:
        # The model's first chunk comes before `message_start`, so an error in starting it is the request's.
        first = await anext(chunks, None)
        translation = translation or _Translation(request, await count_tokens(predictor, chat))
        for event in translation.start():
            yield event
        if first is not None:
            for event in translation.chunk(first):
                yield event
        async for chunk in chunks:
            for event in translation.chunk(chunk):
                yield event
        for event in translation.finish():
            yield event
    finally:
        await chunks.aclose()


def message_events(predictor: Predictor, request: MessagesRequest) -> AsyncIterator[BaseModel]:
    """The stream's events: `message_start`, `ping`, the content blocks, `message_delta`, `message_stop`."""
    return _translated(predictor, request, chat_request_for(request), None)


async def create_message(predictor: Predictor, request: MessagesRequest) -> Message:
    """The non-streaming message, built by the same events a stream sends."""
    chat = chat_request_for(request)
    translation = _Translation(request, 0)
    async for _ in _translated(predictor, request, chat, translation):
        pass
    return translation.message()
