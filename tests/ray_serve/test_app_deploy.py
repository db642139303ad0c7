"""The Python API: `App.deploy` with per-model options, scaling to zero, and replicas that cannot be placed."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
from openai import OpenAI

import live_server
from modelport import App, Message
from modelport.config import Settings

from .conftest import DEPLOY_TIMEOUT, NODE_B, RayCluster


def _app() -> App:
    app = App("py-api")

    # Defined here, not in an importable module: Ray pickles the function itself to the replica.
    @app.model("py-hello")
    def hello(messages: list[Message]) -> Iterator[str]:
        yield f"hello from {os.getpid()}"

    @app.model("py-idle")
    def idle(messages: list[Message]) -> Iterator[str]:
        yield "awake"

    return app


def test_app_deploy_serves_its_models_with_their_options(ray_cluster: RayCluster) -> None:
    deployment = _app().deploy(
        {
            "py-hello": {"num_replicas": 2, "ray_actor_options": {"num_cpus": 0.05}},
            # Scaled to zero: no replica until a request comes.
            "py-idle": {"autoscaling": {"min_replicas": 0, "max_replicas": 1, "upscale_delay_s": 0}},
        },
        defaults={"max_ongoing_requests": 4},
        ray_address=ray_cluster.address,
        timeout=DEPLOY_TIMEOUT,
    )
    try:
        assert deployment.app_name == "py-api"
        assert deployment.options["py-hello"].max_ongoing_requests == 4
        status = deployment.status()
        assert status["py-hello"]["replicas"] == {"RUNNING": 2}
        assert status["py-idle"]["replicas"].get("RUNNING", 0) == 0
        with (
            live_server.serve(deployment.registry, Settings()) as server,
            OpenAI(base_url=server.v1, api_key="unused", max_retries=0, timeout=300) as client,
        ):
            answers = set()
            deadline = time.monotonic() + 60
            while len(answers) < 2 and time.monotonic() < deadline:
                reply = client.chat.completions.create(model="py-hello", messages=[{"role": "user", "content": "hi"}])
                answers.add(reply.choices[0].message.content)
            assert len(answers) == 2, answers
            assert all(a and a.startswith("hello from ") for a in answers), answers
            reply = client.chat.completions.create(model="py-idle", messages=[{"role": "user", "content": "hi"}])
            assert reply.choices[0].message.content == "awake"
        assert deployment.status()["py-idle"]["replicas"].get("RUNNING", 0) == 1
    finally:
        deployment.shutdown()
    assert deployment.status() == {}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        # Ray's default of one CPU per replica, times more replicas than the cluster has CPUs.
        ({"num_replicas": 5, "ray_actor_options": {"num_cpus": 1}}, "need more than the Ray cluster has free: CPU 5"),
        ({"ray_actor_options": {"num_cpus": 3}}, "no node of the Ray cluster can hold a replica of py-hello"),
        ({"ray_actor_options": {"num_gpus": 1}}, "which needs CPU 0.1, GPU 1"),
        ({"ray_actor_options": {"resources": {NODE_B: 2}}}, "no node of the Ray cluster can hold"),
    ],
)
def test_replicas_that_cannot_be_placed_are_refused_at_once(
    ray_cluster: RayCluster, options: dict[str, Any], message: str
) -> None:
    from modelport.ray import DeployError

    started = time.monotonic()
    with pytest.raises(DeployError, match=message):
        _app().deploy({"py-hello": options}, ray_address=ray_cluster.address, name="never-placed")
    # Refused before Serve was asked: not after a timeout.
    assert time.monotonic() - started < 30


def test_options_for_a_model_the_app_lacks_are_refused(ray_cluster: RayCluster) -> None:
    from modelport.ray import DeployError

    with pytest.raises(DeployError, match="configures models that are not deployed: nope"):
        _app().deploy({"nope": {"num_replicas": 2}}, ray_address=ray_cluster.address)
