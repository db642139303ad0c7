"""The cost of the Responses and Anthropic Messages translations, against chat completions on the same model.

    .venv/bin/python bench/chat_apis.py [--deltas 500] [--rounds 7]

A `modelport serve` of this file, in its own process: one chat function that yields `--deltas` words at once
(no model, so the translation and the HTTP stack are all that is measured). Each round streams one request
through each route, in turn; printed: the median time per stream and per delta on each route, and its ratio
to chat completions (of the medians, and the median of the ratios within a round).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Iterator
from typing import Any

import httpx
from served import modelport_server

from modelport import Message, model

DELTAS = 500


@model("words")
def words(messages: list[Message], max_tokens: int | None = None) -> Iterator[str]:
    """`max_tokens` words, one per delta."""
    for i in range(max_tokens or DELTAS):
        yield "word" if i == 0 else " word"


def routes(deltas: int) -> dict[str, tuple[str, dict[str, Any]]]:
    user = [{"role": "user", "content": "go"}]
    return {
        "chat completions": ("/v1/chat/completions", {"model": "words", "messages": user, "max_tokens": deltas}),
        "responses": ("/v1/responses", {"model": "words", "input": "go", "max_output_tokens": deltas, "store": False}),
        "messages": ("/v1/messages", {"model": "words", "messages": user, "max_tokens": deltas}),
    }


def stream_once(client: httpx.Client, path: str, body: dict[str, Any]) -> float:
    start = time.perf_counter()
    with client.stream("POST", path, json={**body, "stream": True}) as response:
        response.raise_for_status()
        for _ in response.iter_bytes():
            pass
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deltas", type=int, default=DELTAS)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    table = routes(args.deltas)
    times: dict[str, list[float]] = {name: [] for name in table}
    # This file is the server's target: it serves `words` alone, in a process of its own.
    with modelport_server(__file__) as url, httpx.Client(base_url=url, timeout=60) as client:
        for path, body in table.values():
            stream_once(client, path, body)  # warm up
        for _ in range(args.rounds):
            for name, (path, body) in table.items():
                times[name].append(stream_once(client, path, body))
    reference = times["chat completions"]
    print(f"{args.deltas} deltas per stream, {args.rounds} rounds")
    for name, samples in times.items():
        median = statistics.median(samples)
        paired = statistics.median(s / r for s, r in zip(samples, reference, strict=True))
        print(
            f"{name:>17}: {median * 1000:8.1f} ms/stream {median / args.deltas * 1e6:7.1f} us/delta"
            f"  ratio {median / statistics.median(reference):.2f} (paired {paired:.2f})"
        )


if __name__ == "__main__":
    main()
