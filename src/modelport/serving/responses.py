"""The Responses API over the one chat path: a request becomes a chat request, the chat chunks become
Responses events (each with its `sequence_number`), and the last event's response is stored.

A non-streaming response is the `response` of the same events' last one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from typing import Any, cast

from openai.types.chat import ChatCompletionChunk
from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseContentPartAddedEvent,
    ResponseContentPartDoneEvent,
    ResponseCreatedEvent,
    ResponseFailedEvent,
    ResponseFunctionCallArgumentsDeltaEvent,
    ResponseFunctionCallArgumentsDoneEvent,
    ResponseIncompleteEvent,
    ResponseInProgressEvent,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseTextDeltaEvent,
    ResponseTextDoneEvent,
)
from pydantic import BaseModel

from modelport.errors import ModelportError, NotFoundError, PredictorError
from modelport.protocol.chat import ChatCompletionRequest
from modelport.protocol.responses import ResponsesRequest
from modelport.runtime import Predictor
from modelport.serving.chat import chat_chunks, first_choice_events
from modelport.serving.response_input import (
    chat_messages,
    chat_request_for,
    function_tools,
    input_items,
    new_id,
    output_messages,
    stored_items,
)
from modelport.serving.response_store import ResponseStore, StoredResponse

logger = logging.getLogger(__name__)

_DELTAS = (ResponseTextDeltaEvent, ResponseFunctionCallArgumentsDeltaEvent)

# Why a choice ended (chat's finish reason) -> why the response is incomplete.
_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


@dataclass
class Turn:
    """One Responses request, translated: the chat request, and what storing the response needs."""

    request: ResponsesRequest
    chat: ChatCompletionRequest
    input_items: list[dict[str, Any]]
    conversation: list[dict[str, Any]]
    id: str = field(default_factory=lambda: new_id("resp"))
    created_at: float = field(default_factory=time.time)


async def prepare_turn(request: ResponsesRequest, store: ResponseStore) -> Turn:
    """Translate `request`, continuing `previous_response_id` when it names a stored response."""
    history: list[dict[str, Any]] = []
    if request.previous_response_id:
        previous = await store.get(request.previous_response_id)
        if previous is None:
            raise NotFoundError(
                f"Previous response with id '{request.previous_response_id}' not found.",
                param="previous_response_id",
                code="previous_response_not_found",
            )
        history = previous.conversation
    items = input_items(request)
    messages = chat_messages(items)
    chat = chat_request_for(request, history, messages)
    return Turn(request, chat, stored_items(items), [*history, *messages])


def _message_item(item_id: str, text: str | None, status: str) -> dict[str, Any]:
    """A message item; `text` None is one whose content part is not added yet."""
    content = [] if text is None else [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]
    return {"id": item_id, "type": "message", "role": "assistant", "status": status, "content": content}


@dataclass
class _Item:
    """An output item being streamed: a message's text or a function call's arguments."""

    index: int
    id: str
    kind: str
    call_id: str = ""
    name: str = ""
    parts: list[str] = field(default_factory=list)
    has_part: bool = False

    def as_dict(self, status: str) -> dict[str, Any]:
        if self.kind == "message":
            return _message_item(self.id, "".join(self.parts) if self.has_part else None, status)
        return {
            "id": self.id,
            "type": "function_call",
            "call_id": self.call_id,
            "name": self.name,
            "arguments": "".join(self.parts),
            "status": status,
        }


class _Translation:
    """Chat chunks in, Responses events out, numbered in order."""

    def __init__(self, turn: Turn) -> None:
        self.turn = turn
        self.sequence = 0
        self.output: list[dict[str, Any]] = []
        self.open: _Item | None = None
        self.calls: dict[int, _Item] = {}
        self.finish_reason: str | None = None
        self.usage: dict[str, Any] | None = None

    def event(self, kind: type[BaseModel], **fields: Any) -> BaseModel:
        fields["sequence_number"] = self.sequence
        self.sequence += 1
        if kind in _DELTAS:
            # One per token, holding only strings and numbers made here: built without validation.
            return kind.model_construct(**fields)
        return kind.model_validate(fields)

    def response(self, status: str, **extra: Any) -> dict[str, Any]:
        request = self.turn.request
        text = request.text if request.text and request.text.get("format") else {"format": {"type": "text"}}
        tools = [{"strict": None, "description": None, **tool} for tool in function_tools(request.tools)]
        body: dict[str, Any] = {
            "id": self.turn.id,
            "object": "response",
            "created_at": self.turn.created_at,
            "status": status,
            "model": request.model,
            "output": list(self.output),
            "instructions": request.instructions,
            "previous_response_id": request.previous_response_id,
            "max_output_tokens": request.max_output_tokens,
            "temperature": request.temperature,
            "top_p": request.top_p,
            "tools": tools,
            "tool_choice": request.tool_choice or "auto",
            "parallel_tool_calls": request.parallel_tool_calls is not False,
            "text": text,
            "metadata": request.metadata or {},
            "user": request.user,
            "store": request.store is not False,
            "truncation": request.truncation or "disabled",
            "error": None,
            "incomplete_details": None,
            "usage": self.usage,
        }
        return body | extra

    def start(self) -> list[BaseModel]:
        return [
            self.event(ResponseCreatedEvent, type="response.created", response=self.response("in_progress")),
            self.event(ResponseInProgressEvent, type="response.in_progress", response=self.response("in_progress")),
        ]

    def _open(self, kind: str, call_id: str = "", name: str = "") -> tuple[_Item, BaseModel]:
        item = _Item(len(self.output), new_id("msg" if kind == "message" else "fc"), kind, call_id, name)
        self.output.append(item.as_dict("in_progress"))
        self.open = item
        added = self.event(
            ResponseOutputItemAddedEvent,
            type="response.output_item.added",
            output_index=item.index,
            item=item.as_dict("in_progress"),
        )
        return item, added

    def _close(self, status: str = "completed") -> list[BaseModel]:
        item, self.open = self.open, None
        if item is None:
            return []
        events: list[BaseModel] = []
        whole = "".join(item.parts)
        where = {"item_id": item.id, "output_index": item.index}
        if item.kind == "message":
            part = {"type": "output_text", "text": whole, "annotations": [], "logprobs": []}
            events.append(
                self.event(
                    ResponseTextDoneEvent,
                    type="response.output_text.done",
                    content_index=0,
                    text=whole,
                    logprobs=[],
                    **where,
                )
            )
            events.append(
                self.event(
                    ResponseContentPartDoneEvent, type="response.content_part.done", content_index=0, part=part, **where
                )
            )
        else:
            events.append(
                self.event(
                    ResponseFunctionCallArgumentsDoneEvent,
                    type="response.function_call_arguments.done",
                    arguments=whole,
                    **where,
                )
            )
        self.output[item.index] = item.as_dict(status)
        events.append(
            self.event(
                ResponseOutputItemDoneEvent,
                type="response.output_item.done",
                output_index=item.index,
                item=self.output[item.index],
            )
        )
        return events

    def _text(self, text: str) -> list[BaseModel]:
        events: list[BaseModel] = []
        if self.open is None or self.open.kind != "message":
            events += self._close()
            item, added = self._open("message")
            events.append(added)
            item.has_part = True
            part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            events.append(
                self.event(
                    ResponseContentPartAddedEvent,
                    type="response.content_part.added",
                    item_id=item.id,
                    output_index=item.index,
                    content_index=0,
                    part=part,
                )
            )
        assert self.open is not None
        if text:
            self.open.parts.append(text)
            events.append(
                self.event(
                    ResponseTextDeltaEvent,
                    type="response.output_text.delta",
                    item_id=self.open.id,
                    output_index=self.open.index,
                    content_index=0,
                    delta=text,
                    logprobs=[],
                )
            )
        return events

    def _call(self, index: int, call_id: str | None, name: str | None, arguments: str | None) -> list[BaseModel]:
        events: list[BaseModel] = []
        item = self.calls.get(index)
        if item is None:
            events += self._close()
            item, added = self._open("function_call", call_id or new_id("call"), name or "")
            self.calls[index] = item
            events.append(added)
        if arguments:
            item.parts.append(arguments)
            events.append(
                self.event(
                    ResponseFunctionCallArgumentsDeltaEvent,
                    type="response.function_call_arguments.delta",
                    item_id=item.id,
                    output_index=item.index,
                    delta=arguments,
                )
            )
        return events

    def chunk(self, chunk: ChatCompletionChunk) -> list[BaseModel]:
        if chunk.usage is not None:
            prompt, completion = chunk.usage.prompt_tokens, chunk.usage.completion_tokens
            self.usage = {
                "input_tokens": prompt,
                "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                "output_tokens": completion,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": prompt + completion,
            }
        events, finished = first_choice_events(chunk, self._text, self._call)
        if finished is not None:
            self.finish_reason = finished.finish_reason
        return events

    def finish(self) -> list[BaseModel]:
        reason = _INCOMPLETE.get(self.finish_reason or "")
        events: list[BaseModel] = []
        if not self.output:
            # Nothing was said: still one (empty) message, so `output_text` is "" rather than missing.
            events += self._text("")
        events += self._close("incomplete" if reason else "completed")
        if reason:
            body = self.response("incomplete", incomplete_details={"reason": reason})
            events.append(self.event(ResponseIncompleteEvent, type="response.incomplete", response=body))
        else:
            body = self.response("completed", completed_at=time.time())
            events.append(self.event(ResponseCompletedEvent, type="response.completed", response=body))
        return events

    def fail(self, error: ModelportError) -> BaseModel:
        if self.open is not None:
            # What the item had when the error struck, for a client that reads the failed response's output.
            self.output[self.open.index] = self.open.as_dict("incomplete")
        code = "rate_limit_exceeded" if error.status_code == 429 else "server_error"
        body = self.response("failed", error={"code": code, "message": error.message})
        return self.event(ResponseFailedEvent, type="response.failed", response=body)


async def response_events(
    predictor: Predictor, turn: Turn, store: ResponseStore, *, streaming: bool
) -> AsyncIterator[BaseModel]:
    """The response's events, from `response.created` to its last one, which is stored when `store` is on.

    An error before the model's first chunk is raised (the request fails with its own status); one after it
    ends a stream with `response.failed`, and is raised when not `streaming`.
    """
    translation = _Translation(turn)
    chunks = cast(AsyncGenerator[ChatCompletionChunk, None], chat_chunks(predictor, turn.chat, with_usage=True))
    try:
        first = await anext(chunks)
    except StopAsyncIteration:
        first = None
    for event in translation.start():
        yield event
    last: BaseModel
    try:
        if first is not None:
            for event in translation.chunk(first):
                yield event
            async for chunk in chunks:
                for event in translation.chunk(chunk):
                    yield event
        events = translation.finish()
        for event in events[:-1]:
            yield event
        last = events[-1]
    except Exception as exc:
        if not streaming:
            raise
        if not isinstance(exc, ModelportError):
            logger.exception("response %s failed", turn.id, exc_info=exc)
        error = exc if isinstance(exc, ModelportError) else PredictorError("The response failed on the server.")
        last = translation.fail(error)
    finally:
        await chunks.aclose()
    if turn.request.store is not False:
        await _store(store, turn, last)
    yield last


async def _store(store: ResponseStore, turn: Turn, last: BaseModel) -> None:
    response = last.model_dump(mode="json", exclude_unset=True, by_alias=True)["response"]
    conversation = [*turn.conversation, *output_messages(response["output"])]
    await store.save(StoredResponse(turn.id, response, turn.input_items, conversation))


async def complete_response(predictor: Predictor, turn: Turn, store: ResponseStore) -> Response:
    """The non-streaming response: the one the last event carries."""
    last: Any = None
    async for event in response_events(predictor, turn, store, streaming=False):
        last = event
    assert isinstance(last, ResponseCompletedEvent | ResponseIncompleteEvent)
    return last.response
