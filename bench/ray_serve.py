"""modelport on Ray Serve against `modelport serve`: per-request overhead, and throughput per replica count.

    .venv/bin/python bench/ray_serve.py [--requests 200] [--seconds 5]

Both servers are modelport's own app on 127.0.0.1 with the same models; only the runtime differs. The
overhead rows are the median of sequential requests (embeddings of one sentence; a 5-word streamed chat).
The throughput rows send requests from 16 clients at once to `sleepy`, a model that holds its replica for
0.1 s per call (one call at a time per replica), with 1, 2 and 4 replicas; linear scaling doubles the rate.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx

from modelport import Message, model
from modelport.config import Settings
from modelport.runtime import Registry, load_targets

HERE = Path(__file__).resolve()
TARGETS = [str(HERE.parents[1] / "examples"), str(HERE)]
SLEEP_SECONDS = 0.1
CLIENTS = 16


@model("sleepy")
def sleepy(messages: list[Message]) -> Iterator[str]:
    """Holds its replica for a fixed time, as an I/O-bound model would."""
    time.sleep(SLEEP_SECONDS)
    yield "ok"


@contextmanager
def serving(registry: Registry) -> Iterator[str]:
    import uvicorn

    from modelport.server import create_app

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(registry, Settings()), log_level="warning", http="h11"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join()
        sock.close()


def median_ms(url: str, requests: int) -> tuple[float, float]:
    """Median milliseconds of an embeddings request and of a streamed 5-word chat."""
    embed = {"model": "hash-embed", "input": "the quick brown fox jumps"}
    chat = {"model": "shout", "messages": [{"role": "user", "content": "the quick brown fox jumps"}], "stream": True}
    timings: dict[str, list[float]] = {"embed": [], "chat": []}
    with httpx.Client(base_url=url, timeout=60) as client:
        for i in range(requests + 10):
            for kind, body in (("embed", embed), ("chat", chat)):
                start = time.perf_counter()
                response = client.post("/v1/embeddings" if kind == "embed" else "/v1/chat/completions", json=body)
                response.raise_for_status()
                if i >= 10:  # the first ones warm up connections and replicas
                    timings[kind].append((time.perf_counter() - start) * 1000)
    return statistics.median(timings["embed"]), statistics.median(timings["chat"])


def throughput(url: str, seconds: float) -> float:
    """Requests per second to `sleepy` from `CLIENTS` clients at once."""
    body = {"model": "sleepy", "messages": [{"role": "user", "content": "hi"}]}
    deadline = time.monotonic() + seconds

    def client_loop(_: int) -> int:
        done = 0
        with httpx.Client(base_url=url, timeout=120) as client:
            while time.monotonic() < deadline:
                client.post("/v1/chat/completions", json=body).raise_for_status()
                done += 1
        return done

    start = time.monotonic()
    with ThreadPoolExecutor(CLIENTS) as pool:
        total = sum(pool.map(client_loop, range(CLIENTS)))
    return total / (time.monotonic() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()

    from modelport.ray import DeploymentOptions, deploy, start_ray

    with serving(Registry(load_targets(TARGETS))) as url:
        local_embed, local_chat = median_ms(url, args.requests)
    start_ray()
    rates: dict[int, float] = {}
    for replicas in (1, 2, 4):
        options = {"sleepy": DeploymentOptions(num_replicas=replicas, max_ongoing_requests=1)}
        deployment = deploy(TARGETS, options)
        with serving(deployment.registry) as url:
            if replicas == 1:
                ray_embed, ray_chat = median_ms(url, args.requests)
            rates[replicas] = throughput(url, args.seconds)
    print("per request (median ms)   modelport serve   on Ray Serve   added")
    print(f"embeddings, 1 sentence    {local_embed:15.1f}   {ray_embed:12.1f}   {ray_embed - local_embed:5.1f}")
    print(f"streamed chat, 5 words    {local_chat:15.1f}   {ray_chat:12.1f}   {ray_chat - local_chat:5.1f}")
    print(f"throughput of sleepy ({SLEEP_SECONDS} s a call, {CLIENTS} clients): requests/s, ratio to linear")
    for replicas, rate in rates.items():
        print(f"  {replicas} replica(s): {rate:6.1f}   {rate / (rates[1] * replicas):.2f}")


if __name__ == "__main__":
    main()
