"""A live server of the built-in audio models (real weights), shared by the built-in tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from openai import OpenAI

from api.conftest import LiveServer, serve_registry
from modelport.builtin import builtin_specs
from modelport.config import Settings
from modelport.runtime import Registry

# Loading reads ~300 MB of weights; a slow CI disk may take a while.
STARTUP_TIMEOUT = 180.0


@pytest.fixture(scope="session")
def builtin_server() -> Iterator[LiveServer]:
    settings = Settings()
    with serve_registry(Registry(builtin_specs(settings)), settings, startup_timeout=STARTUP_TIMEOUT) as live:
        yield live


@pytest.fixture(scope="session")
def builtin_client(builtin_server: LiveServer) -> Iterator[OpenAI]:
    with OpenAI(base_url=builtin_server.v1, api_key="unused", max_retries=0, timeout=120) as client:
        yield client
