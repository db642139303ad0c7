"""Voice chat benchmarks with the built-in models (Qwen 0.5B chat, Whisper base, hibari), side by side in one run.

1. A spoken answer of about four sentences: the time to the first audio byte of the streamed answer
   (`delta.audio.data`) against the time to the whole non-streamed answer (`message.audio`). Goal: under a
   third.
2. A 10-turn spoken conversation that sends every earlier recording again with each turn (as clients of
   audio chat models do): the server time of each turn with the transcript cache and without it
   (`--transcript-cache-size 0`). Goal: with the cache, the tenth turn costs no more than the first. The
   assistant's answers in the history are fixed and each turn generates one token, so that a turn's time
   is the cost of its input and not the length of the answer it happened to get.

    .venv/bin/python bench/voice_chat.py [--runs 3]

It starts two `modelport serve --builtin chat --builtin speech` on free ports on 127.0.0.1, one with the
cache and one without, and stops them at the end.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import time
from contextlib import AbstractContextManager, ExitStack
from typing import Any

import httpx
from served import modelport_server

ANSWER_REQUEST = (
    "Describe a walk along the beach at sunset in exactly four sentences of about twelve words each. "
    "Use plain words, no lists."
)
TURNS = [
    "Hello, I would like to plan a short trip to the mountains.",
    "I have three days in early October.",
    "I enjoy walking, but not climbing.",
    "Which kind of shoes should I bring?",
    "And what about the weather at that time of year?",
    "Should I book a hotel or a small cabin?",
    "I would like to cook my own meals.",
    "Is it easy to get there by train?",
    "What should I pack for the evenings?",
    "Thank you, please sum up the plan in one sentence.",
]
# The assistant's side of the conversation, fixed: with the model's own answers, a turn's time would also
# measure how long that turn's answer happened to be, which has nothing to do with the re-sent recordings.
ANSWERS = [
    "Gladly. Where in the mountains would you like to go?",
    "Early October is a fine time, with few crowds.",
    "Then valley trails and ridge walks will suit you.",
    "Light hiking boots with a good grip.",
    "Mild days and cold nights; rain is possible.",
    "A small cabin gives you more quiet and a kitchen.",
    "Then a cabin with a kitchen is the right choice.",
    "Yes, most valleys have a station nearby.",
    "A warm fleece, a hat and a rain jacket.",
    "Three days of valley walks from a cabin you reach by train.",
]
SPOKEN = {"voice": "alloy", "format": "mp3"}


def server(*options: str) -> AbstractContextManager[str]:
    return modelport_server("--builtin", "chat", "--builtin", "speech", *options)


def answer_request(stream: bool) -> dict[str, Any]:
    return {
        "model": "qwen2.5-coder-0.5b-instruct",
        "messages": [{"role": "user", "content": ANSWER_REQUEST}],
        "modalities": ["text", "audio"],
        "audio": SPOKEN,
        "temperature": 0,
        "max_tokens": 160,
        "stream": stream,
    }


def whole_answer(http: httpx.Client) -> tuple[float, str]:
    start = time.perf_counter()
    response = http.post("/v1/chat/completions", json=answer_request(stream=False))
    response.raise_for_status()
    elapsed = time.perf_counter() - start
    return elapsed, response.json()["choices"][0]["message"]["audio"]["transcript"]


def first_audio(http: httpx.Client) -> tuple[float, float]:
    """Seconds to the first audio byte and to the end of the streamed answer."""
    start = time.perf_counter()
    first: float | None = None
    with http.stream("POST", "/v1/chat/completions", json=answer_request(stream=True)) as response:
        for line in response.iter_lines():
            if first is None and line.startswith("data: {") and '"data":"' in line:
                event = json.loads(line.removeprefix("data: "))
                if event["choices"] and (event["choices"][0]["delta"].get("audio") or {}).get("data"):
                    first = time.perf_counter() - start
    assert first is not None, "no audio came"
    return first, time.perf_counter() - start


def spoken_answer(http: httpx.Client, runs: int) -> None:
    whole_answer(http)  # warm-up
    first_audio(http)
    pairs = []
    for _ in range(runs):
        first, streamed = first_audio(http)
        whole, transcript = whole_answer(http)
        pairs.append((first, streamed, whole))
    sentences = transcript.count(". ") + 1
    first = statistics.median(p[0] for p in pairs)
    streamed = statistics.median(p[1] for p in pairs)
    whole = statistics.median(p[2] for p in pairs)
    ratio = statistics.median(p[0] / p[2] for p in pairs)
    print(f"answer: {len(transcript.split())} words, ~{sentences} sentences: {transcript!r}")
    print(f"streamed, first audio byte:   {1000 * first:8.1f} ms (whole stream {1000 * streamed:.0f} ms)")
    print(f"not streamed, whole answer:   {1000 * whole:8.1f} ms")
    print(f"first audio / whole answer:   {ratio:.3f}  (median of {runs} pairs; goal < 0.333)", flush=True)


def recordings(http: httpx.Client) -> list[str]:
    spoken = []
    for text in TURNS:
        body = {"model": "hibari", "voice": "heart", "input": text, "response_format": "mp3"}
        spoken.append(base64.b64encode(http.post("/v1/audio/speech", json=body).content).decode())
    return spoken


def conversation(http: httpx.Client, spoken: list[str]) -> list[float]:
    """Seconds per turn: each turn sends every earlier recording again, and the earlier answers as text.

    Each turn generates one token: what a turn costs then is its input (the recordings, their transcripts,
    the prompt), which is what the cache is about, and not the length of an answer."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": "You are a travel agent. Answer briefly."}]
    times = []
    for recording, answer in zip(spoken, ANSWERS, strict=True):
        part = {"type": "input_audio", "input_audio": {"data": recording, "format": "mp3"}}
        messages.append({"role": "user", "content": [part]})
        body = {"model": "qwen2.5-coder-0.5b-instruct", "messages": messages, "temperature": 0, "max_tokens": 1}
        start = time.perf_counter()
        response = http.post("/v1/chat/completions", json=body)
        response.raise_for_status()
        times.append(time.perf_counter() - start)
        messages.append({"role": "assistant", "content": answer})
    return times


