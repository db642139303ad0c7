"""modelport on Ray Serve against `modelport serve`: per-request overhead, and throughput per replica count.

    .venv/bin/python bench/ray_serve.py [--requests 200] [--seconds 10]

Both servers are subprocesses on 127.0.0.1 serving the same models, started as a user starts them:
`modelport serve` and `modelport deploy` (which starts its own local Ray); only the runtime differs. The
overhead rows are the median of sequential requests (embeddings of one sentence; a streamed 5-word chat)
and what the Ray path adds (goal: at most 10 ms). The throughput rows send requests from 16 clients at once
to `sleepy-N`, a model that holds its replica for 0.1 s per call (one call at a time per replica, as an
I/O-bound model would), deployed with N = 1, 2 and 4 replicas; the share is of N / 0.1 s, what N replicas
that never wait could do (goal: at least 0.9), and the ratio is to N times the rate of one replica.
The floor is Ray Serve alone (bench/ray_floor.py): a bare deployment's call and one-item stream.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from served import modelport_server

from modelport import App, Message

HERE = Path(__file__).resolve()
# The two models the overhead rows call, and nothing else: on two cores, every idle replica's own upkeep (health
# checks, metrics, long polls) takes time from the one measured.
EXAMPLES = [str(HERE.parents[1] / "examples" / name) for name in ("echo_chat.py", "hashing_embedder.py")]
SLEEP_SECONDS = 0.1
CLIENTS = 16
REPLICAS = (1, 2, 4)
WARM_UP = 10


def _sleepy(messages: list[Message]) -> Iterator[str]:
    """Holds its replica for a fixed time, as a model waiting on I/O would."""
    time.sleep(SLEEP_SECONDS)
    yield "ok"


# One name per replica count. Each count is deployed on its own (the count named by SLEEPY_REPLICAS in the
# environment, which the deploy command and its local Ray's replicas inherit), so that no replica of another
# count idles beside the one measured.
sleepy = App("ray-bench")
for _count in os.environ.get("SLEEPY_REPLICAS", ",".join(map(str, REPLICAS))).split(","):
    sleepy.add(_sleepy, name=f"sleepy-{_count}")


def median_ms(url: str, requests: int) -> tuple[float, float]:
    """Median milliseconds of an embeddings request and of a streamed 5-word chat."""
    embed = {"model": "hash-embed", "input": "the quick brown fox jumps"}
    chat = {"model": "echo", "messages": [{"role": "user", "content": "the quick brown fox jumps"}], "stream": True}
    timings: dict[str, list[float]] = {"embed": [], "chat": []}
    with httpx.Client(base_url=url, timeout=60) as client:
        for i in range(requests + WARM_UP):
            for kind, body in (("embed", embed), ("chat", chat)):
                start = time.perf_counter()
                response = client.post("/v1/embeddings" if kind == "embed" else "/v1/chat/completions", json=body)
                response.raise_for_status()
                if i >= WARM_UP:  # the first ones open connections and warm the replicas
                    timings[kind].append((time.perf_counter() - start) * 1000)
    return statistics.median(timings["embed"]), statistics.median(timings["chat"])


def throughput(url: str, name: str, seconds: float) -> float:
    """Requests per second to `name` from `CLIENTS` clients at once."""
    total, took = load(url, name, seconds)
    return total / took


def load(url: str, name: str, seconds: float) -> tuple[int, float]:
    """Requests answered by `name` to `CLIENTS` clients at once for `seconds`, and the seconds they took."""
    body = {"model": name, "messages": [{"role": "user", "content": "hi"}]}
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
    return total, time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument(
        "--seconds", type=float, default=30.0, help="per replica count (10 s holds ~95 calls at 1 replica)"
    )
    args = parser.parse_args()

    floor_run = [sys.executable, str(HERE.parent / "ray_floor.py"), "--requests", str(args.requests)]
    done = subprocess.run(floor_run, capture_output=True, text=True)
    printed = [line for line in done.stdout.splitlines() if line.startswith("{")]
    floor = json.loads(printed[-1]) if printed else None
    with modelport_server(*EXAMPLES) as url:
        local_embed, local_chat = median_ms(url, args.requests)
    with modelport_server(*EXAMPLES, command="deploy", timeout=900) as url:
        ray_embed, ray_chat = median_ms(url, args.requests)
    rates = {}
    with tempfile.TemporaryDirectory() as folder:
        for n in REPLICAS:
            path = Path(folder) / f"sleepy-{n}.toml"
            path.write_text(f"[models.sleepy-{n}]\nnum_replicas = {n}\nmax_ongoing_requests = 1\n")
            options = (str(HERE), "--config", str(path))
            environment = {"SLEEPY_REPLICAS": str(n)}
            with modelport_server(*options, command="deploy", timeout=900, env=environment) as url:
                rates[n] = throughput(url, f"sleepy-{n}", args.seconds)
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"load average at the end: {load}")
    print("per request (median ms)   modelport serve   modelport deploy   added (goal <= 10)")
    print(f"embeddings, 1 sentence    {local_embed:15.1f}   {ray_embed:16.1f}   {ray_embed - local_embed:5.1f}")
    print(f"streamed chat, 5 words    {local_chat:15.1f}   {ray_chat:16.1f}   {ray_chat - local_chat:5.1f}")
    if floor is not None:
        call, stream = floor["unary"], floor["stream"]
        print(f"floor: Ray Serve alone, a handle call {call:.1f} ms, a stream of one item {stream:.1f} ms")
    else:
        print(f"floor: bench/ray_floor.py failed: {done.stderr.strip().splitlines()[-1:]}")
    print(f"throughput of sleepy ({SLEEP_SECONDS} s a call, {CLIENTS} clients)")
    print("  replicas   requests/s   share of the ideal N / sleep (goal >= 0.9)   ratio to linear")
    for replicas, rate in rates.items():
        linear = rate / (rates[1] * replicas)
        ideal = rate * SLEEP_SECONDS / replicas
        print(f"  {replicas:8d}   {rate:10.1f}   {ideal:42.2f}   {linear:15.2f}")


if __name__ == "__main__":
    main()
