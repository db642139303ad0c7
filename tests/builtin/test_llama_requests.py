"""The built-in chat model under requests that once broke it: seeds (reproducible, -1, and one that used
to kill the scheduler), a failing step, requests too large for the queue, text that is not Unicode,
special tokens in a legacy prompt, and what the prefix cache saved."""

from __future__ import annotations

import time
from typing import Any

import httpx
import llama_cpp
import openai
import pytest
from openai import OpenAI

from live_server import LiveServer
from modelport.builtin.llama import DEFAULT_NAME
from modelport.builtin.llama.chat import LlamaChat
from modelport.runtime import Registry

from .conftest import CHAT_PARALLEL, CHAT_QUEUE

MODEL = DEFAULT_NAME
CAPITAL = [{"role": "user", "content": "What is the capital of France? One word."}]
SEA = [{"role": "user", "content": "Write one sentence about the sea."}]
COUNTING = [{"role": "user", "content": "Count from 1 to 500, separated by commas, with no other text."}]


def engine_of(registry: Registry) -> Any:
    chat = registry.get(MODEL).spec.target
    assert isinstance(chat, LlamaChat)
    assert chat.engine is not None
    return chat.engine


def sample(client: OpenAI, seed: int, n: int = 1) -> list[str]:
    response = client.chat.completions.create(
        model=MODEL,
        messages=SEA,
        temperature=1.0,
        seed=seed,
        max_tokens=12,
        n=n,  # type: ignore[arg-type]
    )
    return [choice.message.content or "" for choice in response.choices]


def test_a_seed_reproduces_whatever_ran_before(client: OpenAI) -> None:
    alone = sample(client, 42)
    # Requests that leave the prompt cached in other slots, computed in other batches.
    both = sample(client, 42, n=2)
    sample(client, 43)
    assert sample(client, 42) == alone
    assert sample(client, 42, n=2) == both
    assert len(set(both)) == 2  # choice i draws with seed + i: different, and each reproducible


def test_seed_minus_one_is_random_and_the_server_lives_on(
    client: OpenAI, chat_server: tuple[LiveServer, Registry]
) -> None:
    # It once killed the scheduler thread: this request hung and the next one crashed libllama.
    answers = {sample(client, -1)[0] for _ in range(3)}
    assert len(answers) > 1
    response = client.chat.completions.create(model=MODEL, messages=CAPITAL, temperature=0, seed=-(2**63))
    assert "paris" in (response.choices[0].message.content or "").lower()
    with httpx.Client(base_url=chat_server[0].url) as http:
        assert http.get("/health").json()["status"] == "ok"


def test_a_failed_step_fails_its_requests_and_the_model_serves_on(
    client: OpenAI, chat_server: tuple[LiveServer, Registry], monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = client.chat.completions.create(model=MODEL, messages=CAPITAL, temperature=0, max_tokens=8)
    decode, failures = llama_cpp.llama_decode, []

    def decode_then_fail(ctx: Any, batch: Any) -> int:
        # The batch reaches the cache, yet the step fails: the engine must not trust what the cache holds.
        status = int(decode(ctx, batch))
        if not failures:
            failures.append(status)
            return -1
        return status

    monkeypatch.setattr(llama_cpp, "llama_decode", decode_then_fail)
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model=MODEL, messages=CAPITAL, temperature=0, max_tokens=8)
    monkeypatch.undo()
    again = client.chat.completions.create(model=MODEL, messages=CAPITAL, temperature=0, max_tokens=8)
    assert again.choices[0].message.content == expected.choices[0].message.content
    with httpx.Client(base_url=chat_server[0].url) as http:
        assert http.get("/health").status_code == 200


