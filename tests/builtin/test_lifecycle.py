"""Real built-ins declared in a models file: two chat models (two llama.cpp engines) and MiniLM, loaded at
start or on demand, unloaded and loaded again, their memory measured and their loads counted in /metrics."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from openai import OpenAI

import live_server
from live_server import LiveServer
from modelport.catalog import build_registry
from modelport.config import ModelEntry, Settings

CHAT = {"engine": "llama", "source": "qwen2.5-coder-0.5b-instruct", "context": 512}


@pytest.fixture(scope="module")
def server(cache_dir: Path) -> Iterator[LiveServer]:
    settings = Settings(
        cache_dir=cache_dir,
        models={
            "coder-a": ModelEntry.model_validate({**CHAT, "parallel": 2}),
            "coder-b": ModelEntry.model_validate({**CHAT, "parallel": 1, "aliases": ["gpt-4o-mini"]}),
            "minilm": ModelEntry(engine="onnx-embeddings", load="start"),
        },
    )
    with live_server.serve(build_registry(settings), settings) as live:
        yield live


@pytest.fixture(scope="module")
def client(server: LiveServer) -> Iterator[OpenAI]:
    with OpenAI(base_url=server.v1, api_key="unused", max_retries=0, timeout=300) as openai_client:
        yield openai_client


def states(client: OpenAI) -> dict[str, dict[str, object]]:
    return {m.id: m.model_extra or {} for m in client.models.list()}


def say(client: OpenAI, model: str) -> str:
    reply = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Say hi."}], max_tokens=4, temperature=0
    )
    return reply.choices[0].message.content or ""


def test_two_chat_models_load_on_demand_beside_a_start_up_model(client: OpenAI, server: LiveServer) -> None:
    before = states(client)
    assert before["minilm"]["state"] == "loaded"
    assert before["coder-a"]["state"] == "unloaded"
    assert before["coder-b"]["state"] == "unloaded"
    # The estimate from the packaged parts, before any load.
    assert int(str(before["coder-a"]["memory_bytes"])) > 300_000_000

    replies: dict[str, str] = {}
    threads = [
        threading.Thread(target=lambda m=m: replies.__setitem__(m, say(client, m))) for m in ("coder-a", "gpt-4o-mini")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert replies["coder-a"]
    assert replies["gpt-4o-mini"]
    after = states(client)
    assert after["coder-a"]["state"] == "loaded"
    assert after["coder-b"]["state"] == "loaded"

    unloaded = httpx.post(f"{server.v1}/models/coder-a/unload", timeout=60)
    assert unloaded.json()["state"] == "unloaded"
    assert states(client)["coder-b"]["state"] == "loaded"
    assert say(client, "coder-a")
    metrics = httpx.get(f"{server.url}/metrics", timeout=10).text
    assert 'modelport_model_load_seconds_count{model="coder-a"} 2.0' in metrics
    assert 'modelport_model_load_seconds_count{model="coder-b"} 1.0' in metrics
    assert 'modelport_model_unloads_total{model="coder-a"} 1.0' in metrics
    assert 'modelport_model_queue_depth{model="coder-b"} 0.0' in metrics


def test_the_embedding_model_unloads_and_loads_again(client: OpenAI, server: LiveServer) -> None:
    first = client.embeddings.create(model="minilm", input="the same sentence").data[0].embedding
    assert httpx.post(f"{server.v1}/models/minilm/unload", timeout=60).json()["state"] == "unloaded"
    again = client.embeddings.create(model="minilm", input="the same sentence").data[0].embedding
    assert again == pytest.approx(first, abs=1e-6)
    assert states(client)["minilm"]["state"] == "loaded"
