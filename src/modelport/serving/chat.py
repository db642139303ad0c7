"""Chat completions: a predictor's chunks, normalised, streamed or assembled into one response."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from openai.types import CompletionUsage
from openai.types.chat import ChatCompletion, ChatCompletionChunk, ChatCompletionMessage
from openai.types.chat import chat_completion as completion_types
from openai.types.chat import chat_completion_chunk as chunk_types
from openai.types.chat.chat_completion_message_function_tool_call import (
    ChatCompletionMessageFunctionToolCall,
    Function,
)
from pydantic import BaseModel

from modelport.errors import PredictorError
from modelport.predictor import ChatSignature
from modelport.protocol.chat import ChatCompletionRequest
from modelport.runtime import Predictor
from modelport.serving.arguments import optional_arguments
from modelport.serving.forward import forward_events, forward_json, forwards, parsed
from modelport.serving.usage import estimate_tokens, message_text

# Request fields the server itself handles; never passed to a predictor.
_SERVER_FIELDS = {"model", "messages", "stream", "stream_options"}


def _arguments(predictor: Predictor, request: ChatCompletionRequest) -> dict[str, Any]:
    signature = predictor.spec.signature
    assert isinstance(signature, ChatSignature)
    values = request.model_dump(exclude_unset=True)
    # The two names for the output limit mean the same; a predictor may take either.
    limit = values.get("max_completion_tokens") or values.get("max_tokens")
    if limit is not None:
        values["max_tokens"] = values["max_completion_tokens"] = limit
    arguments = optional_arguments(predictor.spec, values, skip=_SERVER_FIELDS | {signature.messages})
    arguments[signature.messages] = request.message_params()
    return arguments


def _text_chunk(text: str) -> ChatCompletionChunk:
    return ChatCompletionChunk(
        id="",
        object="chat.completion.chunk",
        created=0,
        model="",
        choices=[chunk_types.Choice(index=0, delta=chunk_types.ChoiceDelta(content=text), finish_reason=None)],
    )


def _as_chunk(predictor: Predictor, item: Any, yields_text: bool) -> ChatCompletionChunk:
    if yields_text and isinstance(item, str):
        return _text_chunk(item)
    if isinstance(item, ChatCompletionChunk):
        return item.model_copy(deep=True)
    expected = "str" if yields_text else "ChatCompletionChunk"
    raise PredictorError(
        f"The model `{predictor.name}` broke its contract: a chat function yields {expected}, "
        f"not {type(item).__name__}.",
        code="invalid_predictor_output",
    )


@dataclass
class _Choices:
    """What the stream has shown of each choice so far."""

    started: set[int] = field(default_factory=set)
    finished: set[int] = field(default_factory=set)
    with_tool_calls: set[int] = field(default_factory=set)


async def chat_chunks(
    predictor: Predictor, request: ChatCompletionRequest, *, with_usage: bool
) -> AsyncIterator[ChatCompletionChunk]:
    """The response's chunks: one id, model and timestamp; a role on each choice's first delta; a
    finish reason on each choice; and, when `with_usage`, a last chunk with no choices and the usage.

    A predictor without an `n` parameter is run once per requested choice.
    """
    if forwards(predictor):
        async for chunk in _forwarded_chunks(predictor, request, with_usage=with_usage):
            yield chunk
        return
    signature = predictor.spec.signature
    assert isinstance(signature, ChatSignature)
    arguments = _arguments(predictor, request)
    runs = 1 if "n" in predictor.spec.optional_params() else request.choices
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())
    reported: CompletionUsage | None = None
    completion_text: list[str] = []

    def stamp(chunk: ChatCompletionChunk) -> ChatCompletionChunk:
        chunk.id, chunk.model, chunk.created, chunk.object = (
            completion_id,
            request.model,
            created,
            "chat.completion.chunk",
        )
        return chunk

    for run in range(runs):
        seen = _Choices()
        async for item in predictor.stream(**arguments):
            chunk = _as_chunk(predictor, item, signature.yields_text)
            if chunk.usage is not None:
                reported = _add_usage(reported, chunk.usage)
                chunk.usage = None
            if not chunk.choices:
                continue
            for choice in chunk.choices:
                if runs > 1:
                    choice.index = run
                _observe(choice, seen, completion_text)
            yield stamp(chunk)
        indexes = seen.started or {run if runs > 1 else 0}
        for index in sorted(indexes - seen.finished):
            reason = "tool_calls" if index in seen.with_tool_calls else "stop"
            started = index in seen.started
            delta = chunk_types.ChoiceDelta() if started else chunk_types.ChoiceDelta(role="assistant", content="")
            yield stamp(
                ChatCompletionChunk(
                    id="",
                    object="chat.completion.chunk",
                    created=0,
                    model="",
                    choices=[chunk_types.Choice(index=index, delta=delta, finish_reason=reason)],
                )
            )
    if with_usage:
        usage = reported or _estimate_usage(request, "".join(completion_text))
        yield stamp(
            ChatCompletionChunk(id="", object="chat.completion.chunk", created=0, model="", choices=[], usage=usage)
        )


def first_choice_events(
    chunk: ChatCompletionChunk,
    text: Callable[[str], list[BaseModel]],
    call: Callable[[int, str | None, str | None, str | None], list[BaseModel]],
) -> tuple[list[BaseModel], chunk_types.Choice | None]:
    """Another API's events for the first choice of a chat chunk: `text` of its content, then `call` of each
    tool-call delta (index, id, name, arguments); and that choice when the chunk finishes it."""
    events: list[BaseModel] = []
    finished = None
    for choice in chunk.choices:
        if choice.index != 0:
            continue
        if choice.delta.content:
            events += text(choice.delta.content)
        for delta in choice.delta.tool_calls or ():
            function = delta.function
            events += call(
                delta.index, delta.id, function.name if function else None, function.arguments if function else None
            )
        if choice.finish_reason is not None:
            finished = choice
    return events, finished


def forwarded_fields(request: ChatCompletionRequest) -> dict[str, Any]:
    """Every field the client sent, for a predictor that forwards the request."""
    return request.model_dump(exclude_unset=True)


async def _forwarded_chunks(
    predictor: Predictor, request: ChatCompletionRequest, *, with_usage: bool
) -> AsyncIterator[ChatCompletionChunk]:
    fields = {**forwarded_fields(request), "stream": True}
    options = dict(fields.get("stream_options") or {})
    if with_usage:
        options["include_usage"] = True
    else:
        options.pop("include_usage", None)
    if options:
        fields["stream_options"] = options
    else:
        fields.pop("stream_options", None)
    async for event in forward_events(predictor, "chat/completions", fields):
        yield parsed(predictor, "chat/completions", ChatCompletionChunk, event)


def _observe(choice: chunk_types.Choice, seen: _Choices, completion_text: list[str]) -> None:
    if choice.index not in seen.started:
        seen.started.add(choice.index)
        if choice.delta.role is None:
            choice.delta.role = "assistant"
    if choice.finish_reason is not None:
        seen.finished.add(choice.index)
    if choice.delta.content:
        completion_text.append(choice.delta.content)
    for call in choice.delta.tool_calls or ():
        seen.with_tool_calls.add(choice.index)
        if call.function:
            completion_text.append((call.function.name or "") + (call.function.arguments or ""))


def _add_usage(total: CompletionUsage | None, usage: CompletionUsage) -> CompletionUsage:
    if total is None:
        return usage
    return CompletionUsage(
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=total.completion_tokens + usage.completion_tokens,
        total_tokens=usage.prompt_tokens + total.completion_tokens + usage.completion_tokens,
        prompt_tokens_details=usage.prompt_tokens_details,
    )


def _estimate_usage(request: ChatCompletionRequest, completion: str) -> CompletionUsage:
    prompt = estimate_tokens(message_text(request.message_params()))
    output = estimate_tokens(completion)
    return CompletionUsage(prompt_tokens=prompt, completion_tokens=output, total_tokens=prompt + output)


@dataclass
class _ToolCall:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


@dataclass
class _Assembly:
    content: list[str] = field(default_factory=list)
    refusal: list[str] = field(default_factory=list)
    tool_calls: dict[int, _ToolCall] = field(default_factory=dict)
    finish_reason: Any = "stop"
    logprobs: list[Any] = field(default_factory=list)
    has_logprobs: bool = False

    def add(self, choice: chunk_types.Choice) -> None:
        delta = choice.delta
        if delta.content:
            self.content.append(delta.content)
        if delta.refusal:
            self.refusal.append(delta.refusal)
        for call in delta.tool_calls or ():
            state = self.tool_calls.setdefault(call.index, _ToolCall())
            state.id = call.id or state.id
            if call.function is not None:
                state.name = call.function.name or state.name
                if call.function.arguments:
                    state.arguments.append(call.function.arguments)
        if choice.logprobs is not None:
            self.has_logprobs = True
            self.logprobs.extend(choice.logprobs.content or ())
        if choice.finish_reason is not None:
            self.finish_reason = choice.finish_reason

    def choice(self, index: int) -> completion_types.Choice:
        tool_calls = [
            ChatCompletionMessageFunctionToolCall(
                id=call.id or f"call_{uuid.uuid4().hex[:24]}",
                type="function",
                function=Function(name=call.name, arguments="".join(call.arguments)),
            )
            for _, call in sorted(self.tool_calls.items())
        ]
        message = ChatCompletionMessage(
            role="assistant",
            content="".join(self.content) if self.content or not tool_calls else None,
            refusal="".join(self.refusal) or None,
            tool_calls=tool_calls or None,
        )
        logprobs = completion_types.ChoiceLogprobs(content=self.logprobs) if self.has_logprobs else None
        return completion_types.Choice(
            index=index, message=message, finish_reason=self.finish_reason, logprobs=logprobs
        )


async def complete_chat(predictor: Predictor, request: ChatCompletionRequest) -> ChatCompletion:
    """The non-streaming response, assembled from the same chunks a stream would send (or, from a
    predictor that forwards requests, the answer it relays)."""
    if forwards(predictor):
        fields = {**forwarded_fields(request), "stream": False}
        fields.pop("stream_options", None)
        answer = await forward_json(predictor, "chat/completions", fields)
        return parsed(predictor, "chat/completions", ChatCompletion, answer)
    choices: dict[int, _Assembly] = {}
    usage: CompletionUsage | None = None
    completion_id, created = "", 0
    async for chunk in chat_chunks(predictor, request, with_usage=True):
        completion_id, created = chunk.id, chunk.created
        usage = chunk.usage or usage
        for choice in chunk.choices:
            choices.setdefault(choice.index, _Assembly()).add(choice)
    return ChatCompletion(
        id=completion_id,
        object="chat.completion",
        created=created,
        model=request.model,
        choices=[assembly.choice(index) for index, assembly in sorted(choices.items())],
        usage=usage,
    )
