"""Voice chat benchmarks with the built-in models (Qwen 0.5B chat, Whisper base, hibari), side by side in one run.

1. A spoken answer of about four sentences: the time to the first audio byte of the streamed answer
   (`delta.audio.data`) against the time to the whole non-streamed answer (`message.audio`). Goal: under a
   third.
2. A 10-turn spoken conversation that sends every earlier recording again with each turn (as clients of
   audio chat models do): the server time of each turn with the transcript cache and without it
   (`--transcript-cache-size 0`). Goal: with the cache, the tenth turn costs no more than the first. A
   turn's cost is the time to its answer's first token: what it takes to read the turn's input (the
   recordings, their transcripts, the prompt), and not the length of the answer. Each answer is cut at 16
   tokens and sent back in the history as the client got it, as a real client sends the model's own answers
   (which the prefix cache then already holds). Two things would otherwise make turn 1 and turn 10 differ
   for reasons that are not the re-sent audio: which recording each turn transcribes (Whisper's time depends
   on what was said) and a first turn whose prompt an earlier conversation left in the prefix cache. So each
   conversation starts at a different recording (over `--rotations` conversations every turn transcribes
   every recording once, and a turn's time is the mean) and has a system prompt of its own. The same
   conversations typed (the transcripts as text) show what the chat model alone adds per turn as its
   context grows; the audio's own cost is the difference.

    .venv/bin/python bench/voice_chat.py [--runs 3] [--rotations 10]

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
ANSWER_TOKENS = 16
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


def rotated(items: list[Any], rotation: int) -> list[Any]:
    return items[rotation:] + items[:rotation]


def first_token(http: httpx.Client, messages: list[dict[str, Any]]) -> tuple[float, str]:
    """Seconds to the first token of the streamed answer, and the whole answer."""
    body = {
        "model": "qwen2.5-coder-0.5b-instruct",
        "messages": messages,
        "temperature": 0,
        "max_tokens": ANSWER_TOKENS,
        "stream": True,
    }
    start = time.perf_counter()
    first: float | None = None
    answer = []
    with http.stream("POST", "/v1/chat/completions", json=body) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if line.startswith("data: {"):
                choices = json.loads(line.removeprefix("data: "))["choices"]
                if choices and choices[0]["delta"].get("content"):
                    first = first or time.perf_counter() - start
                    answer.append(choices[0]["delta"]["content"])
    assert first is not None, "no answer came"
    return first, "".join(answer)


def conversation(http: httpx.Client, said: list[Any], rotation: int) -> list[float]:
    """Seconds to each turn's first token: turn k says `said[(rotation + k) % 10]` (a recording, sent as
    `input_audio`, or its transcript, sent as text), and sends every earlier turn and answer again."""
    # A system prompt of its own, so that no earlier conversation left this one's first prompt in the cache.
    typed = "typed" if isinstance(said[0], str) else "spoken"
    system = f"You are a travel agent. Answer briefly. (Conversation {rotation + 1}, {typed}.)"
    messages: list[dict[str, Any]] = [{"role": "system", "content": system}]
    times = []
    for turn in rotated(said, rotation):
        if isinstance(turn, bytes):
            part = {"type": "input_audio", "input_audio": {"data": base64.b64encode(turn).decode(), "format": "mp3"}}
            messages.append({"role": "user", "content": [part]})
        else:
            messages.append({"role": "user", "content": turn})
        seconds, answer = first_token(http, messages)
        times.append(seconds)
        messages.append({"role": "assistant", "content": answer})
    return times


def transcripts(http: httpx.Client, spoken: list[bytes]) -> list[str]:
    texts = []
    for recording in spoken:
        form = {"model": "whisper-base"}
        response = http.post("/v1/audio/transcriptions", files={"file": ("turn.mp3", recording)}, data=form)
        response.raise_for_status()
        texts.append(response.json()["text"].strip())
    return texts


def turn_means(rows: list[list[float]]) -> list[float]:
    return [statistics.fmean(row[i] for row in rows) for i in range(len(TURNS))]


def cached_conversation(cached: httpx.Client, uncached: httpx.Client, runs: int, rotations: int) -> None:
    spoken = [base64.b64decode(s) for s in recordings(cached)]
    typed = transcripts(cached, spoken)
    results: dict[str, list[list[float]]] = {"cache": [], "no cache": [], "typed": []}
    for rotation in range(rotations):
        # Each conversation's recordings are new to the cached server: a byte more at their end (silence to
        # the decoder) makes their hashes differ, so every turn transcribes its own recording once.
        spoken = [recording + b"\0" for recording in spoken]
        done = {"cache": conversation(cached, spoken, rotation), "typed": conversation(cached, typed, rotation)}
        if rotation < runs:
            done["no cache"] = conversation(uncached, spoken, rotation)
        for name, times in done.items():
            results[name].append(times)
        totals = ", ".join(f"{name} {sum(times):.1f} s" for name, times in done.items())
        print(f"  conversation {rotation + 1} of {rotations}: {totals}", flush=True)
    means = {name: turn_means(rows) for name, rows in results.items()}
    for name, turns in means.items():
        total = statistics.fmean(sum(row) for row in results[name])
        print(
            f"10 turns, {name:8s}: total {total:6.2f} s; turn 1 {1000 * turns[0]:6.0f} ms, turn 10 "
            f"{1000 * turns[-1]:6.0f} ms, turn 10 / turn 1 = {turns[-1] / turns[0]:.2f}  "
            f"(mean of {len(results[name])} conversations)"
        )
    audio = [spoken_turn - typed_turn for spoken_turn, typed_turn in zip(means["cache"], means["typed"], strict=True)]
    print(
        f"what the audio adds to a typed turn, with the cache: turn 1 {1000 * audio[0]:6.0f} ms, turn 10 "
        f"{1000 * audio[-1]:6.0f} ms, turn 10 / turn 1 = {audio[-1] / audio[0]:.2f}"
    )
    print(
        f"turn 10 / turn 1 with the cache: {means['cache'][-1] / means['cache'][0]:.2f} (goal <= 1); "
        f"total with the cache / without: "
        f"{statistics.fmean(map(sum, results['cache'][:runs])) / statistics.fmean(map(sum, results['no cache'])):.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="pairs of spoken answers; conversations without the cache")
    parser.add_argument(
        "--rotations", type=int, default=10, help="conversations with the cache, each starting at another recording"
    )
    args = parser.parse_args()
    print(f"load average at the start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    with ExitStack() as stack:
        cached = stack.enter_context(httpx.Client(base_url=stack.enter_context(server()), timeout=600))
        uncached_url = stack.enter_context(server("--transcript-cache-size", "0"))
        uncached = stack.enter_context(httpx.Client(base_url=uncached_url, timeout=600))
        spoken_answer(cached, args.runs)
        cached_conversation(cached, uncached, args.runs, args.rotations)
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
