"""The models an endpoint serves (`GET {base_url}/models`), cached per endpoint.

Every client model pointed at the same base URL with the same key shares one cached list, so listing
models, or explaining an unknown model, costs one request per endpoint per process.
"""

from __future__ import annotations

import threading

from openai import AsyncOpenAI, OpenAI
from openai.types import Model

__all__ = ["alist_models", "forget_models", "list_models"]

_CacheKey = tuple[str, str | None]
_cache: dict[_CacheKey, list[Model]] = {}
_lock = threading.Lock()


def list_models(client: OpenAI, *, refresh: bool = False) -> list[Model]:
    """The endpoint's models, from the cache unless `refresh` (or nothing is cached yet)."""
    key = _key(client)
    if not refresh:
        with _lock:
            if key in _cache:
                return list(_cache[key])
    models = list(client.models.list())
    with _lock:
        _cache[key] = models
    return list(models)


async def alist_models(client: AsyncOpenAI, *, refresh: bool = False) -> list[Model]:
    """`list_models` for an async client; both share one cache."""
    key = _key(client)
    if not refresh:
        with _lock:
            if key in _cache:
                return list(_cache[key])
    models = [model async for model in client.models.list()]
    with _lock:
        _cache[key] = models
    return list(models)


def forget_models(base_url: str | None = None) -> None:
    """Drop the cached lists: every endpoint's, or only those of `base_url`."""
    with _lock:
        for key in [key for key in _cache if base_url is None or key[0] == base_url.rstrip("/")]:
            del _cache[key]


def _key(client: OpenAI | AsyncOpenAI) -> _CacheKey:
    # The key is part of the identity: a server may serve different models to different keys.
    return str(client.base_url).rstrip("/"), client.api_key
