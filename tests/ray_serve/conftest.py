"""One local Ray instance for the session, serving the examples and the replica test models on Ray Serve."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import live_server
from live_server import LiveServer
from modelport.config import Settings
from modelport.ray import Deployment, DeploymentOptions, deploy, start_ray

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE.parents[1] / "examples"
TARGETS = [str(EXAMPLES), str(HERE / "replica_models.py")]
# Ray's cold start is 16-20 s on a quiet machine; a loaded shared one takes minutes.
DEPLOY_TIMEOUT = 900.0

OPTIONS = {
    "whoami": DeploymentOptions(num_replicas=2),
    # One request at a time and one waiting: a third concurrent request finds the queue full.
    "slow": DeploymentOptions(max_ongoing_requests=1, max_queued_requests=1),
}


@pytest.fixture(scope="session")
def ray_deployment() -> Iterator[Deployment]:
    start_ray()
    import ray

    try:
        yield deploy(TARGETS, OPTIONS, timeout=DEPLOY_TIMEOUT)
    finally:
        from ray import serve

        serve.shutdown()
        ray.shutdown()


@pytest.fixture(scope="session")
def ray_server(ray_deployment: Deployment) -> Iterator[LiveServer]:
    """modelport's own app in front of the Ray deployments, on a port the OS picks."""
    with live_server.serve(ray_deployment.registry, Settings()) as live:
        yield live
