"""Chat serving, modelport against llama.cpp's own llama-server, on the same GGUF, threads and machine.

    .venv/bin/python bench/chat.py [--max-tokens 128] [--concurrency 1 4 8] [--rounds 5]

llama-server is built once from the llama.cpp source vendored in the pinned llama-cpp-python sdist (from
PyPI) into ~/.cache/modelport/bench. The two servers run one after the other, never together, each with 8
parallel sequences of 4,096 tokens, and answer the same streamed requests through the OpenAI API. Printed:
single-stream decode tok/s, time to first token, and total tok/s at each concurrency, with two ratios: of the
medians, and the median of the ratios of samples taken in the same round.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

LLAMA_CPP_PYTHON = "0.3.36"
CACHE = Path.home() / ".cache" / "modelport" / "bench"
PARALLEL = 8
CONTEXT_PER_SEQUENCE = 4096
# A single stream is the noisiest measure and the cheapest, so each round takes several.
SINGLE_STREAMS_PER_ROUND = 3
PROMPT = "Write a long, detailed story about a lighthouse keeper and a storm."


def build_llama_server() -> Path:
    """llama-server built from the vendored llama.cpp of the pinned llama-cpp-python sdist."""
    binary = CACHE / "llama.cpp-build" / "bin" / "llama-server"
    if binary.is_file():
        return binary
    CACHE.mkdir(parents=True, exist_ok=True)
    sdist = CACHE / f"llama_cpp_python-{LLAMA_CPP_PYTHON}.tar.gz"
    if not sdist.is_file():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--no-binary",
                ":all:",
                f"llama-cpp-python=={LLAMA_CPP_PYTHON}",
                "-d",
                str(CACHE),
            ],
            check=True,
        )
    source = CACHE / f"llama_cpp_python-{LLAMA_CPP_PYTHON}"
    if not source.is_dir():
        with tarfile.open(sdist) as archive:
            archive.extractall(CACHE, filter="data")
    build = binary.parent.parent
    shutil.rmtree(build, ignore_errors=True)
    flags = ["-DLLAMA_USE_PREBUILT_UI=OFF", "-DLLAMA_BUILD_UI=OFF", "-DLLAMA_CURL=OFF", "-DCMAKE_BUILD_TYPE=Release"]
    subprocess.run(["cmake", "-S", str(source / "vendor" / "llama.cpp"), "-B", str(build), *flags], check=True)
    subprocess.run(
        ["cmake", "--build", str(build), "--target", "llama-server", "-j", str(os.cpu_count() or 1)], check=True
    )
    return binary


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running(command: list[str], port: int, env: dict[str, str] | None = None) -> Iterator[str]:
    """Start a server, wait for /health, yield its base URL, then stop it by its PID."""
    log = (CACHE / f"server-{port}.log").open("w")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{command[0]} exited; see {log.name}")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{command[0]} did not become ready")
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=60)
        log.close()


@dataclass
class Stream:
    ttft: float
    decode_seconds: float
    tokens: int


def stream_once(url: str, model: str, max_tokens: int) -> Stream:
    body = {
        "model": model,
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": max_tokens,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    start = time.perf_counter()
    first = last = 0.0
    deltas = 0
    usage_tokens = None
    with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=600) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if chunk.get("usage"):
                usage_tokens = chunk["usage"]["completion_tokens"]
            for choice in chunk.get("choices") or ():
                if (choice.get("delta") or {}).get("content"):
                    now = time.perf_counter()
                    first = first or now
                    last = now
                    deltas += 1
    tokens = usage_tokens or deltas
    return Stream(ttft=first - start, decode_seconds=last - first, tokens=tokens)


def concurrent(url: str, model: str, max_tokens: int, count: int) -> float:
    """Total tokens per second of `count` streams started together."""
    outcomes: list[Stream] = []

    def one(into: list[Stream] = outcomes) -> None:
        into.append(stream_once(url, model, max_tokens))

    threads = [threading.Thread(target=one) for _ in range(count)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(o.tokens for o in outcomes) / (time.perf_counter() - start)


def measure(
    servers: dict[str, str], model: str, max_tokens: int, concurrency: list[int], rounds: int
) -> dict[str, dict[str, list[float]]]:
    """Each metric's samples over `rounds`. The servers take turns within every round and swap who goes
    first each round, so that a busy moment of this shared machine, or a drift, falls on both alike."""
    samples: dict[str, dict[str, list[float]]] = {name: {} for name in servers}
    for url in servers.values():
        stream_once(url, model, 8)  # warm up
    order = list(servers.items())
    for round_number in range(rounds):
        for name, url in order if round_number % 2 == 0 else order[::-1]:
            row = samples[name]
            for _ in range(SINGLE_STREAMS_PER_ROUND):
                single = stream_once(url, model, max_tokens)
                row.setdefault("decode tok/s (1 stream)", []).append((single.tokens - 1) / single.decode_seconds)
                row.setdefault("time to first token (ms)", []).append(1000 * single.ttft)
            for count in concurrency:
                row.setdefault(f"total tok/s ({count} streams)", []).append(concurrent(url, model, max_tokens, count))
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    from modelport.builtin.llama import DEFAULT_NAME, default_model_path
    from modelport.config import Settings

    gguf = default_model_path(Settings().cache_dir)
    threads = str(os.cpu_count() or 1)
    server = build_llama_server()
    port = free_port()
    reference_command = [
        str(server), "-m", str(gguf), "--host", "127.0.0.1", "--port", str(port), "-t", threads, "-tb", threads,
        "-np", str(PARALLEL), "-c", str(PARALLEL * CONTEXT_PER_SEQUENCE), "--no-webui",
    ]  # fmt: skip
    ours_port = free_port()
    ours_command = [sys.executable, "-m", "modelport", "serve", "--port", str(ours_port), "--log-level", "warning"]
    env = {
        "MODELPORT_CHAT_MODEL": str(gguf),
        "MODELPORT_CHAT_MODEL_NAME": DEFAULT_NAME,
        "MODELPORT_CHAT_PARALLEL": str(PARALLEL),
        "MODELPORT_CHAT_CONTEXT": str(CONTEXT_PER_SEQUENCE),
        # Only the chat model: the other built-ins would load and sit idle beside it.
        "MODELPORT_BUILTINS": "chat",
    }
    # Both servers stay up (idle, they cost no CPU); requests take turns between them.
    with running(reference_command, port) as reference_url, running(ours_command, ours_port, env) as ours_url:
        results = measure(
            {"modelport": ours_url, "llama-server": reference_url},
            DEFAULT_NAME,
            args.max_tokens,
            args.concurrency,
            args.rounds,
        )
    ours, reference = results["modelport"], results["llama-server"]

    print(f"\nchat: {gguf.name}, {threads} threads, {PARALLEL} parallel sequences, max_tokens {args.max_tokens}")
    print(
        f"medians of {args.rounds} rounds ({SINGLE_STREAMS_PER_ROUND} single streams in each), min-max in brackets, "
        "the two servers taking turns\n"
    )
    print(f"{'metric':<26}{'modelport':>22}{'llama-server':>22}{'ratio':>8}{'paired':>8}")
    for metric, values in ours.items():
        mine, theirs = statistics.median(values), statistics.median(reference[metric])
        # The i-th samples of the two servers were taken in the same round, less than a minute apart: the
        # median of their ratios is the least disturbed by the machine's load drifting over the run.
        paired = statistics.median(a / b for a, b in zip(values, reference[metric], strict=True))
        print(f"{metric:<26}{spread(values):>22}{spread(reference[metric]):>22}{mine / theirs:>8.2f}{paired:>8.2f}")
    print("\nratio: of the medians; paired: the median of the ratios of samples taken in the same round")


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} [{min(values):.0f}-{max(values):.0f}]"


if __name__ == "__main__":
    main()
