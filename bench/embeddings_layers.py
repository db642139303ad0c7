"""Where the event loop's CPU per one-sentence MiniLM request goes, layer by layer, with no HTTP: C concurrent
callers drive one modelport app in this process at seven depths, in alternation every round.

    .venv/bin/python bench/embeddings_layers.py [--clients 64] [--requests 40] [--rounds 4]

  batcher      the request body validated, the sentence tokenized, its ids submitted to the model's batcher:
               the least a batching server does on its loop (bench/http_floor.py's minimal app does the same)
  serving      the handler's work below HTTP: the model looked up and held, `create_embeddings` (its checks,
               the batcher, the answer's model) and the answer's JSON
  body limit   the ASGI app entered at modelport's innermost middleware: the body limit, then FastAPI's and
               Starlette's inner layers, the route's lane, key check and body reading, then the above
  client watch the same, entered one middleware out: + the client watch
  host check   + the Host check
  request      + the request id, metrics, access log and shutdown drain: all of modelport's middlewares
  app          the whole ASGI app as uvicorn calls it: + FastAPI's and Starlette's outer layers

All rows share the app, its registry and its batcher, so the model and its threads are the same; the rows
differ only in what runs on the loop (below the request middleware, the bench holds the request's context,
as that middleware would). Per row: the loop's (main thread's) CPU ms a request, median of the
rounds, and its ratio to the batcher row of the same round. The difference between rows is what a layer
costs; uvicorn and the sockets come on top in a real server (see bench/http_floor.py).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import uvloop
from embeddings import sentences
from starlette.types import ASGIApp, Message

from modelport.builtin.onnx_embeddings import MINILM_NAME
from modelport.catalog import build_registry
from modelport.config import load_settings
from modelport.logs import RequestContext, current_request
from modelport.predictor import Task
from modelport.protocol.embeddings import EmbeddingRequest
from modelport.server import create_app
from modelport.server.bodies import json_response
from modelport.server.connection import ClientWatchMiddleware
from modelport.server.dependencies import predictor_for
from modelport.server.hosts import HostCheckMiddleware
from modelport.server.limits import BodyLimitMiddleware
from modelport.server.middleware import RequestMiddleware
from modelport.serving.embeddings import EmbeddingBatchers, _Call, create_embeddings

Call = Callable[[bytes], Awaitable[None]]
Layer = TypeVar("Layer")


# modelport's middlewares, outermost first, each a row that enters the app there (see server/app.py).
MIDDLEWARES = {
    "request": RequestMiddleware,
    "host check": HostCheckMiddleware,
    "client watch": ClientWatchMiddleware,
    "body limit": BodyLimitMiddleware,
}


async def through_app(app: ASGIApp, body: bytes, root: Any) -> None:
    """One request through `app` (the whole app `root`, or one of its layers), as uvicorn makes it; fails
    unless answered 200."""
    messages: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]
    disconnected = asyncio.Event()

    async def receive() -> Message:
        if messages:
            return messages.pop()
        await disconnected.wait()
        return {"type": "http.disconnect"}

    answers: list[Message] = []

    async def send(message: Message) -> None:
        answers.append(message)

    headers = [(b"host", b"127.0.0.1"), (b"content-type", b"application/json")]
    headers.append((b"content-length", str(len(body)).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/embeddings",
        "raw_path": b"/v1/embeddings",
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
        "state": {},
        "app": root,  # as the app's outermost layer sets it
    }
    await app(scope, receive, send)
    disconnected.set()
    if answers[0]["status"] != 200:
        raise RuntimeError(f"the app answered {answers[0]['status']}: {answers[1:]}")


def in_request(call: Call) -> Call:
    """`call` in a request's context, as the request middleware runs every request: the model's lease is
    held until it ends."""

    async def held(body: bytes) -> None:
        context = RequestContext("bench")
        token = current_request.set(context)
        try:
            await call(body)
        finally:
            context.finish()
            current_request.reset(token)

    return held


def layer_of(stack: ASGIApp | None, kind: type[Layer]) -> Layer:
    """The layer of the middleware stack that is a `kind`."""
    layer: Any = stack
    while layer is not None:
        if isinstance(layer, kind):
            return layer
        layer = getattr(layer, "app", None)
    raise RuntimeError(f"the app has no {kind.__name__}")


async def measure(call: Call, bodies: list[bytes], clients: int, requests: int) -> float:
    """The loop's CPU ms a request with `clients` concurrent callers of `requests` requests each."""

    async def client(index: int) -> None:
        for i in range(requests):
            await call(bodies[(index * requests + i) % len(bodies)])

    start = time.thread_time()
    await asyncio.gather(*(client(index) for index in range(clients)))
    return 1000 * (time.thread_time() - start) / (clients * requests)


