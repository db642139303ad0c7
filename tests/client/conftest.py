"""Live modelport servers on 127.0.0.1 serving `examples/` and the probe models, started in-process as
tests/api/conftest.py does; and an environment cleared of the variables the client reads."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import live_server
from live_server import LiveServer
from modelport.config import Settings
from modelport.runtime import Registry, load_targets

from . import probe_models

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
API_KEY = "client-secret"
CLIENT_ENV_PREFIXES = ("OPENAI_COMPATIBLE_", "OPENAI_API_KEY", "OPENAI_BASE_URL")
TIMEOUT_ENV = ("MODELPORT_LLM_TIMEOUT", "MODELPORT_EMBEDDING_TIMEOUT", "MODELPORT_STT_TIMEOUT", "MODELPORT_TTS_TIMEOUT")


@contextmanager
def serve(settings: Settings) -> Iterator[LiveServer]:
    """A live server of the examples and the probe models, with its own registry."""
    # The probe models report the size of each call; the server's own batching must not split the
    # client's requests, so a batch may hold every input a test sends.
    settings = settings.model_copy(update={"embedding_max_batch_size": 4096})
    registry = Registry(load_targets([str(EXAMPLES), probe_models.__name__]))
    with live_server.serve(registry, settings) as live:
        yield live


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
