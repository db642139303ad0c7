"""Chat serving, modelport against llama.cpp's own llama-server, on the same GGUF, threads and machine.

    .venv/bin/python bench/chat.py [--workloads story code-edit long-prefill] [--rounds 5] [--edit-rounds 1]
        [--prefill-rounds 3] [--reference-spec "--spec-default"] [--speculation-off]

llama-server is built once from the llama.cpp source vendored in the pinned llama-cpp-python sdist (from
PyPI) into ~/.cache/modelport/bench. The servers run side by side, idle but for the requests of the one
being measured, each with 8 parallel sequences of 4,096 tokens, and answer the same streamed requests
through the OpenAI API, taking turns. Three workloads, chosen with --workloads:

- story: a story prompt (greedy, --max-tokens). Single-stream decode tok/s, time to first token, and total
  tok/s at each --concurrency.
- code-edit: functions of 45 to 73 lines (bench/code_edits.py), each asked back with a small change
  (greedy, to the end of the answer or --edit-max-tokens). Total tok/s at 1 stream (the prompts one after
  another) and at 4 (all at once), also against llama-server with its own n-gram speculation
  (--reference-spec; empty to skip).
- long-prefill: three streams generate while a fourth request sends a 3,000-token prompt; the three
  streams' inter-token latency (p50, p99) while that prompt is read, their longest wait and the tokens they
  got meanwhile, and the long request's time to first token; also that time for a 3,000-token prompt sent
  while nobody else generates (read alone), and the ratio of the two.

Ratios are modelport's over llama-server's default configuration: of the medians and, for repeated
measures, the median of the ratios of samples taken in the same round. --speculation-off adds modelport
with speculative decoding turned off.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from code_edits import code_edits

LLAMA_CPP_PYTHON = "0.3.36"
CACHE = Path.home() / ".cache" / "modelport" / "bench"
PARALLEL = 8
CONTEXT_PER_SEQUENCE = 4096
# A single stream is the noisiest measure and the cheapest, so each round takes several.
SINGLE_STREAMS_PER_ROUND = 3
PROMPT = "Write a long, detailed story about a lighthouse keeper and a storm."
WORKLOADS = ("story", "code-edit", "long-prefill")
OURS, REFERENCE = "modelport", "llama-server"
# The long-prefill workload: streams generating while the long prompt is read, and the prompt's length.
PREFILL_OTHERS = 3
PREFILL_TOKENS = 3000
EDIT_STREAMS = (1, 4)


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
def running(command: list[str], port: int, ready: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """Start a server, wait until `ready` answers 200 (its model loaded), yield its base URL, then stop it
    by its PID."""
    log = (CACHE / f"server-{port}.log").open("w")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{command[0]} exited; see {log.name}")
            try:
                if httpx.get(f"{url}{ready}", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{command[0]} did not become ready")
            time.sleep(0.5)
        yield url
    except BaseException:
        # An interrupted run (Ctrl-C) has nothing worth draining: a graceful stop would wait for its open streams.
        process.kill()
        raise
    finally:
        process.terminate()
        process.wait(timeout=60)
        log.close()


@dataclass
class Stream:
    start: float
    ttft: float
    decode_seconds: float
    tokens: int
    # When each chunk with text arrived (perf_counter).
    arrivals: list[float] = field(default_factory=list)


def stream_once(
    url: str,
    model: str,
    max_tokens: int,
    messages: list[dict[str, str]] | None = None,
    stop_when: threading.Event | None = None,
    first_chunks: threading.Semaphore | None = None,
) -> Stream:
    """One streamed, greedy chat request. `stop_when` set ends it early (the client goes away);
    `first_chunks` is released once, when its first text arrives."""
    body = {
        "model": model,
        "messages": messages or [{"role": "user", "content": PROMPT}],
        "max_tokens": max_tokens,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    start = time.perf_counter()
    arrivals: list[float] = []
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
                    arrivals.append(time.perf_counter())
                    if len(arrivals) == 1 and first_chunks is not None:
                        first_chunks.release()
            if stop_when is not None and stop_when.is_set():
                break
    end = time.perf_counter()
    first = arrivals[0] if arrivals else end
    last = arrivals[-1] if arrivals else end
    tokens = usage_tokens or len(arrivals)
    return Stream(start=start, ttft=first - start, decode_seconds=last - first, tokens=tokens, arrivals=arrivals)


def concurrent(url: str, model: str, max_tokens: int, requests: list[list[dict[str, str]] | None]) -> float:
    """Total tokens per second of the requests started together."""
    outcomes: list[Stream] = []

    def one(messages: list[dict[str, str]] | None) -> None:
        outcomes.append(stream_once(url, model, max_tokens, messages))

    threads = [threading.Thread(target=one, args=(messages,), daemon=True) for messages in requests]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(o.tokens for o in outcomes) / (time.perf_counter() - start)


Samples = dict[str, dict[str, list[float]]]


def turns(servers: dict[str, str], round_number: int) -> list[tuple[str, str]]:
    """The servers in the order they take a round: reversed every other round, so a busy moment of this
    shared machine, or a drift, falls on all alike."""
    order = list(servers.items())
    return order if round_number % 2 == 0 else order[::-1]


def story(servers: dict[str, str], model: str, max_tokens: int, concurrency: list[int], rounds: int) -> Samples:
    samples: Samples = {name: {} for name in servers}
    for url in servers.values():
        stream_once(url, model, 8)  # warm up
    for round_number in range(rounds):
        for name, url in turns(servers, round_number):
            row = samples[name]
            for _ in range(SINGLE_STREAMS_PER_ROUND):
                single = stream_once(url, model, max_tokens)
                row.setdefault("decode tok/s (1 stream)", []).append((single.tokens - 1) / single.decode_seconds)
                row.setdefault("time to first token (ms)", []).append(1000 * single.ttft)
            for count in concurrency:
                rate = concurrent(url, model, max_tokens, [None] * count)
                row.setdefault(f"total tok/s ({count} streams)", []).append(rate)
    return samples


def code_edit(servers: dict[str, str], model: str, max_tokens: int, rounds: int) -> Samples:
    """Total tok/s over the code edits, one after another and all at once."""
    edits = [edit.messages() for edit in code_edits()]
    samples: Samples = {name: {} for name in servers}
    for round_number in range(rounds):
        for name, url in turns(servers, round_number):
            row = samples[name]
            tokens, seconds = 0, 0.0
            for messages in edits:
                one = stream_once(url, model, max_tokens, messages)
                tokens += one.tokens
                seconds += time.perf_counter() - one.start
            row.setdefault("code-edit total tok/s (1 stream)", []).append(tokens / seconds)
            streams = EDIT_STREAMS[-1]
            batch = [edits[i % len(edits)] for i in range(streams)]
            row.setdefault(f"code-edit total tok/s ({streams} streams)", []).append(
                concurrent(url, model, max_tokens, list(batch))
            )
    return samples


def long_prompt(count_tokens: Callable[[str], int], round_number: int) -> str:
    """About PREFILL_TOKENS tokens of text, different in every round (so no server has it cached)."""
    sentences = [
        f"Record {i}: the crate in bay {i * 7 % 31} weighs {i * 13 % 97} kilograms and ships on day {i % 28 + 1}."
        for i in range(400)
    ]
    text = f"Round {round_number}. " + " ".join(sentences)
    count = count_tokens(text)
    # Cut to the length that makes PREFILL_TOKENS, less the chat template's few tokens and the question's.
    text = text[: int(len(text) * (PREFILL_TOKENS - 40) / count)]
    return f"{text}\n\nWhich bay holds the heaviest crate? One number."


def long_prefill(servers: dict[str, str], model: str, count_tokens: Callable[[str], int], rounds: int) -> Samples:
    """The other streams' inter-token gaps while a long prompt is read, and that prompt's first token: with
    the others generating, and alone (nobody else generating)."""
    samples: Samples = {name: {} for name in servers}
    gaps: dict[str, list[float]] = {name: [] for name in servers}
    for round_number in range(rounds):
        for name, url in turns(servers, round_number):
            row = samples[name]
            # A different prompt for every read (so no server has it cached).
            index = 2 * (round_number * len(servers) + list(servers).index(name))
            alone = stream_once(url, model, 2, [{"role": "user", "content": long_prompt(count_tokens, index)}])
            row.setdefault("long prompt alone: first token (s)", []).append(alone.ttft)
            prompt = long_prompt(count_tokens, index + 1)
            stop, started = threading.Event(), threading.Semaphore(0)
            others: list[Stream] = []
            threads = [
                threading.Thread(target=_generate, args=(others, url, model, stop, started), daemon=True)
                for _ in range(PREFILL_OTHERS)
            ]
            for thread in threads:
                thread.start()
            for _ in threads:
                started.acquire()
            time.sleep(1.0)  # all three are in their stride
            long = stream_once(url, model, 2, [{"role": "user", "content": prompt}])
            read_from, read_until = long.start, long.start + long.ttft
            stop.set()
            for thread in threads:
                thread.join()
            during, longest = 0, 0.0
            for other in others:
                during += sum(read_from < t <= read_until for t in other.arrivals)
                for before, after in zip(other.arrivals, other.arrivals[1:], strict=False):
                    if after > read_from and before < read_until:
                        gaps[name].append(after - before)
                        longest = max(longest, after - before)
            row.setdefault("long prompt: first token (s)", []).append(long.ttft)
            row.setdefault("long prompt: with others / alone", []).append(long.ttft / alone.ttft)
            row.setdefault("others' tokens while it is read", []).append(float(during))
            row.setdefault("others' longest wait (ms)", []).append(1000 * longest)
    for name, values in gaps.items():
        values.sort()
        samples[name]["others' inter-token p50 (ms)"] = [1000 * percentile(values, 0.50)]
        samples[name]["others' inter-token p99 (ms)"] = [1000 * percentile(values, 0.99)]
        samples[name]["others' gaps measured"] = [float(len(values))]
    return samples


def _generate(into: list[Stream], url: str, model: str, stop: threading.Event, started: threading.Semaphore) -> None:
    """A story stream that goes on until `stop` is set."""
    into.append(stream_once(url, model, 3000, stop_when=stop, first_chunks=started))


def token_counter(gguf: Path) -> Callable[[str], int]:
    """Count a text's tokens with the model's own tokenizer (its vocabulary alone, no weights)."""
    import llama_cpp

    vocab = llama_cpp.Llama(model_path=str(gguf), vocab_only=True, verbose=False)
    return lambda text: len(vocab.tokenize(text.encode(), add_bos=False))


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, round(q * (len(sorted_values) - 1)))]


def spread(values: list[float]) -> str:
    # Ratios and seconds below ten need their second digit.
    small = max(values) < 10
    if len(values) == 1:
        return f"{values[0]:.2f}" if small else f"{values[0]:.1f}"
    if small:
        return f"{statistics.median(values):.2f} [{min(values):.2f}-{max(values):.2f}]"
    return f"{statistics.median(values):.1f} [{min(values):.0f}-{max(values):.0f}]"


def report(title: str, samples: Samples, reference_name: str) -> None:
    """A table: each server's median (and range), then modelport's ratio to the reference's."""
    names = list(samples)
    # A column as wide as its header: "modelport, speculation off" is 26 characters.
    width = max(26, *(len(name) + 2 for name in names))
    print(f"\n{title}\n")
    print(f"{'metric':<36}" + "".join(f"{name:>{width}}" for name in names) + f"{'ratio':>8}{'paired':>8}")
    for metric in samples[OURS]:
        ours, reference = samples[OURS][metric], samples[reference_name][metric]
        ratio = statistics.median(ours) / statistics.median(reference)
        # The i-th samples were taken in the same round, minutes apart at most: the median of their ratios
        # is the least disturbed by the machine's load drifting over the run.
        paired = statistics.median(a / b for a, b in zip(ours, reference, strict=True))
        cells = "".join(f"{spread(samples[name].get(metric, [float('nan')])):>{width}}" for name in names)
        print(f"{metric:<36}{cells}{ratio:>8.2f}{paired:>8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workloads", nargs="+", choices=WORKLOADS, default=list(WORKLOADS))
    parser.add_argument("--max-tokens", type=int, default=128, help="story: tokens per answer")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 8], help="story: streams at once")
    parser.add_argument("--rounds", type=int, default=5, help="story: rounds")
    parser.add_argument("--edit-rounds", type=int, default=1, help="code-edit: rounds")
    parser.add_argument("--edit-max-tokens", type=int, default=1024, help="code-edit: most tokens per answer")
    parser.add_argument("--prefill-rounds", type=int, default=3, help="long-prefill: rounds")
    parser.add_argument(
        "--reference-spec",
        default="--spec-default",
        help="llama-server's options for its own n-gram speculation in the code-edit workload ('' to skip)",
    )
    parser.add_argument("--speculation-off", action="store_true", help="also modelport without speculation")
    parser.add_argument(
        "--no-llama-server",
        action="store_true",
        help="without llama-server: modelport with speculation off is the reference",
    )
    args = parser.parse_args()

    from modelport.builtin.llama import DEFAULT_NAME, default_model_path
    from modelport.config import Settings

    gguf = default_model_path(Settings().cache_dir)
    threads = str(os.cpu_count() or 1)
    server = None if args.no_llama_server else build_llama_server()

    def llama_server(*extra: str) -> tuple[list[str], int]:
        port = free_port()
        command = [
            str(server), "-m", str(gguf), "--host", "127.0.0.1", "--port", str(port), "-t", threads, "-tb", threads,
            "-np", str(PARALLEL), "-c", str(PARALLEL * CONTEXT_PER_SEQUENCE), "--no-webui", *extra,
        ]  # fmt: skip
        return command, port

    def modelport(*extra: str) -> tuple[list[str], int]:
        port = free_port()
        command = [sys.executable, "-m", "modelport", "serve", "--port", str(port), "--log-level", "warning"]
        return [*command, *extra], port

    env = {
        "MODELPORT_CHAT_MODEL": str(gguf),
        "MODELPORT_CHAT_MODEL_NAME": DEFAULT_NAME,
        "MODELPORT_CHAT_PARALLEL": str(PARALLEL),
        "MODELPORT_CHAT_CONTEXT": str(CONTEXT_PER_SEQUENCE),
        # Only the chat model: the other built-ins would load and sit idle beside it.
        "MODELPORT_BUILTINS": "chat",
    }
    off_name = "modelport, speculation off"
    wanted: dict[str, tuple[tuple[list[str], int], str, dict[str, str] | None]] = {
        OURS: (modelport(), "/health/ready", env),
    }
    reference = off_name if args.no_llama_server else REFERENCE
    if not args.no_llama_server:
        wanted[REFERENCE] = (llama_server(), "/health", None)
    reference_spec = shlex.split(args.reference_spec)
    spec_name = f"llama-server {args.reference_spec}"
    if reference_spec and "code-edit" in args.workloads and not args.no_llama_server:
        wanted[spec_name] = (llama_server(*reference_spec), "/health", None)
    if args.speculation_off or args.no_llama_server:
        wanted[off_name] = (modelport("--no-chat-speculation"), "/health/ready", env)

    with ExitStack() as stack:
        urls = {
            name: stack.enter_context(running(command, port, ready, server_env))
            for name, ((command, port), ready, server_env) in wanted.items()
        }
        plain = {name: url for name, url in urls.items() if name != spec_name}
        print(f"chat: {gguf.name}, {threads} threads, {PARALLEL} parallel sequences of {CONTEXT_PER_SEQUENCE} tokens")
        print(f"load average at start: {os.getloadavg()}")
        if "story" in args.workloads:
            samples = story(plain, DEFAULT_NAME, args.max_tokens, args.concurrency, args.rounds)
            report(
                f"story (max_tokens {args.max_tokens}): medians of {args.rounds} rounds "
                f"({SINGLE_STREAMS_PER_ROUND} single streams in each), min-max in brackets",
                samples,
                reference,
            )
        if "code-edit" in args.workloads:
            samples = code_edit(urls, DEFAULT_NAME, args.edit_max_tokens, args.edit_rounds)
            report(
                f"code-edit ({len(code_edits())} functions of 45-73 lines, greedy, whole answers): "
                f"{args.edit_rounds} round(s)",
                samples,
                reference,
            )
        if "long-prefill" in args.workloads:
            samples = long_prefill(plain, DEFAULT_NAME, token_counter(gguf), args.prefill_rounds)
            report(
                f"long-prefill ({PREFILL_OTHERS} streams generating while a {PREFILL_TOKENS}-token prompt is "
                f"read; gaps over {args.prefill_rounds} rounds)",
                samples,
                reference,
            )
        print(f"\nload average at end: {os.getloadavg()}")
        print(f"ratio: modelport over {reference}, of the medians; paired: the median of the ratios of samples")
        print("taken in the same round")


if __name__ == "__main__":
    main()
