"""The event loop's CPU per one-sentence embedding request: modelport against a bare ASGI app and a minimal
batching server on the same HTTP stack, and what each leaves for the model on the machine's cores.

    .venv/bin/python bench/http_floor.py [--clients 64] [--requests 40] [--rounds 3]

The bare app runs on uvicorn with httptools and uvloop, as `modelport serve` does, and answers every
`POST /v1/embeddings` by parsing the JSON body and sending a fixed answer of the same size as modelport's
(one 384-float vector in base64): the HTTP request itself, with no modelport code. The minimal batching
app, on the same stack, does the least a batching server must for a one-sentence request with MiniLM
(tokenize, queue, run the queued sentences as one batch on a free model worker, answer in base64) and
nothing else: no request ids, logs, metrics, host or key checks, limits, client watch or validation. All
get the same C concurrent clients (bench/embeddings.py's raw keep-alive clients, each sending one sentence
a request), and the direct rate of MiniLM at batch C is measured in this process, in every round, the
order of the measures reversed every other round.

Per row: the server's main-thread (event loop) CPU ms a request, the clients' CPU ms a request, the
model's (the server's other threads), and the most C clients could get against the model called directly
at batch C if the model took in the server the CPU it takes directly and every core were busy: direct CPU /
(direct CPU + loop + clients). The bare row is the floor of the HTTP request on this machine: if its cap
were under 0.9, no server on this stack could reach 0.9 of the direct rate. The servers with the model also
print their measured rate and its ratio to the same round's direct rate (median of the rounds): the
minimal app's is what the same stack and model give with nothing of a real server's work on the loop.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
from embeddings import concurrent_rate, direct_clients_rate, sentences, server
from served import Served, free_port, serving

from modelport.builtin.onnx_embeddings import MINILM_NAME, minilm

# What both apps share: the lifespan (with a start-up step), and the body of a request to /v1/embeddings, after
# which the app answers; any other path is a 404.
ASGI_PRELUDE = textwrap.dedent(
    """
    import asyncio, base64, json

    async def embedding_body(scope, receive, send, start_up=lambda: None):
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                start_up()
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return None
        body, more = b"", True
        while more:
            message = await receive()
            body, more = body + message.get("body", b""), message.get("more_body", False)
        if scope["path"] != "/v1/embeddings":
            await send({"type": "http.response.start", "status": 404, "headers": [(b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
            return None
        return body
    """
)

BARE_APP = ASGI_PRELUDE + textwrap.dedent(
    """
    ANSWER = json.dumps({
        "object": "list",
        "data": [{"object": "embedding", "index": 0, "embedding": base64.b64encode(bytes(4 * 384)).decode()}],
        "model": "all-MiniLM-L6-v2",
        "usage": {"prompt_tokens": 12, "total_tokens": 12},
    }).encode()
    HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(ANSWER)).encode())]

    async def app(scope, receive, send):
        if (body := await embedding_body(scope, receive, send)) is None:
            return
        json.loads(body)
        await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
        await send({"type": "http.response.body", "body": ANSWER})
    """
)


# The least a batching server does for a one-sentence request, with no modelport code above the model: parse the
# JSON, tokenize on the event loop, wait for a batch, base64-encode the vector. A batch starts as soon as one
# of the model's workers is free, with everything that waits (under load the queue fills while both run).
MINIMAL_APP = ASGI_PRELUDE + textwrap.dedent(
    """
    from modelport.builtin.onnx_embeddings import minilm

    MODEL = minilm()
    waiting, running = [], 0

    def start_batches():
        global running
        while waiting and running < MODEL.concurrent_batches:
            batch = waiting[:64]
            del waiting[:64]
            running += 1
            task = asyncio.ensure_future(asyncio.to_thread(MODEL.embed_tokens, [ids for ids, _ in batch]))
            task.add_done_callback(lambda task, batch=batch: finish(task, batch))

    def finish(task, batch):
        global running
        running -= 1
        for (_, future), vector in zip(batch, task.result()):
            future.set_result(vector)
        start_batches()

    async def app(scope, receive, send):
        if (body := await embedding_body(scope, receive, send, start_up=MODEL.load)) is None:
            return
        request = json.loads(body)
        ids = MODEL.tokenize([request["input"]])[0]
        future = asyncio.get_running_loop().create_future()
        waiting.append((ids, future))
        start_batches()
        vector = await future
        answer = json.dumps({
            "object": "list",
            "data": [{"object": "embedding", "index": 0, "embedding": base64.b64encode(vector.tobytes()).decode()}],
            "model": request["model"],
            "usage": {"prompt_tokens": len(ids), "total_tokens": len(ids)},
        }).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(answer)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": answer})
    """
)


BARE = "bare uvicorn+httptools+uvloop app"
MINIMAL = "minimal batching app on the same stack"


@contextlib.contextmanager
def bare_server(folder: Path, source: str = BARE_APP) -> Iterator[Served]:
    (folder / "bare_app.py").write_text(source)
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "bare_app:app", "--port", str(port), "--loop", "uvloop"]
    command += ["--http", "httptools", "--no-access-log", "--log-level", "warning"]
    process = subprocess.Popen(command, cwd=folder)
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        httpx.get(f"{url}/", timeout=1)  # any answer will do: the bare app has nothing to load
        return True

    with serving(process, url, ready, timeout=60, what="the bare app", interval=0.2, stop_within=30) as served:
        yield served


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--requests", type=int, default=40, help="requests per client in each measure")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    count = args.clients
    print(f"{os.cpu_count()} CPUs; {count} clients; load average {os.getloadavg()[0]:.1f}", flush=True)
    texts = sentences(1000)
    embedder = minilm()
    embedder.load()
    embedder(texts[:8])
    rows: dict[str, dict[str, list[float]]] = {}
    direct_rates: list[float] = []
    with contextlib.ExitStack() as stack:
        folders = [Path(stack.enter_context(tempfile.TemporaryDirectory())) for _ in range(2)]
        targets = {
            BARE: stack.enter_context(bare_server(folders[0])),
            MINIMAL: stack.enter_context(bare_server(folders[1], MINIMAL_APP)),
            "modelport": stack.enter_context(server(batching=True, names=[MINILM_NAME])),
        }
        for target in targets.values():
            concurrent_rate(target, MINILM_NAME, texts, count, 3, "raw")  # warm-up: the connections
        for round_number in range(1, args.rounds + 1):
            print(f"round {round_number}/{args.rounds}, load average {os.getloadavg()[0]:.1f}", flush=True)
            # Every other round in reverse, so the machine's drift favours no row.
            order = ["direct", *targets]
            for name in order if round_number % 2 else reversed(order):
                if name == "direct":
                    rate, direct = direct_clients_rate(embedder, texts, count, args.requests)
                    direct_rates.append(rate)
                    rows.setdefault("direct", {}).setdefault("model", []).append(direct.rest)
                    continue
                rate, cpu = concurrent_rate(targets[name], MINILM_NAME, texts, count, args.requests, "raw")
                row = rows.setdefault(name, {})
                for key, value in (("loop", cpu.loop), ("client", cpu.client), ("model", cpu.rest), ("rate", rate)):
                    row.setdefault(key, []).append(value)
    direct_ms = statistics.median(rows.pop("direct")["model"])
    print(
        f"\nmedians of {args.rounds} rounds; MiniLM called directly at batch {count}: "
        f"{direct_ms:.2f} ms CPU a sentence, {statistics.median(direct_rates):.1f} sentences/s"
    )
    print(f"{'server':<40} {'loop ms':>8} {'client ms':>9} {'model ms':>8} {'cap':>6} {'rate/s':>7} {'ratio':>6}")
    for name, row in rows.items():
        loop, client, model = (statistics.median(row[key]) for key in ("loop", "client", "model"))
        cap = direct_ms / (direct_ms + loop + client)
        measured = ""
        if name != BARE:  # the bare app answers without the model: its rate says nothing of one
            ratios = [rate / direct for rate, direct in zip(row["rate"], direct_rates, strict=True)]
            measured = f" {statistics.median(row['rate']):>7.1f} {statistics.median(ratios):>5.3f}x"
        print(f"{name:<40} {loop:>8.3f} {client:>9.3f} {model:>8.2f} {cap:>5.3f}x{measured}")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
