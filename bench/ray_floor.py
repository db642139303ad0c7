"""Ray Serve alone, without modelport: what a call through a DeploymentHandle costs at the least.

    .venv/bin/python bench/ray_floor.py [--requests 200]

A local Ray on 127.0.0.1 runs one bare deployment whose methods return at once, set up as modelport sets up
its own (the handle's router on the caller's loop, the replica's methods on the replica's loop); from an
asyncio loop, the median milliseconds of a unary call and of a stream of one item: the floor under what
`modelport deploy` adds to a request. Prints one JSON object (bench/ray_serve.py reads it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import statistics
import time
from collections.abc import AsyncIterator
from typing import Any

WARM_UP = 10


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    for key, value in {
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
        "RAY_AUTH_MODE": "disabled",
        "RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD": "0",
    }.items():
        os.environ.setdefault(key, value)
    import ray
    from ray import serve

    class Bare:
        async def unary(self, text: str) -> str:
            return text

        async def stream(self, text: str) -> AsyncIterator[str]:
            yield text

    ray.init(
        _node_ip_address="127.0.0.1",
        include_dashboard=False,
        object_store_memory=256 * 2**20,
        logging_level=logging.WARNING,
        log_to_driver=False,
    )
    try:
        serve.start(proxy_location="Disabled")
        deployment: Any = serve.deployment(Bare)
        serve.run(deployment.options(ray_actor_options={"num_cpus": 0.1}).bind(), name="floor", route_prefix=None)
        # A handle of its own, as modelport's ingress gets one: the one `serve.run` returns is already set up.
        handle = serve.get_deployment_handle("Bare", app_name="floor")

        async def measure() -> dict[str, float]:
            handle._init(_run_router_in_separate_loop=False)  # type: ignore[no-untyped-call]
            timings: dict[str, list[float]] = {"unary": [], "stream": []}
            for i in range(args.requests + WARM_UP):
                start = time.perf_counter()
                await handle.unary.remote("the quick brown fox jumps")
                unary = time.perf_counter() - start
                start = time.perf_counter()
                items: Any = handle.options(stream=True).stream.remote("the quick brown fox jumps")
                async for _ in items:
                    pass
                stream = time.perf_counter() - start
                if i >= WARM_UP:
                    timings["unary"].append(unary * 1000)
                    timings["stream"].append(stream * 1000)
            return {kind: statistics.median(values) for kind, values in timings.items()}

        print(json.dumps(asyncio.run(measure())), flush=True)
    finally:
        # The handle's router was bound to the loop `asyncio.run` closed: Serve's shutdown complains of it.
        with contextlib.suppress(Exception):
            serve.shutdown()  # type: ignore[no-untyped-call]
        ray.shutdown()


if __name__ == "__main__":
    main()
