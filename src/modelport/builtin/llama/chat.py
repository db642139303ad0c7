"""The built-in chat predictor: OpenAI chat requests on a `LlamaEngine`, tools and JSON included."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

from openai.types import Completion, CompletionChoice, CompletionUsage
from openai.types.chat import ChatCompletionChunk, ChatCompletionTokenLogprob
from openai.types.chat import chat_completion_chunk as chunk_types
from openai.types.chat.chat_completion_token_logprob import TopLogprob
from openai.types.completion_choice import Logprobs
from openai.types.completion_usage import PromptTokensDetails

from modelport import Message, Parameter
from modelport.builtin.llama import tools as tooling
from modelport.builtin.llama.engine import Event, Generation, LlamaEngine
from modelport.builtin.llama.prompt import ChatTemplate
from modelport.builtin.llama.sampling import SamplingParams
from modelport.errors import InvalidRequestError
from modelport.runtime.streams import merge


def _chunk(
    index: int, delta: chunk_types.ChoiceDelta, finish_reason: Any = None, logprobs: Any = None
) -> ChatCompletionChunk:
    return ChatCompletionChunk(
        id="",
        object="chat.completion.chunk",
        created=0,
        model="",
        choices=[chunk_types.Choice(index=index, delta=delta, finish_reason=finish_reason, logprobs=logprobs)],
    )


def _tool_call_chunk(index: int, delta: tooling.ToolCallDelta) -> ChatCompletionChunk:
    """OpenAI's shape: the first delta of a call has its id, type and name (and the role, for the first
    call), the later ones only argument text."""
    if delta.id is None:
        function = chunk_types.ChoiceDeltaToolCallFunction(arguments=delta.arguments)
        call = chunk_types.ChoiceDeltaToolCall(index=delta.index, function=function)
        return _chunk(index, chunk_types.ChoiceDelta(tool_calls=[call]))
    function = chunk_types.ChoiceDeltaToolCallFunction(name=delta.name, arguments=delta.arguments)
    call = chunk_types.ChoiceDeltaToolCall(index=delta.index, id=delta.id, type="function", function=function)
    role = "assistant" if delta.index == 0 else None
    return _chunk(index, chunk_types.ChoiceDelta(role=role, tool_calls=[call]))


def _logprobs(event: Event) -> chunk_types.ChoiceLogprobs | None:
    if not event.logprobs:
        return None
    return chunk_types.ChoiceLogprobs(
        content=[
            ChatCompletionTokenLogprob(
                token=item.token,
                bytes=item.bytes,
                logprob=item.logprob,
                top_logprobs=[TopLogprob(token=t, bytes=b, logprob=lp) for t, b, lp in item.top],
            )
            for item in event.logprobs
        ]
    )


def _completion(text: str, finish_reason: str | None = None, logprobs: Logprobs | None = None) -> Completion:
    # A streamed choice has no finish reason until its last chunk, which the type does not allow: construct.
    choice = CompletionChoice.model_construct(index=0, text=text, finish_reason=finish_reason, logprobs=logprobs)  # type: ignore[arg-type]
    return Completion(id="", object="text_completion", created=0, model="", choices=[choice])


def _usage(event: Event) -> CompletionUsage:
    return CompletionUsage(
        prompt_tokens=event.prompt_tokens,
        completion_tokens=event.completion_tokens,
        total_tokens=event.prompt_tokens + event.completion_tokens,
        prompt_tokens_details=PromptTokensDetails(cached_tokens=event.cached_tokens),
    )


def _completion_usage(usage: CompletionUsage) -> Completion:
    return Completion(id="", object="text_completion", created=0, model="", choices=[], usage=usage)


class LlamaChat:
    """A GGUF chat model on llama.cpp with continuous batching; created unloaded, loaded by the server."""

    def __init__(
        self,
        model_path: Callable[[], Path],
        *,
        n_parallel: int = 8,
        n_ctx_per_sequence: int = 4096,
        max_queue: int = 64,
        n_threads: int | None = None,
        speculation: bool = True,
    ) -> None:
        self._model_path = model_path
        self._options: dict[str, Any] = {
            "n_parallel": n_parallel,
            "n_ctx_per_sequence": n_ctx_per_sequence,
            "max_queue": max_queue,
            "n_threads": n_threads,
            "speculation": speculation,
        }
        self.engine: LlamaEngine | None = None
        self._template: ChatTemplate | None = None

    def load(self) -> None:
        engine = LlamaEngine(str(self._model_path()), **self._options)
        engine.start()
        metadata = engine.metadata()
        template = metadata.get("tokenizer.chat_template")
        if not template:
            engine.stop()
            raise RuntimeError(f"{engine.model_path} has no chat template in its metadata")
        vocab = engine.model
        self._bos = vocab.token_get_text(vocab.token_bos()) if vocab.token_bos() >= 0 else ""
        self._template = ChatTemplate(template, bos_token=self._bos, eos_token=vocab.token_get_text(vocab.token_eos()))
        self.engine = engine

    def unload(self) -> None:
        if self.engine is not None:
            self.engine.stop()
            self.engine = None

    def health(self) -> str | None:
        """None while the engine serves; else what stopped it (the server's `/health` reports it)."""
        if self.engine is None:
            return None
        try:
            self.engine.check()
        except RuntimeError as exc:
            return str(exc)
        return None

    def queue_depth(self) -> int:
        """Requests waiting for a free sequence (for the metrics)."""
        return self.engine.waiting_count() if self.engine is not None else 0

    def _prompt(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> list[int]:
        assert self.engine is not None
        assert self._template is not None
        text = self._template.render(messages, tools)
        add_bos = self.engine.model.add_bos_token() and not (self._bos and text.startswith(self._bos))
        return self.engine.tokenize(text, special=True, add_bos=add_bos)

    def count_prompt_tokens(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None = None,
        tool_choice: str | dict[str, Any] | None = None,
    ) -> int:
        """The prompt tokens a chat request with these messages and tools would take (Anthropic's
        count_tokens): the prompt is rendered and tokenized as `__call__` does."""
        functions = tooling.function_tools(tools)
        mode, _ = tooling.chosen_tools(functions, tool_choice)
        offered = [{"type": "function", "function": f} for f in functions] if mode != "none" else None
        return len(self._prompt([dict(m) for m in messages], offered))

    async def __call__(
        self,
        messages: list[Message],
        max_tokens: Annotated[int | None, Parameter.Generic(description="most tokens to generate")] = None,
        temperature: float | None = None,
        top_p: float | None = None,
        n: int | None = None,
        seed: int | None = None,
        stop: str | list[str] | None = None,
        presence_penalty: float | None = None,
        frequency_penalty: float | None = None,
        logit_bias: dict[str, float] | None = None,
        logprobs: bool | None = None,
        top_logprobs: int | None = None,
        tools: list[dict[str, Any]] | None = None,
        tool_choice: str | dict[str, Any] | None = None,
        parallel_tool_calls: bool | None = None,
        response_format: dict[str, Any] | None = None,
    ) -> AsyncIterator[ChatCompletionChunk]:
        """Chat with the model: streaming, sampling, stop, seed, n, logprobs, tools and JSON output."""
        assert self.engine is not None
        functions = tooling.function_tools(tools)
        mode, names = tooling.chosen_tools(functions, tool_choice)
        parallel = parallel_tool_calls is not False
        answer = self._answer_schema(response_format)
        grammar = self._grammar(answer, functions, names, mode, parallel)
        offered = [{"type": "function", "function": f} for f in functions] if mode != "none" else None
        # At run time the messages are plain dicts; the TypedDict union is only their static type.
        conversation = [dict(m) for m in messages]
        prompt = self._prompt(conversation, offered)
        params = self._sampling(
            max_tokens, temperature, top_p, seed, stop, presence_penalty, frequency_penalty, logit_bias,
            logprobs=(top_logprobs or 0) if logprobs else None, grammar=grammar,
        )  # fmt: skip
        # Each choice draws its own sample; with a seed, choice i uses seed + i, so the set is reproducible.
        choice_params = [replace(params, seed=None if params.seed is None else params.seed + i) for i in range(n or 1)]
        generations = self.engine.submit_all(prompt, choice_params)
        answered = tooling.answered_calls(conversation) if mode == "auto" else []
        retry = None
        if answered and answer is not None:
            # A call the conversation already has the result of, when the answer has a format: the model is
            # done calling and means to answer, so it answers again under the format's grammar alone. (With
            # no format, a grammar that only bars a call's opening made this model write nonsense instead.)
            answer_grammar = tooling.schema_grammar(answer)

            def retry(index: int) -> Generation:
                assert self.engine is not None
                generation = self.engine.submit(prompt, replace(choice_params[index], grammar=answer_grammar))
                generations.append(generation)
                return generation

        choices = [
            self._choice(i, generation, mode, names, parallel=parallel, answered=answered, retry=retry)
            for i, generation in enumerate(generations)
        ]
        usage = CompletionUsage(prompt_tokens=len(prompt), completion_tokens=0, total_tokens=len(prompt))
        cached: list[int] = []
        try:
            async for item in merge(choices):
                if item.usage is not None:
                    usage.completion_tokens += item.usage.completion_tokens
                    usage.total_tokens = usage.prompt_tokens + usage.completion_tokens
                    if item.usage.prompt_tokens_details is not None:
                        cached.append(item.usage.prompt_tokens_details.cached_tokens or 0)
                    continue
                yield item
        finally:
            for generation in generations:
                generation.cancel()
        # The prompt is counted once; of it, what every choice found in the cache.
        usage.prompt_tokens_details = PromptTokensDetails(cached_tokens=min(cached, default=0))
        yield ChatCompletionChunk(id="", object="chat.completion.chunk", created=0, model="", choices=[], usage=usage)

    async def _choice(
        self,
        index: int,
        generation: Generation,
        mode: str,
        names: list[str],
        *,
        parallel: bool,
        answered: list[tuple[str, Any]] | None = None,
        retry: Callable[[int], Generation] | None = None,
    ) -> AsyncIterator[ChatCompletionChunk]:
        """One choice's chunks. Output that may be a tool call is held back; once a call's name is known it
        streams as OpenAI's deltas, and output that turns out not to be one is sent as text. Generation
        stops as soon as the calls are complete: what the model would write after them is not sent. Output
        that opens by repeating a call already answered is dropped and, given `retry`, generated again as
        the answer."""
        held = ""
        calls = tooling.ToolCallStream(names, parallel=parallel, answered=answered) if mode != "none" else None
        deciding = calls is not None
        async for event in generation.events():
            text = event.text
            if calls is not None and deciding:
                held, text = held + text, ""
                for delta in calls.feed(event.text):
                    yield _tool_call_chunk(index, delta)
                if calls.repeats_answered and retry is not None:
                    generation.cancel()
                    async for chunk in self._choice(index, retry(index), "none", names, parallel=parallel):
                        yield chunk
                    return
                if calls.started:
                    if event.finish_reason is None and calls.finished:
                        generation.cancel()
                        event = replace(event, finish_reason="stop")
                    if event.finish_reason is not None:
                        for chunk in self._end(index, event, called=True):
                            yield chunk
                        return
                    continue
                if event.finish_reason is None:
                    if mode == "required" or tooling.could_be_tool_call(held):
                        continue
                    # Not a tool call after all: stream from here on.
                    deciding, held, text = False, "", held
            if event.finish_reason is not None:
                for chunk in self._finish(index, event, held if deciding else None, text, names):
                    yield chunk
                return
            if text or event.logprobs:
                yield _chunk(index, chunk_types.ChoiceDelta(content=text), logprobs=_logprobs(event))

    def _finish(
        self,
        index: int,
        event: Event,
        held: str | None,
        text: str,
        names: list[str],
    ) -> list[ChatCompletionChunk]:
        """The last chunks of a choice: a held tool call (in a shape only the whole output shows) or text,
        the finish reason, then its usage."""
        chunks: list[ChatCompletionChunk] = []
        if held is not None:
            calls = tooling.parse_tool_calls(held, names)
            if calls:
                for position, call in enumerate(calls):
                    chunks.append(_tool_call_chunk(index, tooling.ToolCallDelta(position, "", call.id, call.name)))
                    chunks.append(_tool_call_chunk(index, tooling.ToolCallDelta(position, call.arguments)))
                return chunks + self._end(index, event, called=True)
            text = held
        if text or event.logprobs:
            chunks.append(_chunk(index, chunk_types.ChoiceDelta(content=text), logprobs=_logprobs(event)))
        return chunks + self._end(index, event, called=False)

    async def complete(
        self,
        prompt: str | list[int],
        *,
        max_tokens: int | None = 16,
        temperature: float | None = None,
        top_p: float | None = None,
        seed: int | None = None,
        stop: str | list[str] | None = None,
        presence_penalty: float | None = None,
        frequency_penalty: float | None = None,
        logit_bias: dict[str, float] | None = None,
        logprobs: int | None = None,
        echo: bool = False,
    ) -> AsyncIterator[Completion]:
        """Continue a raw prompt (the legacy completions API); one choice, then a usage chunk."""
        assert self.engine is not None
        if isinstance(prompt, str):
            # As llama-server reads a prompt: "<|im_start|>" is the model's special token, not 6 pieces of text.
            tokens = self.engine.tokenize(prompt, special=True)
            text = prompt
        else:
            if not all(0 <= t < self.engine.n_vocab for t in prompt):
                raise InvalidRequestError("The prompt has token ids outside the vocabulary.", param="prompt")
            tokens, text = list(prompt), b"".join(self.engine.piece(t) for t in prompt).decode("utf-8", "replace")
        offset = len(text) if echo else 0
        if echo:
            yield _completion(text)
        if max_tokens == 0:
            yield _completion("", "length")
            yield _completion_usage(
                CompletionUsage(prompt_tokens=len(tokens), completion_tokens=0, total_tokens=len(tokens))
            )
            return
        params = self._sampling(
            max_tokens, temperature, top_p, seed, stop, presence_penalty, frequency_penalty, logit_bias,
            logprobs=logprobs,
        )  # fmt: skip
        async for event in self.engine.submit(tokens, params).events():
            details = None
            if event.logprobs:
                details = Logprobs(
                    tokens=[item.token for item in event.logprobs],
                    token_logprobs=[item.logprob for item in event.logprobs],
                    top_logprobs=[{token: lp for token, _, lp in item.top} for item in event.logprobs],
                    text_offset=[offset] * len(event.logprobs),
                )
            offset += len(event.text)
            if event.text or details or event.finish_reason:
                yield _completion(event.text, event.finish_reason, details)
            if event.finish_reason is not None:
                yield _completion_usage(_usage(event))

    @staticmethod
    def _end(index: int, event: Event, *, called: bool) -> list[ChatCompletionChunk]:
        """A choice's finish reason ("tool_calls" when it called tools and was not cut short), then a chunk
        with its usage."""
        reason = "tool_calls" if called and event.finish_reason == "stop" else event.finish_reason
        finish = _chunk(index, chunk_types.ChoiceDelta(), finish_reason=reason)
        if event.stop is not None:
            # Which stop string ended the text (vLLM's `stop_reason`): Anthropic's `stop_sequence` needs it.
            finish.choices[0].stop_reason = event.stop  # type: ignore[attr-defined]
        return [
            finish,
            ChatCompletionChunk(
                id="", object="chat.completion.chunk", created=0, model="", choices=[], usage=_usage(event)
            ),
        ]

    def _grammar(
        self,
        answer: dict[str, Any] | None,
        functions: list[dict[str, Any]],
        names: list[str],
        mode: str,
        parallel: bool,
    ) -> str | None:
        """The grammar the output must match: tool calls when one is required; under `auto` with the JSON
        schema `answer` (of the response format), either tool calls or the answer; else `answer`'s, if any."""
        if mode == "required":
            return tooling.tool_call_grammar(functions, names, parallel=parallel)
        if answer is None:
            return None
        if mode == "auto":
            return tooling.tool_call_grammar(functions, names, parallel=parallel, answer=answer)
        return tooling.schema_grammar(answer)

    @staticmethod
    def _answer_schema(response_format: dict[str, Any] | None) -> dict[str, Any] | None:
        """The JSON schema a response format asks the answer to match; None for plain text."""
        kind = (response_format or {}).get("type", "text")
        if kind == "text":
            return None
        if kind == "json_object":
            return {"type": "object"}
        if kind == "json_schema":
            spec = (response_format or {}).get("json_schema")
            schema = spec.get("schema") if isinstance(spec, dict) else None
            if not isinstance(schema, dict):
                raise InvalidRequestError(
                    "response_format json_schema needs a 'schema' object.", param="response_format"
                )
            return schema
        raise InvalidRequestError(
            f"response_format type must be 'text', 'json_object' or 'json_schema', not {kind!r}.",
            param="response_format",
        )

    def _sampling(
        self,
        max_tokens: int | None,
        temperature: float | None,
        top_p: float | None,
        seed: int | None,
        stop: str | list[str] | None,
        presence_penalty: float | None,
        frequency_penalty: float | None,
        logit_bias: dict[str, float] | None,
        *,
        logprobs: int | None,
        grammar: str | None = None,
    ) -> SamplingParams:
        """OpenAI's request fields as sampling parameters, with OpenAI's defaults for the ones left out."""
        return SamplingParams(
            max_tokens=max_tokens,
            temperature=1.0 if temperature is None else temperature,
            top_p=1.0 if top_p is None else top_p,
            # -1 asks for a random seed, as llama.cpp's own server reads it.
            seed=None if seed == -1 else seed,
            stop=(stop,) if isinstance(stop, str) else tuple(stop or ()),
            presence_penalty=presence_penalty or 0.0,
            frequency_penalty=frequency_penalty or 0.0,
            logit_bias=self._logit_bias(logit_bias),
            logprobs=logprobs,
            grammar=grammar,
        )

    def _logit_bias(self, logit_bias: dict[str, float] | None) -> dict[int, float]:
        bias = {}
        for key, value in (logit_bias or {}).items():
            try:
                token = int(key)
            except ValueError:
                raise InvalidRequestError(
                    f"logit_bias keys are token ids; {key!r} is not.", param="logit_bias"
                ) from None
            assert self.engine is not None
            if not 0 <= token < self.engine.n_vocab:
                raise InvalidRequestError(
                    f"logit_bias names token {token}, outside the vocabulary.", param="logit_bias"
                )
            bias[token] = max(-100.0, min(100.0, value))
        return bias
