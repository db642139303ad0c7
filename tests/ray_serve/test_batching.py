"""Dynamic batching on Ray Serve happens in the replica: the ingress sends each embedding request on alone,
and the replica merges the ones that arrive together into one call of the model."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import httpx
from openai import OpenAI

from live_server import LiveServer

REQUESTS = 8


def _metric(text: str, name: str) -> float:
    match = re.search(rf'^{name}{{model="batch-probe"}} ([0-9.e+]+)$', text, re.MULTILINE)
    assert match, name
    return float(match.group(1))


def test_concurrent_requests_share_a_batch_in_the_replica(ray_server: LiveServer) -> None:
    from ray import serve

    def embed(i: int) -> list[float]:
        with OpenAI(base_url=ray_server.v1, api_key="unused", max_retries=0, timeout=120) as client:
            return client.embeddings.create(model="batch-probe", input=f"text {i}").data[0].embedding

    with ThreadPoolExecutor(REQUESTS) as pool:
        rows = list(pool.map(embed, range(REQUESTS)))
    # Each answer says how big the batch was that computed it: some were computed together.
    sizes = [int(row[0]) for row in rows]
    assert max(sizes) > 1, sizes
    # The replica's own record: every input computed once, in fewer calls than there were requests.
    handle = serve.get_deployment_handle("batch-probe", app_name="modelport")
    batches = handle.stats.remote().result(timeout_s=60)["batch_sizes"]
    assert sum(batches) == REQUESTS, batches
    assert len(batches) < REQUESTS, batches
    # The ingress merged nothing: it made one call of one input per request.
    metrics = httpx.get(f"{ray_server.url}/metrics", timeout=30).text
    assert _metric(metrics, "modelport_embedding_batch_size_count") == REQUESTS
    assert _metric(metrics, "modelport_embedding_batch_size_sum") == REQUESTS
