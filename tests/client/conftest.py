"""Live modelport servers on 127.0.0.1 serving `examples/` and the probe models, started in-process as
tests/api/conftest.py does; and an environment cleared of the variables the client reads."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn

from modelport.config import Settings
from modelport.runtime import Registry, load_targets
from modelport.server import create_app

from . import probe_models

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
API_KEY = "client-secret"
STARTUP_TIMEOUT = 10.0
CLIENT_ENV_PREFIXES = ("OPENAI_COMPATIBLE_", "OPENAI_API_KEY", "OPENAI_BASE_URL")
TIMEOUT_ENV = ("MODELPORT_LLM_TIMEOUT", "MODELPORT_EMBEDDING_TIMEOUT", "MODELPORT_STT_TIMEOUT", "MODELPORT_TTS_TIMEOUT")


@dataclass(frozen=True)
class LiveServer:
    url: str

    @property
    def v1(self) -> str:
        return f"{self.url}/v1"


@contextmanager
def serve(settings: Settings) -> Iterator[LiveServer]:
    """Run modelport for `settings` with uvicorn in a background thread, on a port the OS picks."""
    registry = Registry(load_targets([str(EXAMPLES), probe_models.__name__]))
    app = create_app(registry, settings)
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
    with serve(Settings()) as live:
        yield live


@pytest.fixture(scope="session")
def locked_server() -> Iterator[LiveServer]:
    """A server that wants `API_KEY`."""
    with serve(Settings(api_keys=[API_KEY])) as live:
        yield live


@pytest.fixture
def dead_url() -> str:
    """A /v1 URL on 127.0.0.1 where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the client's environment variables unless it sets them."""
    for name in list(os.environ):
        if name.startswith(CLIENT_ENV_PREFIXES) or name in TIMEOUT_ENV:
            monkeypatch.delenv(name)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
