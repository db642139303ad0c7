"""A live server on 127.0.0.1 for the real-model tests, serving just the models a test needs."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import uvicorn

from modelport.config import Settings
from modelport.predictor import ModelSpec
from modelport.runtime import Registry
from modelport.server import create_app

STARTUP_TIMEOUT = 60.0


@contextmanager
def serve_specs(specs: Iterable[ModelSpec], settings: Settings | None = None) -> Iterator[str]:
    """Serve `specs` with uvicorn in a background thread; yields the base URL, with /v1."""
    settings = settings or Settings()
    registry = Registry(specs)
    app = create_app(registry, settings)
    # IPPROTO_TCP so asyncio sets TCP_NODELAY on accepted connections (see tests/api/conftest.py).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", lifespan="on", ws="none", http="httptools", loop="uvloop")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="uvicorn-builtin", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not (server.started and (registry.ready or registry.start_failures)):
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the built-in model server did not start")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.should_exit = True
        thread.join(timeout=STARTUP_TIMEOUT)
        sock.close()
