"""Live uvicorn servers on 127.0.0.1 serving `examples/` and the faulty test models, and clients for them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from openai import AsyncOpenAI, OpenAI

import live_server
from live_server import LiveServer
from modelport.config import Settings
from modelport.runtime import Registry, load_targets

from . import audio_models, embedding_models, faulty_models, image_models, tool_models

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
API_KEY = "secret"
SMALL_BODY_LIMIT = 64 * 1024


@contextmanager
def serve(settings: Settings) -> Iterator[LiveServer]:
    """A live server for `settings`, with its own registry: predictors and their state are not shared."""
    targets = [
        str(EXAMPLES),
        faulty_models.__name__,
        audio_models.__name__,
        tool_models.__name__,
        image_models.__name__,
        f"{embedding_models.__name__}:app",
    ]
    with live_server.serve(Registry(load_targets(targets)), settings) as live:
        yield live


@pytest.fixture(scope="session")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The open server's state folder (its stored responses)."""
    return tmp_path_factory.mktemp("state")


@pytest.fixture(scope="session")
def server(state_dir: Path) -> Iterator[LiveServer]:
    """The open server: no API keys, the default body limit."""
    with serve(Settings(state_dir=state_dir)) as live:
        yield live


@pytest.fixture(scope="session")
def locked_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server that wants `API_KEY` on /v1 and refuses bodies over `SMALL_BODY_LIMIT` bytes."""
    settings = Settings(api_keys=[API_KEY], max_request_bytes=SMALL_BODY_LIMIT, state_dir=tmp_path_factory.mktemp("s"))
    with serve(settings) as live:
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
