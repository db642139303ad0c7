"""The event loop's CPU per one-sentence embedding request: modelport against a bare ASGI app on the same
HTTP stack, and what each leaves for the model on the machine's cores.

    .venv/bin/python bench/http_floor.py [--clients 64] [--requests 40] [--rounds 3]

The bare app runs on uvicorn with httptools and uvloop, as `modelport serve` does, and answers every
`POST /v1/embeddings` by parsing the JSON body and sending a fixed answer of the same size as modelport's
(one 384-float vector in base64): the HTTP request itself, with no modelport code. Both get the same C
concurrent clients (bench/embeddings.py's raw keep-alive clients, each sending one sentence a request),
and the direct rate of MiniLM at batch C is measured in this process.

Per row: the server's main-thread (event loop) CPU ms a request, the clients' CPU ms a request, and the
most C clients could get against the model called directly at batch C if the model took in the server the
CPU it takes directly and every core were busy: direct CPU / (direct CPU + loop + clients). The bare row
is the floor of the HTTP request on this machine: if its cap were under 0.9, no server on this stack could
reach 0.9 of the direct rate.
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

BARE_APP = textwrap.dedent(
    """
    import base64, json

    ANSWER = json.dumps({
        "object": "list",
        "data": [{"object": "embedding", "index": 0, "embedding": base64.b64encode(bytes(4 * 384)).decode()}],
        "model": "all-MiniLM-L6-v2",
        "usage": {"prompt_tokens": 12, "total_tokens": 12},
    }).encode()
    HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(ANSWER)).encode())]

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body, more = b"", True
        while more:
            message = await receive()
            body, more = body + message.get("body", b""), message.get("more_body", False)
        if scope["path"] != "/v1/embeddings":
            await send({"type": "http.response.start", "status": 404, "headers": [(b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
            return
        json.loads(body)
        await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
        await send({"type": "http.response.body", "body": ANSWER})
    """
)


@contextlib.contextmanager
def bare_server(folder: Path) -> Iterator[Served]:
    (folder / "bare_app.py").write_text(BARE_APP)
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
    with contextlib.ExitStack() as stack:
        bare = stack.enter_context(bare_server(Path(stack.enter_context(tempfile.TemporaryDirectory()))))
        served = stack.enter_context(server(batching=True, names=[MINILM_NAME]))
        for target in (bare, served):
            concurrent_rate(target, MINILM_NAME, texts, count, 3, "raw")  # warm-up: the connections
        for round_number in range(1, args.rounds + 1):
            print(f"round {round_number}/{args.rounds}, load average {os.getloadavg()[0]:.1f}", flush=True)
            _, direct = direct_clients_rate(embedder, texts, count, args.requests)
            rows.setdefault("direct", {}).setdefault("model", []).append(direct.rest)
            for name, target in (("bare uvicorn+httptools+uvloop app", bare), ("modelport", served)):
                _, cpu = concurrent_rate(target, MINILM_NAME, texts, count, args.requests, "raw")
                row = rows.setdefault(name, {})
                for key, value in (("loop", cpu.loop), ("client", cpu.client), ("model", cpu.rest)):
                    row.setdefault(key, []).append(value)
    direct_ms = statistics.median(rows.pop("direct")["model"])
    print(
        f"\nmedians of {args.rounds} rounds; MiniLM called directly at batch {count}: {direct_ms:.2f} ms CPU a sentence"
    )
    print(f"{'server':<36} {'loop ms':>8} {'client ms':>9} {'model ms':>8} {'cap':>6}")
    for name, row in rows.items():
        loop, client, model = (statistics.median(row[key]) for key in ("loop", "client", "model"))
        cap = direct_ms / (direct_ms + loop + client)
        print(f"{name:<36} {loop:>8.3f} {client:>9.3f} {model:>8.2f} {cap:>5.3f}x")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
