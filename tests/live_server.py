"""A live uvicorn server on 127.0.0.1 in a background thread, for tests that drive the real HTTP stack."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn

from modelport.config import Settings
from modelport.runtime import Registry
from modelport.server import create_app

STARTUP_TIMEOUT = 300.0


@dataclass(frozen=True)
class LiveServer:
    """Where a running test server listens."""

    url: str

    @property
    def v1(self) -> str:
        return f"{self.url}/v1"


@contextmanager
def serve(registry: Registry, settings: Settings) -> Iterator[LiveServer]:
    """Run the app for `registry` with uvicorn in a background thread, on a port the OS picks."""
    app = create_app(registry, settings)
    # proto must say TCP: asyncio sets TCP_NODELAY on accepted connections only then, and without it every
    # response waits ~40 ms for a delayed ACK between its headers and its body.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    # The loop and HTTP stack `modelport serve` pins, whatever is installed (uvicorn would pick uvloop).
    config = uvicorn.Config(app, log_level="warning", lifespan="on", ws="none", http="httptools", loop="uvloop")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        # Started, and done with the models that load at start-up (in the background, after the start).
        while not (server.started and (registry.ready or registry.start_failures)):
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        yield LiveServer(f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        thread.join(timeout=STARTUP_TIMEOUT)
        sock.close()
