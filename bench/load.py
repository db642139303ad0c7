"""A bounded mixed load on one modelport server over loopback, then a burst above its capacity.

    .venv/bin/python bench/load.py [--clients 32] [--seconds 60] [--burst 300]

Serves the built-in chat, embedding and speech models (hibari, Whisper) with `modelport serve` as a
subprocess. `--clients` clients send requests back to back for `--seconds`, each cycling through streamed
chat, chat, embeddings, speech and transcription; then `--burst` chat requests arrive at once, more than the
chat model's slots and queue hold. Printed per kind: sent, 2xx, 4xx, 5xx, timeouts, malformed or cut
responses, p50/p95 latency; the 429s of the burst and whether each had Retry-After; and the server's
resident memory before the load, right after it, and 30 s later.

The goal: no 5xx, nothing lost or cut, the burst shed with 429 + Retry-After (not timeouts), and memory
back within 10% after the load.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from served import modelport_process

CHAT_MODEL = "qwen2.5-coder-0.5b-instruct"
TIMEOUT = 120.0
KINDS = ("chat-stream", "chat", "embeddings", "speech", "transcription")


@dataclass
class Tally:
    sent: int = 0
    ok: int = 0
    client_errors: int = 0
    server_errors: int = 0
    timeouts: int = 0
    broken: int = 0
    rate_limited: int = 0
    retry_after: int = 0
    latencies: list[float] = field(default_factory=list)

    def row(self, kind: str) -> str:
        ordered = sorted(self.latencies)
        p50 = statistics.median(ordered) if ordered else float("nan")
        p95 = ordered[int(0.95 * (len(ordered) - 1))] if ordered else float("nan")
        return (
            f"{kind:<14}{self.sent:>6}{self.ok:>6}{self.client_errors:>6}{self.server_errors:>6}"
            f"{self.timeouts:>9}{self.broken:>8}{p50:>9.2f}{p95:>9.2f}"
        )


HEADER = f"{'kind':<14}{'sent':>6}{'2xx':>6}{'4xx':>6}{'5xx':>6}{'timeouts':>9}{'broken':>8}{'p50 s':>9}{'p95 s':>9}"


def resident_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def chat(client: httpx.AsyncClient, stream: bool) -> tuple[int, bool]:
    body = {
        "model": CHAT_MODEL,
        "messages": [{"role": "user", "content": "Name three colours."}],
        "max_tokens": 16,
        "stream": stream,
    }
    if not stream:
        response = await client.post("/v1/chat/completions", json=body)
        if response.status_code != 200:
            return response.status_code, False
        message = response.json()["choices"][0]["message"]
        return 200, isinstance(message.get("content"), str)
    async with client.stream("POST", "/v1/chat/completions", json=body) as response:
        if response.status_code != 200:
            await response.aread()
            return response.status_code, False
        events = [line async for line in response.aiter_lines() if line]
    whole = bool(events) and events[-1] == "data: [DONE]" and all(e.startswith("data: ") for e in events)
    whole = whole and not any('"error"' in e for e in events[:-1])
    return 200, whole


async def embeddings(client: httpx.AsyncClient) -> tuple[int, bool]:
    response = await client.post(
        "/v1/embeddings", json={"model": "all-MiniLM-L6-v2", "input": ["a short sentence", "another one"]}
    )
    if response.status_code != 200:
        return response.status_code, False
    data = response.json()["data"]
    return 200, len(data) == 2 and len(data[0]["embedding"]) == 384


async def speech(client: httpx.AsyncClient) -> tuple[int, bool]:
    response = await client.post(
        "/v1/audio/speech",
        json={"model": "hibari", "voice": "heart", "input": "Hello there.", "response_format": "wav"},
    )
    return response.status_code, response.status_code != 200 or response.content[:4] == b"RIFF"


async def transcription(client: httpx.AsyncClient, audio: bytes) -> tuple[int, bool]:
    response = await client.post(
        "/v1/audio/transcriptions",
        data={"model": "whisper-tiny.en"},
        files={"file": ("hello.wav", audio, "audio/wav")},
    )
    if response.status_code != 200:
        return response.status_code, False
    return 200, isinstance(response.json().get("text"), str)


async def measure(tally: Tally, call: Callable[[], Awaitable[tuple[int, bool]]]) -> None:
    tally.sent += 1
    started = time.monotonic()
    try:
        status, whole = await call()
    except httpx.TimeoutException:
        tally.timeouts += 1
        return
    except (httpx.HTTPError, ValueError, KeyError):
        tally.broken += 1
        return
    tally.latencies.append(time.monotonic() - started)
    if 200 <= status < 300:
        tally.ok += 1
        tally.broken += not whole
    elif status < 500:
        tally.client_errors += 1
    else:
        tally.server_errors += 1


async def run_load(base: str, clients: int, seconds: float, audio: bytes) -> dict[str, Tally]:
    tallies = {kind: Tally() for kind in KINDS}
    calls: dict[str, Callable[[httpx.AsyncClient], Awaitable[tuple[int, bool]]]] = {
        "chat-stream": lambda c: chat(c, True),
        "chat": lambda c: chat(c, False),
        "embeddings": embeddings,
        "speech": speech,
        "transcription": lambda c: transcription(c, audio),
    }
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients * 2, max_keepalive_connections=clients * 2)
    async with httpx.AsyncClient(base_url=base, timeout=TIMEOUT, limits=limits) as client:

        async def worker(index: int) -> None:
            turn = index
            while time.monotonic() < deadline:
                kind = KINDS[turn % len(KINDS)]
                turn += 1
                await measure(tallies[kind], functools.partial(calls[kind], client))

        await asyncio.gather(*(worker(i) for i in range(clients)))
    return tallies


async def warm_up(base: str, audio: bytes) -> None:
    """One request of each kind, so that every model is loaded before memory is first read: the goal is about
    what the load leaves behind, not about models loading on their first request."""
    async with httpx.AsyncClient(base_url=base, timeout=TIMEOUT) as client:
        for call in (lambda c: chat(c, True), lambda c: chat(c, False), embeddings, speech):
            await call(client)
        await transcription(client, audio)


async def run_burst(base: str, size: int) -> Tally:
    tally = Tally()
    limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
    async with httpx.AsyncClient(base_url=base, timeout=TIMEOUT, limits=limits) as client:

        async def one() -> None:
            tally.sent += 1
            started = time.monotonic()
            try:
                response = await client.post(
                    "/v1/chat/completions",
                    json={"model": CHAT_MODEL, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 8},
                )
            except httpx.TimeoutException:
                tally.timeouts += 1
                return
            except httpx.HTTPError:
                tally.broken += 1
                return
            tally.latencies.append(time.monotonic() - started)
            if response.status_code == 200:
                tally.ok += 1
            elif response.status_code == 429:
                tally.client_errors += 1
                tally.rate_limited += 1
                tally.retry_after += "retry-after" in response.headers
            elif response.status_code < 500:
                tally.client_errors += 1
            else:
                tally.server_errors += 1

        await asyncio.gather(*(one() for _ in range(size)))
    return tally


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--burst", type=int, default=300)
    parser.add_argument("--settle", type=float, default=30.0, help="seconds after the load before memory is read")
    args = parser.parse_args()

    options = ["--no-access-log"]
    for extra in ("chat", "embeddings", "speech"):
        options += ["--builtin", extra]
    with modelport_process(*options, timeout=600, quiet=True) as served:
        server, base = served.process, served.url
        audio = httpx.post(
            f"{base}/v1/audio/speech",
            json={"model": "hibari", "voice": "heart", "input": "Hello, how are you today?", "response_format": "wav"},
            timeout=TIMEOUT,
        ).content
        asyncio.run(warm_up(base, audio))
        before = resident_mb(server.pid)
        print(f"load: {args.clients} clients for {args.seconds:g} s; load average {os.getloadavg()[0]:.2f}")
        tallies = asyncio.run(run_load(base, args.clients, args.seconds, audio))
        print(f"burst: {args.burst} chat requests at once")
        burst = asyncio.run(run_burst(base, args.burst))
        after = resident_mb(server.pid)
        time.sleep(args.settle)
        settled = resident_mb(server.pid)
        print()
        print(HEADER)
        for kind, tally in tallies.items():
            print(tally.row(kind))
        print(burst.row("burst (chat)"))
        print(f"burst: {burst.rate_limited} answered 429, {burst.retry_after} of them with Retry-After")
        print(
            f"memory (RSS): before {before:.0f} MB, after {after:.0f} MB, {args.settle:g} s later {settled:.0f} MB "
            f"({(settled - before) / before:+.1%})"
        )
        print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        metrics = httpx.get(f"{base}/metrics").text
        print(
            "requests counted by /metrics:",
            sum(
                float(line.rsplit(" ", 1)[1])
                for line in metrics.splitlines()
                if line.startswith("modelport_requests_total")
            ),
        )


if __name__ == "__main__":
    main()
