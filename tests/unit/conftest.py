"""Fixtures shared by the unit tests."""

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
