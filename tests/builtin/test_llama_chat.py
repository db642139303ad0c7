"""The built-in chat model for real: Qwen2.5-Coder-0.5B-Instruct on llama.cpp, through the openai client."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

from live_server import LiveServer
from modelport.builtin.llama import DEFAULT_NAME
from modelport.builtin.llama.chat import LlamaChat
from modelport.runtime import Registry

from .conftest import CHAT_PARALLEL, CHAT_QUEUE

MODEL = DEFAULT_NAME
PARALLEL = CHAT_PARALLEL
QUEUE = CHAT_QUEUE
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
            "required": ["city"],
        },
    },
}
TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Get the current local time in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
COUNTING = [{"role": "user", "content": "Count from 1 to 500, separated by commas, with no other text."}]


def engine_of(registry: Registry) -> Any:
    chat = registry.get(MODEL).spec.target
    assert isinstance(chat, LlamaChat)
    assert chat.engine is not None
    return chat.engine


def wait_idle(registry: Registry, timeout: float = 10.0) -> bool:
    engine = engine_of(registry)
    deadline = time.monotonic() + timeout
    while engine.active_count() and time.monotonic() < deadline:
        time.sleep(0.05)
    return bool(engine.active_count() == 0)


def test_listed(client: OpenAI) -> None:
    assert MODEL in [m.id for m in client.models.list()]


def test_answers_and_reports_usage(client: OpenAI) -> None:
    response = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "What is the capital of France? One word."}], temperature=0
    )
    choice = response.choices[0]
    assert "paris" in (choice.message.content or "").lower()
    assert choice.finish_reason == "stop"
    assert response.usage is not None
    assert response.usage.prompt_tokens > 10
    assert response.usage.completion_tokens >= 1


def test_streaming_equals_non_streaming_with_a_seed(client: OpenAI) -> None:
    request: dict[str, Any] = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "Write one sentence about the sea."}],
        "temperature": 0.9,
        "seed": 1234,
        "max_tokens": 40,
    }
    whole = client.chat.completions.create(**request).choices[0].message.content
    again = client.chat.completions.create(**request).choices[0].message.content
    streamed = "".join(
        chunk.choices[0].delta.content or ""
        for chunk in client.chat.completions.create(**request, stream=True)
        if chunk.choices
    )
    assert whole
    assert whole == again == streamed


def test_max_tokens_gives_length(client: OpenAI) -> None:
    response = client.chat.completions.create(model=MODEL, messages=COUNTING, max_completion_tokens=7, temperature=0)
    assert response.choices[0].finish_reason == "length"
    assert response.usage is not None
    assert response.usage.completion_tokens == 7


def test_stop_sequence(client: OpenAI) -> None:
    response = client.chat.completions.create(model=MODEL, messages=COUNTING, stop=["5"], temperature=0, max_tokens=60)
    content = response.choices[0].message.content or ""
    assert response.choices[0].finish_reason == "stop"
    assert "5" not in content
    assert "4" in content


def test_n_choices_and_logprobs(client: OpenAI) -> None:
    response = client.chat.completions.create(
        model=MODEL, messages=COUNTING, n=2, max_tokens=5, logprobs=True, top_logprobs=3, temperature=1.0
    )
    assert [c.index for c in response.choices] == [0, 1]
    for choice in response.choices:
        assert choice.logprobs is not None
        assert choice.logprobs.content is not None
        assert len(choice.logprobs.content) == 5
        first = choice.logprobs.content[0]
        assert first.logprob <= 0
        assert len(first.top_logprobs) == 3
        assert first.top_logprobs[0].logprob >= first.top_logprobs[-1].logprob


@pytest.mark.parametrize(
    "tool_choice", ["required", {"type": "function", "function": {"name": "get_weather"}}], ids=["required", "named"]
)
def test_tool_call_when_required(client: OpenAI, tool_choice: Any) -> None:
    response = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "How warm is it in Lisbon right now?"}],
        tools=[WEATHER, TIME],  # type: ignore[list-item]
        tool_choice=tool_choice,
        parallel_tool_calls=False,
    )
    choice = response.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    calls = choice.message.tool_calls or []
    assert len(calls) == 1
    assert calls[0].type == "function"
    assert calls[0].id.startswith("call_")
    arguments = json.loads(calls[0].function.arguments)  # type: ignore[union-attr]
    assert isinstance(arguments.get("city"), str)
    if isinstance(tool_choice, dict):
        assert calls[0].function.name == "get_weather"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "prompt",
    ["What is the weather in Paris?", "Use the tool to get the weather in Tokyo.", "Call get_weather for Berlin."],
)
def test_tool_call_under_auto_for_tool_shaped_prompts(client: OpenAI, prompt: str) -> None:
    response = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": prompt}],
        tools=[WEATHER],
        temperature=0,  # type: ignore[list-item]
    )
    choice = response.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = (choice.message.tool_calls or [])[0]
    assert call.function.name == "get_weather"  # type: ignore[union-attr]
    assert json.loads(call.function.arguments)["city"]  # type: ignore[union-attr]


def test_streamed_tool_call_follows_openai_deltas(client: OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "Weather in Oslo?"}],
            tools=[WEATHER],  # type: ignore[list-item]
            tool_choice="required",
            parallel_tool_calls=False,
            stream=True,
        )
    )
    deltas = [c.choices[0].delta.tool_calls[0] for c in chunks if c.choices and c.choices[0].delta.tool_calls]
    first, rest = deltas[0], deltas[1:]
    assert (first.index, first.type) == (0, "function")
    assert first.id
    assert first.function is not None
    assert first.function.name == "get_weather"
    assert all(d.id is None and d.function is not None and d.function.name is None for d in rest)
    assert len(rest) > 1  # the arguments stream as they are generated, not as one piece at the end
    arguments = "".join((d.function.arguments or "") for d in deltas if d.function)
    assert json.loads(arguments)["city"]
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_code_streams_while_tools_are_offered(client: OpenAI) -> None:
    # Under `auto`, output that may be a call is held back; a code fence in another language is not one.
    chunks = list(
        client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "Reply with only a Python code block defining add(a, b)."}],
            tools=[WEATHER],  # type: ignore[list-item]
            temperature=0,
            max_tokens=40,
            stream=True,
        )
    )
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert "".join(pieces).lstrip().startswith("```python")
    assert len(pieces) > 5
    assert not any(c.choices and c.choices[0].delta.tool_calls for c in chunks)


def test_openai_stream_helper_with_tools(client: OpenAI) -> None:
    with client.chat.completions.stream(
        model=MODEL,
        messages=[{"role": "user", "content": "Weather in Rome?"}],
        tools=[WEATHER],  # type: ignore[list-item]
        tool_choice="required",
    ) as stream:
        final = stream.get_final_completion()
    call = (final.choices[0].message.tool_calls or [])[0]
    assert call.function.name == "get_weather"  # type: ignore[union-attr]


def test_json_schema_output_validates(client: OpenAI) -> None:
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "age": {"type": "integer"},
            "languages": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["name", "age", "languages"],
        "additionalProperties": False,
    }
    for seed in (1, 2, 3):
        response = client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "Describe a programmer as JSON."}],
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "person", "schema": schema, "strict": True},
            },
            seed=seed,
            max_tokens=200,
        )
        value = json.loads(response.choices[0].message.content or "")
        assert set(value) == {"name", "age", "languages"}
        assert isinstance(value["name"], str)
        assert isinstance(value["age"], int)
        assert all(isinstance(item, str) for item in value["languages"])


def test_json_object_output_parses(client: OpenAI) -> None:
    response = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Give me a JSON object with a greeting."}],
        response_format={"type": "json_object"},
        max_tokens=100,
    )
    assert isinstance(json.loads(response.choices[0].message.content or ""), dict)


def test_multi_turn_with_tool_results(client: OpenAI) -> None:
    messages: list[Any] = [
        {
            "role": "system",
            "content": "You are a helpful assistant. When a tool result is given, answer in one sentence using it.",
        },
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temperature_c": 21, "sky": "clear"}'},
    ]
    response = client.chat.completions.create(
        model=MODEL,
        messages=messages,
        tools=[WEATHER],  # type: ignore[list-item]
        # Under `auto` this 0.5B model calls the tool again rather than use its result; the answering turn
        # keeps the tools in the conversation but allows no call.
        tool_choice="none",
        temperature=0,
        max_tokens=60,
    )
    assert not response.choices[0].message.tool_calls
    assert "21" in (response.choices[0].message.content or "")


def test_second_turn_reuses_the_first(client: OpenAI, chat_server: tuple[LiveServer, Registry]) -> None:
    engine = engine_of(chat_server[1])
    history: list[Any] = [{"role": "user", "content": "Name three colours of the rainbow. " * 20}]
    first = client.chat.completions.create(model=MODEL, messages=history, temperature=0, max_tokens=20)
    assert first.usage is not None
    history += [
        {"role": "assistant", "content": first.choices[0].message.content},
        {"role": "user", "content": "And two more?"},
    ]
    before = engine.stats.prompt_tokens_decoded
    second = client.chat.completions.create(model=MODEL, messages=history, temperature=0, max_tokens=20)
    assert second.usage is not None
    decoded = engine.stats.prompt_tokens_decoded - before
    # Only the new turn is read: far fewer tokens than the whole conversation.
    assert decoded < second.usage.prompt_tokens - first.usage.prompt_tokens + 10
    assert decoded < second.usage.prompt_tokens / 3


def test_context_overflow_is_a_400(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "word " * 3000}])
    assert caught.value.code == "context_length_exceeded"
    assert "2048" in caught.value.message


def test_four_concurrent_requests_finish_with_their_own_lengths(
    client: OpenAI, chat_server: tuple[LiveServer, Registry]
) -> None:
    lengths = [6, 11, 17, 23]
    results: dict[int, Any] = {}

    def run(length: int) -> None:
        results[length] = client.chat.completions.create(
            model=MODEL, messages=COUNTING, max_tokens=length, temperature=0
        )

    threads = [threading.Thread(target=run, args=(n,)) for n in lengths]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for length in lengths:
        response = results[length]
        assert response.choices[0].finish_reason == "length"
        assert response.usage.completion_tokens == length
    # Greedy decoding of one prompt: the longer answers extend the shorter ones.
    texts = [results[n].choices[0].message.content for n in lengths]
    assert all(texts[i + 1].startswith(texts[i]) for i in range(len(texts) - 1))
    assert wait_idle(chat_server[1])


def test_disconnect_frees_the_slot(chat_server: tuple[LiveServer, Registry]) -> None:
    server, registry = chat_server
    body = {"model": MODEL, "messages": COUNTING, "stream": True, "max_tokens": 1000, "temperature": 0}
    with (
        httpx.Client(base_url=server.url, timeout=60) as http,
        http.stream("POST", "/v1/chat/completions", json=body) as response,
    ):
        lines = response.iter_lines()
        seen = 0
        for line in lines:
            if line.startswith("data: "):
                seen += 1
            if seen == 3:
                break
        assert engine_of(registry).active_count() == 1
    assert wait_idle(registry, timeout=5)


def test_a_client_that_gives_up_frees_a_non_streaming_slot(
    chat_server: tuple[LiveServer, Registry], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, registry = chat_server
    engine = engine_of(registry)
    generations: list[Any] = []
    submit_all = engine.submit_all

    # A chat request queues its choices together through `submit_all`.
    def recording(*args: Any, **kwargs: Any) -> Any:
        submitted = submit_all(*args, **kwargs)
        generations.extend(submitted)
        return submitted

    monkeypatch.setattr(engine, "submit_all", recording)
    body = {"model": MODEL, "messages": COUNTING, "max_tokens": 1000, "temperature": 0}
    with httpx.Client(base_url=server.url, timeout=httpx.Timeout(60, read=2)) as http:
        with pytest.raises(httpx.ReadTimeout):
            http.post("/v1/chat/completions", json=body)
        gave_up = time.monotonic()
    assert len(generations) == 1
    # The request is cancelled as soon as the server sees the client go (1000 tokens are many seconds more);
    # the engine then frees the slot at its next step.
    assert generations[0].cancelled.wait(timeout=5)
    assert time.monotonic() - gave_up < 5
    assert wait_idle(registry, timeout=60)


def test_a_full_queue_answers_429(chat_server: tuple[LiveServer, Registry]) -> None:
    server, registry = chat_server
    statuses: list[int] = []
    retry_after: list[str | None] = []

    def run() -> None:
        with httpx.Client(base_url=server.url, timeout=120) as http:
            body = {"model": MODEL, "messages": COUNTING, "max_tokens": 48, "temperature": 0}
            response = http.post("/v1/chat/completions", json=body)
            statuses.append(response.status_code)
            if response.status_code == 429:
                assert response.json()["error"]["type"] == "rate_limit_error"
                retry_after.append(response.headers.get("retry-after"))

    threads = [threading.Thread(target=run) for _ in range(PARALLEL + QUEUE + 3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses.count(200) >= PARALLEL + QUEUE
    assert 429 in statuses
    assert set(retry_after) == {"1"}
    assert wait_idle(registry)


def test_legacy_completions(client: OpenAI) -> None:
    response = client.completions.create(
        model=MODEL, prompt="def add(a, b):", max_tokens=12, temperature=0, echo=True, logprobs=2
    )
    choice = response.choices[0]
    assert choice.text.startswith("def add(a, b):")
    assert len(choice.text) > len("def add(a, b):")
    assert choice.finish_reason in ("length", "stop")
    assert choice.logprobs is not None
    assert choice.logprobs.tokens
    assert response.usage is not None
    assert response.usage.completion_tokens <= 12
    streamed = list(
        client.completions.create(
            model=MODEL, prompt=["1, 2, 3,", "a, b, c,"], max_tokens=6, temperature=0, stream=True, n=1
        )
    )
    indexes = {c.choices[0].index for c in streamed if c.choices}
    assert indexes == {0, 1}
