"""Real built-in models, loaded once per session and served on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import live_server
from live_server import LiveServer
from modelport.config import Settings
from modelport.runtime import Registry


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("modelport-cache")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def serve_builtin(module: str, settings: Settings) -> Iterator[tuple[LiveServer, Registry]]:
    """Serve one built-in module's models; skip nothing: a missing dependency fails the test."""
    import importlib

    registry = Registry(importlib.import_module(module).models(settings))
    with live_server.serve(registry, settings) as live:
        yield live, registry