def cached_conversation(cached: httpx.Client, uncached: httpx.Client, runs: int) -> None:
    spoken = recordings(cached)
    results: dict[str, list[list[float]]] = {"cache": [], "no cache": []}
    for run in range(1, runs + 1):
        # Alternate the two servers, so a load that comes and goes on the machine falls on both alike. Each
        # run's recordings are new to the cached server: a sound more at the end makes their hashes differ.
        results["cache"].append(conversation(cached, spoken))
        results["no cache"].append(conversation(uncached, spoken))
        spoken = [base64.b64encode(base64.b64decode(s) + b"\0").decode() for s in spoken]
        totals = ", ".join(f"{name} {sum(rows[-1]):.1f} s" for name, rows in results.items())
        print(f"  conversation {run} of {runs}: {totals}", flush=True)
    for name, rows in results.items():
        turns = [statistics.median(row[i] for row in rows) for i in range(len(TURNS))]
        total = statistics.median(sum(row) for row in rows)
        print(
            f"10 turns, {name:8s}: total {total:6.2f} s; turn 1 {1000 * turns[0]:6.0f} ms, turn 10 "
            f"{1000 * turns[-1]:6.0f} ms, turn 10 / turn 1 = {turns[-1] / turns[0]:.2f}"
        )
    with_cache = statistics.median(sum(row) for row in results["cache"])
    without = statistics.median(sum(row) for row in results["no cache"])
    print(f"total with the cache / without: {with_cache / without:.3f}  (median of {runs} runs)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="pairs of spoken answers, and conversations per server")
    args = parser.parse_args()
    print(f"load average at the start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    with ExitStack() as stack:
        cached = stack.enter_context(httpx.Client(base_url=stack.enter_context(server()), timeout=600))
        uncached_url = stack.enter_context(server("--transcript-cache-size", "0"))
        uncached = stack.enter_context(httpx.Client(base_url=uncached_url, timeout=600))
        spoken_answer(cached, args.runs)
        cached_conversation(cached, uncached, args.runs)
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
