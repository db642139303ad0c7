"""Streams and the event loop: a client that goes away stops the predictor; sync predictors never block."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import anyio
import httpx
import pytest

from . import faulty_models
from .conftest import LiveServer
from .helpers import user

CHAT = "/v1/chat/completions"


def _next_event(lines: Iterator[str]) -> dict[str, object]:
    for line in lines:
        if line.startswith("data: "):
            event: dict[str, object] = json.loads(line.removeprefix("data: "))
            return event
    raise AssertionError("the stream ended before the next event")


@pytest.mark.parametrize("model", ["slow-chat", "slow-async-chat"])
def test_disconnect_closes_the_predictor(server: LiveServer, model: str) -> None:
    key = f"disconnect {uuid.uuid4().hex}"
    closed = faulty_models.closed(key)
    body = {"model": model, "messages": user(key), "stream": True}
    with httpx.Client(base_url=server.url, timeout=10) as http, http.stream("POST", CHAT, json=body) as response:
        assert response.status_code == 200
        # One iterator for the whole read: abandoning a half-read httpx iterator closes the connection.
        lines = response.iter_lines()
        assert _next_event(lines)["object"] == "chat.completion.chunk"
        assert _next_event(lines)["object"] == "chat.completion.chunk"
        assert not closed.is_set()
        # Leaving the block closes the connection mid-stream; the generator has ~9 s of ticks left.
    assert closed.wait(timeout=5), "the predictor's generator was not closed after the client left"


def test_sync_predictor_does_not_block_the_loop(server: LiveServer) -> None:
    key = f"gate {uuid.uuid4().hex}"
    gate = faulty_models.gate(key)
    body = {"model": "gated-chat", "messages": user(key), "stream": True}
    with httpx.Client(base_url=server.url, timeout=10) as http, http.stream("POST", CHAT, json=body) as response:
        assert response.status_code == 200
        lines = response.iter_lines()
        assert _next_event(lines)["object"] == "chat.completion.chunk"
        # The predictor's worker thread now blocks on the gate; the server must still answer.
        try:
            with httpx.Client(base_url=server.url, timeout=3) as other:
                assert other.get("/health").status_code == 200
                completion = other.post(CHAT, json={"model": "echo", "messages": user("meanwhile")})
                assert completion.json()["choices"][0]["message"]["content"] == "meanwhile"
        finally:
            gate.set()
        rest = [line for line in lines if line]
    assert any('" second"' in line for line in rest)
    assert rest[-1] == "data: [DONE]"


@pytest.mark.anyio
async def test_concurrent_streams(server: LiveServer) -> None:
    # Eight streams from an async predictor that sleeps between deltas, all at once, all whole.
    results: dict[int, str] = {}

    async def run(index: int) -> None:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            body = {"model": "shout", "messages": user("a b c d e"), "stream": True, "delay": 0.05}
            response = await http.post(CHAT, json=body)
            results[index] = response.text

    async with anyio.create_task_group() as group:
        for index in range(8):
            group.start_soon(run, index)
    assert len(results) == 8
    for text in results.values():
        assert text.endswith("data: [DONE]\n\n")
        assert "".join(_deltas(text)) == "A B C D E"


def _deltas(body: str) -> list[str]:
    events = [json.loads(line.removeprefix("data: ")) for line in body.split("\n\n") if line.startswith("data: {")]
    return [event["choices"][0]["delta"].get("content") or "" for event in events if event["choices"]]