def test_more_choices_than_slots_and_queue_is_a_400(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=MODEL, messages=CAPITAL, n=CHAT_PARALLEL + CHAT_QUEUE + 1, max_tokens=1)
    assert caught.value.param == "n"
    # Exactly as many as fit an idle model run.
    response = client.chat.completions.create(model=MODEL, messages=CAPITAL, n=CHAT_PARALLEL + CHAT_QUEUE, max_tokens=1)
    assert len(response.choices) == CHAT_PARALLEL + CHAT_QUEUE


def test_a_refused_request_leaves_nothing_queued(chat_server: tuple[LiveServer, Registry]) -> None:
    server, registry = chat_server
    engine = engine_of(registry)
    # The server is shared: a request an earlier test cancelled may hold its slot until the engine's next step.
    deadline = time.monotonic() + 30
    while engine.active_count() and time.monotonic() < deadline:
        time.sleep(0.05)
    body = {"model": MODEL, "messages": COUNTING, "stream": True, "max_tokens": 400, "temperature": 0}
    with (
        httpx.Client(base_url=server.url, timeout=60) as http,
        http.stream("POST", "/v1/chat/completions", json=body) as stream,
    ):
        next(line for line in stream.iter_lines() if line.startswith("data: "))
        # One slot is busy: the other choices and the queue hold one fewer than this asks for.
        refused = http.post(
            "/v1/chat/completions",
            json={"model": MODEL, "messages": CAPITAL, "n": CHAT_PARALLEL + CHAT_QUEUE, "max_tokens": 1},
        )
        assert refused.status_code == 429
        assert len(engine._waiting) == 0
        assert engine.active_count() == 1


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/chat/completions", b'{"model": "%s", "messages": [{"role": "user", "content": "a\\ud800b"}]}'),
        ("/v1/completions", b'{"model": "%s", "prompt": "a\\udfffb", "max_tokens": 2}'),
    ],
)
def test_a_lone_surrogate_is_a_400(chat_server: tuple[LiveServer, Registry], path: str, body: bytes) -> None:
    with httpx.Client(base_url=chat_server[0].url, timeout=60) as http:
        response = http.post(path, content=body % MODEL.encode(), headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_unicode"


def test_legacy_prompts_read_special_tokens(client: OpenAI, chat_server: tuple[LiveServer, Registry]) -> None:
    # As llama-server reads them: the chat markers are the model's own tokens, so a hand-written chat
    # prompt is answered as the chat endpoint answers it.
    assert client.completions.create(model=MODEL, prompt="<|im_start|>", max_tokens=1).usage.prompt_tokens == 1  # type: ignore[union-attr]
    prompt = "<|im_start|>user\nWhat is the capital of France? One word.<|im_end|>\n<|im_start|>assistant\n"
    response = client.completions.create(model=MODEL, prompt=prompt, max_tokens=8, temperature=0)
    assert "paris" in response.choices[0].text.lower()
    assert response.usage is not None
    assert response.usage.prompt_tokens == len(engine_of(chat_server[1]).tokenize(prompt))


def test_usage_reports_the_cached_prompt_tokens(client: OpenAI) -> None:
    messages = [{"role": "user", "content": "List three fruits. " * 10}]
    first = client.chat.completions.create(model=MODEL, messages=messages, temperature=0, max_tokens=2)  # type: ignore[arg-type]
    second = client.chat.completions.create(model=MODEL, messages=messages, temperature=0, max_tokens=2)  # type: ignore[arg-type]
    assert first.usage is not None
    assert second.usage is not None
    assert second.usage.prompt_tokens_details is not None
    # All but the last prompt token came from the cache (one is decoded again for its logits).
    assert second.usage.prompt_tokens_details.cached_tokens == second.usage.prompt_tokens - 1
    streamed = list(
        client.chat.completions.create(
            model=MODEL, messages=messages, temperature=0, max_tokens=2, stream=True,  # type: ignore[arg-type]
            stream_options={"include_usage": True},
        )
    )  # fmt: skip
    usage = streamed[-1].usage
    assert usage is not None
    assert usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.cached_tokens == usage.prompt_tokens - 1
