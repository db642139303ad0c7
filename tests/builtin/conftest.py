"""Real built-in models, loaded once and served on 127.0.0.1 through the real HTTP stack."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from openai import OpenAI

import live_server
from live_server import LiveServer
from modelport.config import Settings
from modelport.runtime import Registry

AUDIO_MODULES = ("modelport.builtin.whisper", "modelport.builtin.hibari", "modelport.builtin.piper")
# The chat server's slots and queue places: small, so tests can fill them.
CHAT_PARALLEL = 4
CHAT_QUEUE = 2


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("modelport-cache")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def serve_builtin(modules: str | tuple[str, ...], settings: Settings) -> Iterator[tuple[LiveServer, Registry]]:
    """Serve built-in modules' models; a missing dependency fails the test instead of skipping a model."""
    names = (modules,) if isinstance(modules, str) else modules
    registry = Registry([spec for name in names for spec in importlib.import_module(name).models(settings)])
    with live_server.serve(registry, settings) as live:
        yield live, registry


@pytest.fixture(scope="session")
def builtin_server(cache_dir: Path) -> Iterator[LiveServer]:
    """The built-in audio models: Whisper base and tiny.en, hibari and Piper."""
    for live, _ in serve_builtin(AUDIO_MODULES, Settings(cache_dir=cache_dir)):
        yield live


@pytest.fixture(scope="session")
def builtin_client(builtin_server: LiveServer) -> Iterator[OpenAI]:
    with OpenAI(base_url=builtin_server.v1, api_key="unused", max_retries=0, timeout=120) as client:
        yield client


@pytest.fixture(scope="session")
def chat_server(cache_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Registry]]:
    """The built-in chat model, loaded once for every test module that chats with it."""
    settings = Settings(
        cache_dir=cache_dir,
        chat_parallel=CHAT_PARALLEL,
        queue_size=CHAT_QUEUE,
        chat_context=2048,
        state_dir=tmp_path_factory.mktemp("state"),
    )
    yield from serve_builtin("modelport.builtin.llama", settings)


@pytest.fixture(scope="session")
def client(chat_server: tuple[LiveServer, Registry]) -> Iterator[OpenAI]:
    with OpenAI(base_url=chat_server[0].v1, api_key="unused", max_retries=0, timeout=300) as openai_client:
        yield openai_client
