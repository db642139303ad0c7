"""One Ray instance for the session: a simulated two-node cluster on 127.0.0.1, serving the examples, the
replica test models and an upstream server's model on Ray Serve, behind modelport's own app."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import live_server
from live_server import LiveServer
from modelport.config import Settings

# Imported before Ray is: it tells Ray to keep 127.0.0.1 as the nodes' address.
from modelport.ray import deploy_config, deploy_settings, local_node_options, start_ray
from modelport.runtime import Registry, load_targets
from modelport.upstream.config import UpstreamConfig

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE.parents[1] / "examples"
# The examples behind the API tests (chat, embeddings, speech, transcription), and the test models: each
# model is a replica process to start, so no more than the tests use.
EXAMPLE_FILES = ("echo_chat.py", "hashing_embedder.py", "tone_speech.py", "length_transcriber.py")
TARGETS = [*(str(EXAMPLES / name) for name in EXAMPLE_FILES), str(HERE / "replica_models.py")]
# Ray's cold start is 16-20 s on a quiet machine; a loaded shared one takes minutes.
DEPLOY_TIMEOUT = 900.0
# A custom resource only the second node has: a replica that asks for a little of it lands there.
NODE_B = "modelport-test-node-b"

OPTIONS: dict[str, Any] = {
    # Two replicas on the second node, two requests each at a time and none waiting in them (the kill test
    # counts on it: the others wait in Ray's router, where a replica's death does not touch them).
    "whoami": {
        "num_replicas": 2,
        "max_ongoing_requests": 2,
        "replica_queue": 0,
        "ray_actor_options": {"resources": {NODE_B: 0.01}},
    },
    # One request at a time, one waiting in the replica and one in the router: a fourth finds them full.
    "slow": {"max_ongoing_requests": 1, "max_queued_requests": 1},
}


@dataclass(frozen=True)
class RayCluster:
    address: str
    head_node: str
    node_b: str
    # The processes each node started (GCS, raylets, agents...); the workers are their descendants.
    processes: tuple[int, ...]


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[RayCluster]:
    """Two Ray nodes on this machine, started as `modelport deploy` starts its local one (loopback only,
    usage stats off, a bounded object store); the second node has the `NODE_B` resource."""
    import ray
    from ray import serve
    from ray.cluster_utils import Cluster

    node = local_node_options()
    cluster = Cluster(initialize_head=True, head_node_args={**node, "num_cpus": 2})
    try:
        second = cluster.add_node(**node, num_cpus=2, resources={NODE_B: 1})
        start_ray(cluster.address)
        processes = tuple(
            info.process.pid
            for node_process in cluster.list_all_nodes()
            for infos in node_process.all_processes.values()
            for info in infos
        )
        yield RayCluster(cluster.address, cluster.head_node.node_id, second.node_id, processes)
    finally:
        if ray.is_initialized():
            serve.shutdown()
            ray.shutdown()
        cluster.shutdown()


@pytest.fixture(scope="session")
def local_server() -> Iterator[LiveServer]:
    """The same models in process: the other runtime of the API tests, and the upstream of `up/echo`."""
    with live_server.serve(Registry(load_targets(TARGETS)), Settings()) as live:
        yield live


@pytest.fixture(scope="session")
def ray_settings(local_server: LiveServer) -> Settings:
    upstream = UpstreamConfig(base_url=local_server.v1, models=["echo"], prefix="up/")
    return Settings(targets=TARGETS, upstreams=[upstream])


@pytest.fixture(scope="session")
def ray_deployment(ray_cluster: RayCluster, ray_settings: Settings) -> Iterator[Any]:
    deployment = deploy_settings(ray_settings, deploy_config(OPTIONS), timeout=DEPLOY_TIMEOUT)
    yield deployment
    deployment.shutdown()


@pytest.fixture(scope="session")
def ray_server(ray_deployment: Any, ray_settings: Settings) -> Iterator[LiveServer]:
    """modelport's own app in front of the Ray deployments, on a port the OS picks."""
    with live_server.serve(ray_deployment.registry, ray_settings) as live:
        yield live
