"""Live uvicorn servers on 127.0.0.1 serving `examples/` and the faulty test models, and clients for them."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from openai import AsyncOpenAI, OpenAI

from modelport.config import Settings
from modelport.runtime import Registry, load_targets
from modelport.server import create_app

from . import embedding_models, faulty_models

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
API_KEY = "secret"
SMALL_BODY_LIMIT = 64 * 1024
STARTUP_TIMEOUT = 10.0


@dataclass(frozen=True)
class LiveServer:
    """Where a running test server listens."""

    url: str

    @property
    def v1(self) -> str:
        return f"{self.url}/v1"


@contextmanager
def serve(settings: Settings) -> Iterator[LiveServer]:
    """Run the app for `settings` with uvicorn in a background thread, on a port the OS picks."""
    # Each server gets its own registry: predictors (and their loaded state) are not shared.
    registry = Registry(load_targets([str(EXAMPLES), faulty_models.__name__, f"{embedding_models.__name__}:app"]))
    app = create_app(registry, settings)
    # proto must say TCP: asyncio sets TCP_NODELAY on accepted connections only then, and without it every
    # response waits ~40 ms for a delayed ACK between its headers and its body.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", ws="none", http="h11"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        yield LiveServer(f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        thread.join(timeout=STARTUP_TIMEOUT)
        sock.close()


@pytest.fixture(scope="session")
def server() -> Iterator[LiveServer]:
    """The open server: no API keys, the default body limit."""
    with serve(Settings()) as live:
        yield live


@pytest.fixture(scope="session")
def locked_server() -> Iterator[LiveServer]:
    """A server that wants `API_KEY` on /v1 and refuses bodies over `SMALL_BODY_LIMIT` bytes."""
    with serve(Settings(api_keys=[API_KEY], max_request_bytes=SMALL_BODY_LIMIT)) as live:
        yield live


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# Sync clients are shared by the whole session (each costs ~40 ms to build); the async one is bound to its
# test's event loop, so it is built per test.
@pytest.fixture(scope="session")
def client(server: LiveServer) -> Iterator[OpenAI]:
    with OpenAI(base_url=server.v1, api_key="unused", max_retries=0, timeout=30) as openai_client:
        yield openai_client


@pytest.fixture
async def async_client(server: LiveServer) -> AsyncIterator[AsyncOpenAI]:
    async with AsyncOpenAI(base_url=server.v1, api_key="unused", max_retries=0, timeout=30) as openai_client:
        yield openai_client


@pytest.fixture(scope="session")
def http(server: LiveServer) -> Iterator[httpx.Client]:
    """A raw HTTP client, for asserting exact bytes and bodies on the wire."""
    with httpx.Client(base_url=server.url, timeout=30) as raw:
        yield raw


@pytest.fixture(scope="session")
def locked_http(locked_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=locked_server.url, timeout=30) as raw:
        yield raw