async def run(clients: int, requests: int, rounds: int) -> None:
    settings = load_settings(None, builtins=["embeddings"])
    registry = build_registry(settings)
    app = create_app(registry, settings)
    batchers: EmbeddingBatchers = app.state.embedding_batchers
    texts = sentences(4000)
    bodies = [json.dumps({"model": MINILM_NAME, "input": text, "encoding_format": "base64"}).encode() for text in texts]

    async def batcher(body: bytes) -> None:
        request = EmbeddingRequest.model_validate_json(body)
        predictor = registry.get(request.model)
        tokenize: Callable[[list[str]], list[list[int]]] = predictor.attribute("tokenize")
        # The key `create_embeddings` gives token-id input without options.
        await batchers.get(predictor).submit(tokenize([str(request.input)]), _Call(True, (), None))

    async def serving(body: bytes) -> None:
        request = EmbeddingRequest.model_validate_json(body)
        predictor = await predictor_for(registry, request.model, Task.EMBEDDINGS)
        json_response(await create_embeddings(predictor, request, batchers, "model"))

    def entering(layer: ASGIApp) -> Call:
        async def call(body: bytes) -> None:
            await through_app(layer, body, app)

        return call

    async with app.router.lifespan_context(app):
        (await registry.acquire(MINILM_NAME)).release()  # once loaded
        await through_app(app, bodies[0], app)  # the app builds its middleware stack on its first request
        rows: dict[str, Call] = {"batcher": batcher, "serving": in_request(serving)}
        for name, kind in reversed(MIDDLEWARES.items()):
            call = entering(layer_of(app.middleware_stack, kind))
            rows[name] = call if kind is RequestMiddleware else in_request(call)
        rows["app"] = entering(app)
        # What start-up made stays out of the collector's way, as `modelport serve` does (server/collector.py).
        gc.collect()
        gc.freeze()
        for call in rows.values():
            await measure(call, bodies, clients, 3)  # warm-up
        results: dict[str, list[float]] = {name: [] for name in rows}
        for number in range(1, rounds + 1):
            order = list(rows) if number % 2 else list(reversed(rows))
            for name in order:
                results[name].append(await measure(rows[name], bodies, clients, requests))
            measured = ", ".join(f"{name} {results[name][-1]:.3f}" for name in rows)
            print(f"round {number}/{rounds}: loop ms a request: {measured}; load {os.getloadavg()[0]:.1f}", flush=True)
    floor = results["batcher"]
    print(f"\nmedians of {rounds} rounds, {clients} callers; loop CPU ms a request, and over the batcher row")
    for name, values in results.items():
        over = statistics.median(value / base for value, base in zip(values, floor, strict=True))
        print(f"{name:<12} {statistics.median(values):>7.3f} {over:>6.2f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--requests", type=int, default=40, help="requests per caller in each measure")
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs; {args.clients} callers; load average {os.getloadavg()[0]:.1f}", flush=True)
    uvloop.run(run(args.clients, args.requests, args.rounds))
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
