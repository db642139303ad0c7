"""Chat models: `chat_complete` and `achat_complete`, streaming or not, with structured output and tools."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, overload

from openai import AsyncStream, Stream
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from modelport.client.base import ClientModel
from modelport.client.config import Capability
from modelport.client.errors import ConfigurationError, MissingExtraError

if TYPE_CHECKING:
    from langchain_openai import ChatOpenAI

__all__ = ["LanguageModel", "Messages", "response_format"]

Messages = str | Sequence[Mapping[str, Any]]
"""A conversation in OpenAI's message shape, or one string for a single user message."""

# The request fields of OpenAI's chat completions API that a config dict or a call may set directly.
CHAT_PARAMS = frozenset(
    {
        "audio",
        "frequency_penalty",
        "logit_bias",
        "logprobs",
        "max_completion_tokens",
        "max_tokens",
        "metadata",
        "modalities",
        "n",
        "parallel_tool_calls",
        "presence_penalty",
        "reasoning_effort",
        "response_format",
        "seed",
        "service_tier",
        "stop",
        "store",
        "stream_options",
        "temperature",
        "tool_choice",
        "tools",
        "top_logprobs",
        "top_p",
        "user",
    }
)


class LanguageModel(ClientModel):
    """A chat model on an OpenAI-compatible endpoint.

    `config` may hold the endpoint keys, any OpenAI chat parameter (`temperature`, `max_tokens`, `tools`,
    ...), `streaming` (the default of `stream`), `structured` (see `response_format`), and `extra_body` /
    `extra_headers` for fields a server adds to the API.
    """

    capability = Capability.LANGUAGE
    config_keys = CHAT_PARAMS | {"streaming", "structured", "extra_body", "extra_headers"}

    @overload
    def chat_complete(self, messages: Messages, stream: Literal[False], **params: Any) -> ChatCompletion: ...
    @overload
    def chat_complete(
        self, messages: Messages, stream: Literal[True], **params: Any
    ) -> Iterator[ChatCompletionChunk]: ...
    @overload
    def chat_complete(
        self, messages: Messages, stream: bool | None = None, **params: Any
    ) -> ChatCompletion | Iterator[ChatCompletionChunk]: ...

    def chat_complete(
        self, messages: Messages, stream: bool | None = None, **params: Any
    ) -> ChatCompletion | Iterator[ChatCompletionChunk]:
        """A chat completion, or with `stream` an iterator of its chunks.

        `stream` defaults to `config['streaming']`, else False. `params` override the config for this call:
        OpenAI's chat parameters (`tools`, `tool_choice`, `temperature`, ...) go to the request as they are,
        any other keyword goes into the request body as an extra field.
        """
        request, streaming = self._request(messages, stream, params)
        if not streaming:
            with self._guard():
                completion: ChatCompletion = self.client.chat.completions.create(**request, stream=False)
            return completion
        with self._guard():
            chunks: Stream[ChatCompletionChunk] = self.client.chat.completions.create(**request, stream=True)
        return self._iterate(chunks)

    @overload
    async def achat_complete(self, messages: Messages, stream: Literal[False], **params: Any) -> ChatCompletion: ...
    @overload
    async def achat_complete(
        self, messages: Messages, stream: Literal[True], **params: Any
    ) -> AsyncIterator[ChatCompletionChunk]: ...
    @overload
    async def achat_complete(
        self, messages: Messages, stream: bool | None = None, **params: Any
    ) -> ChatCompletion | AsyncIterator[ChatCompletionChunk]: ...

    async def achat_complete(
        self, messages: Messages, stream: bool | None = None, **params: Any
    ) -> ChatCompletion | AsyncIterator[ChatCompletionChunk]:
        """`chat_complete` without blocking the event loop; with `stream`, an async iterator of chunks."""
        request, streaming = self._request(messages, stream, params)
        client = self.async_client
        if not streaming:
            async with self._aguard():
                completion: ChatCompletion = await client.chat.completions.create(**request, stream=False)
            return completion
        async with self._aguard():
            chunks: AsyncStream[ChatCompletionChunk] = await client.chat.completions.create(**request, stream=True)
        return self._aiterate(chunks)

    def to_langchain(self) -> ChatOpenAI:
        """This model as a LangChain `ChatOpenAI` (needs the `langchain` extra)."""
        try:
            from langchain_openai import ChatOpenAI
        except ImportError:
            raise MissingExtraError("to_langchain()", "langchain", "langchain-openai") from None
        request, streaming = self._request("", None, {})
        del request["model"], request["messages"]
        extra_body = request.pop("extra_body", None)
        extra_headers = request.pop("extra_headers", None)
        # ChatOpenAI refuses its own fields inside model_kwargs: those go by name, the rest as model_kwargs.
        # Its `metadata` is LangChain's run metadata, so OpenAI's goes in the body.
        if "metadata" in request:
            extra_body = {**(extra_body or {}), "metadata": request.pop("metadata")}
        fields = {name for name in ChatOpenAI.model_fields} | {
            field.alias for field in ChatOpenAI.model_fields.values() if field.alias
        }
        named = {key: request.pop(key) for key in list(request) if key in fields}
        return ChatOpenAI(
            model=self.model_name,
            base_url=self.endpoint.base_url,
            api_key=self.endpoint.api_key_or_placeholder,
            timeout=self.endpoint.timeout,
            max_retries=self.endpoint.max_retries,
            streaming=streaming,
            extra_body=extra_body,
            default_headers=extra_headers,
            model_kwargs=request,
            **named,
        )

    def _request(
        self, messages: Messages, stream: bool | None, params: Mapping[str, Any]
    ) -> tuple[dict[str, Any], bool]:
        """The keyword arguments of `chat.completions.create` (without `stream`), and whether to stream."""
        settings = {**self.config, **params}
        streaming = stream if stream is not None else bool(settings.get("streaming", False))
        request: dict[str, Any] = {key: value for key, value in settings.items() if key in CHAT_PARAMS}
        structured = settings.get("structured")
        if structured is not None:
            request["response_format"] = response_format(structured)
        extra_body = dict(settings.get("extra_body") or {})
        extra_body.update({key: value for key, value in params.items() if key not in LanguageModel.config_keys})
        if extra_body:
            request["extra_body"] = extra_body
        if settings.get("extra_headers"):
            request["extra_headers"] = settings["extra_headers"]
        if isinstance(messages, str):
            messages = [{"role": "user", "content": messages}]
        request.update(model=self.model_name, messages=list(messages))
        return request, streaming

    def _iterate(self, chunks: Stream[ChatCompletionChunk]) -> Iterator[ChatCompletionChunk]:
        # A generator, so errors in the middle of the stream are translated too and the response is
        # closed when the caller stops early.
        with chunks, self._guard():
            yield from chunks

    async def _aiterate(self, chunks: AsyncStream[ChatCompletionChunk]) -> AsyncIterator[ChatCompletionChunk]:
        async with chunks, self._aguard():
            async for chunk in chunks:
                yield chunk


