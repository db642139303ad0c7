"""Text completions (the legacy API) for chat models whose predictor offers a `complete` method.

`complete(prompt, **sampling)` is an optional hook: an async iterator of `openai.types.Completion`
objects with one choice each, the last one with a finish reason, then one with usage and no choices. The
server runs it once per prompt and per `n`, re-indexes the choices, and assembles the response.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from openai.types import Completion, CompletionChoice, CompletionUsage
from openai.types.completion_choice import Logprobs
from openai.types.completion_usage import PromptTokensDetails

from modelport.errors import InvalidRequestError, ModelportError, PredictorError
from modelport.protocol.completions import CompletionRequest
from modelport.runtime import Predictor
from modelport.runtime.streams import merge
from modelport.serving.forward import forward_events, forward_json, forwards, parsed

_SAMPLING = (
    "max_tokens",
    "temperature",
    "top_p",
    "seed",
    "stop",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "logprobs",
    "echo",
)


def completion_hook(predictor: Predictor) -> Any:
    hook = predictor.hook("complete")
    if hook is None:
        raise InvalidRequestError(
            f"The model `{predictor.name}` does not support /v1/completions; use /v1/chat/completions.",
            param="model",
            code="model_not_supported",
        )
    return hook


async def completion_chunks(
    predictor: Predictor, request: CompletionRequest, *, with_usage: bool
) -> AsyncIterator[Completion]:
    """Every choice's chunks, interleaved as they come, then one usage chunk when `with_usage`."""
    if forwards(predictor):
        async for chunk in _forwarded_chunks(predictor, request, with_usage=with_usage):
            yield chunk
        return
    hook = completion_hook(predictor)
    prompts = request.prompts()
    if not prompts or any(len(p) == 0 for p in prompts):
        raise InvalidRequestError("'prompt' must not be empty.", param="prompt")
    if request.suffix:
        raise InvalidRequestError("'suffix' is not supported by this model.", param="suffix")
    values = request.model_dump(exclude_unset=True)
    sampling = {key: values[key] for key in _SAMPLING if values.get(key) is not None}
    if "max_tokens" not in values:
        sampling["max_tokens"] = 16
    choices = [
        (prompt, index * (request.n or 1) + k) for index, prompt in enumerate(prompts) for k in range(request.n or 1)
    ]
    completion_id, created = f"cmpl-{uuid.uuid4().hex}", int(time.time())

    async def indexed(prompt: str | list[int], index: int) -> AsyncIterator[Completion]:
        try:
            async for chunk in hook(prompt, **sampling):
                for choice in chunk.choices:
                    choice.index = index
                yield chunk
        except ModelportError:
            raise
        except Exception as exc:
            raise PredictorError(f"The model `{predictor.name}` failed: {type(exc).__name__}: {exc}") from exc

    prompt_tokens = completion_tokens = 0
    cached_tokens: int | None = None
    async for item in merge([indexed(prompt, index) for prompt, index in choices]):
        if item.usage is not None:
            prompt_tokens += item.usage.prompt_tokens
            completion_tokens += item.usage.completion_tokens
            details = item.usage.prompt_tokens_details
            if details is not None and details.cached_tokens is not None:
                cached_tokens = (cached_tokens or 0) + details.cached_tokens
        if not item.choices:
            continue
        item.id, item.model, item.created, item.object, item.usage = (
            completion_id,
            request.model,
            created,
            "text_completion",
            None,
        )
        yield item
    if with_usage:
        usage = CompletionUsage(
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            total_tokens=prompt_tokens + completion_tokens,
            prompt_tokens_details=None if cached_tokens is None else PromptTokensDetails(cached_tokens=cached_tokens),
        )
        yield Completion(
            id=completion_id, object="text_completion", created=created, model=request.model, choices=[], usage=usage
        )


async def _forwarded_chunks(
    predictor: Predictor, request: CompletionRequest, *, with_usage: bool
) -> AsyncIterator[Completion]:
    fields = {**request.model_dump(exclude_unset=True), "stream": True}
    options = dict(fields.pop("stream_options", None) or {})
    options.pop("include_usage", None)
    if with_usage:
        options["include_usage"] = True
    if options:
        fields["stream_options"] = options
    async for event in forward_events(predictor, "completions", fields):
        # A streamed choice has no finish reason until its last chunk, which the type does not allow: construct.
        choices = [CompletionChoice.model_construct(**choice) for choice in event.get("choices") or ()]
        yield Completion.model_construct(**{**event, "choices": choices})


async def complete(predictor: Predictor, request: CompletionRequest) -> Completion:
    """The non-streaming response, assembled from the chunks (or relayed from a predictor that forwards)."""
    if forwards(predictor):
        fields = {**request.model_dump(exclude_unset=True), "stream": False}
        fields.pop("stream_options", None)
        return parsed(predictor, "completions", Completion, await forward_json(predictor, "completions", fields))
    texts: dict[int, list[str]] = {}
    finish: dict[int, Any] = {}
    logprobs: dict[int, dict[str, list[Any]]] = {}
    usage: CompletionUsage | None = None
    completion_id, created = "", 0
    async for chunk in completion_chunks(predictor, request, with_usage=True):
        completion_id, created = chunk.id, chunk.created
        usage = chunk.usage or usage
        for choice in chunk.choices:
            texts.setdefault(choice.index, []).append(choice.text)
            if choice.finish_reason is not None:
                finish[choice.index] = choice.finish_reason
            if choice.logprobs is not None:
                merged = logprobs.setdefault(
                    choice.index, {"tokens": [], "token_logprobs": [], "top_logprobs": [], "text_offset": []}
                )
                for key in merged:
                    merged[key].extend(getattr(choice.logprobs, key) or [])
    choices = [
        CompletionChoice(
            index=index,
            text="".join(parts),
            finish_reason=finish.get(index, "stop"),
            logprobs=Logprobs(**logprobs[index]) if index in logprobs else None,
        )
        for index, parts in sorted(texts.items())
    ]
    return Completion(
        id=completion_id, object="text_completion", created=created, model=request.model, choices=choices, usage=usage
    )
