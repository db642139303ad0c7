"""What every client model shares: its endpoint, its `openai` clients, model discovery and errors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import AbstractContextManager, asynccontextmanager, contextmanager
from types import TracebackType
from typing import Any, ClassVar, Self

from openai import AsyncOpenAI, OpenAI
from openai.types import Model

from modelport.client.config import ENDPOINT_KEYS, Capability, Endpoint, Provider, resolve_endpoint
from modelport.client.discovery import alist_models, list_models
from modelport.client.errors import ConfigurationError, ModelNotFoundError, translate_errors

__all__ = ["ClientModel"]


class ClientModel:
    """A model served by an OpenAI-compatible endpoint, for one capability.

    Construction does no I/O: the endpoint is first contacted by the first request. Close the model (or
    use it as a context manager, `with` or `async with`) to release its connections.
    """

    capability: ClassVar[Capability]
    config_keys: ClassVar[frozenset[str]] = frozenset()
    """The `config` keys this capability understands, besides base_url, api_key, timeout, max_retries."""

    def __init__(
        self,
        model_name: str,
        *,
        provider: str = Provider.MODELPORT,
        config: Mapping[str, Any] | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float | None = None,
    ) -> None:
        if not model_name:
            raise ConfigurationError("A model name is required.")
        self.model_name = model_name
        self.provider = Provider.parse(provider)
        self.config: dict[str, Any] = dict(config or {})
        unknown = sorted(set(self.config) - ENDPOINT_KEYS - self.config_keys)
        if unknown:
            allowed = ", ".join(sorted(ENDPOINT_KEYS | self.config_keys))
            raise ConfigurationError(f"Unknown config keys {unknown} for {type(self).__name__}; known: {allowed}.")
        self.endpoint: Endpoint = resolve_endpoint(
            self.capability, self.provider, self.config, base_url=base_url, api_key=api_key, timeout=timeout
        )
        self._client: OpenAI | None = None
        self._async_client: AsyncOpenAI | None = None
        self._async_loop: asyncio.AbstractEventLoop | None = None
        self._configure()

    def _configure(self) -> None:
        """Check and read the capability's own config keys; called at the end of construction."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.model_name!r}, base_url={self.endpoint.base_url!r})"

    @property
    def base_url(self) -> str:
        return self.endpoint.base_url

    @property
    def client(self) -> OpenAI:
        """The `openai` client this model sends its requests with."""
        if self._client is None:
            self._client = OpenAI(**self._client_options())
        return self._client

    @property
    def async_client(self) -> AsyncOpenAI:
        """The `openai` async client, made for the running event loop (its connections belong to that loop)."""
        loop = asyncio.get_running_loop()
        if self._async_client is None or self._async_loop is not loop:
            self._async_client = AsyncOpenAI(**self._client_options())
            self._async_loop = loop
        return self._async_client

    def models(self, *, refresh: bool = False) -> list[Model]:
        """The models the endpoint serves (`GET {base_url}/models`), cached per endpoint."""
        with self._guard():
            return list_models(self.client, refresh=refresh)

    async def amodels(self, *, refresh: bool = False) -> list[Model]:
        """`models()` without blocking the event loop."""
        async with self._aguard():
            return await alist_models(self.async_client, refresh=refresh)

    def close(self) -> None:
        """Release the sync client's connections."""
        if self._client is not None:
            self._client.close()
            self._client = None

    async def aclose(self) -> None:
        """Release both clients' connections."""
        self.close()
        if self._async_client is not None:
            await self._async_client.close()
            self._async_client = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def _client_options(self) -> dict[str, Any]:
        return {
            "base_url": self.endpoint.base_url,
            "api_key": self.endpoint.api_key_or_placeholder,
            "timeout": self.endpoint.timeout,
            "max_retries": self.endpoint.max_retries,
        }

    def _translate(self) -> AbstractContextManager[None]:
        timeout = (self.endpoint.timeout, self.endpoint.timeout_source, self.capability.timeout_env)
        return translate_errors(url=self.endpoint.base_url, model=self.model_name, timeout=timeout)

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """Translate errors; an unknown model's error gets the list of the models that are served."""
        try:
            with self._translate():
                yield
        except ModelNotFoundError as exc:
            # The list explains the error; failing to fetch it must not hide the error itself.
            try:
                exc.available = [model.id for model in list_models(self.client, refresh=True)]
            except Exception:
                exc.available = None
            raise

    @asynccontextmanager
    async def _aguard(self) -> AsyncIterator[None]:
        try:
            with self._translate():
                yield
        except ModelNotFoundError as exc:
            try:
                exc.available = [model.id for model in await alist_models(self.async_client, refresh=True)]
            except Exception:
                exc.available = None
            raise