def response_format(structured: str | Mapping[str, Any]) -> dict[str, Any]:
    """OpenAI's `response_format` for a `structured` setting.

    `"json"` or `{"type": "json"}` asks for any JSON object. A JSON schema asks for output that follows it:
    either the schema itself (`{"type": "object", "properties": ...}`, named by its `title`), or
    `{"type": "json_schema", "schema": ..., "name": ..., "strict": ...}`, or OpenAI's own
    `{"type": "json_schema", "json_schema": {...}}`.
    """
    if isinstance(structured, str):
        structured = {"type": structured}
    kind = structured.get("type")
    if kind in ("json", "json_object") and "properties" not in structured:
        return {"type": "json_object"}
    if kind == "json_schema":
        if "json_schema" in structured:
            return {"type": "json_schema", "json_schema": dict(structured["json_schema"])}
        if "schema" not in structured:
            raise ConfigurationError("structured output of type 'json_schema' needs a 'schema'.")
        schema = structured["schema"]
        json_schema = {"name": structured.get("name") or schema.get("title") or "response", "schema": schema}
        if "strict" in structured:
            json_schema["strict"] = structured["strict"]
        return {"type": "json_schema", "json_schema": json_schema}
    if kind == "object" or "properties" in structured:
        name = structured.get("title") or "response"
        return {"type": "json_schema", "json_schema": {"name": name, "schema": dict(structured)}}
    raise ConfigurationError(
        f"Unknown structured output {dict(structured)!r}: use {{'type': 'json'}} or a JSON schema."
    )
