"""What only Ray Serve does: several replicas of a model on the node its resources name, back-pressure, a
replica that dies, and an upstream server's model deployed like the others."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from openai import BadRequestError, OpenAI

from live_server import LiveServer

from .conftest import RayCluster

# A replica restart on a loaded machine takes a while.
RECOVERY_TIMEOUT = 300.0


@pytest.fixture(scope="module")
def http(ray_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=ray_server.url, timeout=120) as raw:
        yield raw


def _chat(http: httpx.Client, model: str, text: str = "hi") -> httpx.Response:
    return http.post("/v1/chat/completions", json={"model": model, "messages": [{"role": "user", "content": text}]})


def test_two_replicas_answer_from_the_node_their_resources_name(http: httpx.Client, ray_cluster: RayCluster) -> None:
    seen = set()
    deadline = time.monotonic() + 60
    while len(seen) < 2 and time.monotonic() < deadline:
        response = _chat(http, "whoami")
        assert response.status_code == 200, response.text
        seen.add(response.json()["choices"][0]["message"]["content"])
    assert len(seen) == 2, seen
    # Both replicas asked for the resource only the second node has.
    assert {answer.split(" node ")[1] for answer in seen} == {ray_cluster.node_b}
    assert ray_cluster.node_b != ray_cluster.head_node


def test_full_queue_is_429_with_retry_after(ray_server: LiveServer) -> None:
    # `slow` runs one request, holds one waiting and queues one in the router: of five at once, the ones that
    # find the queue full get 429.
    body = {"model": "slow", "messages": [{"role": "user", "content": "hi"}], "delay": 3.0}

    def post(_: int) -> httpx.Response:
        with httpx.Client(base_url=ray_server.url, timeout=120) as client:
            return client.post("/v1/chat/completions", json=body)

    with ThreadPoolExecutor(5) as pool:
        responses = list(pool.map(post, range(5)))
    statuses = sorted(response.status_code for response in responses)
    assert 200 in statuses, statuses
    assert 429 in statuses, statuses
    refused = next(response for response in responses if response.status_code == 429)
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["error"]["type"] == "rate_limit_error"
    assert refused.json()["error"]["code"] == "rate_limit_exceeded"


def test_dead_replica_is_503_and_recovers(http: httpx.Client) -> None:
    response = _chat(http, "crash", "die")
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["type"] == "server_error"
    assert error["code"] == "service_unavailable"
    assert "crash" in error["message"]
    # Ray starts a new replica; the server kept serving, and the model answers again.
    deadline = time.monotonic() + RECOVERY_TIMEOUT
    while True:
        response = _chat(http, "crash", "hello")
        if response.status_code == 200 or time.monotonic() > deadline:
            break
        assert response.status_code == 503, response.text
        time.sleep(1)
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "alive"


def test_upstream_model_streams_through_its_replica(ray_server: LiveServer) -> None:
    # `up/echo` forwards to the in-process server: the replica holds the HTTP client, chunks pass through.
    with OpenAI(base_url=ray_server.v1, api_key="unused", max_retries=0, timeout=120) as client:
        stream = client.chat.completions.create(
            model="up/echo", messages=[{"role": "user", "content": "one two three"}], stream=True
        )
        deltas = [c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta.content]
    assert len(deltas) == 3
    assert "".join(deltas) == "one two three"


def test_status_lists_each_deployment_and_its_replicas(ray_deployment: Any) -> None:
    status = ray_deployment.status()
    assert set(status) == {predictor.name for predictor in ray_deployment.registry}
    assert {"echo", "hash-embed", "whoami", "slow", "crash", "batch-probe", "up/echo"} <= set(status)
    assert status["echo"]["status"] == "HEALTHY"
    assert status["echo"]["replicas"] == {"RUNNING": 1}


def test_an_image_models_own_token_counter_runs_in_its_replica(ray_server: LiveServer) -> None:
    # The counter is a method of the model, so on Ray Serve a call to its replica, awaited by the ingress.
    with OpenAI(base_url=ray_server.v1, api_key="unused", max_retries=0, timeout=120) as client:
        made = client.images.generate(model="picky-image", prompt="a red fox")
        assert made.data
        assert made.usage is not None
        assert made.usage.input_tokens == 3
        with pytest.raises(BadRequestError) as refused:
            client.images.generate(model="picky-image", prompt="a red fox at dusk")
    assert refused.value.code == "prompt_too_long"
    assert "5 tokens" in refused.value.message
